#!/usr/bin/env python3
# tests/pytorch/run_pytorch.py: runs the "PyTorch as written" corpus through backstep and compares
# with the PyTorch fixtures.
#
#     run_pytorch.py BACKSTEP [CASES_DIR] [--only NAME[,NAME...]] [-v] [--list-failures]
#
# For each CASES_DIR/NAME.py: runs `BACKSTEP --no-window NAME.py` (script mode: the first error
# stops it with exit status 1 and `FILE:LINE:COL: error: ...` on stderr) and compares its stdout,
# line by line, with NAME.out (what the same program printed under torch in float64, from gen.py).
# On a line, every token that reads as a number (an int or float literal, nan, inf, standing on
# its own: the 0 of `0.weight` or the 1 of `fc1` is not one) compares with a relative tolerance of
# 1e-9 (absolute 1e-12 near zero); the rest of the line compares exactly. Trailing blanks and
# trailing empty lines are ignored. A case passes when backstep exits 0 and every line matches.
#
# known_failing.txt (beside this file) lists the cases expected to fail today, `NAME  reason` one a
# line (# comments). Such a case that fails is reported as `xfail` and not counted as failed; one
# that passes is an error (XPASS: take it off the list), so the list can only shrink.
#
# Prints one line per failing case (the first differing line, or backstep's error), one per
# xfail, then `pytorch: N passed, N failed`. Exit status: 0 no failure, 1 some failure, 77 no
# binary to test. --list-failures prints every failing case as a known_failing.txt line instead.
# Standard library only.
import argparse
import os
import re
import subprocess
import sys

# tests/golden's comparison: its tolerances (1e-9 relative, 1e-12 absolute) and line loop
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'golden'))
import run_golden  # noqa: E402

TIMEOUT_S = 120
HERE = os.path.dirname(os.path.abspath(__file__))

# a number token: not glued to a word or a dot on either side (so `0.weight`, `fc1`, `1e` in words
# stay text); signs belong to the number.
NUM_RE = re.compile(r'(?<![\w.])[-+]?(?:(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|nan|inf)(?![\w.])')
ERROR_RE = re.compile(r'^(.*?):(\d+):(\d+): error: ?(.*)$', re.M)

# ==== Comparing output ====


def split_numbers(line):
    """(skeleton, numbers): the line with each number replaced by '#', and the numbers."""
    nums = []

    def take(m):
        nums.append(float(m.group(0)))
        return '#'
    return NUM_RE.sub(take, line), nums


def line_matches(expected, got):
    se, ne = split_numbers(expected)
    sg, ng = split_numbers(got)
    if se != sg or len(ne) != len(ng):
        return False
    return all(run_golden.numbers_close(a, b) for a, b in zip(ne, ng))


# the line-by-line comparison is tests/golden's, with this file's rule for a line
clip = run_golden.clip


def compare_output(expected_text, got_text):
    """None if they match, else the first differing line."""
    return run_golden.compare_output(expected_text, got_text, line_matches)

# ==== Running ====


def first_error(stderr, py_name):
    """backstep's `FILE:LINE:COL: error: ...` line as `LINE:COL: message`, else stderr's first line."""
    for m in ERROR_RE.finditer(stderr):
        if m.group(1).endswith(py_name):
            return 'line %s:%s: error: %s' % (m.group(2), m.group(3), m.group(4).strip())
    lines = [l for l in stderr.splitlines() if l.strip()]
    return lines[0].strip() if lines else '(nothing on stderr)'


def run_case(exe, cases, name):
    """None on success, else why the case failed (one line)."""
    py = os.path.join(cases, name + '.py')
    out_path = os.path.join(cases, name + '.out')
    if not os.path.exists(out_path):
        return 'no %s.out (run gen.py)' % name
    env = dict(os.environ)
    env.pop('DISPLAY', None)
    env.pop('WAYLAND_DISPLAY', None)
    try:
        p = subprocess.run([exe, '--no-window', py], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT_S, env=env, cwd=cases)
    except subprocess.TimeoutExpired:
        return 'timed out after %d s' % TIMEOUT_S
    stdout = p.stdout.decode('utf-8', 'replace')
    stderr = p.stderr.decode('utf-8', 'replace')
    if p.returncode < 0:
        return 'killed by signal %d: %s' % (-p.returncode, clip(first_error(stderr, name + '.py')))
    if p.returncode != 0:
        return 'exit %d, %s' % (p.returncode, clip(first_error(stderr, name + '.py'), 200))
    with open(out_path) as f:
        return compare_output(f.read(), stdout)


def read_known_failing(path):
    """{name: reason} from known_failing.txt."""
    known = {}
    if not os.path.exists(path):
        return known
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith('#'):
                continue
            parts = line.split(None, 1)
            known[parts[0]] = parts[1] if len(parts) > 1 else ''
    return known


def main(argv):
    ap = argparse.ArgumentParser(description='PyTorch programs as written against torch\'s output')
    ap.add_argument('backstep')
    ap.add_argument('cases', nargs='?', default=os.path.join(HERE, 'cases'))
    ap.add_argument('--only', action='append', default=[], help='NAME[,NAME...]')
    ap.add_argument('-v', '--verbose', action='store_true')
    ap.add_argument('--list-failures', action='store_true',
                    help="print every failing case as a known_failing.txt line")
    o = ap.parse_args(argv)
    exe, cases, verbose, list_failures = os.path.abspath(o.backstep), os.path.abspath(o.cases), o.verbose, o.list_failures
    only = [n for arg in o.only for n in arg.split(',') if n]
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        print('SKIP: no backstep executable at %s' % exe)
        return 77
    names = sorted(f[:-3] for f in os.listdir(cases) if f.endswith('.py'))
    known = read_known_failing(os.path.join(HERE, 'known_failing.txt'))
    problems = 0
    unknown = sorted(n for n in known if n not in names)
    if only:
        only = [os.path.basename(n[:-3] if n.endswith('.py') else n) for n in only]
        missing = [n for n in only if n not in names]
        if missing:
            print('no such case: %s' % ', '.join(missing))
            return 2
        names = only
        unknown = []
    for n in unknown:
        print('ERROR known_failing.txt lists %s, which is not a case' % n)
        problems += 1
    passed = failed = xfailed = 0
    for name in names:
        why = run_case(exe, cases, name)
        if list_failures:
            if why:
                print('%-32s %s' % (name, why))
            continue
        if why is None and name in known:
            failed += 1
            print('XPASS %s: passes but known_failing.txt lists it: take it off the list' % name)
        elif why is None:
            passed += 1
            if verbose:
                print('ok    %s' % name)
        elif name in known:
            xfailed += 1
            print('xfail %s: %s' % (name, why))
        else:
            failed += 1
            print('FAIL  %s: %s' % (name, why))
    if list_failures:
        return 0
    failed += problems
    print('pytorch: %d xfail (listed in known_failing.txt), of %d cases' % (xfailed, len(names)))
    print('pytorch: %d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
