# backward() twice without zeroing: the second call adds to .grad (the practice problem).
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch

w = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
x = torch.tensor([3.0, 1.0, 2.0])
loss = ((w * x).sum() - 1.0) ** 2
loss.backward(retain_graph=True)
print(w.grad.tolist())
loss.backward()
print(w.grad.tolist())
loss2 = (w * x).sum()
loss2.backward()
print(w.grad.tolist())
w.grad = None
loss3 = (w ** 2).sum()
loss3.backward()
print(w.grad.tolist())
