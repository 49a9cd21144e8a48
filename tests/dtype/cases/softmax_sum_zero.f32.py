# The practice problem: softmax outputs sum to 1, so softmax(x).sum().backward() gives ~0 grads.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
torch.softmax(x, dim=0).sum().backward()
print(x.grad.tolist())
x.grad = None
torch.softmax(x, dim=0)[2].backward()
print(x.grad.tolist())
y = torch.softmax(x, dim=0)
print(y.tolist())
print(f"{y.sum().item():.6f}")
