#!/usr/bin/env python3
"""Mid-step state is the stepper's state. Through the real binary (--precision 17, so every number
reads back exactly): after every step of `T = h * h`, of the seed network and of a second pass on
top of an earlier one, each name's `x.grad` must equal the running total the step lines printed
last for it (plus its grad before the pass), and `:vars` must show the same number marked
"(partial: step k/N)"; after :finish every grad equals a plain L.backward()'s. Then the --steps
frames of a finished pass: one caption per frame (step k/N), every node at the same place in every
frame, no grad before the first step, the params' grads appearing as the stepper printed them, and
in the last frame each grad once (not doubled by the pass already finished).
Usage: test_stepped_state.py BACKSTEP"""
import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile

exe = os.path.abspath(sys.argv[1])
tmp = tempfile.mkdtemp(prefix="bs-stepped-")
atexit.register(shutil.rmtree, tmp, ignore_errors=True)
fails = []


def check(cond, what):
    if not cond:
        fails.append(what)
    return cond


def run(text):
    path = os.path.join(tmp, "case.bs")
    with open(path, "w") as f:
        f.write(text)
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    p = subprocess.run([exe, "--no-window", "--precision", "17", path], capture_output=True,
                       text=True, timeout=120, cwd=tmp, env=env)
    if p.returncode:
        fails.append("exit %d: %s" % (p.returncode, p.stderr.strip()))
    return p.stdout


SEED = """x1 = 1.0; x2 = 0.5; y = 1.0
w11 = param(0.3); w12 = param(0.7); b1 = param(0.1)
w21 = param(-0.2); w22 = param(0.5); b2 = param(0.0)
v1 = param(0.6); v2 = param(-0.4); b3 = param(0.1)
z1 = w11 * x1 + w12 * x2 + b1
z2 = w21 * x1 + w22 * x2 + b2
h1 = relu(z1)
h2 = relu(z2)
z3 = v1 * h1 + v2 * h2 + b3
yhat = sigmoid(z3)
L = bce(yhat, y)
"""
SEED_NAMES = ["w11", "w12", "b1", "w21", "w22", "b2", "v1", "v2", "b3", "z1", "z2", "h1", "h2",
              "z3", "yhat"]
MARK = "=== after step"
VJP = re.compile(r"^\s+VJP -> (.+?)\.grad \+= .*?(?:   d\S+/d.+ = (\S+)|   \(a second path: d\S+/d.+ is now (\S+)\))$")


def num(s):
    return None if s == "None" else float(s)


def stepped(setup, root, names, before, steps, opts=""):
    """setup, then :step root and one :next at a time; after each step print every name's grad
    and :vars. before: each name's grad before the pass (None or a float)."""
    probe = 'print("%s")\n' % MARK + "".join("%s.grad\n" % n for n in names) + ":vars\n"
    text = setup + (":step %s %s\n" % (root, opts)) + probe + (":next\n" + probe) * (steps - 1)
    text += ":finish\n" + "".join("%s.grad\n" % n for n in names)
    out = run(text).splitlines()
    total = {}              # name -> this pass's running total, as the step lines printed it
    blocks = 0
    i = 0
    while i < len(out):
        line = out[i]
        m = VJP.match(line)
        if m:
            name = m.group(1).strip("()")
            total[name] = float(m.group(2) or m.group(3))
        m = re.match(r"^step (\d+)/(\d+)", line)
        if m:
            k, n = int(m.group(1)), int(m.group(2))
        if line == MARK:
            blocks += 1
            grads = out[i + 1:i + 1 + len(names)]
            i += 1 + len(names)
            for name, got in zip(names, grads):
                want = total.get(name)
                if want is not None and before.get(name) is not None:
                    want = before[name] + want
                if want is None:
                    want = before.get(name)
                if name == root:
                    want = 1.0
                check(num(got) == want, "%s after step %d/%d: %s.grad is %s, the stepper's running "
                      "total says %r" % (root, k, n, name, got, want))
            # :vars: header, then one row per name (4 digits), partial ones marked
            rows = {}
            while i < len(out) and not out[i].startswith("name "):
                i += 1
            i += 1
            while i < len(out) and re.match(r"^\S+\s+\(", out[i]):
                cols = out[i].split(None, 4)
                rows[cols[0]] = cols[4] if len(cols) > 4 else ""
                i += 1
            for name in names:
                g = rows.get(name, "(missing)")
                want = total.get(name)
                if want is not None and before.get(name) is not None:
                    want = before[name] + want
                if name == root or want is None:
                    continue
                m = re.match(r"^(-?[0-9][^ ]*)( \(partial: step (\d+)/(\d+)\))?$", g)
                if not check(m, ":vars row of %s after step %d: %r" % (name, k, g)):
                    continue
                check(abs(float(m.group(1)) - want) <= 1e-3 * abs(want) + 1e-12,
                      ":vars shows %s.grad %s after step %d, running total %r" % (name, g, k, want))
                leaf = name not in ("z1", "z2", "h1", "h2", "z3", "yhat", "T")
                if leaf:
                    check(m.group(2) and (int(m.group(3)), int(m.group(4))) == (k, n),
                          ":vars does not mark %s's grad partial at step %d/%d: %r" % (name, k, n, g))
            continue
        i += 1
    check(blocks == steps, "%s: %d probes for %d steps" % (root, blocks, steps))
    return out[-len(names):]


