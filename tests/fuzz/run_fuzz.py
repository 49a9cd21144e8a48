#!/usr/bin/env python3
"""tests/fuzz/run_fuzz.py: run one libFuzzer target of tests/fuzz, short (a test) or long (a
benchmark), in a temporary folder of its own that is removed afterwards.

  run_fuzz.py --name=eval --bin build-fuzz/tests/fuzz/fuzz_eval --max-len=4096 \
      --regress=tests/fuzz/regress/eval --seeds='tests/golden/cases/*.bs' --dict=core/ops.def \
      [--seconds=12 --runs=N | --long]

1. The regression inputs (every file under --regress) run once each; any failure fails.
2. The seeds (files matching each --seeds glob, at most --max-len bytes) are copied into a fresh
   corpus folder, so libFuzzer never writes into the source tree.
3. --dict=ops.def: a dictionary of the language's tokens is written: every op name from the op
   table, the builtins, tensor attributes and methods, every REPL command (read from
   repl/commands.c next to it), keywords, operators and a few awkward numbers.
4. libFuzzer runs for --seconds (bounded by --runs too). Short mode: the first crash, sanitizer
   report, leak or hang (-timeout) fails, and the input is kept in fuzz-artifacts/NAME/ in the
   current folder (meson's build folder) with the report. Long mode (--long): BS_FUZZ_SECONDS
   (default 600; BS_FUZZ_SECONDS_NAME for one target), fork mode with one job, so crashes are counted and saved and fuzzing goes on.
A closing line gives the figures: `fuzz NAME: N inputs in S s (E exec/s), crashes C`.
"""
import argparse
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

STATIC_TOKENS = [
    # keywords, literals and statement forms
    "True", "False", "None", "with", "no_grad", "with no_grad:", "requires_grad=True",
    "for ", " in ", "range(", "if ", "elif ", "else:", "while ", "def ", "return", "class ",
    "(nn.Module):", "super().__init__()", "self.", "break", "continue", "pass", "and", "or",
    "not ", "is None", "lambda", "f'", "f\"", "{", "}", ":.4f", ":15s", "!r", "len(", "enumerate(",
    "zip(", "append(", "nn.Linear(", "nn.Sequential(", "torch.optim.SGD(", "parameters()",
    "named_parameters()", "import torch", "import torch.nn as nn", "\n    ", "\n\t", "[::-1]",
    "[:, 1]", "[0]", "-=", "*=", "copy_(", "zero_()", "tolist()", "assert ",
    "dtype=", "dim=", "keepdim=True", "seed=", "lr=", "momentum=", "betas=", "eps=",
    "weight_decay=", "nesterov=True", "wrt=", "steps=", "opt=", "on=", "root=", "--ascii",
    "--grads", "--steps", "--check", "--png", "--pdf", "cpu", "gpu", "f64", "f32", "f16", "bf16",
    "float64", "float32", "float16", "bfloat16", "int64", "long", "half", "double",
    # operators and punctuation
    "+", "-", "*", "/", "**", "@", "=", "(", ")", "[", "]", ",", ".", ";", ":", "\\\n", "\n",
    "#", "'", "\"", "==", "+=", "//", "%",
    # builtins
    "param", "tensor", "randn", "rand", "zeros", "ones", "eye", "arange", "zeros_like",
    "ones_like", "randn_like", "seed", "dim", "sgd", "adam", "zero_grad", "detach", "print",
    # tensor attributes and methods
    "grad", "shape", "requires_grad", "grad_fn", "T", "is_leaf", "dtype", "backward", "item",
    "step", "numel", "size", "requires_grad_", "retain_grad", ".grad", ".T", ".backward()",
    ".item()", ".shape",
    # numbers
    "0", "1", "2", "-1", "0.5", "1e-3", "1e308", "1e-320", "4294967296", "9007199254740993",
    "2**63", "nan", "inf",
    # lesson and theme files, history
    "@title ", "@predict ", "@answer ", "@hint ", "@explain ", "@fails ", "@pause", "@check ",
    "@graph ", "@window :", "@recap", "@try ", ">>> ", "... ", " tol ", "%", "fuzz 1/2 open",
    "fuzz 2/2 done", "= #", "#ffffff", "font_size = ", "grad_vanish = ", "#+1700000000",
]


def dict_lines(opsdef):
    toks = list(STATIC_TOKENS)
    with open(opsdef) as f:
        for m in re.finditer(r"^BS_OP\(\s*\w+,\s*(\w+),\s*(\"[^\"]*\")", f.read(), re.M):
            toks += [m.group(1), m.group(1) + "("]
    cmds = os.path.join(os.path.dirname(os.path.dirname(opsdef)), "repl", "commands.c")
    if os.path.exists(cmds):
        with open(cmds) as f:
            toks += [":" + c for c in re.findall(r'\{"(\w+)", (?:cmd_|bs_cmd_)', f.read())]
    out, seen = [], set()
    for t in toks:
        if t in seen:
            continue
        seen.add(t)
        esc = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "\\x%02x" % ord(c)
                      for c in t)
        out.append('"%s"' % esc)
    return out


