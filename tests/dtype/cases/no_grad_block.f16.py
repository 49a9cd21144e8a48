# `with torch.no_grad():` over a block: nothing inside records a graph; outside it records again.
import torch; torch.set_default_dtype(torch.float16)  # gen.py: the cast
import torch

w = torch.tensor([0.5, -1.5], requires_grad=True)
x = torch.tensor([2.0, 1.0])
with torch.no_grad():
    a = w * x
    b = a.sum() + 1
    print(a.requires_grad, b.requires_grad)
    evaluated = (w * x).sum().item()
c = (w * x).sum()
print(c.requires_grad)
print(evaluated, b.item(), c.item())
c.backward()
print(w.grad.tolist())
with torch.no_grad():
    w.copy_(torch.tensor([1.0, 1.0]))
print(w.tolist(), w.requires_grad)
