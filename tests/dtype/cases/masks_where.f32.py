# Comparisons on tensors give masks (counted with .sum(): backstep's masks are 0/1 integers, not bools): relu's derivative by hand, torch.where, a mask in a product.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
x = torch.tensor([-1.0, 2.0, 0.5, -0.25], requires_grad=True)
mask = x > 0
print(mask.sum().item())
y = torch.where(x > 0, x, x * 0.1)
loss = (y * y).sum() + (x * (x > 0)).sum()
loss.backward()
print(f"{loss.item():.6f}")
print(x.grad.tolist())
print((x >= 0.5).sum().item(), (x == 2.0).sum().item(), (x != 2.0).sum().item())
