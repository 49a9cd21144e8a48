#!/usr/bin/env python3
"""Benchmark: micrograd's demo written as PyTorch users write a training loop (a 2 -> 16 -> 16 -> 1
MLP of scalar params, ReLU, hinge loss + L2 over 100 points, SGD), run by backstep end to end
(start-up, parse, build, backward, update), and next to it in the same run the same loop on
micrograd's engine (its Value class, re-typed below as published by A. Karpathy, MIT licence).
Both compute in float64 in the same order, so their losses agree; prints both times and the
ratio. Usage: bench_loop_mlp.py BACKSTEP [STEPS]"""
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time


# ==== micrograd's engine and nn (the reference) ====
class Value:
    def __init__(self, data, _children=(), _op=''):
        self.data = data
        self.grad = 0
        self._backward = lambda: None
        self._prev = set(_children)
        self._op = _op

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), '+')

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), '*')

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def relu(self):
        out = Value(0 if self.data < 0 else self.data, (self,), 'ReLU')

        def _backward():
            self.grad += (out.data > 0) * out.grad
        out._backward = _backward
        return out

    def backward(self):
        topo, visited = [], set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)
        build_topo(self)
        self.grad = 1
        for v in reversed(topo):
            v._backward()

    def __neg__(self): return self * -1
    def __radd__(self, other): return self + other
    def __rmul__(self, other): return self * other


SIZES = [2, 16, 16, 1]


def init():
    rnd = random.Random(1337)
    layers = []
    for l in range(3):
        ws = [[rnd.uniform(-1, 1) for _ in range(SIZES[l])] for _ in range(SIZES[l + 1])]
        layers.append((ws, [0.0] * SIZES[l + 1]))
    pts = []
    for p in range(100):
        t = math.pi * (p // 2) / 49
        x, y, lab = (math.cos(t), math.sin(t), -1.0) if p % 2 == 0 else (1 - math.cos(t), 0.5 - math.sin(t), 1.0)
        pts.append(([x, y], lab))
    return layers, pts


def micrograd(steps):
    layers, pts = init()
    L = [([[Value(w) for w in row] for row in ws], [Value(b) for b in bs]) for ws, bs in layers]
    params = [p for ws, bs in L for row, b in zip(ws, bs) for p in row + [b]]

    def neuron(ws, b, inp, act):
        s = b
        for w, x in zip(ws, inp):
            s = s + w * x
        return s.relu() if act else s

    def forward(x):
        h = x
        for l, (ws, bs) in enumerate(L):
            h = [neuron(ws[j], bs[j], h, l < 2) for j in range(len(ws))]
        return h[0]
    out = []
    for step in range(steps):
        losses = [(1 + -y * forward(x)).relu() for x, y in pts]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg = 1e-4 * sum([p * p for p in params])
        loss = data_loss + reg
        for p in params:
            p.grad = 0
        loss.backward()
        lr = 1.0 - 0.9 * step / 100
        for p in params:
            p.data -= lr * p.grad
        out.append(loss.data)
    return out


def backstep_program(steps):
    layers, pts = init()
    lines = ["import torch"]
    for l, (ws, bs) in enumerate(layers):
        lines.append("W%d = [[torch.tensor(v, requires_grad=True) for v in row] for row in %r]" % (l, ws))
        lines.append("B%d = [torch.tensor(v, requires_grad=True) for v in %r]" % (l, bs))
    lines.append("L = [(W0, B0), (W1, B1), (W2, B2)]")
    lines.append("params = []")
    lines.append("for ws, bs in L:")
    lines.append("    for j in range(len(ws)):")
    lines.append("        params += ws[j] + [bs[j]]")
    lines.append("xs = %r" % [x for x, _ in pts])
    lines.append("ys = %r" % [y for _, y in pts])
    lines.append('''
def neuron(ws, b, inp, act):
    s = b
    for w, x in zip(ws, inp):
        s = s + w * x
    return s.relu() if act else s

def forward(x):
    h = x
    for l, (ws, bs) in enumerate(L):
        h = [neuron(ws[j], bs[j], h, l < 2) for j in range(len(ws))]
    return h[0]

for step in range(%d):
    losses = [(1 + -y * forward(x)).relu() for x, y in zip(xs, ys)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg = 1e-4 * sum([p * p for p in params])
    loss = data_loss + reg
    for p in params:
        p.grad = None
    loss.backward()
    lr = 1.0 - 0.9 * step / 100
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
    print(repr(loss.item()))
''' % steps)
    return "\n".join(lines)


def main():
    exe = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    d = tempfile.mkdtemp(prefix="bs-loopmlp-")
    path = os.path.join(d, "mlp_loop.py")
    try:
        with open(path, "w") as f:
            f.write(backstep_program(steps))
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run([exe, "--no-window", path], capture_output=True, text=True)
        t_bs = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        c_bs = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        if p.returncode != 0:
            print(p.stderr, file=sys.stderr)
            return 1
        got = [float(v) for v in p.stdout.split()]
        t0, c0 = time.perf_counter(), time.process_time()
        ref = micrograd(steps)
        t_mg, c_mg = time.perf_counter() - t0, time.process_time() - c0
    finally:
        for n in os.listdir(d):
            os.unlink(os.path.join(d, n))
        os.rmdir(d)
    diff = max(abs(a - b) for a, b in zip(got, ref)) if len(got) == len(ref) else float("inf")
    print("loop_mlp steps=%d backstep_s=%.3f micrograd_s=%.3f ratio=%.1fx final_loss=%.12g max_loss_diff=%.3g"
          % (steps, t_bs, t_mg, t_mg / t_bs, got[-1] if got else float("nan"), diff))
    # CPU seconds too (user + system, each process its own): on a machine shared with other jobs
    # the wall-clock ratio depends on what ran beside each half; on an idle one the two agree
    print("loop_mlp cpu: backstep_cpu_s=%.3f micrograd_cpu_s=%.3f cpu_ratio=%.1fx" % (c_bs, c_mg, c_mg / c_bs))
    print("target 30x: wall %s, cpu %s" % ("met" if t_mg / t_bs >= 30 else "missed",
                                           "met" if c_mg / c_bs >= 30 else "missed"))
    return 0 if diff < 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