# 1. T = h * h: the first contribution's total is h (1.5), not yet 2h
out = stepped("h = param(1.5)\nT = h * h\n", "T", ["h", "T"], {}, 1)
first = run("h = param(1.5)\nT = h * h\n:step T\n")
totals = [l for l in first.splitlines() if "VJP -> h.grad" in l]
check(len(totals) == 2 and totals[0].endswith("dT/dh = 1.5") and totals[1].endswith("is now 3)"),
      "T = h * h: running totals are not 1.5 then 3:\n" + "\n".join(totals))

# 2. the seed network, 16 steps; after :finish the grads are backward()'s, bit for bit
plain = run(SEED + "L.backward()\n" + "".join("%s.grad\n" % n for n in SEED_NAMES)).splitlines()
final = stepped(SEED, "L", SEED_NAMES + ["L"], {}, 16)
check(final[:len(SEED_NAMES)] == plain[-len(SEED_NAMES):],
      "after :finish the grads differ from L.backward()'s:\n%s\n%s" % (final, plain[-len(SEED_NAMES):]))

# 3. a second pass on top of an earlier one: each grad is before + this pass's total so far
before = {n: float(v) for n, v in zip(SEED_NAMES, plain[-len(SEED_NAMES):])}
stepped(SEED + "L.backward(retain_graph=True)\n", "L", SEED_NAMES, before, 16, "retain_graph=True")

# 4. --steps frames after :finish (Graphviz builds only)
frames_dir = os.path.join(tmp, "frames")
out = run(SEED + ":step L\n:finish\n:export %s L --steps\n" % frames_dir)
stepper = run(SEED + ":step L\n:finish\n")
if "no Graphviz" in out or not os.path.isdir(frames_dir):
    check("no Graphviz" in out, "no frames written:\n" + out)
else:
    files = sorted(f for f in os.listdir(frames_dir) if f.endswith(".svg"))
    check(len(files) == 17, "%d frames for 16 steps" % len(files))
    names = {}      # svg node id -> name, from titles like "w11" / "z3 = +"
    shapes, grads = [], []
    for f in files:
        svg = open(os.path.join(frames_dir, f)).read()
        pos, gr = {}, {}
        for g in re.finditer(r'<g id="(n\d+)" class="node">(.*?)</g>', svg, re.S):
            nid, body = g.group(1), g.group(2)
            shape = re.search(r'(?:points|d|cx)="([^"]+)"', body)
            pos[nid] = shape.group(1) if shape else None
            texts = re.findall(r">([^<>]+)</text>", body)
            if texts:
                names[nid] = texts[0].split(" = ")[0]
            for t in texts:
                m = re.match(r"^(grad|so far) (\S+)$", t.replace("&#45;", "-"))
                if m:
                    gr[nid] = float(m.group(2))
        shapes.append(pos)
        grads.append(gr)
        cap = re.search(r'<g id="caption" class="node">.*?<text[^>]*>([^<]*)</text>', svg, re.S)
        k = int(f[5:8])
        check(cap and (k == 0 or cap.group(1).startswith("step %d/16" % k)),
              "frame %s caption: %r" % (f, cap.group(1) if cap else None))
    for k, pos in enumerate(shapes[1:], 1):
        check(pos == shapes[0], "nodes moved between step-000 and frame %d: %s" %
              (k, [n for n in pos if pos[n] != shapes[0].get(n)][:5]))
    # before the first step only the root holds something: its seed, dL/dL = 1
    check(all(names.get(n) == "L" for n in grads[0]),
          "step-000 shows grads before the first step: %s" % grads[0])
    # the stepper's final totals (4 digits in the frames)
    want = {}
    for line in stepper.splitlines():
        m = VJP.match(line)
        if m:
            want[m.group(1).strip("()")] = float(m.group(2) or m.group(3))
    want["L"] = 1.0
    last = grads[-1]
    for nid, name in names.items():
        if name in want:
            got = last.get(nid)
            check(got is not None and abs(got - want[name]) <= 2e-3 * abs(want[name]) + 1e-9,
                  "last frame: %s shows %s, one pass gives %r" % (name, got, want[name]))
    # params appear as they accumulate: none at first, each from some frame on
    for p in ["w11", "w12", "b1", "w21", "w22", "b2", "v1", "v2", "b3"]:
        nid = [n for n, nm in names.items() if nm == p]
        if check(nid, "no node %s in the frames" % p):
            seen = [k for k, g in enumerate(grads) if nid[0] in g]
            check(seen and seen == list(range(seen[0], len(grads))) and seen[0] > 0,
                  "%s's grad does not appear and stay from one frame on: frames %s" % (p, seen))

if fails:
    print("FAIL:\n  " + "\n  ".join(fails[:40]))
    sys.exit(1)
print("stepped state: ok")
