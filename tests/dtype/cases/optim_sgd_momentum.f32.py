# torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9) on a small tanh network.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
with torch.no_grad():
    model[0].weight.copy_(torch.tensor([[0.5, -0.2], [0.1, 0.4], [-0.3, 0.3]]))
    model[0].bias.copy_(torch.zeros(3))
    model[2].weight.copy_(torch.tensor([[0.2, -0.1, 0.3]]))
    model[2].bias.copy_(torch.zeros(1))
X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
loss_fn = nn.MSELoss()
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

for step in range(20):
    opt.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    opt.step()
    if step % 4 == 3:
        print(f"step {step + 1:2d} loss {loss.item():.8f}")

print(model[2].weight.tolist())
