# x[idx] with an integer index tensor (a gather): a repeated index accumulates its grads.
import torch; torch.set_default_dtype(torch.float16)  # gen.py: the cast
import torch

x = torch.tensor([10.0, 20.0, 30.0, 40.0], requires_grad=True)
idx = torch.tensor([0, 2, 2, 3])
g = x[idx]
print(g.tolist())
(g * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
print(x.grad.tolist())

E = torch.tensor([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], requires_grad=True)
tokens = torch.tensor([2, 0, 2])
rows = E[tokens]
print(rows.tolist())
rows.sum().backward()
print(E.grad.tolist())
