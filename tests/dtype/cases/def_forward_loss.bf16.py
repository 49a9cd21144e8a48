# Functions with def/return: a forward function and a loss function called from a training loop.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch


def forward(x, w, b):
    return x @ w + b


def mse(pred, target):
    diff = pred - target
    return (diff * diff).mean()


X = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
y = torch.tensor([1.0, 2.0, 3.0])
w = torch.tensor([0.0, 0.0], requires_grad=True)
b = torch.tensor(0.0, requires_grad=True)

for step in range(20):
    loss = mse(forward(X, w, b), y)
    loss.backward()
    with torch.no_grad():
        w -= 0.01 * w.grad
        b -= 0.01 * b.grad
    w.grad = None
    b.grad = None

print(f"{loss.item():.6f}")
print(w.tolist(), b.item())
print(mse(forward(X, w, b), y).item())
