# The classic XOR demo: nn.Sequential with Tanh and Sigmoid, nn.BCELoss, torch.optim.SGD over
# model.parameters(), 2000 epochs, weights set explicitly, model[0].bias.fill_, .detach().view(-1)
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn

X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1), nn.Sigmoid())
with torch.no_grad():
    model[0].weight.copy_(torch.tensor([[0.5, -0.4], [0.3, 0.8], [-0.7, 0.2], [0.1, 0.6]]))
    model[0].bias.fill_(0.1)
    model[2].weight.copy_(torch.tensor([[0.4, -0.3, 0.6, -0.2]]))
    model[2].bias.zero_()
loss_fn = nn.BCELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
for epoch in range(2000):
    optimizer.zero_grad()
    out = model(X)
    loss = loss_fn(out, y)
    loss.backward()
    optimizer.step()
    if epoch % 500 == 0:
        print(f"epoch {epoch:4d}  loss {loss.item():.6f}")
print([round(v, 4) for v in model(X).detach().view(-1).tolist()])
