# x.shape[0], x.shape[1], len(x), x.size(), x.dim() and a loop over range(x.shape[0]).
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch

X = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
print(X.shape[0], X.shape[1], len(X), X.dim())
print(X.size())
print(X.shape)
n = X.shape[0]
total = 0.0
for i in range(n):
    total = total + X[i].sum() * (i + 1)
total.backward()
print(total.item())
print(X.grad.tolist())
v = X.view(6)
print(len(v), v.shape[0], X.t().shape[0])
