# nn.Linear(4, 1) regression (the reference's example) with explicit weights and data.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch
import torch.nn as nn

model = nn.Linear(4, 1)
with torch.no_grad():
    model.weight.copy_(torch.tensor([[0.1, -0.2, 0.3, 0.05]]))
    model.bias.copy_(torch.tensor([0.5]))
x = torch.arange(32.0).view(8, 4) / 10
y = torch.tensor([[1.0], [0.0], [2.0], [1.5], [-1.0], [0.5], [3.0], [2.0]])

loss = ((model(x) - y) ** 2).mean()
loss.backward()
print(f"loss {loss.item():.8f}")
print(model.weight.grad.tolist())
print(model.bias.grad.tolist())
print(model.weight.grad.shape[0], model.weight.grad.shape[1], model.bias.grad.shape[0])
