#!/usr/bin/env python3
"""tests/bench/bench_gpu.py: the two GPU benchmarks, each `:run gpu` against PyTorch eager doing
the same training step (forward, backward, SGD) on the same GPU in the same run:

  mlp  tests/bench/mlp.bs at N=8192, D=H=4096 (784 -> 4096 -> 4096 -> 10 becomes 4096 wide), bf16
  gpt  assets/gpt_block.bs at N=8, S=1024, D=768, H=12 (V stays 11), bf16

For each it prints both step times, `ratio NAME X` (backstep / PyTorch; the target is <= 1.0)
and backstep's achieved bf16 TFLOP/s (the plan's FLOP count over its step time) against the
device's peak (--peak, TFLOP/s; default 989, the H100/H200 SXM dense bf16 figure).

usage: bench_gpu.py BACKSTEP SRC_ROOT [--only mlp|gpt] [--steps K] [--peak TFLOPS]
Exits 77 without torch, without CUDA, or when backstep has no GPU backend.
"""
import argparse
import os
import re
import subprocess
import sys
import time

CASES = {
    "mlp": ("tests/bench/mlp.bs", dict(N=8192, D=4096, H=4096)),
    "gpt": ("assets/gpt_block.bs", dict(N=8, S=1024, D=768, H=12)),
}


def backstep_run(exe, script, sizes, steps):
    binds = " ".join("%s=%d" % kv for kv in sizes.items())
    src = open(script).read() + "\n:run gpu %s dtype=bf16 steps=%d\n" % (binds, steps)
    p = subprocess.run([exe, "--no-window"], input=src, capture_output=True, text=True, timeout=900)
    out = p.stdout + p.stderr
    if p.returncode != 0 or "error" in p.stderr:
        if "no CUDA" in out or "not built" in out or "no GPU" in out.lower():
            print("skipped: backstep has no GPU here:", p.stderr.strip()[-300:])
            sys.exit(77)
        sys.exit("backstep failed (%d): %s" % (p.returncode, out[-2000:]))
    step = re.search(r"^step (\S+) ms", out, re.M)
    tot = re.search(r"^total of the medians\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M)
    dev = re.search(r"^:run gpu .* on (.*)$", out, re.M)
    if not step or not tot:
        sys.exit("no step / total line in backstep's output:\n" + out[-3000:])
    fwd_ms, fwd_g, bwd_ms, bwd_g = (float(x) if x != "-" else 0.0 for x in tot.groups())
    flops = (fwd_ms * fwd_g + bwd_ms * bwd_g) * 1e6  # GFLOP/s x ms
    return float(step.group(1)), flops, dev.group(1) if dev else "?"


def torch_mlp(torch, sizes):
    nn = torch.nn
    N, D, H, C = sizes["N"], sizes["D"], sizes["H"], 10
    model = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, H), nn.ReLU(), nn.Linear(H, C))
    x = torch.randn(N, D)
    y = torch.zeros(N, dtype=torch.long)
    return model, (x, y), lambda m, x, y: nn.functional.cross_entropy(m(x), y)


def torch_gpt(torch, sizes):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_gpt_cpu as g
    g.N, g.S, g.D, g.H = sizes["N"], sizes["S"], sizes["D"], sizes["H"]
    model = g.torch_model(torch)
    idx = torch.randint(0, g.V, (g.N, g.S))
    targets = torch.randint(0, g.V, (g.N, g.S))
    pos = torch.arange(g.S)
    return model, (idx, pos, targets), lambda m, i, p, t: m(i, p, t)


def torch_step_ms(torch, name, sizes, steps):
    torch.manual_seed(0)
    model, inputs, loss_of = (torch_mlp if name == "mlp" else torch_gpt)(torch, sizes)
    dev = torch.device("cuda")
    model = model.to(device=dev, dtype=torch.bfloat16)
    inputs = [t.to(dev).to(torch.bfloat16) if t.is_floating_point() else t.to(dev) for t in inputs]
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def step():
        opt.zero_grad(set_to_none=True)
        loss_of(model, *inputs).backward()
        opt.step()

    for _ in range(2):  # warm-up
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("backstep")
    ap.add_argument("root")
    ap.add_argument("--only", choices=sorted(CASES))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--peak", type=float, default=989.0)
    a = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("skipped: no torch")
        return 77
    if not torch.cuda.is_available():
        print("skipped: torch sees no CUDA device")
        return 77
    gpu = torch.cuda.get_device_name(0)
    print("device: %s (torch %s), bf16, median of %d steps" % (gpu, torch.__version__, a.steps))
    for name in [a.only] if a.only else ["mlp", "gpt"]:
        script, sizes = CASES[name]
        ours, flops, dev = backstep_run(a.backstep, os.path.join(a.root, script), sizes, a.steps)
        theirs = torch_step_ms(torch, name, sizes, a.steps)
        tflops = flops / (ours * 1e-3) / 1e12
        print("%s %s: backstep step %.3f ms on %s, pytorch eager %.3f ms; %.1f TFLOP/s achieved "
              "(%.3g TFLOP a step), %.1f%% of the %.0f TFLOP/s bf16 peak"
              % (name, " ".join("%s=%d" % kv for kv in sizes.items()), ours, dev, theirs, tflops,
                 flops / 1e12, 100 * tflops / a.peak, a.peak))
        print("ratio %s %.3f" % (name, ours / theirs))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
