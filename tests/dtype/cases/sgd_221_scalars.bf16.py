# The 2-2-1 network of the reference text with nine scalar params, trained 20 SGD steps by hand.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch

x1, x2, y = 1.0, 0.5, 1.0
w11 = torch.tensor(0.3, requires_grad=True)
w12 = torch.tensor(0.7, requires_grad=True)
b1 = torch.tensor(0.1, requires_grad=True)
w21 = torch.tensor(-0.2, requires_grad=True)
w22 = torch.tensor(0.5, requires_grad=True)
b2 = torch.tensor(0.0, requires_grad=True)
v1 = torch.tensor(0.6, requires_grad=True)
v2 = torch.tensor(-0.4, requires_grad=True)
b3 = torch.tensor(0.1, requires_grad=True)
params = [w11, w12, b1, w21, w22, b2, v1, v2, b3]

for step in range(20):
    h1 = torch.relu(w11 * x1 + w12 * x2 + b1)
    h2 = torch.relu(w21 * x1 + w22 * x2 + b2)
    yhat = torch.sigmoid(v1 * h1 + v2 * h2 + b3)
    loss = -(y * torch.log(yhat) + (1 - y) * torch.log(1 - yhat))
    loss.backward()
    if step == 0:
        print(f"L = {loss.item():.4f}")
        for p in params:
            print(f"{p.grad.item():+.4f}")
    with torch.no_grad():
        for p in params:
            p -= 0.5 * p.grad
    for p in params:
        p.grad = None

print(f"after 20 steps L = {loss.item():.6f}")
print(v1.item(), v2.item(), b3.item())
