# F.relu, torch.sigmoid, torch.tanh, F.softmax(dim=1), F.log_softmax, torch.exp/log and their grads.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch
import torch.nn.functional as F

x = torch.tensor([[-1.0, 0.5, 2.0], [0.3, -0.2, 1.5]], requires_grad=True)
w = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.25]])
r = F.relu(x)
s = torch.sigmoid(x)
t = torch.tanh(x)
sm = F.softmax(x, dim=1)
print(r.tolist())
print(sm.sum(dim=1).tolist())
total = (w * r).sum() + (w * s).sum() + (w * t).sum() + (w * sm).sum()
total.backward()
print(f"{total.item():.10f}")
print(x.grad.tolist())
x.grad = None
lsm = F.log_softmax(x, dim=1)
(lsm[:, 0]).sum().backward()
print(x.grad.tolist())
x.grad = None
torch.log(torch.exp(x) + 1).sum().backward()
print(x.grad.tolist())
