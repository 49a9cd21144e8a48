#!/usr/bin/env python3
# tests/dtype/run_dtype.py: runs the f32/f16/bf16 programs of cases/ through backstep and compares
# what they print with torch's (cases/NAME.out, from gen.py), in units in the last place of the
# program's dtype.
#
#     run_dtype.py BACKSTEP [CASES_DIR] [--only NAME[,NAME...]] [-v]
#
# A number token (as tests/pytorch reads them: an int or float literal standing on its own, nan,
# inf) compares with the tolerance TOLERANCE gives the variant, in ulps of its dtype (the dtype is
# the variant's suffix, .f32 .f16 .bf16, or the `# dtype:` line of a program written for this
# suite); 0, the default, means the same text. With a tolerance, a token printed with fewer
# digits (an f-string's .4f) may differ by one unit of its last digit more (the text rounds). The rest of a line
# compares exactly. Exit status: 0 all passed, 1 a failure, 77 no binary. Standard library only.
import argparse
import atexit
import shutil
import tempfile
import math
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import variants  # noqa: E402
PROGS = None  # where the programs are written for a run (main)
TIMEOUT_S = 120
NUM_RE = re.compile(r'(?<![\w.])[-+]?(?:(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|nan|inf)(?![\w.])')

# the ulps a variant may differ by, with the op that needs it (README.md: the per-op table);
# everything not listed is exact
TOLERANCE = {
    'nn_layernorm_embedding.f32': 1,    # LayerNorm's weight grad: torch's kernel accumulates
                                        # dY * (rstd * x - rstd * mean) row by row, backstep's
                                        # * weight op sums its g * x-hat
    'tensor_methods.bf16': 1,           # x.norm()'s backward: torch's NormBackward1 is
    'tensor_methods.f32': 1,            # x / norm * g, backstep differentiates sqrt(sum(x ** 2))
}

# A build without SLEEF, or a CPU without AVX2 and FMA, has the C library's exp, tanh, ... where
# torch's kernels call SLEEF's (core/tmath.c; `backstep --version` says which): these differ then.
LIBM_TOLERANCE = {
    'crossentropy_module.bf16': 1,      # exp (log_softmax's SLEEF exp), through 10 SGD steps
    'crossentropy_module.f32': 3,       # the same
    'frag_autograd_teacher.f32': 6,     # tanh (SLEEF's tanhf)
    'functional_activations.f32': 1,    # exp and log of log(exp(x) + 1)
    'functional_losses.f32': 1,         # exp in cross_entropy's log_softmax
    'module_nested_sequential.f32': 17, # tanh, then a sum that cancels (the loss is 0.046)
    'optim_param_groups.f32': 3,        # tanh
    'optim_sgd_momentum.f32': 16,       # tanh, through 20 momentum steps
    'sgd_list_params.f32': 6,           # tanh, through 20 SGD steps
    'tensor_methods.bf16': 1,           # exp
    'tensor_methods.f32': 1,            # exp
}

# programs that check torch's SLEEF functions bit for bit (skipped where the float math is libm):
# softmax_dims's lanes and tails differ only in which exp they take (with libm's, 356 ulps apart
# on a grad sum near 0)
SLEEF_ONLY = {'float_math', 'softmax_dims'}

# variants not matched yet, with why: a failure is an xfail, a pass an error (take it off)
KNOWN = {
}

# single lines of a variant not matched, with why: every other line must match; the line itself
# must differ (a match is an error: take it off) and keep its shape (the same text around numbers)
KNOWN_LINES = {
    # ln.weight.grad and ln.bias.grad. torch's LayerNorm backward sums dgamma and dbeta into
    # per-thread bfloat16 buffers (its answer changes with torch.set_num_threads: 1, 2 and 4 threads
    # print three different lines here) from x-hat recomputed with the bfloat16 mean and rstd, not
    # the forward's x-hat; backstep's are its * weight and + bias ops' VJPs on the forward's values.
    # The loss and the embedding's grad (layer_norm's dx) are exact (tests/dtype/src/layernorm_bf16.py).
    'nn_layernorm_embedding.bf16': {3: 'LayerNorm\'s bf16 weight and bias grads (torch\'s per-thread bfloat16 buffers)'},
}

# mantissa bits and smallest normal exponent of each dtype
FORMATS = {'f32': (23, -126), 'f16': (10, -14), 'bf16': (7, -126), 'f64': (52, -1022)}


def ulp(v, dt):
    mant, emin = FORMATS[dt]
    if v == 0 or math.isinf(v) or math.isnan(v):
        return math.ldexp(1.0, emin - mant)
    e = math.frexp(abs(v))[1] - 1
    return math.ldexp(1.0, max(e, emin) - mant)


