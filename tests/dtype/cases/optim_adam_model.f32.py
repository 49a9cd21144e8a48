# torch.optim.Adam(model.parameters(), lr=0.05) training the 2-2-1 network with nn.BCELoss.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1), nn.Sigmoid())
with torch.no_grad():
    model[0].weight.copy_(torch.tensor([[0.3, 0.7], [-0.2, 0.5]]))
    model[0].bias.copy_(torch.tensor([0.1, 0.0]))
    model[2].weight.copy_(torch.tensor([[0.6, -0.4]]))
    model[2].bias.copy_(torch.tensor([0.1]))
X = torch.tensor([[1.0, 0.5], [0.0, -1.0], [2.0, 1.0], [-1.0, -0.5]])
y = torch.tensor([[1.0], [0.0], [1.0], [0.0]])
loss_fn = nn.BCELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.05)

for step in range(20):
    optimizer.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
    if step % 5 == 4:
        print(f"{step + 1:2d} {loss.item():.8f}")

for name, p in model.named_parameters():
    print(f"{name:10s} {p.tolist()}")
