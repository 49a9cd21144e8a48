# The reference's nn.Sequential 2-2-1 network with nn.BCELoss and its weights set explicitly:
# L = 0.4629 and the nine gradients of the hand-worked example, named 0.weight ... 2.bias.
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
x = torch.tensor([[1.0, 0.5]])
y = torch.tensor([[1.0]])
y_hat = model(x)
loss = loss_fn(y_hat, y)
loss.backward()
print(f"y_hat = {y_hat.item():.4f}")
print(f"L = {loss.item():.4f}")
print(loss.item())
for name, param in model.named_parameters():
    print(f"{name:15s} grad = {param.grad.tolist()}")
