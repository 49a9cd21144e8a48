#!/usr/bin/env python3
"""The stepper is loss.backward(), on PyTorch's own programs: in every case of tests/pytorch/cases
that calls NAME.backward() with no arguments, each such line (at its own indentation, inside
loops and functions too) is replaced by `:step NAME` then `:finish`, and the program must still
print what torch printed (cases/NAME.out, same comparison as run_pytorch.py). Cases listed in
known_failing.txt are skipped. Usage: test_step_equiv.py BACKSTEP CASES_DIR"""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run_pytorch  # noqa: E402  (its comparison and known_failing.txt reader)

CALL = re.compile(r"^(\s*)([A-Za-z_]\w*)\.backward\(\)\s*(#.*)?$")


def rewrite(src):
    out, n = [], 0
    for line in src.splitlines():
        m = CALL.match(line)
        if m:
            out.append("%s:step %s" % (m.group(1), m.group(2)))
            out.append("%s:finish" % m.group(1))
            n += 1
        else:
            out.append(line)
    return "\n".join(out) + "\n", n


def main():
    exe, cases = os.path.abspath(sys.argv[1]), sys.argv[2]
    if not os.path.exists(exe):
        return 77
    known = run_pytorch.read_known_failing(os.path.join(HERE, "known_failing.txt"))
    failed = passed = 0
    with tempfile.TemporaryDirectory(prefix="bs-stepeq-") as tmp:
        for name in sorted(f[:-3] for f in os.listdir(cases) if f.endswith(".py")):
            if name in known:
                continue
            with open(os.path.join(cases, name + ".py")) as f:
                src, n = rewrite(f.read())
            if not n:
                continue
            path = os.path.join(tmp, name + ".py")
            with open(path, "w") as f:
                f.write(src)
            p = subprocess.run([exe, "--no-window", "--quiet", path], capture_output=True, text=True,
                               timeout=120, cwd=tmp)
            with open(os.path.join(cases, name + ".out")) as f:
                why = ("exit %d: %s" % (p.returncode, p.stderr.strip()[:200])) if p.returncode else \
                    run_pytorch.compare_output(f.read(), p.stdout)
            if why:
                failed += 1
                print("FAIL %s (%d backward() stepped): %s" % (name, n, why))
            else:
                passed += 1
    print("step_equiv: %d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
