# @torch.no_grad() on an evaluation function: its result needs no grad; the training function's does
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
w = torch.tensor([1.0, 2.0], requires_grad=True)

@torch.no_grad()
def evaluate(v):
    return (w * v).sum()

def train_loss(v):
    return (w * v).sum()

e = evaluate(torch.tensor([3.0, 4.0]))
t = train_loss(torch.tensor([3.0, 4.0]))
print(e.item(), e.requires_grad, t.requires_grad)
