#!/usr/bin/env python3
"""A long session keeps only what it can reach, and reclaiming the rest changes no number.

Each program below is a training loop that rebinds its names (so old iterations become
unreachable and the tape is compacted between statements), run beside its twin, the same loop
with a new name for every value of every iteration (so nothing can be reclaimed). Both print
the params, the last loss and grads at 17 significant digits: they must be identical. The loop's
tape must stay bounded (`:mem` reports its node count) while the twin's grows with the loop;
`:save` after compactions and `:load` in a fresh process give the same numbers again; `:step`
with no argument still finds the last loss after its nodes were renumbered.
Usage: test_long_session.py BACKSTEP"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

BOUND = 8192  # two compactions' worth (BS_COLLECT_MIN is 4096; a tape is compacted at twice what survived)

MATRIX = dict(
    setup="""seed(5)
X = randn(6, 3); y = randn(6, 1)
W1 = param(randn(3, 4) * 0.5); b1 = param(zeros(4)); W2 = param(randn(4, 1) * 0.5)
opt = adam(lr=0.01)
mom = sgd(lr=0.001, momentum=0.9)
""",
    body="""h{i} = tanh(X @ W1 + b1)
d{i} = h{i}.detach()
L{i} = mse(h{i} @ W2, y) + mean(d{i}) * 0
L{i}.backward(); opt.step(); {extra}opt.zero_grad()
""",
    extra=lambda k: "mom.step(); " if k % 4 == 0 else "",
    iters=1500,
    probes=["W1", "b1", "W2", "L{last}", "Lf", "W1.grad"],
    tail="Lf = mse(tanh(X @ W1 + b1) @ W2, y)\nLf.backward()\n",
)

SCALAR = dict(
    setup="""w = param(0.5); b = param(-0.2)
x = 1.5; y = 2.0
opt = sgd(lr=0.01, momentum=0.5)
""",
    body="""p{i} = tanh(w * x + b)
loss{i} = (p{i} - y) ** 2 + w * w * 0.01
loss{i}.backward(); opt.step(); opt.zero_grad()
""",
    extra=lambda k: "",
    iters=2500,
    probes=["w", "b", "loss{last}", "lf", "w.grad", "b.grad"],
    tail="lf = (tanh(w * x + b) - y) ** 2\n:step\n:finish\n",
)


def program(spec, unique):
    out = [spec["setup"]]
    for k in range(spec["iters"]):
        i = str(k) if unique else ""
        out.append(spec["body"].format(i=i, extra=spec["extra"](k)))
    last = str(spec["iters"] - 1) if unique else ""
    out.append(spec["tail"].format(last=last))
    return "".join(out), [p.format(last=last) for p in spec["probes"]], last


def run(exe, src, cwd):
    r = subprocess.run([exe, "--no-window", "-"], input=src, capture_output=True, text=True,
                       cwd=cwd, timeout=240)
    if r.returncode != 0:
        raise SystemExit("FAIL: backstep exited %d: %s" % (r.returncode, r.stderr[-2000:]))
    return r.stdout


def probe_text(probes):
    return ":precision 17\nprint(\"--probes--\")\n" + "".join(p + "\n" for p in probes) + ":mem\n"


def nodes_of(out):
    m = re.search(r"in (\d+) nodes", out)
    if not m:
        raise SystemExit("FAIL: no node count in :mem's output:\n" + out[-1500:])
    return int(m.group(1))


def values_of(out):
    """the probes' printed values: everything before :mem's table"""
    return out[out.find("--probes--"):out.find("node ")].strip()


def main():
    exe = os.path.abspath(sys.argv[1])  # the runs happen in a temporary folder
    tmp = tempfile.mkdtemp(prefix="bs-long-")
    failures = 0
    try:
        for name, spec in (("matrix", MATRIX), ("scalar", SCALAR)):
            src, probes, _ = program(spec, unique=False)
            twin_src, twin_probes, _ = program(spec, unique=True)
            saved = os.path.join(tmp, name + ".bs")
            a = run(exe, src + ":save %s\n" % saved + probe_text(probes), tmp)
            b = run(exe, twin_src + probe_text(twin_probes), tmp)
            c = run(exe, ":load %s\n" % saved + probe_text(probes), tmp)
            va, vb, vc = values_of(a), values_of(b), values_of(c)
            # the step lines of the scalar program's :step name the loss by its own name
            va_cmp = re.sub(r"loss\d*", "loss", va)
            vb_cmp = re.sub(r"loss\d*", "loss", vb)
            va_cmp, vb_cmp = re.sub(r"p\d+", "p", va_cmp), re.sub(r"p\d+", "p", vb_cmp)
            ok = True
            if va_cmp != vb_cmp:
                print("FAIL %s: the compacted session and its twin differ:\n--- loop\n%s\n--- twin\n%s"
                      % (name, va[-3000:], vb[-3000:]))
                ok = False
            if va != vc:
                print("FAIL %s: :load of the :save differs:\n--- session\n%s\n--- loaded\n%s"
                      % (name, va[-2000:], vc[-2000:]))
                ok = False
            na, nb = nodes_of(a), nodes_of(b)
            if na > BOUND:
                print("FAIL %s: the loop's tape holds %d nodes (bound %d)" % (name, na, BOUND))
                ok = False
            if nb <= BOUND:
                print("FAIL %s: the twin holds only %d nodes: the loop is too short to compact"
                      % (name, nb))
                ok = False
            print("%s %s: %d iterations, tape %d nodes (twin %d), values identical"
                  % ("ok" if ok else "FAIL", name, spec["iters"], na, nb))
            failures += not ok
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (2 - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
