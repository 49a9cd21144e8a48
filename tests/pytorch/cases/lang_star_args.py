# *args and **kwargs as PyTorch code writes them: a forward(*inputs) that sums several inputs, a
# loss helper that reads its options from **kwargs, an optimizer built from **config, x.view(*shape),
# torch.zeros(*shape), dict(**d), and keyword-only parameters after *args.
import torch
import torch.nn as nn
import torch.nn.functional as F


class SumInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, *inputs):
        return self.fc(sum(inputs))


def loss_fn(pred, target, **kwargs):
    return F.mse_loss(pred, target) * kwargs.get("scale", 1.0)


def describe(*args, sep="/", **kw):
    return sep.join(str(a) for a in args) + " " + str(sorted(kw.items()))


model = SumInputs()
with torch.no_grad():
    model.fc.weight.copy_(torch.tensor([[0.5, -0.25]]))
    model.fc.bias.fill_(0.1)
config = {"lr": 0.1, "momentum": 0.9}
opt = torch.optim.SGD(model.parameters(), **config)
x1 = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
x2 = torch.tensor([[0.5, 0.5], [-1.0, 2.0]])
y = torch.tensor([[1.0], [0.0]])
for step in range(3):
    opt.zero_grad()
    out = model(x1, x2)
    loss = loss_fn(out, y, scale=2.0)
    loss.backward()
    opt.step()
    print(step, f"{loss.item():.6f}", model.fc.weight.tolist())
shape = (2, 2)
t = torch.arange(4.0).view(*shape)
z = torch.zeros(*shape)
print(t.tolist(), z.shape, torch.ones(*[3]).tolist())
print(describe(1, 2, 3), describe("a", sep="-", lr=0.1), describe(*[4, 5], **{"b": 2, "a": 1}))
d = {"lr": 0.01, "epochs": 2}
print(dict(**d), dict(d, lr=0.5), max(*[3.0, 7.0, 5.0]))
try:
    loss_fn(*[out])
except TypeError as e:
    print("TypeError:", e)
