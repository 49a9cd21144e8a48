#!/usr/bin/env python3
"""A long session: a small training loop that rebinds its names, at 10k and at 200k statements.

Prints each run's peak resident memory and wall time, and the ratios that matter: memory at 200k
over memory at 10k (flat: about 1), and time per statement at 200k over time per statement at
10k (linear: about 1). A run of one statement gives the start-up figures, subtracted so the
ratios are about the session, not the binary's libraries. Each figure is the smallest of three
runs: a build with CUDA sometimes maps far more at start-up (once 1.2 GB for one statement, on a
machine without a GPU), which says nothing about the session. What still grows is the history
`:save` writes (each statement's text, about 40 bytes with malloc's overhead); the tape does not.
Usage: bench_long_session.py BACKSTEP"""
import os
import subprocess
import sys
import tempfile
import time

SETUP = """X = randn(8, 4); y = randn(8, 1)
W1 = param(randn(4, 16) * 0.5); b1 = param(zeros(16)); W2 = param(randn(16, 1) * 0.5)
opt = adam(lr=0.01)
"""
BODY = """h = relu(X @ W1 + b1)
L = mse(h @ W2, y)
L.backward()
opt.step()
opt.zero_grad()
"""


def run(exe, statements, folder):
    path = os.path.join(folder, "loop%d.bs" % statements)
    with open(path, "w") as f:
        f.write(SETUP if statements > 1 else "1\n")
        for _ in range(statements // 5):
            f.write(BODY)
    t0 = time.perf_counter()
    p = subprocess.Popen([exe, "--no-window", path], stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    os.unlink(path)
    if status != 0:
        raise SystemExit("backstep failed on %d statements" % statements)
    return ru.ru_maxrss / 1024.0, wall  # MiB (ru_maxrss is in KiB on Linux)


def best(exe, statements, folder):
    runs = [run(exe, statements, folder) for _ in range(3)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def main():
    exe = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="bs-bench-long-") as d:
        base_mem, base_t = best(exe, 1, d)
        figs = {}
        for n in (10_000, 200_000):
            figs[n] = best(exe, n, d)
            mem, t = figs[n]
            print("%7d statements: peak resident %.1f MiB (start-up %.1f), %.2f s (%.2f us/statement)"
                  % (n, mem, base_mem, t, (t - base_t) / n * 1e6))
    (m1, t1), (m2, t2) = figs[10_000], figs[200_000]
    grow = (m2 - base_mem) / max(m1 - base_mem, 0.1)
    per = ((t2 - base_t) / 200_000) / max((t1 - base_t) / 10_000, 1e-9)
    print("session memory 200k / 10k: %.2fx (flat is 1)" % grow)
    print("time per statement 200k / 10k: %.2fx (linear is 1)" % per)


if __name__ == "__main__":
    main()
