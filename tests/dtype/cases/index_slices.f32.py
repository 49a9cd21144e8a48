# Slices x[1:3], x[:2], x[2:], x[-2:] and a 2-D block W[1:, :2], with grads that scatter back.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch

x = torch.tensor([0.5, -1.0, 2.0, 3.0, -0.5], requires_grad=True)
a = x[1:3]
b = x[:2]
c = x[2:]
d = x[-2:]
print(a.tolist(), b.tolist(), c.tolist(), d.tolist())
L = a.sum() * 2 + (b * b).sum() + c.mean() + d.pow(3).sum()
L.backward()
print(f"{L.item():.6f}")
print(x.grad.tolist())

W = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], requires_grad=True)
block = W[1:, :2]
print(block.tolist())
(block * block).sum().backward()
print(W.grad.tolist())
