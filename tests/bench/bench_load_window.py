#!/usr/bin/env python3
"""Benchmark: `:load` of a 216-line script with the graph window open, against --no-window in the
same run (issue 14: the window relayouted after every statement; it now redraws once, when the
command is done). The script is micrograd's demo as a training loop (bench_loop_mlp.py's program,
15 steps, about 65,000 nodes a step, 1.5 s without a window, as the issue's script) and 176 more lines of statements. Prints both times (medians of
3, start to exit, the window's one layout and draw included) and the ratio; target 1.5x.
Runs under its own Xvfb; exit 77 without Xvfb. Usage: bench_load_window.py BACKSTEP"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_loop_mlp import backstep_program  # noqa: E402


def main():
    exe = os.path.abspath(sys.argv[1])
    if not shutil.which("Xvfb"):
        print("SKIP: no Xvfb")
        return 77
    d = tempfile.mkdtemp(prefix="bs-loadwin-")
    disp = next(":%d" % n for n in range(140, 200) if not os.path.exists("/tmp/.X%d-lock" % n))
    xvfb = subprocess.Popen(["Xvfb", disp, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if os.path.exists("/tmp/.X11-unix/X" + disp[1:]):
                break
            time.sleep(0.1)
        lines = backstep_program(15).split("\n")
        i = 0
        while len(lines) < 216:
            lines.append("lr%d = 1.0 - 0.9 * %d / 100" % (i, i))
            i += 1
        script = os.path.join(d, "s.py")
        with open(script, "w") as f:
            f.write("\n".join(lines) + "\n")
        env = dict(os.environ, DISPLAY=disp, HOME=d, XDG_STATE_HOME=d + "/state")
        empty = os.path.join(d, "e.py")
        with open(empty, "w") as f:
            f.write("a = 1\n")
        times = {}
        for mode in ["--no-window", None]:
            runs = []
            for _ in range(3):
                args = [exe, "-i"] + ([mode] if mode else [])
                t0 = time.perf_counter()
                p = subprocess.run(args, input=":load %s\n:quit\n" % script, capture_output=True,
                                   text=True, env=env, cwd=d, timeout=300)
                runs.append(time.perf_counter() - t0)
                if p.returncode != 0 or "window:" in p.stderr:
                    print(p.stdout[-500:], p.stderr[-500:])
            times[mode] = statistics.median(runs)
            runs = []
            for _ in range(3):  # the same with a one-line script: starting (and opening a window)
                args = [exe, "-i"] + ([mode] if mode else [])
                t0 = time.perf_counter()
                subprocess.run(args, input=":load %s\n:quit\n" % empty, capture_output=True,
                               text=True, env=env, cwd=d, timeout=60)
                runs.append(time.perf_counter() - t0)
            times[(mode, "start")] = statistics.median(runs)
        ratio = times[None] / times["--no-window"]
        print("load_window lines=216 no_window_s=%.3f window_s=%.3f ratio=%.2fx (target 1.5x: %s)"
              % (times["--no-window"], times[None], ratio, "met" if ratio <= 1.5 else "MISSED"))
        print("  start-up alone (a one-line script): no_window_s=%.3f window_s=%.3f"
              % (times[("--no-window", "start")], times[(None, "start")]))
        return 0
    finally:
        xvfb.terminate()
        xvfb.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
