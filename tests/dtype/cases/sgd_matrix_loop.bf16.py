# Linear regression with a weight matrix: X @ W + b, 20 steps, grads cleared with zero_().
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch

X = torch.tensor([[1.0, 0.0, 2.0], [0.5, 1.0, -1.0], [2.0, 1.5, 0.0], [-1.0, 0.5, 1.0]])
Y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.5]])
W = torch.zeros(3, 2, requires_grad=True)
b = torch.zeros(2, requires_grad=True)

for step in range(20):
    out = X @ W + b
    loss = ((out - Y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        W -= 0.1 * W.grad
        b -= 0.1 * b.grad
        W.grad.zero_()
        b.grad.zero_()
    if step == 0 or step == 9 or step == 19:
        print(f"step {step}: {loss.item():.8f}")

print(W.tolist())
print(b.tolist())
