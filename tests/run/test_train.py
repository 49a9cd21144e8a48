#!/usr/bin/env python3
"""tests/run/test_train.py: `:train` on the two-moons problem of moons.bs drives the loss down, and
its final loss equals PyTorch's for the same steps from the same initial weights
(train_fixture.txt, made by gen_train_fixture.py), on the tape and on the CPU backend.

usage: test_train.py BACKSTEP DIR (DIR holds moons.bs and train_fixture.txt)
"""
import os
import subprocess
import sys

# fixture name -> the :train lines that must reproduce it
RUNS = {
    "sgd_momentum": [":train L steps=200 lr=0.5 momentum=0.9",
                     ":train L steps=200 lr=0.5 momentum=0.9 on=cpu"],
    "sgd_plain": [":train L steps=100 lr=0.5 opt=sgd"],
    "adam": [":train L steps=300 lr=0.02 opt=adam",
             ":train L steps=300 lr=0.02 opt=adam on=cpu"],
}


def rel(a, b):
    return abs(a - b) / max(1.0, abs(b))


def run(exe, script, line, quiet=True):
    args = [exe, "--no-window", "--precision", "17"] + (["--quiet"] if quiet else [])
    out = subprocess.run(args, input=script + line + "\n", capture_output=True, text=True,
                         timeout=120)
    if out.returncode != 0:
        raise SystemExit("%s: exit %d: %s" % (line, out.returncode, out.stderr.strip()))
    return out.stdout


def main():
    exe, here = sys.argv[1], sys.argv[2]
    script = open(os.path.join(here, "moons.bs")).read()
    fixture = {}
    for l in open(os.path.join(here, "train_fixture.txt")):
        if l.startswith("#") or not l.strip():
            continue
        name, _, first, _, final = l.split()
        fixture[name] = (float(first), float(final))
    bad = 0
    for name, lines in RUNS.items():
        first, final = fixture[name]
        for line in lines:
            out = run(exe, script, line).split()
            got_first, got_final = float(out[0]), float(out[1])
            ok = (rel(got_first, first) < 1e-12 and rel(got_final, final) < 1e-8
                  and got_final < 0.5 * got_first)
            print("%-50s initial %.12g final %.12g  pytorch %.12g -> %.12g  %s"
                  % (line, got_first, got_final, first, final, "ok" if ok else "MISMATCH"))
            bad += not ok
    # the curve: first and last loss around a sparkline
    out = run(exe, script, ":train L steps=50 lr=0.5 momentum=0.9", quiet=False)
    curve = [l for l in out.splitlines() if l.startswith("loss ")]
    if not curve or not any(c in curve[0] for c in "▁▂▃▄▅▆▇█"):
        print("no sparkline in:\n" + out)
        bad += 1
    else:
        print(curve[0])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
