# A non-scalar output needs a gradient argument: backward(torch.ones_like(loss)) or a weighting.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch

w = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
x = torch.tensor([0.5, -1.0])
target = torch.tensor([1.0, 0.0])
loss = w @ x - target
loss.backward(torch.ones_like(loss))
print(w.grad.tolist())
w.grad = None
out = (w @ x) ** 2
out.backward(torch.tensor([1.0, 0.5]))
print(w.grad.tolist())
print(torch.zeros_like(x).tolist(), torch.ones_like(w).tolist())
