# Reference fragments: shared/reference/backprop-deep-dive.txt, section "Gradient Accumulation —
# The Most Common Backprop Bug" (text lines 185-195): the BUG loop (no zero_grad) and its FIX.
# They use dataloader, compute_loss, model and optimizer without defining them, so a context is
# prepended; each fragment is verbatim with its lost indentation restored; prints are appended.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch
import torch.nn as nn

model = nn.Linear(1, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
dataloader = [torch.tensor([[1.0]]), torch.tensor([[2.0]]), torch.tensor([[-1.0]])]


def compute_loss(model, batch):
    return ((model(batch) - 2 * batch) ** 2).mean()


def reset():
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.5]]))
        model.bias.copy_(torch.tensor([0.0]))
    model.weight.grad = None
    model.bias.grad = None


reset()
# BUG: gradients accumulate and grow every iteration
for batch in dataloader:
    loss = compute_loss(model, batch)
    loss.backward()
    optimizer.step()
print("bug", model.weight.item(), model.bias.item(), model.weight.grad.item())
reset()
# FIX: reset gradients before each backward pass
for batch in dataloader:
    optimizer.zero_grad()
    loss = compute_loss(model, batch)
    loss.backward()
    optimizer.step()
print("fix", model.weight.item(), model.bias.item(), model.weight.grad.item())
