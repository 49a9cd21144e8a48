#!/usr/bin/python3
"""tests/bench/bench_mlp_cpu.py: the training step of a 784 -> 1024 -> 1024 -> 10 ReLU MLP with
cross-entropy at N=256, replayed by `:run cpu` (tests/bench/mlp.bs), against PyTorch CPU running
the same graph (x @ W + b, relu, cross_entropy, SGD) in the same run, one thread each.

usage: bench_mlp_cpu.py BACKSTEP MLP.bs [ROUNDS]
Prints each round, then `ratio X` (backstep's median step / PyTorch's; the target is <= 1.05).
Run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset and OPENBLAS_NUM_THREADS=1 (meson's
benchmark does: env -u ... OPENBLAS_NUM_THREADS=1). Exits 77 ("skipped: no torch") without torch.
"""
import os
import re
import subprocess
import sys
import time

N, D, H, C = 256, 784, 1024, 10
STEPS = 20


def backstep_step_ms(exe, script):
    src = open(script).read() + "\n:run cpu N=%d D=%d H=%d steps=%d --quiet\n" % (N, D, H, STEPS)
    out = subprocess.run([exe, "--quiet", "--no-window"], input=src, capture_output=True,
                         text=True, timeout=600)
    if out.returncode != 0:
        sys.exit("backstep failed (%d): %s" % (out.returncode, out.stderr.strip()))
    m = re.search(r"^run cpu step_ms=(\S+) fwd_ms=(\S+) bwd_ms=(\S+) peak_bytes=(\d+) max_diff=(\S+)$",
                  out.stdout, re.M)
    if not m:
        sys.exit("no `run cpu step_ms=...` line in backstep's output:\n" + out.stdout)
    return float(m.group(1)), float(m.group(2)), float(m.group(3))


def torch_step_ms(torch):
    F = torch.nn.functional
    torch.manual_seed(0)
    x = torch.randn(N, D)
    y = torch.zeros(N, dtype=torch.long)
    W1 = (torch.randn(D, H) * 0.05).requires_grad_()
    b1 = torch.zeros(H, requires_grad=True)
    W2 = (torch.randn(H, H) * 0.05).requires_grad_()
    b2 = torch.zeros(H, requires_grad=True)
    W3 = (torch.randn(H, C) * 0.05).requires_grad_()
    b3 = torch.zeros(C, requires_grad=True)
    opt = torch.optim.SGD([W1, b1, W2, b2, W3, b3], lr=0.01)

    def step():
        opt.zero_grad(set_to_none=True)
        h1 = torch.relu(x @ W1 + b1)
        h2 = torch.relu(h1 @ W2 + b2)
        logits = h2 @ W3 + b3
        L = F.cross_entropy(logits, y)
        L.backward()
        opt.step()

    step()  # warm-up, as :run does
    times = []
    for _ in range(STEPS):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return (times[STEPS // 2 - 1] + times[STEPS // 2]) / 2


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    exe, script = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    try:
        import torch
    except ImportError:
        print("skipped: no torch")
        return 77
    torch.set_num_threads(1)
    for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if v in os.environ:
            print("note: %s is set (%s); the benchmark wants it unset" % (v, os.environ[v]))
    print("threads: OPENBLAS_NUM_THREADS=%s, torch %d" % (os.environ.get("OPENBLAS_NUM_THREADS"),
                                                          torch.get_num_threads()))
    ours, theirs = [], []
    for r in range(rounds):  # alternate, so both see the same machine
        s, f, b = backstep_step_ms(exe, script)
        t = torch_step_ms(torch)
        ours.append(s)
        theirs.append(t)
        print("round %d: backstep step %.3f ms (fwd %.3f, bwd %.3f)  pytorch step %.3f ms"
              % (r + 1, s, f, b, t))
    best_ours, best_theirs = min(ours), min(theirs)
    print("backstep %.3f ms, pytorch %.3f ms (best round of %d, median of %d steps each)"
          % (best_ours, best_theirs, rounds, STEPS))
    print("ratio %.3f" % (best_ours / best_theirs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
