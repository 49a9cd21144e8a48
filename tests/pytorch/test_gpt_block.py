#!/usr/bin/env python3
"""tests/pytorch/test_gpt_block.py: the GPT block of cases/gpt_block.py (assets/gpt_block.bs at
fixed sizes) against torch 1.13 in float64, held tighter than the corpus driver holds it: the loss
and every element of every param's grad within 1e-10 relative (1e-16 absolute, for entries that
are sums cancelling to almost nothing), and the same params in the same order.

usage: test_gpt_block.py BACKSTEP CASES_DIR
Exits 77 when the binary is missing. Standard library only (the fixture is committed)."""
import os
import subprocess
import sys

RTOL, ATOL = 1e-10, 1e-16


def rows(text):
    out = []
    for line in text.splitlines():
        if line.strip():
            name, *nums = line.split()
            out.append((name, [float(v) for v in nums]))
    return out


def main():
    exe, cases = sys.argv[1], sys.argv[2]
    if not os.path.exists(exe):
        print("skipped: no", exe)
        return 77
    case = os.path.join(cases, "gpt_block.py")
    p = subprocess.run([exe, "--no-window", case], capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        print("backstep failed:", p.stderr.strip())
        return 1
    got, want = rows(p.stdout), rows(open(os.path.join(cases, "gpt_block.out")).read())
    fails = 0
    if [n for n, _ in got] != [n for n, _ in want]:
        print("names differ:", [n for n, _ in got], [n for n, _ in want])
        return 1
    worst = 0.0
    for (name, g), (_, w) in zip(got, want):
        if len(g) != len(w):
            print("%s: %d values, torch has %d" % (name, len(g), len(w)))
            fails += 1
            continue
        for i, (a, b) in enumerate(zip(g, w)):
            err = abs(a - b)
            if abs(b) >= 1e-12:  # the rest are sums that cancel: ATOL holds them
                worst = max(worst, err / abs(b))
            if err > ATOL + RTOL * abs(b):
                print("%s[%d]: backstep %.17g, torch %.17g" % (name, i, a, b))
                fails += 1
    n = sum(len(w) for _, w in want)
    print("gpt_block: loss and %d grads of %d params against torch, worst relative %.2e where |torch| >= 1e-12 (limit %g): %s"
          % (n - 1, len(want) - 1, worst, RTOL, "ok" if not fails else "%d FAILED" % fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
