# X[:, 1] (a column) and X[0] (a row) of a matrix param, with their grads.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch

X = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
col = X[:, 1]
row = X[0]
print(col.tolist(), row.tolist())
L = (col ** 2).sum() + (row * torch.tensor([1.0, 10.0, 100.0])).sum()
L.backward()
print(L.item())
print(X.grad.tolist())
print(X[:, -1].tolist(), X[1, 2].item(), X[-1, 0].item())
