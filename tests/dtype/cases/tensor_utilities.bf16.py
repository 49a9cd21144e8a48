# torch's small tensor utilities: linspace, shape/dtype/numel, unsqueeze/squeeze, clone, argmax, F.relu, torch.sum/mean
# gen: prints tensors
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch
import torch.nn as nn
import torch.nn.functional as F
x = torch.linspace(0, 1, 5)
print(x)
y = torch.zeros(3, dtype=torch.float64)
print(y.shape, y.dtype, y.numel())
a = torch.ones(2, 3) * 2
print(a.sum(dim=1), a.mean(), a.T.shape)
w = torch.randn(3, 1, requires_grad=True)
print(w.requires_grad, w.is_leaf)
print(x.unsqueeze(0).shape, x.squeeze().shape)
print(torch.exp(torch.tensor(1.0)).item())
c = x.clone()
print(c.argmax().item(), x.max().item())
print(F.relu(torch.tensor([-1.0, 2.0])))
print(torch.sum(x), torch.mean(x))
