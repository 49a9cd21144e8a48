#!/usr/bin/env python3
"""Benchmark: micrograd's demo written as PyTorch users write a training loop (a 2 -> 16 -> 16 -> 1
MLP of scalar params, ReLU, hinge loss + L2 over 100 points, SGD), run by backstep end to end
(start-up, parse, build, backward, update), and next to it in the same run the same loop on
micrograd's engine (tests/bench/micrograd.py).
Both compute in float64 in the same order, so their losses agree; prints both times and the
ratio. Usage: bench_loop_mlp.py BACKSTEP [STEPS]"""
import os
import resource
import subprocess
import sys
import tempfile
import time

from micrograd import init, micrograd  # the reference engine, shared with bench_repl_mlp.py


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
