#!/usr/bin/env python3
"""The window shows the stepper's state, read off its screenshots. For `T = h * h` and the seed
network, a first run without the window records, for every step, each named input's running total
as the step lines print it. A second run, in the window under Xvfb, steps the same pass; after each
step it selects every input the step wrote to (`:show NAME`: the window's details panel) and takes
a screenshot. Tesseract reads each screenshot: the title bar must name the step (`step k/N`) and
the panel the grad the stepper's running total says (to the panel's four digits), marked "so far"
while the pass still has steps to add; after `:finish` the panel shows the final grad, unmarked.
Exit 77 without Xvfb, tesseract, or a window in this build.
Usage: test_window_steps.py BACKSTEP"""
import atexit
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xvfb  # noqa: E402

exe = os.path.abspath(sys.argv[1])
if not shutil.which("tesseract"):
    print("SKIP: no tesseract (Debian: tesseract-ocr)")
    sys.exit(77)
tmp = tempfile.mkdtemp(prefix="bs-winsteps-")
atexit.register(shutil.rmtree, tmp, ignore_errors=True)

T_PROG = "h = param(0.75)\nT = h * h\n"
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
STEP = re.compile(r"^step (\d+)/(\d+)")
VJP = re.compile(r"^\s+VJP -> (.+?)\.grad \+= .*?(?:   d\S+/d.+ = (\S+)|   \(a second path: d\S+/d.+ is now (\S+)\))$")
NAME = re.compile(r"^[A-Za-z_]\w*$")
fails = []


def check(cond, what):
    if not cond:
        fails.append(what)
    return cond


def steps_of(setup, root):
    """[(k, N, {name: running total after step k})] from a run without the window"""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    p = subprocess.run([exe, "--no-window"], input=setup + ":step %s\n:next 1000\n" % root,
                       capture_output=True, text=True, timeout=60, env=env, cwd=tmp)
    check(p.returncode == 0, "stepping %s without the window: %s" % (root, p.stderr.strip()))
    steps = []
    for line in p.stdout.splitlines():
        m = STEP.match(line)
        if m:
            steps.append((int(m.group(1)), int(m.group(2)), {}))
            continue
        m = VJP.match(line)
        if m and steps and NAME.match(m.group(1)):
            steps[-1][2][m.group(1)] = float(m.group(2) or m.group(3))
    return steps


def ocr(path, width, height):
    """the text of the title bar and of the details panel (the right-hand 340 pixels), each read
    as its own zone (a .uzn file beside the image) so the graph's small labels stay out of it"""
    zones = os.path.splitext(path)[0] + ".uzn"
    with open(zones, "w") as f:
        f.write("0 0 %d 34 Text\n%d 40 335 %d Text\n" % (width, width - 335, height // 2))
    p = subprocess.run(["tesseract", path, "-", "--psm", "4"], capture_output=True, text=True,
                       timeout=60)
    return p.stdout.replace("\u2014", "-").replace("\u2013", "-")


# DejaVu Sans Mono, the panel's font, draws zero with a dot inside; tesseract reads that glyph as
# 0, 6, 8, 9, @, O or a registered sign. Every other character of the number must read exactly.
ZERO = "[0689@Oo\u00ae]"


def panel_shows(text, want):
    """(the panel shows grad `want` to its four digits, the grad is marked 'so far')"""
    m = re.search(r"^grad( so far[^\n]*)?\s*\n\s*(\S+)\s*$", text, re.M)
    if not m:
        return False, False
    digits = "%.4g" % want
    pat = "".join(ZERO if ch == "0" else re.escape(ch) for ch in digits)
    return re.fullmatch(pat, m.group(2)) is not None, m.group(1) is not None


def case(label, setup, root, proc_env):
    steps = steps_of(setup, root)
    if not check(steps, "%s: no steps printed" % label):
        return 0
    later = {}   # name -> the last step that writes to it
    for k, _, touched in steps:
        for name in touched:
            later[name] = k
    script = [setup, ":graph", ":step " + root]
    shots = []   # (file, k, N, name, running total, partial expected)
    total = {}
    for i, (k, n, touched) in enumerate(steps):
        if i:
            script.append(":next")
        for name, t in touched.items():
            total[name] = t
            f = "%s_%d_%s.png" % (label, k, name)
            script += [":show " + name, ":screenshot " + f]
            shots.append((f, k, n, name, t, True))
    script.append(":finish")
    for name in sorted(total):
        f = "%s_final_%s.png" % (label, name)
        script += [":show " + name, ":screenshot " + f]
        shots.append((f, None, None, name, total[name], False))
    p = subprocess.run([exe, "-i"], input="\n".join(script) + "\n", capture_output=True,
                       text=True, timeout=300, env=proc_env, cwd=tmp)
    if "this build has no" in p.stdout + p.stderr:
        print("SKIP: this build has no window")
        sys.exit(77)
    check(p.returncode == 0, "%s: the window run failed: %s" % (label, p.stderr.strip()))
    for f, k, n, name, want, partial in shots:
        path = os.path.join(tmp, f)
        if not check(os.path.exists(path), "%s: no screenshot %s" % (label, f)):
            continue
        with open(path, "rb") as img:
            width, height = struct.unpack(">II", img.read(24)[16:24])   # the PNG's IHDR
        text = ocr(path, width, height)
        shown, marked = panel_shows(text, want)
        when = "after step %d/%d" % (k, n) if k else "after :finish"
        check(shown, "%s %s: the window's panel does not show %s.grad = %.4g, the stepper's running "
              "total\n--- what the screenshot reads ---\n%s" % (label, when, name, want, text))
        if k:
            check(re.search(r"step %d/%d\b" % (k, n), text), "%s: the title bar of %s does not say "
                  "step %d/%d" % (label, f, k, n))
            # "so far" while a later step of the pass still writes to it (or it is not finished)
            check(marked, "%s %s: %s's panel grad is not marked 'so far' mid-pass" % (label, when, name))
        else:
            check(not marked, "%s after :finish: %s's grad is still marked 'so far'" % (label, name))
    return len(shots)


proc, disp = xvfb.start()
if proc is None:
    print("SKIP: " + disp)
    sys.exit(77)
try:
    env = dict(os.environ, DISPLAY=disp, HOME=tmp, XDG_STATE_HOME=tmp + "/state")
    n = case("T", T_PROG, "T", env) + case("seed", SEED, "L", env)
finally:
    xvfb.stop(proc)
if fails:
    print("FAIL:\n  " + "\n  ".join(fails))
    sys.exit(1)
print("window steps: %d screenshots read, each equal to the stepper's running total" % n)
