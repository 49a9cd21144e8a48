# A function with a default and a keyword argument that updates a list of params in place.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch


def sgd_step(params, lr=0.1):
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad.zero_()


a = torch.tensor([1.0, -2.0], requires_grad=True)
c = torch.tensor(0.5, requires_grad=True)
for step in range(10):
    loss = (a ** 2).sum() + (c - 2.0) ** 2
    loss.backward()
    if step < 5:
        sgd_step([a, c])
    else:
        sgd_step([a, c], lr=0.05)
    print(f"{step} {loss.item():.6f}")

print(a.tolist(), c.item())
