# F.mse_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits, F.cross_entropy
# (integer class targets) and their grads.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn.functional as F

p = torch.tensor([0.2, 0.7, 0.9], requires_grad=True)
t = torch.tensor([0.0, 1.0, 1.0])
l1 = F.mse_loss(p, t)
l2 = F.binary_cross_entropy(p, t)
(l1 + l2).backward()
print(f"{l1.item():.10f} {l2.item():.10f}")
print(p.grad.tolist())

z = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
l3 = F.binary_cross_entropy_with_logits(z, t)
l3.backward()
print(f"{l3.item():.10f}", z.grad.tolist())

logits = torch.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]], requires_grad=True)
labels = torch.tensor([0, 2])
l4 = F.cross_entropy(logits, labels)
l4.backward()
print(f"{l4.item():.10f}")
print(logits.grad.tolist())
