# An nn.Module trained with torch.optim.SGD(model.parameters(), lr=...): zero_grad/backward/step.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch
import torch.nn as nn


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, x):
        return self.lin(x)


model = Regressor()
model.lin.weight = nn.Parameter(torch.tensor([[0.0, 0.0]]))
model.lin.bias = nn.Parameter(torch.tensor([0.0]))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
X = torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.0, 2.0], [1.0, 3.0]])
y = torch.tensor([[3.0], [4.0], [2.0], [7.0]])

for epoch in range(20):
    optimizer.zero_grad()
    loss = ((model(X) - y) ** 2).mean()
    loss.backward()
    optimizer.step()
    if epoch % 5 == 0:
        print(f"epoch {epoch:2d} loss {loss.item():.6f}")

print(model.lin.weight.tolist())
print(model.lin.bias.tolist())
