# nn.Linear(4, 1) trained with torch.optim.Adam(model.parameters(), lr=0.1) for 20 steps.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn
import torch.nn.functional as F

model = nn.Linear(4, 1)
with torch.no_grad():
    model.weight.copy_(torch.tensor([[0.2, 0.2, 0.2, 0.2]]))
    model.bias.copy_(torch.tensor([0.0]))
X = torch.tensor([[1.0, 2.0, 0.0, -1.0], [0.5, 0.0, 1.0, 1.0], [-1.0, 1.0, 2.0, 0.0]])
y = torch.tensor([[1.0], [2.0], [-1.0]])
optimizer = torch.optim.Adam(model.parameters(), lr=0.1)

for step in range(20):
    optimizer.zero_grad()
    loss = F.mse_loss(model(X), y)
    loss.backward()
    optimizer.step()
    print(f"{step:2d} {loss.item():.8f}")

print(model.weight.tolist())
print(model.bias.item())
