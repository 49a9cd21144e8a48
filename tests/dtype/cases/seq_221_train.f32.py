# The 2-2-1 network trained with torch.optim.SGD for 20 steps; the loss falls.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1), nn.Sigmoid())
with torch.no_grad():
    model[0].weight.copy_(torch.tensor([[0.3, 0.7], [-0.2, 0.5]]))
    model[0].bias.copy_(torch.tensor([0.1, 0.0]))
    model[2].weight.copy_(torch.tensor([[0.6, -0.4]]))
    model[2].bias.copy_(torch.tensor([0.1]))
loss_fn = nn.BCELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
x = torch.tensor([[1.0, 0.5], [0.2, -1.0], [-0.5, 0.3]])
y = torch.tensor([[1.0], [0.0], [1.0]])

for epoch in range(20):
    y_hat = model(x)
    loss = loss_fn(y_hat, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if epoch % 4 == 0:
        print(f"epoch {epoch:2d}  loss {loss.item():.6f}")

with torch.no_grad():
    print(model(x).tolist())
