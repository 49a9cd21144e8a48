# x[0], x[-1], x[2] on a vector param: each index's VJP puts the upstream grad in one slot.
import torch; torch.set_default_dtype(torch.float16)  # gen.py: the cast
import torch

x = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
L = 3 * x[0] + x[-1] ** 2 - x[2] * x[1]
L.backward()
print(L.item())
print(x.grad.tolist())
print(x[0].item(), x[-1].item(), x[-2].item())