def last_digit_unit(tok):
    m = re.match(r'[-+]?(\d*)\.(\d+)$', tok)
    return 10.0 ** -len(m.group(2)) if m else 0.0


def numbers_close(a_tok, b_tok, dt, tol):
    if a_tok == b_tok:
        return True
    if tol == 0:
        return False
    a, b = float(a_tok), float(b_tok)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    lim = tol * ulp(max(abs(a), abs(b)), dt) + max(last_digit_unit(a_tok), last_digit_unit(b_tok))
    return abs(a - b) <= lim * (1 + 1e-12)


def line_matches(exp, got, dt, tol):
    ne, ng = NUM_RE.findall(exp), NUM_RE.findall(got)
    if NUM_RE.sub('#', exp) != NUM_RE.sub('#', got) or len(ne) != len(ng):
        return False
    return all(numbers_close(a, b, dt, tol) for a, b in zip(ne, ng))


def compare(exp_text, got_text, dt, tol, known=None):
    e = [l.rstrip() for l in exp_text.rstrip().splitlines()]
    g = [l.rstrip() for l in got_text.rstrip().splitlines()]
    for i in range(max(len(e), len(g))):
        le = e[i] if i < len(e) else '<end>'
        lg = g[i] if i < len(g) else '<end>'
        if known and i + 1 in known:
            if line_matches(le, lg, dt, tol):
                return 'line %d matches but KNOWN_LINES lists it: take it off' % (i + 1)
            if NUM_RE.sub('#', le) != NUM_RE.sub('#', lg):
                return 'line %d (KNOWN_LINES): not even the same text: expected %r, got %r' % (i + 1, le[:160], lg[:160])
            continue
        if not line_matches(le, lg, dt, tol):
            return 'line %d: expected %r, got %r' % (i + 1, le[:160], lg[:160])
    return None


def max_ulps(exp_text, got_text, dt):
    """The largest difference of two number tokens in ulps (None: the texts do not line up)."""
    e, g = exp_text.rstrip().splitlines(), got_text.rstrip().splitlines()
    if len(e) != len(g):
        return None
    worst = 0.0
    for le, lg in zip(e, g):
        ne, ng = NUM_RE.findall(le), NUM_RE.findall(lg)
        if len(ne) != len(ng) or NUM_RE.sub('#', le) != NUM_RE.sub('#', lg):
            return None
        for a, b in zip(ne, ng):
            if a == b:
                continue
            x, y = float(a), float(b)
            d = abs(x - y) / ulp(max(abs(x), abs(y)), dt)
            worst = max(worst, d, 1.0)
    return worst


def dtype_of(name, path):
    for dt in ('f32', 'f16', 'bf16'):
        if name.endswith('.' + dt):
            return dt
    with open(path) as f:
        for line in f:
            m = re.match(r'#\s*dtype:\s*(\w+)', line)
            if m:
                return m.group(1)
    return 'f32'


def run_case(exe, cases, name, measure=False):
    py = os.path.join(PROGS, name + '.py')
    env = dict(os.environ)
    env.pop('DISPLAY', None)
    env.pop('WAYLAND_DISPLAY', None)
    try:
        p = subprocess.run([exe, '--no-window', py], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TIMEOUT_S, env=env, cwd=PROGS)
    except subprocess.TimeoutExpired:
        return 'timed out'
    if p.returncode != 0:
        err = [l for l in p.stderr.decode('utf-8', 'replace').splitlines() if l.strip()]
        return 'exit %d: %s' % (p.returncode, err[0][:200] if err else '')
    with open(os.path.join(cases, name + '.out')) as f:
        exp = f.read()
    dt = dtype_of(name, py)
    got = p.stdout.decode('utf-8', 'replace')
    if measure:
        return max_ulps(exp, got, dt)
    why = compare(exp, got, dt, tolerance(name), KNOWN_LINES.get(name))
    if not why:
        return None
    # torch's f32 matmul is OpenBLAS's sgemm, whose kernel depends on the CPU (Haswell's and
    # SkylakeX's sum in different orders): the committed output holds for the CPU gen.py ran on.
    # Where this machine's torch prints something else, it is the oracle here.
    live = live_torch(py)
    if live is None or live == exp:
        return why
    MACHINE.append(name)
    why_live = compare(live, got, dt, tolerance(name), KNOWN_LINES.get(name))
    return why_live and 'against this machine\'s torch too: ' + why_live


MACHINE = []  # cases whose committed output differs from this machine's torch

