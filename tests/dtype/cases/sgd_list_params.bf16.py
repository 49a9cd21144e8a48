# A list of tensor params updated in a loop inside `with torch.no_grad():`; a 2-3-1 tanh net.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch

x = torch.tensor([[0.5, -1.0], [1.0, 2.0], [-0.5, 0.5]])
y = torch.tensor([[1.0], [-1.0], [0.5]])
W1 = torch.tensor([[0.2, -0.1, 0.4], [0.3, 0.5, -0.2]], requires_grad=True)
b1 = torch.tensor([0.0, 0.1, -0.1], requires_grad=True)
W2 = torch.tensor([[0.3], [-0.6], [0.2]], requires_grad=True)
b2 = torch.tensor([0.05], requires_grad=True)
params = [W1, b1, W2, b2]
lr = 0.1

for step in range(20):
    h = torch.tanh(x @ W1 + b1)
    out = h @ W2 + b2
    loss = ((out - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
    for p in params:
        p.grad = None
    if step % 5 == 4:
        print(f"{step:2d} {loss.item():.6f}")

print(len(params))
print(W2.tolist())
