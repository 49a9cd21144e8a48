"""micrograd's engine (its Value class, re-typed as published by A. Karpathy, MIT licence) and the
demo MLP (2 -> 16 -> 16 -> 1, ReLU, hinge loss + L2, 100 points) that the benchmarks run on it: the
reference both bench_loop_mlp.py (the SGD loop) and bench_repl_mlp.py (one graph, built and
backpropagated) compare backstep against. Every figure is float64 in the same order as backstep's."""
import math
import random


# ==== micrograd's engine ====
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


def demo_graph():
    """One pass of bench_repl_mlp.py's script on micrograd: the 100 points forward, the hinge loss
    summed in order, L2 over the params in order, L = total * 0.01 + reg * 1e-4, then L.backward().
    Returns (L.data, grad of the first weight)."""
    layers, pts = init()
    L = [([[Value(w) for w in row] for row in ws], [Value(b) for b in bs]) for ws, bs in layers]
    params = [p for ws, bs in L for row, b in zip(ws, bs) for p in row + [b]]
    total = None
    for x, lab in pts:
        h = x
        for l, (ws, bs) in enumerate(L):
            nxt = []
            for j in range(len(ws)):
                s = bs[j]
                for w, v in zip(ws[j], h):
                    s = s + w * v
                nxt.append(s.relu() if l < 2 else s)
            h = nxt
        loss = (1 + (-lab) * h[0]).relu()
        total = loss if total is None else total + loss
    reg = params[0] * params[0]
    for q in params[1:]:
        reg = reg + q * q
    out = total * 0.01 + reg * 1e-4
    out.backward()
    return out.data, params[0].grad
