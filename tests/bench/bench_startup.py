#!/usr/bin/env python3
"""Benchmark: start-up to the first result. `backstep --no-window -e 1` against Debian's
`/usr/bin/python3 -c pass`, each run 20 times in this one run; prints the best wall time of each,
their ratio (target <= 1.5x) and backstep's peak resident memory (target <= 40 MB).
Usage: bench_startup.py BACKSTEP"""
import os
import sys
import time


def run(argv):
    """(wall seconds, peak RSS in KiB) of one run, output discarded"""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("%s failed" % " ".join(argv))
    return wall, ru.ru_maxrss


def main():
    exe = os.path.abspath(sys.argv[1])
    py = "/usr/bin/python3"
    if not os.path.exists(py):
        print("no %s: skipped" % py)
        return 77
    bs = [run([exe, "--no-window", "-e", "1"]) for _ in range(20)]
    ref = [run([py, "-c", "pass"]) for _ in range(20)]
    t_bs, t_py = min(w for w, _ in bs), min(w for w, _ in ref)
    rss = max(r for _, r in bs) / 1024
    print("startup backstep_ms=%.1f python_ms=%.1f ratio=%.2fx (target 1.5x: %s) rss_mb=%.1f (target 40: %s)"
          % (t_bs * 1e3, t_py * 1e3, t_bs / t_py, "met" if t_bs / t_py <= 1.5 else "missed", rss,
             "met" if rss <= 40 else "missed"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
