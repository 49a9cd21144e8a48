# A while loop that trains until the loss is small or a step limit is hit.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch

w = torch.tensor(0.0, requires_grad=True)
target = 3.0
step = 0
loss = (w - target) ** 2
while loss.item() > 1e-4 and step < 100:
    loss = (w - target) ** 2
    loss.backward()
    with torch.no_grad():
        w -= 0.1 * w.grad
    w.grad = None
    step += 1

print("steps:", step)
print(f"w = {w.item():.6f}")
print(f"loss = {loss.item():.3e}")
