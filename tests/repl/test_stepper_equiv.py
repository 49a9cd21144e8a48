#!/usr/bin/env python3
"""The stepper is the backward pass: for every program of the golden set (tests/golden/cases) that
calls X.backward(...), replace each call by `:step X ...` then `:finish` and check the whole --quiet
--precision 17 output is identical (bit for bit: 17 significant digits). Then the same with
`:step X`, `:abort` followed by the real backward: :abort must leave every grad as it was.
Usage: test_stepper_equiv.py BACKSTEP GOLDEN_CASES_DIR"""
import atexit
import shutil
import os
import re
import subprocess
import sys
import tempfile

CALL = re.compile(r"^(\w+)\.backward\(([^;]*)\)\s*$")


def rewrite(src, abort):
    out, changed = [], 0
    for line in src.splitlines():
        m = CALL.match(line)
        if not m:
            out.append(line)
            continue
        name, args = m.group(1), m.group(2).strip()
        opts = []
        m2 = re.match(r"^(.*?)(?:,?\s*retain_graph=(\w+))?$", args)
        seed, retain = m2.group(1).strip(), m2.group(2)
        if seed:
            if re.match(r"^\w+=", seed):
                return None, 0  # a keyword form :step does not take
            opts.append("seed=" + seed.replace(" ", ""))
        if retain:
            opts.append("retain_graph=" + retain)
        if any(" " in o for o in opts):
            return None, 0
        step = ":step %s %s" % (name, " ".join(opts))
        if abort:
            out += [step.strip(), ":abort", line]
        else:
            out += [step.strip(), ":finish"]
        changed += 1
    return "\n".join(out) + "\n", changed


def run(exe, text, tmp):
    path = os.path.join(tmp, "case.bs")
    open(path, "w").write(text)
    p = subprocess.run([exe, "--quiet", "--precision", "17", "--no-window", path],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout


def main():
    exe, cases = os.path.abspath(sys.argv[1]), sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="bs-stepper-")
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    checked = failed = 0
    for name in sorted(os.listdir(cases)):
        if not name.endswith(".bs") or os.path.exists(os.path.join(cases, name[:-3] + ".err")):
            continue
        src = open(os.path.join(cases, name)).read()
        base_rc, base = run(exe, src, tmp)
        for abort in (False, True):
            new, n = rewrite(src, abort)
            if not n:
                continue
            rc, got = run(exe, new, tmp)
            checked += 1
            if (rc, got) != (base_rc, base):
                failed += 1
                print("FAIL %s (%s): outputs differ" % (name, ":abort" if abort else ":finish"))
                for a, b in zip(base.splitlines(), got.splitlines()):
                    if a != b:
                        print("   backward(): %s\n   stepper:    %s" % (a, b))
                        break
    print("stepper equivalence: %d programs checked, %d failed" % (checked, failed))
    if checked < 10:
        print("too few programs with backward() calls: the golden set changed?")
        return 1
    return 1 if failed else 0


sys.exit(main())
