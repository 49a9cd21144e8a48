# Tensor methods: x.relu() .sum(dim=1) .mean() .pow(2) .exp() .norm() .t() .view() .item().
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch

x = torch.tensor([[1.0, -2.0, 0.5], [-0.5, 3.0, 1.0]], requires_grad=True)
print(x.relu().tolist())
print(x.sum(dim=1).tolist(), x.sum(dim=0).tolist())
print(x.mean().item(), x.mean(dim=1).tolist())
print(x.pow(2).tolist())
print(f"{x.norm().item():.10f}")
print(x.t().tolist())
print(x.view(3, 2).tolist())
print(x.view(-1).tolist())
y = x.relu().sum(dim=1).pow(2).mean() + x.exp().sum() * 0.1 + x.norm() + (x.t() @ x).sum()
y.backward()
print(f"{y.item():.10f}")
print(x.grad.tolist())
