#!/usr/bin/env python3
"""`:export model.py --check` on every program of the golden set and of the PyTorch-as-written set:
each program that ends with a trainable graph is exported as a PyTorch program, which backstep then
runs under Debian's python3-torch for one step in float64; its loss and every param's grad must
equal a replay of the same graph in backstep to 1e-12. A program that stops at an error (the error
cases) is skipped, one whose root needs no grad is counted as not trainable. Then the seed network
is exported with its optimizer (SGD with momentum) and trained 20 steps by the exported program and
by backstep: the losses must agree. Every exported file must pass `python3 -m py_compile`.
Exit 77 without /usr/bin/python3 with torch.
Usage: test_export_py.py BACKSTEP GOLDEN_CASES PYTORCH_CASES"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

exe = os.path.abspath(sys.argv[1])
PY = os.environ.get("BACKSTEP_PYTHON", "/usr/bin/python3")
if subprocess.run([PY, "-c", "import torch"], capture_output=True).returncode:
    print("SKIP: no python3 with torch (Debian: python3-torch)")
    sys.exit(77)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_server  # noqa: E402  (torch imported once for all the programs: torch_server.py)

tmp = tempfile.mkdtemp(prefix="bs-export-")
server, server_env = torch_server.start(PY, tmp)
seed_lines = "?"
fails, counts = [], {"checked": 0, "stops at an error": 0, "not trainable": 0}
try:
    cases = sorted(glob.glob(os.path.join(sys.argv[2], "*.bs"))) + \
        sorted(glob.glob(os.path.join(sys.argv[3], "*.py")))
    for case in cases:
        src = open(case).read()
        src += ("" if src.endswith("\n") else "\n")
        nlines = src.count("\n")
        path = os.path.join(tmp, "case" + os.path.splitext(case)[1])
        with open(path, "w") as f:
            f.write(src + ":export %s/model.py --check\n" % tmp)
        p = subprocess.run([exe, "--no-window", path], capture_output=True, text=True,
                           timeout=300, cwd=tmp, env=dict(os.environ, **server_env))
        m = re.search(r"difference (\S+); grads of (\d+) params, largest difference (\S+)", p.stdout)
        if m:
            c = subprocess.run([PY, "-m", "py_compile", os.path.join(tmp, "model.py")], capture_output=True, text=True)
            if c.returncode:
                fails.append("%s: py_compile: %s" % (os.path.basename(case), c.stderr.strip()[-300:]))
            elif float(m.group(1)) <= 1e-12 and float(m.group(3)) <= 1e-12:
                counts["checked"] += 1
            else:
                fails.append("%s: %s" % (os.path.basename(case), m.group(0)))
            continue
        e = re.search(r":(\d+):\d+: error: (.*)", p.stderr)
        if e and int(e.group(1)) <= nlines:
            counts["stops at an error"] += 1
        elif e and re.search(r"does not require grad|needs a name", e.group(2)):
            counts["not trainable"] += 1
        else:
            fails.append("%s: %s" % (os.path.basename(case), p.stderr.strip() or p.stdout[-300:]))
    # training: the exported optimizer and loop against backstep's own
    seed = """x1 = 1.0; x2 = 0.5; y = 1.0
w11 = param(0.3); w12 = param(0.7); b1 = param(0.1)
w21 = param(-0.2); w22 = param(0.5); b2 = param(0.0)
v1 = param(0.6); v2 = param(-0.4); b3 = param(0.1)
def net():
    h1 = relu(w11 * x1 + w12 * x2 + b1)
    h2 = relu(w21 * x1 + w22 * x2 + b2)
    return bce(sigmoid(v1 * h1 + v2 * h2 + b3), y)
opt = sgd(lr=0.5, momentum=0.9)
L = net()
L.backward()
:export %s/seed.py
for i in range(20):
    opt.zero_grad()
    L = net()
    L.backward()
    opt.step()
    print(f"step {i + 1} loss {L.item():.6f}")
""" % tmp
    with open(os.path.join(tmp, "seed.bs"), "w") as f:
        f.write(seed)
    p = subprocess.run([exe, "--no-window", os.path.join(tmp, "seed.bs")], capture_output=True,
                       text=True, timeout=60, cwd=tmp)
    ours = [l for l in p.stdout.splitlines() if l.startswith("step ")]
    q = subprocess.run([PY, os.path.join(tmp, "seed.py"), "--steps", "20"], capture_output=True,
                       text=True, timeout=120)
    theirs = [l for l in q.stdout.splitlines() if l.startswith("step ")]
    if len(ours) != 20 or ours != theirs:
        fails.append("training 20 steps: backstep %r, the exported program %r %s" % (ours[-3:], theirs[-3:], q.stderr[-300:]))
    text = open(os.path.join(tmp, "seed.py")).read()
    seed_lines = text.count("\n")
    for want in ["class Model(nn.Module)", "nn.Parameter", "momentum=0.9", "def forward(self):",
                 "torchrun --nproc_per_node=2"]:
        if want not in text:
            fails.append("the exported program has no %r" % want)
finally:
    server.kill()
    server.wait()
    shutil.rmtree(tmp, ignore_errors=True)
if counts["checked"] < 100:
    fails.append("only %d programs were checked" % counts["checked"])
print("export_py: %s; the seed network's program has %s lines"
      % (", ".join("%d %s" % (v, k) for k, v in counts.items()), seed_lines))
if fails:
    print("FAIL:\n  " + "\n  ".join(fails))
    sys.exit(1)
