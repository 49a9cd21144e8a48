#!/usr/bin/env python3
"""tests/repl/test_gpt_replay.py: assets/gpt_block.bs, recorded at N=2 S=3 D=8 H=2 V=11, replayed
by :run cpu at other sizes. Checks the shapes each node takes there (the fused QKV's 3*D, the
split into three D-wide slices, the heads' view and transposes, the S x S scores, the embeddings
and the next-token logits), that the replay agrees with the eager engine in f64 (--check, every
value and grad) and in f32, and that at GPT-2 small's width the plan is built (:mem's shapes).

usage: test_gpt_replay.py BACKSTEP ASSETS_DIR"""
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
    p = subprocess.run([exe, "--no-window"], input=src, capture_output=True, text=True, timeout=300)
    return p.stdout, p.stderr


def main():
    exe, assets = sys.argv[1], sys.argv[2]
    block = open(assets + "/gpt_block.bs").read()
    N, S, D, H, V = 3, 5, 12, 3, 7
    out, err = run(exe, block + "\n:run cpu N=%d S=%d D=%d H=%d V=%d dtype=f64 steps=1\n" % (N, S, D, H, V))
    check(not err.strip(), "no error: " + err)
    shapes = {}
    for line in out.splitlines():
        m = re.match(r"^(.{26}) (\w+)\s+(\([\d, ]*\))", line)
        if m:
            shapes.setdefault(m.group(2), []).append(m.group(3))
    want = {
        "index_select": ["(%d, %d)" % (N * S, D), "(%d, %d)" % (S, D)],
        "slice": ["(%d, %d, %d)" % (N, S, D)] * 3,
        "permute": ["(%d, %d, %d, %d)" % (N, H, S, D // H)] * 3 + ["(%d, %d, %d, %d)" % (N, H, D // H, S),
                                                                 "(%d, %d, %d, %d)" % (N, S, H, D // H)],
        "softmax": ["(%d, %d, %d, %d)" % (N, H, S, S)],
        "masked_fill": ["(%d, %d, %d, %d)" % (N, H, S, S)],
        "gelu": ["(%d, %d, %d)" % (N, S, 4 * D)],
        "cross_entropy": ["()"],
    }
    for op, sh in want.items():
        check(shapes.get(op) == sh, "%s shapes %s, want %s" % (op, shapes.get(op), sh))
    check("(%d, %d, %d)" % (N, S, 3 * D) in shapes.get("add", []), "the fused QKV is (N, S, 3*D)")
    check("(%d, %d, %d)" % (N, S, V) in shapes.get("matmul", []), "the logits are (N, S, V)")
    for dt, tol in (("f64", 1e-12), ("f32", 1e-4)):
        out, err = run(exe, block + "\n:run cpu N=%d S=%d D=%d H=%d V=%d dtype=%s --check --quiet\n"
                       % (N, S, D, H, V, dt))
        m = re.search(r"max_diff=(\S+)", out)
        check(m and float(m.group(1)) < tol, "%s --check: %s %s" % (dt, out.strip()[-200:], err))
    out, err = run(exe, block + "\n:mem N=4 S=1024 D=768 H=12\n")
    check(re.search(r"^4\s+\d+  N=4 S=1024 D=768 H=12 V=11$", out, re.M), "GPT-2 sizes plan: " + out + err)
    print("gpt_replay: %s" % ("ok" if not fails else "%d failed" % fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
