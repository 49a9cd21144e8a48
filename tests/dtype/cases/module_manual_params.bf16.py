# class M(nn.Module) with nn.Parameter attributes; named_parameters gives the attribute names.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch
import torch.nn as nn


class Affine(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([2.0, -1.0]))
        self.shift = nn.Parameter(torch.tensor(0.5))

    def forward(self, x):
        return x * self.scale + self.shift


m = Affine()
x = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
out = m(x)
loss = out.pow(2).mean()
loss.backward()
print(f"loss {loss.item():.6f}")
for name, p in m.named_parameters():
    print(name, p.grad.tolist())
count = 0
for p in m.parameters():
    count += 1
print(count)
