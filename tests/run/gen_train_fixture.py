#!/usr/bin/python3
"""tests/run/gen_train_fixture.py: PyTorch's numbers for tests/run/test_train.py.

Builds tests/run/moons.bs's problem in PyTorch (float64, the same formulas for the data and the
initial weights), runs each training configuration of test_train.py for the same number of
steps with torch.optim, and writes the loss before training and the loss at the trained weights
to train_fixture.txt. Run once with Debian's python3-torch:
    /usr/bin/python3 tests/run/gen_train_fixture.py > tests/run/train_fixture.txt
"""
import math

import torch

torch.set_default_dtype(torch.float64)
F = torch.nn.functional

# configurations: name, optimizer, steps, keyword arguments (as test_train.py's :train lines)
CONFIGS = [
    ("sgd_momentum", "sgd", 200, dict(lr=0.5, momentum=0.9)),
    ("sgd_plain", "sgd", 100, dict(lr=0.5)),
    ("adam", "adam", 300, dict(lr=0.02)),
]


def problem():
    t = torch.arange(32) * (3.141592653589793 / 31)
    ex = torch.tensor([[1.0, 0.0]])
    ey = torch.tensor([[0.0, 1.0]])
    XA = torch.cos(t).reshape(32, 1) @ ex + torch.sin(t).reshape(32, 1) @ ey
    XB = (1 - torch.cos(t)).reshape(32, 1) @ ex + (0.5 - torch.sin(t)).reshape(32, 1) @ ey
    yA = torch.zeros(32, dtype=torch.long)
    yB = torch.ones(32, dtype=torch.long)
    W1 = (torch.sin(torch.arange(32) * 1.3 + 0.5).reshape(2, 16) * 0.8).requires_grad_()
    b1 = torch.zeros(16, requires_grad=True)
    W2 = (torch.cos(torch.arange(32) * 0.7 + 0.1).reshape(16, 2) * 0.5).requires_grad_()
    b2 = torch.zeros(2, requires_grad=True)
    params = [W1, b1, W2, b2]

    def loss():
        LA = F.cross_entropy(torch.tanh(XA @ W1 + b1) @ W2 + b2, yA)
        LB = F.cross_entropy(torch.tanh(XB @ W1 + b1) @ W2 + b2, yB)
        return (LA + LB) / 2

    return params, loss


def main():
    print("# tests/run/train_fixture.txt: made by gen_train_fixture.py (PyTorch %s, float64)"
          % torch.__version__)
    for name, opt_name, steps, kw in CONFIGS:
        params, loss = problem()
        opt = (torch.optim.SGD if opt_name == "sgd" else torch.optim.Adam)(params, **kw)
        first = loss().item()
        for _ in range(steps):
            opt.zero_grad()
            L = loss()
            L.backward()
            opt.step()
        final = loss().item()
        assert math.isfinite(final)
        print("%s initial %.17g final %.17g" % (name, first, final))


if __name__ == "__main__":
    main()
