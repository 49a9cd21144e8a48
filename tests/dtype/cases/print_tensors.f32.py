# print() of tensors as torch writes them: ints, decimals, sci notation, 2-D, dtype and grad suffixes
# gen: prints tensors
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
print(a)
print(a * 2)
print(torch.tensor([[0.5, -1.25], [3.0, 4.0]]))
print(torch.tensor(2.5))
print(torch.tensor([1, 2, 30]))
print(torch.tensor([1e-5, 1.0]))
print(torch.tensor([0.1, 0.2], dtype=torch.float32))
L = (a * a).sum()
L.backward()
print(a.grad, L)
print(torch.arange(30.0) / 7)
print([a.grad])
