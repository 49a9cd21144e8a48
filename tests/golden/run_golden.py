#!/usr/bin/env python3
# tests/golden/run_golden.py: runs every golden case through backstep and compares with the PyTorch fixtures.
#
#     run_golden.py BACKSTEP [CASES_DIR] [--only NAME[,NAME...]] [--verbose]
#
# For each CASES_DIR/NAME.bs: runs `BACKSTEP --quiet --precision 17 --no-window NAME.bs` and compares
# stdout line by line with NAME.out (written by gen.py from PyTorch). Tokens that parse as numbers
# compare with a relative tolerance of 1e-9 (absolute 1e-12 near zero; nan equals nan), everything
# else (brackets, commas, None, True/False) exactly. When NAME.err exists ("LINE KW1|KW2"), the run
# must exit with status 1 and stderr must hold `FILE:LINE:COL: error: ...` with that LINE and one of
# the keywords (case-insensitive); otherwise the run must exit with status 0.
# Standard library only. Exit status: 0 all passed, 1 some failed, 77 no binary to test.
import math
import os
import re
import subprocess
import sys

REL_TOL = 1e-9
ABS_TOL = 1e-12
TIMEOUT_S = 60

TOKEN_RE = re.compile(r'\[|\]|,|[^\s\[\],]+')
ERROR_RE = re.compile(r'^(.*?):(\d+):(\d+): error: ?(.*)$', re.M)

# ==== Comparing output ====


def as_number(tok):
    """The token as a float, or None if it is not a number (None/True/False are not numbers)."""
    if tok in ('None', 'True', 'False'):
        return None
    try:
        return float(tok)   # accepts nan, -nan, inf, -inf, 1e-05
    except ValueError:
        return None


def numbers_close(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL)


def line_matches(expected, got):
    te = TOKEN_RE.findall(expected)
    tg = TOKEN_RE.findall(got)
    if len(te) != len(tg):
        return False
    for e, g in zip(te, tg):
        ne, ng = as_number(e), as_number(g)
        if ne is not None and ng is not None:
            if not numbers_close(ne, ng):
                return False
        elif e != g:
            return False
    return True


def split_lines(text):
    lines = [l.rstrip() for l in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def clip(s, n=160):
    return s if len(s) <= n else s[:n] + '...'


def compare_output(expected_text, got_text, matches=None):
    """None if they match, else a short diff. `matches(expected_line, got_line)` decides a line
    (line_matches by default; tests/pytorch passes its own)."""
    matches = matches or line_matches
    exp = split_lines(expected_text)
    got = split_lines(got_text)
    for i in range(max(len(exp), len(got))):
        e = exp[i] if i < len(exp) else '<no line>'
        g = got[i] if i < len(got) else '<no line>'
        if i >= len(exp) or i >= len(got) or not matches(e, g):
            return 'stdout line %d: expected %s, got %s' % (i + 1, clip(e), clip(g))
    return None

# ==== Checking errors ====


def read_err(path):
    with open(path) as f:
        fields = f.read().split(None, 1)
    line = int(fields[0])
    kws = [k.strip().lower() for k in (fields[1] if len(fields) > 1 else '').split('|') if k.strip()]
    return line, kws


def check_error(err_path, rc, stderr):
    """None if the run failed as expected, else why not."""
    line, kws = read_err(err_path)
    bs_name = os.path.basename(err_path)[:-len('.err')] + '.bs'
    if rc != 1:
        return 'expected exit status 1 (error at line %d), got %d' % (line, rc)
    found = [f for f in ERROR_RE.findall(stderr) if f[0].endswith(bs_name)]
    if not found:
        return 'stderr has no "%s:LINE:COL: error:" line: %s' % (bs_name, clip(' '.join(stderr.split())))
    lines = [int(f[1]) for f in found]
    if line not in lines:
        return 'expected the error at line %d, stderr says line %s: %s' % (
            line, ', '.join(str(l) for l in lines), clip(' '.join(stderr.split())))
    # the keywords must be in the message, not in the file name (err_dim_out_of_range.bs has "range")
    low = ERROR_RE.sub(lambda m: m.group(4), stderr).lower()
    if kws and not any(k in low for k in kws):
        return 'the error message has none of the keywords %s: %s' % ('|'.join(kws), clip(' '.join(stderr.split())))
    return None

# ==== Running ====


def run_case(exe, cases, name):
    """Returns None on success, else a description of the failure."""
    bs = os.path.join(cases, name + '.bs')
    out_path = os.path.join(cases, name + '.out')
    err_path = os.path.join(cases, name + '.err')
    if not os.path.exists(out_path):
        return 'no %s.out (run gen.py)' % name
    env = dict(os.environ)
    env.pop('DISPLAY', None)
    env.pop('WAYLAND_DISPLAY', None)
    try:
        p = subprocess.run([exe, '--quiet', '--precision', '17', '--no-window', bs],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        return 'timed out after %d s' % TIMEOUT_S
    stdout = p.stdout.decode('utf-8', 'replace')
    stderr = p.stderr.decode('utf-8', 'replace')
    if p.returncode < 0:
        return 'killed by signal %d; stderr: %s' % (-p.returncode, clip(' '.join(stderr.split())))
    problems = []
    with open(out_path) as f:
        diff = compare_output(f.read(), stdout)
    if diff:
        problems.append(diff)
    if os.path.exists(err_path):
        why = check_error(err_path, p.returncode, stderr)
        if why:
            problems.append(why)
    elif p.returncode != 0:
        problems.append('exit status %d; stderr: %s' % (p.returncode, clip(' '.join(stderr.split()))))
    return '; '.join(problems) if problems else None


def main(argv):
    args = []
    only = []
    verbose = False
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == '--only' and i + 1 < len(argv):
            only += [n for n in argv[i + 1].split(',') if n]
            i += 2
            continue
        if a.startswith('--only='):
            only += [n for n in a[len('--only='):].split(',') if n]
        elif a in ('-v', '--verbose'):
            verbose = True
        elif a in ('-h', '--help'):
            print('usage: run_golden.py BACKSTEP [CASES_DIR] [--only NAME[,NAME...]] [--verbose]')
            return 0
        else:
            args.append(a)
        i += 1
    if not args:
        print('usage: run_golden.py BACKSTEP [CASES_DIR] [--only NAME[,NAME...]] [--verbose]')
        return 2
    exe = os.path.abspath(args[0])
    cases = args[1] if len(args) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), 'cases')
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        print('SKIP: no backstep executable at %s' % exe)
        return 77
    names = sorted(f[:-3] for f in os.listdir(cases) if f.endswith('.bs'))
    if only:
        only = [n[:-3] if n.endswith('.bs') else n for n in only]
        missing = [n for n in only if n not in names]
        if missing:
            print('no such case: %s' % ', '.join(missing))
            return 2
        names = only
    failed = 0
    for name in names:
        why = run_case(exe, cases, name)
        if why:
            failed += 1
            print('FAIL %s: %s' % (name, why))
        elif verbose:
            print('ok   %s' % name)
    print('golden: %d passed, %d failed (of %d)' % (len(names) - failed, failed, len(names)))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