FLOAT_MATH = None  # what `backstep --version` says the float path's exp, tanh, ... are (main)


def tolerance(name):
    if FLOAT_MATH == 'libm':
        return max(TOLERANCE.get(name, 0), LIBM_TOLERANCE.get(name, 0))
    return TOLERANCE.get(name, 0)


def live_torch(py):
    """What torch on this machine prints for the program (gen.py's oracle run), or None when
    Debian's python3-torch is not installed."""
    python = os.environ.get('BACKSTEP_TORCH_PYTHON', '/usr/bin/python3')
    try:
        p = subprocess.run([python, os.path.join(HERE, 'gen.py'), '--exec', py],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT_S, cwd=PROGS)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if p.returncode != 0:
        return None
    return p.stdout.decode('utf-8')


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument('backstep')
    ap.add_argument('cases', nargs='?', default=os.path.join(HERE, 'cases'))
    ap.add_argument('--only', action='append', default=[])
    ap.add_argument('-v', '--verbose', action='store_true')
    ap.add_argument('--measure', action='store_true',
                    help='print each case\'s largest difference in ulps (for TOLERANCE), compare nothing')
    o = ap.parse_args(argv)
    exe, cases = os.path.abspath(o.backstep), os.path.abspath(o.cases)
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        print('SKIP: no backstep executable at %s' % exe)
        return 77
    global FLOAT_MATH
    ver = subprocess.run([exe, '--version'], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL).stdout.decode()
    m = re.search(r'^float math: (\w+)', ver, re.M)
    FLOAT_MATH = m.group(1) if m else 'libm'
    if FLOAT_MATH != 'sleef':
        print('note: float math is %s (not SLEEF, as torch\'s kernels): LIBM_TOLERANCE applies' % FLOAT_MATH)
    # the programs are made from variants.py's list (tests/pytorch's cases with a cast line, and
    # src/); torch's output for each is committed in cases/
    global PROGS
    PROGS = tempfile.mkdtemp(prefix='bs-dtype-')
    atexit.register(shutil.rmtree, PROGS, True)
    names = []
    for name, text in variants.variants():
        with open(os.path.join(PROGS, name + '.py'), 'w') as f:
            f.write(text)
        names.append(name)
    names.sort()
    missing = [n for n in names if not os.path.exists(os.path.join(cases, n + '.out'))]
    if missing:
        print('ERROR no torch output for %s (run /usr/bin/python3 tests/dtype/gen.py)' % ', '.join(missing))
        return 1
    only = [n for a in o.only for n in a.split(',') if n]
    if only:
        names = [n for n in names if n in only]
    if o.measure:
        for name in names:
            print('%-40s %s' % (name, run_case(exe, cases, name, True)))
        return 0
    bad = [n for n in TOLERANCE if n not in names and not only]
    for n in bad:
        print('ERROR TOLERANCE names %s, which is not a case' % n)
    passed, failed = 0, len(bad)
    for n in KNOWN:
        if n not in names and not only:
            print('ERROR KNOWN names %s, which is not a case' % n)
            failed += 1
    for n in KNOWN_LINES:
        if n not in names and not only:
            print('ERROR KNOWN_LINES names %s, which is not a case' % n)
            failed += 1
    xfailed = 0
    for name in names:
        if name in SLEEF_ONLY and FLOAT_MATH != 'sleef':
            print('skip  %s: it checks SLEEF\'s functions element by element' % name)
            continue
        why = run_case(exe, cases, name)
        if why and name in KNOWN:
            xfailed += 1
            print('xfail %s: %s (%s)' % (name, KNOWN[name], why[:100]))
        elif why:
            failed += 1
            print('FAIL  %s: %s' % (name, why))
        elif name in KNOWN:
            failed += 1
            print('XPASS %s: passes but KNOWN lists it: take it off' % name)
        else:
            passed += 1
            for line, reason in sorted(KNOWN_LINES.get(name, {}).items()):
                print('known %s line %d: %s' % (name, line, reason))
            if o.verbose:
                print('ok    %s (%s ulp)' % (name, tolerance(name)))
    if MACHINE:
        print('note: %d committed outputs differ from this machine\'s torch (OpenBLAS picks its '
              'sgemm kernel by CPU); compared with torch run here: %s' % (len(MACHINE), ', '.join(MACHINE)))
    nknown = sum(len(v) for k, v in KNOWN_LINES.items() if k in names)
    print('dtype: %d passed, %d failed, %d xfail, %d known line%s' % (passed, failed, xfailed, nknown, '' if nknown == 1 else 's'))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
