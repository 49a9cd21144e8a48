# torch.optim.Adam over a list with betas=(0.8, 0.99): minimising a 2-D quadratic.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch

p = torch.tensor([3.0, -2.0], requires_grad=True)
opt = torch.optim.Adam([p], lr=0.3, betas=(0.8, 0.99))
scale = torch.tensor([1.0, 10.0])
for step in range(20):
    opt.zero_grad()
    loss = (scale * p ** 2).sum()
    loss.backward()
    opt.step()
    if step % 4 == 0:
        print(f"{step:2d} {loss.item():.8f} {p.tolist()}")
print(p.tolist())
