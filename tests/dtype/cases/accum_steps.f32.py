# Gradient accumulation as the reference writes it: loss / accumulation_steps, step every 4 batches.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn
import torch.nn.functional as F

model = nn.Linear(2, 1)
with torch.no_grad():
    model.weight.copy_(torch.tensor([[0.5, -0.5]]))
    model.bias.copy_(torch.tensor([0.0]))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
batches = [
    (torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0]])),
    (torch.tensor([[0.5, -1.0]]), torch.tensor([[0.0]])),
    (torch.tensor([[2.0, 0.0]]), torch.tensor([[2.0]])),
    (torch.tensor([[-1.0, 1.0]]), torch.tensor([[-1.0]])),
    (torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5]])),
    (torch.tensor([[1.0, 1.0]]), torch.tensor([[1.5]])),
    (torch.tensor([[3.0, -1.0]]), torch.tensor([[2.5]])),
    (torch.tensor([[0.5, 0.5]]), torch.tensor([[0.0]])),
]
accumulation_steps = 4
optimizer.zero_grad()
for i, (xb, yb) in enumerate(batches):
    loss = F.mse_loss(model(xb), yb) / accumulation_steps
    loss.backward()
    print(f"batch {i}: loss {loss.item():.6f} grad {model.weight.grad.tolist()}")
    if (i + 1) % accumulation_steps == 0:
        optimizer.step()
        optimizer.zero_grad()
        print("step", model.weight.tolist(), model.bias.tolist())
