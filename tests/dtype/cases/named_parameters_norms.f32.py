# named_parameters() after backward, printed as the reference does: {name:15s} and grad norms.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
with torch.no_grad():
    model[0].weight.copy_(torch.arange(12.0).view(4, 3) / 10 - 0.5)
    model[0].bias.copy_(torch.tensor([0.1, -0.1, 0.2, 0.0]))
    model[2].weight.copy_(torch.arange(8.0).view(2, 4) / 8 - 0.4)
    model[2].bias.copy_(torch.tensor([0.0, 0.3]))
x = torch.tensor([[1.0, -2.0, 0.5], [0.3, 0.8, -1.0]])
target = torch.tensor([[0.5, -0.5], [1.0, 0.0]])
loss = nn.MSELoss()(model(x), target)
loss.backward()
print(f"loss = {loss.item():.6f}")
for name, param in model.named_parameters():
    print(f"{name:15s} grad_norm = {param.grad.norm().item():.4f}")
for name, param in model.named_parameters():
    print(name, param.requires_grad, param.dim())
