"""tests/repl/test_startup_libs.py: a start loads only what its first result needs. The window
(SDL2, libbswin.so), Graphviz (libbsgv.so), OpenBLAS (libbsblas.so) and SLEEF (libbssleef.so)
are modules the program loads on first use (core/module.h, viz/lazy.c). This checks, with glibc's
LD_DEBUG=files, which shared objects each run brings in: none of them for a script, -e, --help,
:help or a terminal drawing (--version may load SLEEF: it says whether the float math is
SLEEF's); the BLAS module for a matrix product; Graphviz and not SDL2 for an export. Names are
matched on the file's base name, so it holds wherever the libraries live. The window itself is
tests/repl/test_window.py's (under Xvfb).

usage: test_startup_libs.py BACKSTEP HAVE_GRAPHVIZ(0/1)  (77: no LD_DEBUG)"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

# libraries of each lazy part (base names start with one of these)
WINDOW = ("libbswin.so", "libSDL2", "libSDL2_ttf", "libX11", "libwayland", "libasound", "libpulse")
GRAPHVIZ = ("libbsgv.so", "libgvc.so", "libcgraph.so", "libcdt.so", "libpathplan.so", "libltdl")
BLAS = ("libbsblas.so", "libopenblas", "libgfortran")
GPU = ("libbsgpu.so", "libcudart", "libcublas", "libcuda.")
SLEEF = ("libbssleef.so", "libsleef")  # the float path's exp, log, ...
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL", msg)


def loaded(exe, args, stdin="", env_extra=None):
    """(base names of the objects the run loaded, exit status, stdout)"""
    env = dict(os.environ, LD_DEBUG="files")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env.update(env_extra or {})
    with tempfile.TemporaryFile() as dbg:
        # LD_DEBUG_OUTPUT would split by pid; stderr carries the loader's lines and the program's
        p = subprocess.run([exe] + args, input=stdin.encode(), stdout=subprocess.PIPE, stderr=dbg,
                           env=env, timeout=120)
        dbg.seek(0)
        text = dbg.read().decode(errors="replace")
    names = set()
    for m in re.finditer(r"\bfile=(\S+?)\s+\[\d+\];\s+(?:needed|dynamically loaded)", text):
        names.add(os.path.basename(m.group(1)))
    return names, p.returncode, p.stdout.decode(errors="replace")


def check(what, names, rc, forbidden, required=()):
    if rc != 0:
        fail("%s: exit status %d" % (what, rc))
    bad = sorted(n for n in names if n.startswith(forbidden))
    if bad:
        fail("%s loads %s" % (what, " ".join(bad)))
    for r in required:
        if not any(n.startswith(r) for n in names):
            fail("%s does not load %s (loaded: %s)" % (what, r, " ".join(sorted(names))))
    print("%-34s %2d objects%s" % (what, len(names), "" if not bad else " (%d too many)" % len(bad)))


def main():
    exe = os.path.abspath(sys.argv[1])
    have_gv = len(sys.argv) > 2 and sys.argv[2] == "1"
    names, rc, _ = loaded(exe, ["--no-window", "-e", "1"])
    if not any(n.startswith("libc.so") for n in names):
        print("LD_DEBUG=files reports nothing here (not glibc's loader): skipped")
        return 77
    lazy = WINDOW + GRAPHVIZ + BLAS + GPU + SLEEF
    check("-e 1", names, rc, lazy)
    tmp = tempfile.mkdtemp(prefix="bs_startup_")
    try:
        one = os.path.join(tmp, "one.bs")
        with open(one, "w") as f:
            f.write("1\n")
        check("one-statement script", *loaded(exe, ["--no-window", one])[:2], lazy)
        # (--version says which float math there is, which loads SLEEF where it is used)
        check("--version", *loaded(exe, ["--version"])[:2], WINDOW + GRAPHVIZ + BLAS + GPU)
        check("--help", *loaded(exe, ["--help"])[:2], lazy)
        scalar = ("w = param(0.5); b = param(-1.0)\nL = (w * 3.0 + b) ** 2\nL.backward()\n"
                  "w.grad\n:help\n:graph --ascii\n")
        check("scalar graph, :help, :graph --ascii", *loaded(exe, ["--no-window"], scalar)[:2], lazy)
        check("the same, -i on a pipe", *loaded(exe, ["--no-window", "-i"], scalar)[:2], lazy)
        mm = "a = tensor([[1.0, 2.0], [3.0, 4.0]])\nb = a @ a\nb\n"
        names, rc, out = loaded(exe, ["--no-window"], mm)
        check("a matrix product", names, rc, WINDOW + GRAPHVIZ + GPU + SLEEF, ["libbsblas.so"])
        if "22." not in out:
            fail("a matrix product printed %r" % out)
        if have_gv:
            svg = os.path.join(tmp, "g.svg")
            names, rc, _ = loaded(exe, ["--no-window"], "x = param(2.0)\ny = x * x\n:export %s\n" % svg)
            # (Graphviz's cairo plugin maps libX11 itself: only SDL2 and the window module count)
            check(":export g.svg", names, rc, ("libbswin.so", "libSDL2") + BLAS + GPU + SLEEF,
                  ["libbsgv.so"])
            if not os.path.exists(svg):
                fail(":export wrote no %s" % svg)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # the program itself links none of them (ldd: what any start maps)
    if shutil.which("ldd"):
        ldd = subprocess.run(["ldd", exe], capture_output=True, text=True).stdout
        linked = {os.path.basename(w) for w in ldd.split() if ".so" in w}
        bad = sorted(n for n in linked if n.startswith(lazy))
        if bad:
            fail("backstep links %s" % " ".join(bad))
        print("ldd: %d libraries" % len(linked))
    print("startup libraries: %s" % ("ok" if not failures else "%d failures" % len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
