#!/usr/bin/env python3
"""Benchmark: the engine's scalar MLP (scalar_mlp.c: micrograd's demo, 2 -> 16 -> 16 -> 1, ReLU,
hinge loss + L2 over 100 points, about 65k scalar nodes built and backpropagated) against
micrograd's engine building and backpropagating the same graph in the same run: the same params
(read from `BENCH --params`), the same ops in the same order, constants as Values as micrograd
makes them. Both are timed best of several builds + backwards; the losses must agree and the node
counts must be equal. Prints both ns_per_node and the ratio. Usage: bench_scalar_mlp.py BENCH"""
import math
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from micrograd import Value  # noqa: E402  micrograd's engine, as published (tests/bench/micrograd.py)

NPTS = 100


def reached(root):
    """the nodes root's graph holds (every node a build makes is used): the count to check"""
    seen, todo = {id(root)}, [root]
    while todo:
        for ch in todo.pop()._prev:
            if id(ch) not in seen:
                seen.add(id(ch))
                todo.append(ch)
    return len(seen)


def moons():
    pts = []
    for i in range(NPTS):
        t = math.pi * (i // 2) / (NPTS // 2 - 1)
        if i % 2 == 0:
            pts.append(((math.cos(t), math.sin(t)), -1.0))
        else:
            pts.append(((1 - math.cos(t), 0.5 - math.sin(t)), 1.0))
    return pts


def build(V, vals, pts):
    """scalar_mlp.c's build() on micrograd: returns (loss node, params)"""
    it = iter(vals)
    params = []

    def layer(nin, nout):
        ws, bs = [], []
        for _ in range(nout):
            w = [V(next(it)) for _ in range(nin)]
            b = V(next(it))
            params.extend(w + [b])
            ws.append(w)
            bs.append(b)
        return ws, bs
    (w1, b1), (w2, b2), (w3, b3) = layer(2, 16), layer(16, 16), layer(16, 1)
    return params, (w1, b1, w2, b2, w3, b3)


def graph(V, params, net, pts):
    w1, b1, w2, b2, w3, b3 = net

    def neuron(w, b, x, relu):
        act = b
        for wi, xi in zip(w, x):
            act = act + wi * xi
        return act.relu() if relu else act
    total = None
    for (x0, x1), y in pts:
        x = [V(x0), V(x1)]
        h1 = [neuron(w1[j], b1[j], x, True) for j in range(16)]
        h2 = [neuron(w2[j], b2[j], h1, True) for j in range(16)]
        score = neuron(w3[0], b3[0], h2, False)
        l = (V(1.0) + V(-y) * score).relu()
        total = l if total is None else total + l
    data = total * V(1.0 / NPTS)
    reg = None
    for p in params:
        sq = p * p
        reg = sq if reg is None else reg + sq
    return data + reg * V(1e-4)


def micrograd(vals, pts, reps):
    params, net = build(Value, vals, pts)
    # the node count (less the params, made before, as the engine's count) and the loss, untimed
    L = graph(Value, params, net, pts)
    nodes = reached(L) - len(params)
    L.backward()
    loss = L.data
    best = None
    for _ in range(reps):
        for p in params:
            p.grad = 0
        t0 = time.perf_counter()
        L = graph(Value, params, net, pts)
        L.backward()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
        del L
    return nodes, loss, best


def main():
    bench = sys.argv[1]
    vals = [float(v) for v in subprocess.run([bench, "--params"], capture_output=True, text=True,
                                             check=True).stdout.split()]
    sys.setrecursionlimit(100000)  # micrograd's build_topo recurses along the graph's depth
    pts = moons()
    out = subprocess.run([bench], capture_output=True, text=True, check=True).stdout
    nodes = int(re.search(r"^nodes (\d+)", out, re.M).group(1))
    loss = float(re.search(r"^loss (\S+)", out, re.M).group(1))
    ns = float(re.search(r"^ns_per_node ([\d.]+)", out, re.M).group(1))
    mg_nodes, mg_loss, mg_best = micrograd(vals, pts, 3)
    mg_ns = mg_best * 1e9 / mg_nodes
    print(out, end="")
    print("micrograd_nodes %d   micrograd_loss %.17g" % (mg_nodes, mg_loss))
    print("micrograd_ns_per_node %.1f   (best of 3 builds + backwards, same graph, same run)" % mg_ns)
    print("ratio %.1fx   (micrograd ns_per_node / backstep ns_per_node; target 400x: %s)"
          % (mg_ns / ns, "met" if mg_ns / ns >= 400 else "missed"))
    ok = mg_nodes == nodes and abs(mg_loss - loss) <= 1e-12 * max(1.0, abs(loss))
    if not ok:
        print("error: not the same graph: %d nodes, loss %.17g here; %d, %.17g on micrograd"
              % (nodes, loss, mg_nodes, mg_loss))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
