#!/usr/bin/env python3
"""The window driven through the real REPL under Xvfb: open it with :graph, take :screenshot, type
one more statement, screenshot again (the picture must change); then step the backward pass and
take screenshots at three steps (they must differ where the highlight moved), and export one frame
per step. Exit 77 when Xvfb is missing or this build has no window."""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pngread import read_png  # noqa: E402
import xvfb  # noqa: E402

exe = os.path.abspath(sys.argv[1])
tmp = tempfile.mkdtemp(prefix="bs-window-")
atexit.register(shutil.rmtree, tmp, ignore_errors=True)
xvfb_proc, disp = xvfb.start()
if xvfb_proc is None:
    print("SKIP: " + disp)
    sys.exit(77)
try:
    env = dict(os.environ, DISPLAY=disp, HOME=tmp, XDG_STATE_HOME=tmp + "/state")
    script = """x1 = 1.0; x2 = 0.5; y = 1.0
w11 = param(0.3); w12 = param(0.7); b1 = param(0.1)
z1 = w11 * x1 + w12 * x2 + b1
h1 = relu(z1)
L = bce(sigmoid(h1), y)
:graph
:screenshot a.png
z9 = L * 3
:screenshot b.png
:step z9
:screenshot s1.png
:next
:screenshot s2.png
:next
:screenshot s3.png
:finish
:export frames z9 --steps
"""
    p = subprocess.run([exe, "-i"], input=script, capture_output=True, text=True, env=env,
                       cwd=tmp, timeout=60)
    out = p.stdout + p.stderr
    if "no window" in out and "this build has no" in out:
        print("SKIP: this build has no window\n" + out)
        sys.exit(77)
    fails = []

    def check(cond, what):
        if not cond:
            fails.append(what)

    shots = {}
    for name in ["a", "b", "s1", "s2", "s3"]:
        path = os.path.join(tmp, name + ".png")
        check(os.path.exists(path), "missing screenshot " + name)
        if os.path.exists(path):
            shots[name] = read_png(path)
    if len(shots) == 5:
        w, h, a = shots["a"]
        colours = {}
        for row in a[::4]:
            for px in row[::4]:
                colours[px] = colours.get(px, 0) + 1
        top = max(colours.values())
        check(len(colours) > 20, "screenshot a has only %d colours: blank?" % len(colours))
        check(top < 0.97 * sum(colours.values()), "screenshot a is almost one colour: blank?")

        def differ(x, y):
            return sum(1 for r1, r2 in zip(x[2], y[2]) for p1, p2 in zip(r1, r2) if p1 != p2)

        check(differ(shots["a"], shots["b"]) > 100, "a new statement did not change the window")
        check(differ(shots["s1"], shots["s2"]) > 50, "step 2 looks like step 1")
        check(differ(shots["s2"], shots["s3"]) > 50, "step 3 looks like step 2")
    frames = sorted(os.listdir(os.path.join(tmp, "frames"))) if os.path.isdir(os.path.join(tmp, "frames")) else []
    steps = out.count("step ")
    check(len(frames) >= 5, "export --steps wrote %d frames" % len(frames))
    for f in frames:
        check(open(os.path.join(tmp, "frames", f), "rb").read(5) == b"<?xml" or f.endswith(".svg") is False,
              "frame %s is not SVG" % f)
    if fails:
        print("FAIL:\n  " + "\n  ".join(fails))
        print("--- REPL output ---\n" + out)
        sys.exit(1)
    print("window test: ok (%d frames)" % len(frames))
finally:
    xvfb.stop(xvfb_proc)
