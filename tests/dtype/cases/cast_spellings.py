# dtype: bf16
# The casts as a PyTorch user spells them, and torch's type promotion around them: x.half(),
# x.to(torch.float16), x.bfloat16(), x.to(dtype=torch.bfloat16), torch.tensor(..., dtype=...),
# .float(), .double(); a Python number takes the tensor's dtype, a 0-d tensor does not promote a
# tensor with dims, f16 with bf16 is f32; grads come back through a cast in the input's dtype.
import torch

torch.set_default_dtype(torch.float32)  # torch's default (backstep's is float64)
x = torch.tensor([0.1, 0.2, 0.3], requires_grad=True)
h = x.half()
b = x.bfloat16()
h2 = x.to(torch.float16)
b2 = x.to(dtype=torch.bfloat16)
print(h.dtype, b.dtype, h2.dtype, b2.dtype, h.requires_grad, h.is_leaf)
print(h.tolist(), b.tolist())
t = torch.tensor([1.5, -2.25, 1e-5, 0.1], dtype=torch.bfloat16)
u = torch.tensor([1.5, -2.25, 1e-5, 0.1], dtype=torch.float16)
print(t.tolist(), u.tolist())
print((h * 0.1).dtype, (h * 0.1).tolist(), (b / 3).tolist(), (0.7 - b).tolist())
print((h + torch.tensor(0.1)).dtype, (h + x).dtype, (h + b).dtype, (b + x.double()).dtype)
print((torch.arange(3) * torch.tensor(0.5, dtype=torch.float16)).dtype, (torch.arange(3) * 0.5).dtype)
print((u * t).dtype, (u * t).tolist())
L = (h.float() * 3.0).sum() + (b * b).sum().float() + h2.sum().float() + b2.double().sum().float()
L.backward()
print(L.dtype, L.item(), x.grad.dtype, x.grad.tolist())
print(u.sum().item(), u.mean().item(), t.sum().item(), t.mean().item(), (t > 0.2).tolist())
print(torch.tensor([1.0, 2.5], dtype=torch.float16), torch.tensor([0.1], dtype=torch.bfloat16))
print(torch.zeros(2, dtype=torch.bfloat16), torch.ones(2).half())
