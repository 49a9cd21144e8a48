# The overview's 10-32-1 nn.Sequential step with the weights and data set explicitly (no randn).
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 1))
with torch.no_grad():
    model[0].weight.copy_(torch.arange(320.0).view(32, 10) / 320 - 0.45)
    model[0].bias.copy_(torch.arange(32.0) / 64 - 0.25)
    model[2].weight.copy_(torch.arange(32.0).view(1, 32) / 32 - 0.5)
    model[2].bias.copy_(torch.tensor([0.1]))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
loss_fn = nn.MSELoss()
X = torch.arange(640.0).view(64, 10) / 640
y = torch.arange(64.0).view(64, 1) / 32 - 1
optimizer.zero_grad()
preds = model(X)
loss = loss_fn(preds, y)
loss.backward()
optimizer.step()
print(f"loss {loss.item():.10f}")
for name, p in model.named_parameters():
    print(name, p.grad.shape[0], f"{p.grad.norm().item():.10f}", f"{p.sum().item():.10f}")
print(f"{loss_fn(model(X), y).item():.10f}")
