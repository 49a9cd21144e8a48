# torch.cat and torch.stack as models use them: features joined along dim=1 (and dim=-1), a
# batch built by stacking rows, a residual concat inside an nn.Module, and the gradients that flow
# back to each piece.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn

a = torch.tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
b = torch.tensor([[4.0], [-1.0]], requires_grad=True)
ab = torch.cat([a, b], dim=1)
rows = torch.cat((a, a * 2), dim=0)
print(ab.shape, rows.shape, ab.tolist(), torch.cat([a, b], dim=-1).tolist() == ab.tolist())
v = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
batch = torch.stack([v, v * v, v + 1])
cols = torch.stack([v, -v], dim=1)
print(batch.shape, cols.shape, batch.tolist(), cols[:, 1].tolist())
loss = (ab ** 2).sum() + rows.mean() + (batch * torch.arange(3.0).view(3, 1)).sum() + cols.sum()
loss.backward()
print(f"{loss.item():.6f}", a.grad.tolist(), b.grad.tolist(), v.grad.tolist())

class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        h = torch.relu(self.fc(x))
        return torch.cat([x, h], dim=1).sum(dim=1)

model = Concat()
with torch.no_grad():
    model.fc.weight.copy_(torch.tensor([[0.5, -0.5, 0.25], [1.0, 0.0, -1.0]]))
    model.fc.bias.copy_(torch.tensor([0.1, -0.2]))
x = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]])
out = model(x)
out.sum().backward()
print(out.tolist(), model.fc.weight.grad.tolist())
