#!/usr/bin/env python3
"""tests/repl/test_mem_sizes.py: `:mem DIM=a,b,c` (the saved-activation bytes at other sizes,
without running) on assets/gpt_block.bs. Oracles: each row of the sweep equals the total of a
plain `:mem` in a session that recorded the block at those sizes (dim(...) edited in the script),
and the fitted S^2 coefficient is what PyTorch keeps that grows as S^2: softmax's result
(N, H, S, S) in f64 and masked_fill's (S, S) mask, 8 bytes an element: 8 * (N * H + 1). Bad
input gives an error with its position.

The same on tests/bench/mlp.bs over the batch N: rows equal sessions recorded at each N, and the
fit has no N^2 term.

usage: test_mem_sizes.py BACKSTEP ASSETS_DIR MLP.bs"""
import re
import subprocess
import sys

fails = 0


def check(cond, what):
    global fails
    if not cond:
        fails += 1
        print("FAIL:", what)


def run(exe, src):
    p = subprocess.run([exe, "--quiet", "--no-window"], input=src, capture_output=True, text=True,
                       timeout=120)
    return p.stdout, p.stderr


def sized(script, **dims):
    for k, v in dims.items():
        script, n = re.subn(r"^%s = dim\(\d+\)" % k, "%s = dim(%d)" % (k, v), script, flags=re.M)
        assert n == 1, k
    return script


def plain_total(exe, script):
    out, err = run(exe, script + "\n:mem\n")
    m = re.search(r"activation memory saved for backward: (\d+) bytes", out)
    check(m, "plain :mem prints a total: " + out[-300:] + err)
    return int(m.group(1)) if m else -1


def main():
    exe, assets, mlp_path = sys.argv[1], sys.argv[2], sys.argv[3]
    block = open(assets + "/gpt_block.bs").read()
    out, err = run(exe, block + "\n:mem S=3,6,9 N=5\n")
    rows = {int(s): int(b) for s, b in re.findall(r"^(\d+)\s+(\d+)  N=5 S=\d+ D=8 H=2 V=11$", out, re.M)}
    check(sorted(rows) == [3, 6, 9], "three rows at S=3,6,9: " + out + err)
    for S, b in rows.items():
        want = plain_total(exe, sized(block, N=5, S=S))
        check(b == want, ":mem S=%d N=5 says %d bytes, a session recorded at those sizes %d" % (S, b, want))
    m = re.search(r"^fit: bytes = \S+ \+ \S+\*S \+ (\S+)\*S\^2 \(largest residual (\S+) bytes\)$", out, re.M)
    check(m, "a fit line: " + out)
    if m:
        check(abs(float(m.group(1)) - 8 * (5 * 2 + 1)) < 1e-6, "S^2 coefficient %s, want 88" % m.group(1))
        check(float(m.group(2)) < 1e-3, "residual " + m.group(2))
    check(re.search(r"^  S\^2: .* softmax .* as result, 6480 bytes at S=9$", out, re.M), "softmax's result listed: " + out)
    check(re.search(r"^  S\^2: .* masked_fill .* as mask, 648 bytes at S=9$", out, re.M), "the mask listed: " + out)
    # at the recorded sizes the sweep is plain :mem
    out, err = run(exe, block + "\n:mem S=3\n")
    r = re.search(r"^3\s+(\d+)  ", out, re.M)
    check(r and int(r.group(1)) == plain_total(exe, block), ":mem S=3 is :mem: " + out + err)
    # the learner's MLP (tests/bench/mlp.bs) over the batch: each row is a session recorded at that
    # N, and activation memory is linear in N (no N^2 term)
    mlp = open(mlp_path).read()
    out, err = run(exe, mlp + "\n:mem N=8,64,512\n")
    rows = {int(n): int(b) for n, b in re.findall(r"^(\d+)\s+(\d+)  N=\d+ D=16 H=32 C=10$", out, re.M)}
    check(sorted(rows) == [8, 64, 512], "three rows at N=8,64,512: " + out + err)
    for N, b in rows.items():
        want = plain_total(exe, sized(mlp, N=N))
        check(b == want, "mlp :mem N=%d says %d bytes, a session recorded at N=%d %d" % (N, b, N, want))
    m = re.search(r"^fit: bytes = \S+ \+ (\S+)\*N \+ (\S+)\*N\^2 ", out, re.M)
    check(m and float(m.group(2)) == 0 and float(m.group(1)) > 0, "mlp: linear in N: " + out)
    # errors name the word
    for bad, msg in (("S=0", "S wants whole numbers >= 1"), ("Q=3", "Q is not a size variable"),
                     ("S=4,5 H=2,3", "only one size takes a list of values")):
        out, err = run(exe, block + "\n:mem %s\n" % bad)
        check(re.search(r"<stdin>:\d+:\d+: error: .*" + re.escape(msg), err), bad + ": " + err)
    print("mem_sizes: %s" % ("ok" if not fails else "%d failed" % fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
