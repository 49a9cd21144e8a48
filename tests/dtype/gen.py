#!/usr/bin/python3
# tests/dtype/gen.py: the PyTorch oracle for programs in f32, f16 and bf16 (issue 15: "a program
# cast to f32/f16/bf16 prints exactly what torch prints for the same dtype").
#
# Developer-only: needs torch (Debian's python3-torch, torch 1.13), run it with /usr/bin/python3:
#
#     /usr/bin/python3 tests/dtype/gen.py             # write every variant and its .out
#     /usr/bin/python3 tests/dtype/gen.py --check     # compare with what is committed, write nothing
#     /usr/bin/python3 tests/dtype/gen.py --survey    # which programs of tests/pytorch torch 1.13
#                                                     # can run in each dtype (writes nothing)
#
# Where the programs come from (the list is CASES below):
#   - a program of tests/pytorch/cases (plain PyTorch, explicit weights, prints values and grads),
#     cast to a dtype by one line put after its header comment:
#         import torch; torch.set_default_dtype(torch.bfloat16)
#     so every float tensor, parameter and nn.Linear it makes has that dtype, as in torch. The
#     variant is written to cases/NAME.DT.py (DT: f32, f16, bf16) and committed, so backstep runs
#     the very text torch ran;
#   - a program of tests/dtype/src/NAME.py, written for dtypes (the casts spelled as a user spells
#     them: x.half(), x.to(torch.float16), torch.tensor(..., dtype=torch.bfloat16), mixed dtypes,
#     Python numbers next to f16 tensors, the underflow graph), copied to cases/NAME.py.
# Each variant runs in a child process (`gen.py --exec FILE`), one thread (torch splits large sums
# across threads, which changes their order), seeded; what it prints is cases/<variant>.out.
#
# torch 1.13 has no Half kernel on the CPU for most ops (sigmoid, tanh, exp, matmul, softmax,
# mse_loss's backward ...: "... not implemented for 'Half'"), so an f16 variant exists only for
# the programs torch can run; backstep computes the others anyway, in f32, rounding each result
# (what torch 2 does), and says nothing is compared there. --survey lists which are which.
import concurrent.futures
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, 'cases')
TIMEOUT_S = 300
sys.path.insert(0, HERE)
from variants import DTYPES, PYTORCH_CASES, SRC, cast_text, variants  # noqa: E402,F401



def exec_case(path):
    """In the child: one thread, a seeded generator, then the file as __main__."""
    import warnings
    import torch
    warnings.simplefilter('ignore')
    torch.set_num_threads(1)
    torch.manual_seed(0)
    sys.path.insert(0, HERE)
    import gradscaler_ref  # torch's GradScaler on the CPU (see its header)
    gradscaler_ref.install()
    with open(path) as f:
        src = f.read()
    code = compile(src, path, 'exec')
    exec(code, {'__name__': '__main__', '__file__': path, '__builtins__': __builtins__})


def run_file(path):
    p = subprocess.run([sys.executable, os.path.abspath(__file__), '--exec', path],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT_S, cwd=os.path.dirname(path))
    return p.returncode, p.stdout.decode('utf-8'), p.stderr.decode('utf-8', 'replace')


def expected(path):
    rc, out, err = run_file(path)
    if rc != 0:
        tail = err.strip().splitlines()[-1] if err.strip() else 'exit status %d' % rc
        raise ValueError('raised under torch: %s' % tail)
    if not out.strip():
        raise ValueError('prints nothing')
    return out


def survey():
    """Which tests/pytorch programs torch 1.13 runs in each dtype, and the first error otherwise."""
    import tempfile
    names = sorted(f[:-3] for f in os.listdir(PYTORCH_CASES) if f.endswith('.py'))
    tmp = tempfile.mkdtemp()

    def one(job):
        name, dt = job
        with open(os.path.join(PYTORCH_CASES, name + '.py')) as f:
            text = cast_text(f.read(), dt)
        path = os.path.join(tmp, '%s.%s.py' % (name, dt))
        with open(path, 'w') as f:
            f.write(text)
        rc, out, err = run_file(path)
        return name, dt, rc, (err.strip().splitlines() or [''])[-1]
    jobs = [(n, dt) for n in names for dt in DTYPES]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for name, dt, rc, last in pool.map(one, jobs):
            print('%-34s %-4s %s' % (name, dt, 'ok' if rc == 0 else 'torch: ' + last[:90]))
    return 0


def main(argv):
    if len(argv) == 2 and argv[0] == '--exec':
        exec_case(argv[1])
        return 0
    if '--survey' in argv:
        return survey()
    check = '--check' in argv
    os.makedirs(CASES, exist_ok=True)
    vs = variants()
    bad = 0
    import tempfile
    progs = tempfile.mkdtemp(prefix='bs-dtype-gen-')  # the programs: made, never committed
    import atexit
    import shutil
    atexit.register(shutil.rmtree, progs, True)
    for name, text in vs:
        with open(os.path.join(progs, name + '.py'), 'w') as f:
            f.write(text)

    def attempt(v):
        try:
            return expected(os.path.join(progs, v[0] + '.py')), None
        except (ValueError, subprocess.TimeoutExpired) as e:
            return None, e
    if not check or not bad:
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            results = list(pool.map(attempt, vs))
        for (name, _), (out, err) in zip(vs, results):
            if err is not None:
                print('REFUSED %s: %s' % (name, err))
                bad += 1
                continue
            path = os.path.join(CASES, name + '.out')
            old = open(path).read() if os.path.exists(path) else None
            if check:
                if old != out:
                    print('STALE %s.out' % name)
                    bad += 1
            elif old != out:
                with open(path, 'w') as f:
                    f.write(out)
    known = set(n for n, _ in vs)
    for f in sorted(os.listdir(CASES)):
        base = f[:-4] if f.endswith('.out') else None
        if base is not None and base not in known:
            print('ORPHAN %s (not in CASES_LIST)' % f)
            bad += 1
    print('gen: %d variants, %d refused or stale' % (len(vs), bad))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
