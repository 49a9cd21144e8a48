# .detach(): the detached factor is a constant for backward; the grad flows only through x.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = x * x
z = y.detach()
print(z.requires_grad, y.requires_grad)
out = (z * x).sum()
out.backward()
print(x.grad.tolist())
x.grad = None
out2 = (y * x).sum()
out2.backward()
print(x.grad.tolist())
print(z.tolist())
