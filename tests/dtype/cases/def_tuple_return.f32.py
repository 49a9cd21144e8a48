# A function returning a tuple, unpacked by the caller; both results feed one loss.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch


def stats(x):
    m = x.mean()
    v = ((x - m) ** 2).mean()
    return m, v


x = torch.tensor([1.0, 2.0, 4.0, 7.0], requires_grad=True)
m, v = stats(x)
print(f"mean {m.item():.4f} var {v.item():.4f}")
loss = m + 2 * v
loss.backward()
print(x.grad.tolist())
pair = stats(x * 2)
print(len(pair))
print(pair[0].item(), pair[1].item())
