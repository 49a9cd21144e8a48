# Accumulating the grads of four quarter-losses equals the grad of the full-batch loss.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch

X = torch.tensor([[1.0, 2.0], [0.0, 1.0], [2.0, -1.0], [1.0, 1.0]])
y = torch.tensor([3.0, 1.0, 0.5, 2.0])
w = torch.tensor([0.3, -0.1], requires_grad=True)

full = ((X @ w - y) ** 2).mean()
full.backward()
g_full = w.grad.tolist()
w.grad = None

n = X.shape[0]
for i in range(n):
    part = (X[i] @ w - y[i]) ** 2 / n
    part.backward()

print(g_full)
print(w.grad.tolist())
print(f"{(torch.tensor(g_full) - w.grad).norm().item():.3f}")
