#!/usr/bin/env python3
"""tests/gpu/test_cuda_config.py: what -Dcuda does where nvcc cannot be found.

Configures the source tree three times in a temporary folder with nvcc hidden (PATH without any
folder that holds an nvcc, CUDA_PATH pointing at an empty folder):
  -Dcuda=auto      configures, says why the CUDA backend is not built, summary "cuda: False"
  -Dcuda=enabled   stops with the reason ("-Dcuda=enabled: no CUDA compiler")
  -Dcuda=disabled  configures without looking for a CUDA compiler at all
Only configures (no build). Usage: test_cuda_config.py MESON SOURCE_DIR
"""
import os
import shutil
import subprocess
import sys
import tempfile

meson, src = sys.argv[1], sys.argv[2]
failed = 0


def check(cond, what):
    global failed
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failed += 1


tmp = tempfile.mkdtemp(prefix="bs-cudacfg-")
try:
    empty = os.path.join(tmp, "empty")
    os.mkdir(empty)
    # a PATH with the system folders that hold no nvcc
    dirs = [d for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin")
            if os.path.isdir(d) and not os.path.exists(os.path.join(d, "nvcc"))]
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_HOME", "CUDA_ROOT")}
    env.update(PATH=":".join(dirs), CUDA_PATH=empty)
    common = ["-Dreadline=disabled", "-Dgraphviz=disabled", "-Dsdl2=disabled", "-Dfuzz=disabled"]

    def setup(name, *opts):
        r = subprocess.run([meson, "setup", os.path.join(tmp, name), src] + common + list(opts),
                           env=env, capture_output=True, text=True, timeout=300)
        return r.returncode, r.stdout + r.stderr

    rc, out = setup("auto", "-Dcuda=auto")
    check(rc == 0, "-Dcuda=auto without nvcc configures (rc %d)" % rc)
    check("CUDA backend not built" in out, "-Dcuda=auto says why the CUDA backend is not built")
    check(any(l.split() == ["cuda", ":", "False"] for l in out.splitlines()),
          "-Dcuda=auto's summary: cuda False")

    rc, out = setup("enabled", "-Dcuda=enabled")
    check(rc != 0, "-Dcuda=enabled without nvcc stops (rc %d)" % rc)
    check("-Dcuda=enabled: no CUDA compiler" in out, "-Dcuda=enabled gives the reason")

    rc, out = setup("disabled", "-Dcuda=disabled")
    check(rc == 0, "-Dcuda=disabled configures (rc %d)" % rc)
    check("compiler for language cuda" not in out.lower() and "Cuda compiler" not in out,
          "-Dcuda=disabled does not look for a CUDA compiler")
    if failed:
        print(out)
finally:
    shutil.rmtree(tmp, ignore_errors=True)

print("PASS" if not failed else "FAIL: %d checks" % failed)
sys.exit(1 if failed else 0)
