#!/usr/bin/env python3
""":save then :load rebuilds a session bit for bit: every value and grad after the reload equals
the value and grad before it, printed at 17 significant digits (a double's round trip).

Each session below is run through the real binary (interactive mode on a pipe, so failed
statements print an error and the session goes on, as at the prompt), then `:save`d; a fresh
process `:load`s the file, and both print the same probe expressions. Sessions cover training
loops by hand, SGD with momentum and weight decay, Adam, no_grad, detach, random constructors,
failed statements that drew random numbers, :train, and passes stepped with :step to
:finish (recorded as the backward() call they equal) or to :abort (not recorded).
Usage: test_save_load.py BACKSTEP"""
import os
import shutil
import subprocess
import sys
import tempfile

SESSIONS = {
    # PyTorch as written: a module class, a function, a training loop with an optimizer over
    # model.parameters(), blocks ended by an empty line at the prompt
    "pytorch_blocks": ("""
import torch
import torch.nn as nn
torch.manual_seed(7)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.fc2 = nn.Linear(4, 1)
    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))

def loss_fn(p, y):
    return ((p - y) ** 2).mean()

net = Net()
X = torch.randn(6, 3); Y = torch.randn(6, 1)
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
losses = []
for step in range(4):
    opt.zero_grad()
    L = loss_fn(net(X), Y)
    L.backward()
    opt.step()
    losses.append(L.item())

W = net.fc1.weight
""", ["W", "net.fc2.bias", "W.grad", "losses", "L"]),
    "sgd_loop": ("""
seed(3)
w = param(randn(3, 2)); b = param(zeros(2))
X = randn(4, 3); y = randn(4, 2)
opt = sgd(lr=0.1, momentum=0.9, weight_decay=0.01)
L = mse(X @ w + b, y)
L.backward(); opt.step(); opt.zero_grad()
L = mse(X @ w + b, y)
L.backward(); opt.step(); opt.zero_grad()
L = mse(X @ w + b, y)
L.backward()
""", ["w", "b", "L", "w.grad", "b.grad"]),
    "adam_detach_nograd": ("""
seed(7)
a = param(randn(2, 2)); c = param(0.3)
opt = adam(lr=0.05)
h = relu(a * c).detach() * a
L = sum(h * h)
L.backward(); opt.step()
with no_grad: d = a * 2
L = sum(tanh(a @ a) * c)
L.backward(); opt.step()
""", ["a", "c", "d", "a.grad", "c.grad"]),
    "failed_draws": ("""
seed(11)
x = randn(3)
z = randn(2) + nosuchname
y = randn(3)
p = param(randn(3))
L = sum(p * p) + undefined
L = sum(p * y)
L.backward()
""", ["x", "y", "p", "p.grad", "L"]),
    "stepped": ("""
seed(2)
a = param(2.0); b = param(-1.5)
L = a * b + a * a
:step L
:next
:finish
M = sum(tanh(param(randn(3)) * a))
:step M retain_graph=True
:finish
t = param(randn(2, 2))
N = t * t
:step N seed=ones(2, 2) * 0.5
:finish
:step M
:next
:abort
""", ["a", "b", "a.grad", "b.grad", "t.grad"]),
    "failed_effects": ("""
seed(4)
w = param(randn(3)); opt = sgd(lr=0.1, momentum=0.9)
L = sum(w * w)
x = L.backward() + 1
L.backward()
with no_grad: opt.step(); bad = nope
opt.step()
y = opt.step() + randn(2)
m = adam(lr=0.5) + 1
L2 = sum(w * w * w)
L2.backward()
opt.step()
r = randn(2)
""", ["w", "w.grad", "r", "L2"]),
    "train": ("""
seed(5)
W = param(randn(3, 1) * 0.5); X = randn(8, 3); t = randn(8, 1)
L = mse(X @ W, t)
:train L steps=5 lr=0.1
L2 = mse(X @ W, t)
L2.backward()
""", ["W", "W.grad", "L2"]),
}


def run(exe, src, cwd):
    p = subprocess.run([exe, "--no-window", "--precision", "17", "-i"], input=src,
                       capture_output=True, text=True, cwd=cwd, timeout=120,
                       env=dict(os.environ, HOME=cwd, XDG_STATE_HOME=os.path.join(cwd, "state")))
    return p.returncode, p.stdout, p.stderr


def main():
    exe = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="bs-saveload-")
    failed = 0
    try:
        for name, (body, probes) in SESSIONS.items():
            probe = "".join("print(%s)\n" % p for p in probes)
            rc1, out1, err1 = run(exe, body + probe + ":save %s.bs\n" % name, tmp)
            rc2, out2, err2 = run(exe, ":load %s.bs\n" % name + probe, tmp)
            # the first run's output ends with the probes then the :save line; the second's is
            # whatever loading printed, then the probes
            want = out1.splitlines()[-len(probes) - 1:-1]
            got = out2.splitlines()[-len(probes):]
            if rc1 or rc2 or want != got or not want:
                failed += 1
                print("FAIL %s: rc %d/%d\n  before: %s\n  after:  %s\n  stderr: %s%s" %
                      (name, rc1, rc2, want, got, err1, err2))
            else:
                print("ok   %s: %d probes identical at 17 digits" % (name, len(probes)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("save_load: %d passed, %d failed" % (len(SESSIONS) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
