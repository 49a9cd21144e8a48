# Hand-written SGD over two scalar params: for/range, `with torch.no_grad():` updates, p.grad = None.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch

xs = [1.0, 2.0, 3.0, 4.0]
ys = [3.1, 4.9, 7.2, 8.8]
w = torch.tensor(0.5, requires_grad=True)
b = torch.tensor(0.0, requires_grad=True)
lr = 0.02

for step in range(20):
    loss = 0.0
    for i in range(len(xs)):
        pred = w * xs[i] + b
        loss = loss + (pred - ys[i]) ** 2
    loss = loss / len(xs)
    loss.backward()
    with torch.no_grad():
        w -= lr * w.grad
        b -= lr * b.grad
    w.grad = None
    b.grad = None
    if step % 5 == 0 or step == 19:
        print(f"step {step:2d}  loss {loss.item():.6f}  w {w.item():.6f}  b {b.item():.6f}")

print(w.item(), b.item())