def stats(text):
    """(inputs executed, exec/s) from libFuzzer's output (plain or fork mode)."""
    runs = None
    m = re.findall(r"stat::number_of_executed_units:\s*(\d+)", text)
    if m:
        runs = int(m[-1])
    eps = re.findall(r"stat::average_exec_per_sec:\s*(\d+)", text)
    if runs is None:  # fork mode: "#N: cov: ... exec/s: E ..."; or a crash before the stats
        m = re.findall(r"^#(\d+)[:\s]", text, re.M)
        if m:
            runs = int(m[-1])
    if not eps:
        eps = re.findall(r"exec/s:? (\d+)", text)
    return runs or 0, int(eps[-1]) if eps else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--max-len", type=int, required=True)
    ap.add_argument("--regress")
    ap.add_argument("--seeds", action="append", default=[])
    ap.add_argument("--dict")
    ap.add_argument("--seconds", type=int, default=12)
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--timeout", type=int, default=10, help="seconds one input may take")
    ap.add_argument("--long", action="store_true")
    a = ap.parse_args()
    a.bin = os.path.abspath(a.bin)
    if a.regress:
        a.regress = os.path.abspath(a.regress)

    tmp = tempfile.mkdtemp(prefix="bs-fuzz-run-")
    try:
        return run(a, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def env_for(tmp):
    env = dict(os.environ)
    env["TMPDIR"] = tmp
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:symbolize=1:allocator_may_return_null=1"
    env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    supp = os.path.join(ROOT, "tests", "lsan.supp")
    if os.path.exists(supp):
        env["LSAN_OPTIONS"] = "suppressions=" + supp
    env["OPENBLAS_NUM_THREADS"] = "1"
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("BACKSTEP_THEME", None)
    return env


def keep_artifacts(a, art, log):
    dest = os.path.abspath(os.path.join("fuzz-artifacts", a.name))
    os.makedirs(dest, exist_ok=True)
    kept = []
    for f in sorted(os.listdir(art)):
        shutil.copy(os.path.join(art, f), dest)
        kept.append(os.path.join(dest, f))
        with open(os.path.join(art, f), "rb") as fh:
            data = fh.read()
        print("fuzz %s: input %s (%d bytes): %r" % (a.name, f, len(data), data[:300]))
    with open(os.path.join(dest, "report-%d.txt" % int(time.time())), "w") as fh:
        fh.write(log)
    print("fuzz %s: kept in %s" % (a.name, dest))
    return kept


def run(a, tmp):
    env = env_for(tmp)
    # 1. regression inputs
    if a.regress and os.path.isdir(a.regress):
        files = sorted(p for p in glob.glob(os.path.join(a.regress, "**", "*"), recursive=True)
                       if os.path.isfile(p) and not p.endswith(".md"))
        if files:
            r = subprocess.run([a.bin, "-timeout=%d" % a.timeout, "-rss_limit_mb=4096"] + files,
                               env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out = r.stdout.decode(errors="replace")
            if r.returncode != 0:
                print(out[-8000:])
                print("fuzz %s: FAIL: a regression input in %s fails" % (a.name, a.regress))
                return 1
            print("fuzz %s: %d regression input%s pass" % (a.name, len(files),
                                                            "" if len(files) == 1 else "s"))
    # 2. seeds
    corpus = os.path.join(tmp, "corpus")
    art = os.path.join(tmp, "artifacts")
    os.makedirs(corpus)
    os.makedirs(art)
    nseeds = 0
    for pat in a.seeds:
        for p in sorted(glob.glob(pat)):
            if not os.path.isfile(p) or os.path.getsize(p) > a.max_len:
                continue
            with open(p, "rb") as f:
                data = f.read()
            with open(os.path.join(corpus, hashlib.sha1(data).hexdigest()), "wb") as f:
                f.write(data)
            nseeds += 1
    # 3. dictionary
    args = [a.bin, "-max_len=%d" % a.max_len, "-timeout=%d" % a.timeout, "-rss_limit_mb=4096",
            "-malloc_limit_mb=4096", "-print_final_stats=1", "-artifact_prefix=" + art + "/"]
    if a.dict:
        d = os.path.join(tmp, "backstep.dict")
        with open(d, "w") as f:
            f.write("\n".join(dict_lines(a.dict)) + "\n")
        args.append("-dict=" + d)
    # 4. fuzz
    if a.long:
        seconds = int(os.environ.get("BS_FUZZ_SECONDS_" + a.name.upper(),
                                     os.environ.get("BS_FUZZ_SECONDS", "600")))
        args += ["-max_total_time=%d" % seconds, "-fork=1", "-ignore_crashes=1",
                 "-ignore_timeouts=1", "-ignore_ooms=1"]
    else:
        seconds = a.seconds
        args += ["-max_total_time=%d" % seconds]
        if a.runs:
            args.append("-runs=%d" % a.runs)
    args.append(corpus)
    t0 = time.time()
    r = subprocess.run(args, env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    took = time.time() - t0
    log = r.stdout.decode(errors="replace")
    runs, eps = stats(log)
    found = sorted(os.listdir(art))
    crashes = len(found)
    kinds = {}
    for f in found:
        k = f.split("-")[0]
        kinds[k] = kinds.get(k, 0) + 1
    ncorpus = len(os.listdir(corpus))
    if a.long and took > 0:  # fork mode's exec/s is the last job's: give the run's average
        eps = int(runs / took)
    m = re.findall(r"oom/timeout/crash: (\d+)/(\d+)/(\d+)", log)
    if m:
        kinds = {"oom": int(m[-1][0]), "timeout": int(m[-1][1]), "crash": int(m[-1][2])}
        crashes = sum(kinds.values())
    failed = r.returncode != 0 or (crashes and not a.long)
    if failed or crashes:
        print(log[-12000:])
        keep_artifacts(a, art, log)
    print("fuzz %s: %d inputs in %.0f s (%d exec/s), %d seeds, corpus %d, crashes %d%s%s" %
          (a.name, runs, took, eps, nseeds, ncorpus, crashes,
           " (%s)" % ", ".join("%s %d" % kv for kv in sorted(kinds.items())) if kinds else "",
           "" if not failed else ", FAIL (libFuzzer exit %d)" % r.returncode))
    if a.long:
        return 0 if r.returncode == 0 else 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
