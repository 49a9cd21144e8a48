# torch.optim.SGD over an explicit list of tensors [w, b]; opt.zero_grad()/step() in a loop.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch

w = torch.tensor([0.0, 0.0], requires_grad=True)
b = torch.tensor(0.0, requires_grad=True)
X = torch.tensor([[1.0, 2.0], [2.0, 1.0], [3.0, 3.0], [0.0, 1.0]])
y = torch.tensor([5.0, 4.0, 9.0, 2.0])
opt = torch.optim.SGD([w, b], lr=0.02)

for step in range(20):
    opt.zero_grad()
    loss = ((X @ w + b - y) ** 2).mean()
    loss.backward()
    opt.step()
    if step % 5 == 0:
        print(f"{step:2d} {loss.item():.6f}")

print(w.tolist(), b.item())
