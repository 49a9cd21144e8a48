# A hand-written sigmoid (def) against torch.sigmoid: same values, same grads.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch


def my_sigmoid(z):
    return 1 / (1 + torch.exp(-z))


z1 = torch.tensor([-2.0, 0.0, 0.5, 3.0], requires_grad=True)
z2 = torch.tensor([-2.0, 0.0, 0.5, 3.0], requires_grad=True)
s1 = my_sigmoid(z1)
s2 = torch.sigmoid(z2)
(s1 * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
(s2 * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
print(s1.tolist())
print(s2.tolist())
print(z1.grad.tolist())
print(z2.grad.tolist())
print(f"diff norm {(z1.grad - z2.grad).norm().item():.1e}")
