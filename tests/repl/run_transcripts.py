#!/usr/bin/env python3
"""REPL transcript tests: each tests/repl/transcripts/NAME.bs runs through the real binary and its
whole output (stdout, stderr, exit status) must equal NAME.out. The first lines of a case may say
  # mode: interactive    feed the file on stdin with -i (the REPL reading lines from a pipe:
                         errors print a caret and the session goes on)
  # args: --quiet ...    extra command line arguments
Usage: run_transcripts.py BACKSTEP DIR [--update] [--only NAME]
--update rewrites the .out files (review the diff before committing)."""
import os
import shutil
import subprocess
import sys
import tempfile


def run_case(exe, path):
    src = open(path).read()
    args, interactive = [], False
    for line in src.splitlines():
        if not line.startswith("#"):
            break
        if line.startswith("# args:"):
            args += line[len("# args:"):].split()
        if line.strip() == "# mode: interactive":
            interactive = True
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    tmp = tempfile.mkdtemp(prefix="bs-transcript-")
    env["HOME"] = tmp
    env["XDG_STATE_HOME"] = os.path.join(tmp, "state")
    # the memory limit is a setting, fixed here so no figure of this machine reaches a transcript
    env["BACKSTEP_MEM_LIMIT"] = "8GiB"
    cmd = [exe, "--no-window"] + args
    try:
        if interactive:
            p = subprocess.run(cmd + ["-i"], input=src, capture_output=True, text=True, env=env,
                               cwd=tmp, timeout=60)
        else:
            p = subprocess.run(cmd + [os.path.abspath(path)], capture_output=True, text=True,
                               env=env, cwd=tmp, timeout=60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    err = p.stderr.replace(os.path.abspath(path), os.path.basename(path))
    return "%s--- stderr ---\n%s--- exit %d ---\n" % (p.stdout, err, p.returncode)


def main():
    exe, d = os.path.abspath(sys.argv[1]), sys.argv[2]
    update = "--update" in sys.argv
    only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None
    passed = failed = 0
    for name in sorted(os.listdir(d)):
        if not name.endswith(".bs"):
            continue
        base = name[:-3]
        if only and base not in only:
            continue
        got = run_case(exe, os.path.join(d, name))
        exp_path = os.path.join(d, base + ".out")
        if update:
            open(exp_path, "w").write(got)
            continue
        want = open(exp_path).read() if os.path.exists(exp_path) else "(missing .out)\n"
        if got == want:
            passed += 1
            continue
        failed += 1
        print("FAIL %s" % base)
        import difflib
        for l in difflib.unified_diff(want.splitlines(), got.splitlines(), "expected", "got", lineterm=""):
            print("   " + l)
    if not update:
        print("transcripts: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
