# reduction='sum' and 'mean' on the losses, through F.* and the nn loss modules: the values, the
# grad_fn torch prints, and the grads (a sum's grads are the mean's times the count); a training
# step with a summed MSE; and torch's error for a reduction it does not know.
# gen: prints tensors
import torch
import torch.nn as nn
import torch.nn.functional as F

p = torch.tensor([0.2, 0.7, 0.4], requires_grad=True)
y = torch.tensor([0.0, 1.0, 1.0])
L = F.mse_loss(p, y, reduction="sum")
print(L)
L.backward()
print(p.grad.tolist())
p.grad = None
L = nn.BCELoss(reduction="sum")(p, y)
print(L, type(L.grad_fn).__name__)
L.backward()
print(p.grad.tolist())
p.grad = None
print(F.binary_cross_entropy(p, y, reduction="mean").item())
z = torch.tensor([[1.0, -2.0], [0.5, 0.3]], requires_grad=True)
t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
L = F.binary_cross_entropy_with_logits(z, t, reduction="sum") + nn.MSELoss(reduction="mean")(z, t)
L.backward()
print(L.item(), z.grad.tolist())
x = torch.tensor([[1.0, 2.0, 0.5], [0.1, 0.2, 3.0]], requires_grad=True)
L = nn.CrossEntropyLoss(reduction="sum")(x, torch.tensor([0, 2]))
L.backward()
print(L, x.grad.tolist())
# a step with a summed loss
w = torch.tensor([0.5, -0.3], requires_grad=True)
X = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]])
target = torch.tensor([1.0, 0.0, 0.5])
opt = torch.optim.SGD([w], lr=0.05)
for step in range(3):
    opt.zero_grad()
    loss = F.mse_loss(X @ w, target, reduction="sum")
    loss.backward()
    opt.step()
    print(f"step {step} loss {loss.item():.6f} w {w.tolist()}")
try:
    F.mse_loss(p, y, reduction="average")
except ValueError as e:
    print("ValueError:", e)
