# Hand-written SGD over a weight vector and a bias, clearing with p.grad.zero_().
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch

X = torch.tensor([[1.0, 2.0], [2.0, 0.5], [3.0, -1.0], [0.5, 1.5]])
y = torch.tensor([5.0, 3.5, 1.0, 3.5])
w = torch.tensor([0.1, 0.1], requires_grad=True)
b = torch.tensor(0.0, requires_grad=True)
lr = 0.05

for step in range(20):
    pred = X @ w + b
    loss = ((pred - y) ** 2).mean()
    loss.backward()
    if step == 0:
        print("first grads", w.grad.tolist(), b.grad.item())
    with torch.no_grad():
        w -= lr * w.grad
        b -= lr * b.grad
    w.grad.zero_()
    b.grad.zero_()
    if step % 4 == 3:
        print(f"{step + 1:3d} {loss.item():.6f}")

print(w.tolist())
print(b.item())
