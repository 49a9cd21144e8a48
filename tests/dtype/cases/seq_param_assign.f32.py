# Weights set by assigning nn.Parameter to model[0].weight; model[i] indexing; a tanh MLP with MSE.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(1, 2), nn.Tanh(), nn.Linear(2, 1))
model[0].weight = nn.Parameter(torch.tensor([[0.5], [-1.0]]))
model[0].bias = nn.Parameter(torch.tensor([0.0, 0.5]))
model[2].weight = nn.Parameter(torch.tensor([[1.0, 0.5]]))
model[2].bias = nn.Parameter(torch.tensor([-0.1]))
loss_fn = nn.MSELoss()
x = torch.tensor([[-1.0], [0.0], [1.0], [2.0]])
y = torch.tensor([[0.5], [0.0], [0.5], [2.0]])
loss = loss_fn(model(x), y)
loss.backward()
print(f"{loss.item():.10f}")
print(model[0].weight.grad.tolist())
print(model[0].bias.grad.tolist())
print(model[2].weight.grad.tolist())
print(model[2].bias.grad.item())
