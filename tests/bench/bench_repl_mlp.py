#!/usr/bin/env python3
"""Benchmark: micrograd's scalar MLP (2 -> 16 -> 16 -> 1, ReLU, hinge loss + L2, 100 points) typed
as a backstep script, one statement per neuron per point (about 65k nodes), run end to end by the
REPL binary; next to it, in the same run, the engine's own scalar_mlp benchmark through the C API,
and micrograd (tests/bench/micrograd.py) building and backpropagating the same graph. Prints
ns_per_node for the REPL and the engine and their ratio, and micrograd's time over the script's
end-to-end time (start-up included: issue 18 asks >= 50x); the two losses must agree.

The timed script is what micrograd's side does: parse and build the graph, L.backward(), and
print(repr(L.item())). It does not end with :mem (micrograd prints no memory table; :mem writes a
34,000-line table, about 4 MB, into the pipe): the node count ("in N nodes") comes from a separate run
of the same script with :mem appended (not part of the end-to-end time), and :mem's own time is still
reported as its own phase (that run's best of 5 minus the timed script's). Usage:
bench_repl_mlp.py BACKSTEP BENCH_SCALAR_MLP"""
import math
import atexit
import shutil
import os
import random
import re
import subprocess
import sys
import tempfile
import time

from micrograd import demo_graph  # the reference engine, shared with bench_loop_mlp.py


def script():
    rnd = random.Random(1337)
    out = []
    sizes = [2, 16, 16, 1]
    params = []
    for layer in range(3):
        for j in range(sizes[layer + 1]):
            for i in range(sizes[layer]):
                name = "w%d_%d_%d" % (layer, j, i)
                out.append("%s = param(%r)" % (name, rnd.uniform(-1, 1)))
                params.append(name)
            out.append("b%d_%d = param(0.0)" % (layer, j))
            params.append("b%d_%d" % (layer, j))
    for p in range(100):
        t = math.pi * (p // 2) / 49
        x, y, lab = (math.cos(t), math.sin(t), -1) if p % 2 == 0 else (1 - math.cos(t), 0.5 - math.sin(t), 1)
        out.append("x_0 = %r; x_1 = %r" % (x, y))
        prev = ["x_0", "x_1"]
        for layer in range(3):
            cur = []
            for j in range(sizes[layer + 1]):
                terms = " + ".join("w%d_%d_%d * %s" % (layer, j, i, prev[i]) for i in range(len(prev)))
                body = "b%d_%d + %s" % (layer, j, terms)
                name = "h%d_%d" % (layer, j)
                out.append("%s = %s" % (name, "relu(%s)" % body if layer < 2 else body))
                cur.append(name)
            prev = cur
        loss = "relu(1 + %d * %s)" % (-lab, prev[0])
        out.append("total = %s" % loss if p == 0 else "total = total + %s" % loss)
    out.append("reg = %s * %s" % (params[0], params[0]))
    for q in params[1:]:
        out.append("reg = reg + %s * %s" % (q, q))
    out.append("L = total * 0.01 + reg * 1e-4")
    out.append("L.backward()")
    out.append("print(repr(L.item()))")
    return "\n".join(out) + "\n"


def main():
    exe, engine = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="bs-bench-")
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    path = os.path.join(tmp, "mlp.bs")
    open(path, "w").write(script())
    empty = os.path.join(os.path.dirname(path), "empty.bs")
    open(empty, "w").write("1\n")

    def timed(script_path):
        best, out = None, None
        for _ in range(5):
            t0 = time.perf_counter()
            p = subprocess.run([exe, "--no-window", script_path], capture_output=True, text=True)
            dt = time.perf_counter() - t0
            if p.returncode:
                print(p.stdout[-2000:], p.stderr[-2000:])
                sys.exit(1)
            best = dt if best is None else min(best, dt)
            out = p
        return best, out

    start, _ = timed(empty)     # the reference: process start-up and exit with one statement
    best, p = timed(path)
    # the node count: the same script with :mem appended (timed only for the :mem phase below)
    mem_path = os.path.join(tmp, "mlp_mem.bs")
    open(mem_path, "w").write(script() + ":mem\n")
    with_mem, pm = timed(mem_path)
    m = re.search(r"in (\d+) nodes", pm.stdout)
    nodes = int(m.group(1))
    e = subprocess.run([engine], capture_output=True, text=True).stdout
    eng = float(re.search(r"^ns_per_node ([\d.]+)", e, re.M).group(1))
    repl = (best - start) * 1e9 / nodes
    print("statements %d" % script().count("\n"))
    print("nodes %d" % nodes)
    print("startup_ms %.1f   (a one-statement script: loading libraries, exit)" % (start * 1e3))
    print("script_ms %.1f" % (best * 1e3))
    print("repl_ns_per_node %.1f   (script minus start-up: parse, evaluate, record, backward)" % repl)
    print("engine_ns_per_node %.1f" % eng)
    print("ratio %.1f" % (repl / eng))
    mg, loss = None, None
    for _ in range(3):
        t0 = time.perf_counter()
        loss, _ = demo_graph()
        dt = time.perf_counter() - t0
        mg = dt if mg is None else min(mg, dt)
    got = float(re.search(r"^(-?[\d.e+-]+)$", p.stdout, re.M).group(1))
    print("micrograd_ms %.1f   (the same graph built and backpropagated, best of 3)" % (mg * 1e3))
    print("vs_micrograd %.1fx   (micrograd over the script end to end, start-up included; target 50x: %s)"
          % (mg / best, "met" if mg / best >= 50 else "missed"))
    print("loss backstep %.12g micrograd %.12g" % (got, loss))
    # where the end-to-end time goes: the same script cut before L.backward(), whole, and whole
    # with :mem appended (each the best of 5, as above); the differences are the phases
    lines = script().splitlines(keepends=True)
    cut = {"record": lines.index("L.backward()\n")}
    best_of = {}
    for phase, n in cut.items():
        q = os.path.join(tmp, phase + ".bs")
        open(q, "w").write("".join(lines[:n]))
        best_of[phase], _ = timed(q)
    print("phases_ms start-up %.1f | parse, evaluate, record %.1f | backward and print %.1f | :mem %.1f"
          % (start * 1e3, (best_of["record"] - start) * 1e3, (best - best_of["record"]) * 1e3,
             (with_mem - best) * 1e3))
    return 0 if abs(got - loss) < 1e-9 else 1


sys.exit(main())
