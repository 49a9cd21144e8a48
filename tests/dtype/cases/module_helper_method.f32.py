# An nn.Module whose forward calls another method of the class and a module-level function.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn


def square(t):
    return t * t


class Quad(nn.Module):
    def __init__(self, a, b):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a))
        self.b = nn.Parameter(torch.tensor(b))

    def features(self, x):
        return self.a * square(x)

    def forward(self, x):
        return self.features(x) + self.b * x


q = Quad(0.5, -1.0)
x = torch.tensor([1.0, 2.0, 3.0])
out = q(x)
print(out.tolist())
out.sum().backward()
print(q.a.grad.item(), q.b.grad.item())
