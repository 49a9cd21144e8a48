#!/usr/bin/python3
"""tests/bench/bench_gpt_cpu.py: the training step of one GPT-2-small-wide pre-norm block
(assets/gpt_block.bs: token and position embeddings, LayerNorm, causal self-attention with a
fused QKV, a 4x gelu MLP, residuals, a next-token cross-entropy, SGD) at N=4, S=256, D=768, H=12
(V stays 11), replayed by `:run cpu`, against PyTorch CPU running the same module code in the same
run, at one and at two threads (OPENBLAS_NUM_THREADS for backstep, torch.set_num_threads for
PyTorch). Rounds alternate between the two, so both see the same machine.

usage: bench_gpt_cpu.py BACKSTEP GPT_BLOCK.bs [ROUNDS] [THREADS,...]
Prints each round, then `ratio T X` per thread count (backstep's best round / PyTorch's; the
target is <= 1.0). Exits 77 ("skipped: no torch") without torch.
"""
import os
import re
import subprocess
import sys
import time

N, S, D, H, V = 4, 256, 768, 12, 11
STEPS = 5


def backstep_step_ms(exe, script, threads):
    src = open(script).read() + "\n:run cpu N=%d S=%d D=%d H=%d steps=%d --quiet\n" % (N, S, D, H, STEPS)
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
    for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(v, None)
    out = subprocess.run([exe, "--quiet", "--no-window"], input=src, capture_output=True, text=True,
                         timeout=900, env=env)
    if out.returncode != 0:
        sys.exit("backstep failed (%d): %s" % (out.returncode, out.stderr.strip()))
    m = re.search(r"^run cpu step_ms=(\S+) fwd_ms=(\S+) bwd_ms=(\S+) peak_bytes=(\d+)", out.stdout, re.M)
    if not m:
        sys.exit("no `run cpu step_ms=...` line in backstep's output:\n" + out.stdout + out.stderr)
    return float(m.group(1)), float(m.group(2)), float(m.group(3))


def torch_model(torch):
    nn, F = torch.nn, torch.nn.functional

    class CausalSelfAttention(nn.Module):
        def __init__(self, d, h, s):
            super().__init__()
            self.c_attn = nn.Linear(d, 3 * d)
            self.c_proj = nn.Linear(d, d)
            self.n_head = h
            self.future = torch.triu(torch.ones(s, s, dtype=torch.bool), diagonal=1)

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(C, dim=2)
            q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) * (k.size(-1) ** -0.5)
            att = att.masked_fill(self.future, float('-inf'))
            att = F.softmax(att, dim=-1)
            y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
            return self.c_proj(y)

    class Block(nn.Module):
        def __init__(self, d, h, s):
            super().__init__()
            self.ln_1 = nn.LayerNorm(d)
            self.attn = CausalSelfAttention(d, h, s)
            self.ln_2 = nn.LayerNorm(d)
            self.c_fc = nn.Linear(d, 4 * d)
            self.c_proj = nn.Linear(4 * d, d)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate='tanh'))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(V, D)
            self.wpe = nn.Embedding(S, D)
            self.h = Block(D, H, S)
            self.ln_f = nn.LayerNorm(D)
            self.lm_head = nn.Linear(D, V, bias=False)

        def forward(self, idx, pos, targets):
            x = self.h(self.wte(idx) + self.wpe(pos))
            logits = self.lm_head(self.ln_f(x))
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    return GPT()


def torch_step_ms(torch, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch_model(torch)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    idx = torch.randint(0, V, (N, S))
    targets = torch.randint(0, V, (N, S))
    pos = torch.arange(S)

    def step():
        opt.zero_grad(set_to_none=True)
        model(idx, pos, targets).backward()
        opt.step()

    step()  # warm-up, as :run does
    times = []
    for _ in range(STEPS):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[STEPS // 2]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    exe, script = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    threads = [int(t) for t in (sys.argv[4] if len(sys.argv) > 4 else "1,2").split(",")]
    try:
        import torch
    except ImportError:
        print("skipped: no torch")
        return 77
    print("N=%d S=%d D=%d H=%d V=%d, f32, median of %d steps after one warm-up" % (N, S, D, H, V, STEPS))
    ratios = {}
    for t in threads:
        ours, theirs = [], []
        for r in range(rounds):
            s, f, b = backstep_step_ms(exe, script, t)
            p = torch_step_ms(torch, t)
            ours.append(s)
            theirs.append(p)
            print("threads %d round %d: backstep step %.1f ms (fwd %.1f, bwd %.1f)  pytorch step %.1f ms"
                  % (t, r + 1, s, f, b, p))
        ratios[t] = min(ours) / min(theirs)
        print("threads %d: backstep %.1f ms, pytorch %.1f ms (best of %d rounds)" % (t, min(ours), min(theirs), rounds))
    for t in threads:
        print("ratio %d %.3f" % (t, ratios[t]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
