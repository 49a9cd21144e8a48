# An nn.Module holding an nn.Sequential: parameter names are layers.0.weight, layers.2.bias, ...
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1))

    def forward(self, x):
        return self.layers(x)


model = MLP()
with torch.no_grad():
    model.layers[0].weight.copy_(torch.tensor([[0.1, 0.2, -0.3], [0.4, -0.5, 0.6]]))
    model.layers[0].bias.copy_(torch.tensor([0.01, -0.02]))
    model.layers[2].weight.copy_(torch.tensor([[0.7, -0.8]]))
    model.layers[2].bias.copy_(torch.tensor([0.05]))

x = torch.tensor([[1.0, 0.5, -1.0], [0.0, 1.0, 2.0]])
loss = model(x).sum()
loss.backward()
print(f"{loss.item():.8f}")
for name, p in model.named_parameters():
    print(f"{name:16s} dim={p.dim()} rows={p.shape[0]} grad_sum={p.grad.sum().item():.8f}")
