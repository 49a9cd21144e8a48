# nn.BCEWithLogitsLoss on a Sequential without a final sigmoid; equals BCELoss of the sigmoid.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
with torch.no_grad():
    model[0].weight.copy_(torch.tensor([[0.2, -0.4, 0.1], [0.5, 0.3, -0.2]]))
    model[0].bias.copy_(torch.tensor([0.1, 0.1]))
    model[2].weight.copy_(torch.tensor([[0.8, -0.6]]))
    model[2].bias.copy_(torch.tensor([0.0]))
x = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0], [0.3, -0.7, 1.1]])
y = torch.tensor([[1.0], [0.0], [1.0]])
logits = model(x)
loss = nn.BCEWithLogitsLoss()(logits, y)
loss.backward()
print(f"with logits: {loss.item():.10f}")
check = nn.BCELoss()(torch.sigmoid(logits), y)
print(f"bce(sigmoid): {check.item():.10f}")
for name, p in model.named_parameters():
    print(name, p.grad.tolist())
