#!/usr/bin/python3
# tests/pytorch/gen.py: the PyTorch oracle for the "PyTorch as written" corpus. Runs each
# cases/NAME.py under torch, in float64, and writes its standard output to cases/NAME.out.
#
# Developer-only: needs torch (Debian's python3-torch, torch 1.13), run it with /usr/bin/python3:
#
#     /usr/bin/python3 tests/pytorch/gen.py              # regenerate every case
#     /usr/bin/python3 tests/pytorch/gen.py NAME ...     # only these cases
#     /usr/bin/python3 tests/pytorch/gen.py --check      # compare with the committed .out, write nothing
#     /usr/bin/python3 tests/pytorch/gen.py --show NAME  # print what NAME produces, write nothing
#
# backstep's default dtype is f64, so each case runs after torch.set_default_dtype(torch.float64):
# a child process (`gen.py --exec FILE SEED`) sets it, seeds torch's generator, and runs the
# file's text through exec() as __main__, so the file itself stays plain PyTorch.
#
# A case must be deterministic in a way backstep can match: its output may not depend on
# torch.randn/rand or nn.Linear's default init (backstep's generator differs). gen.py runs every
# case twice, under two different torch.manual_seed values, and refuses it if the two outputs
# differ. It also refuses output that prints a tensor directly (`tensor(`, `grad_fn=`, torch's
# repr is not part of the contract), unless the case says `# gen: prints tensors` (backstep's
# print() writes a tensor as torch does: those cases check it), a case that raises, and a case
# that prints nothing.
import concurrent.futures
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, 'cases')
SEEDS = (0, 12345)
TIMEOUT_S = 300


def exec_case(path, seed):
    """In the child: float64 default, a seeded generator, then the file as __main__."""
    import warnings
    import torch
    warnings.simplefilter('ignore')
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(seed)
    with open(path) as f:
        src = f.read()
    code = compile(src, path, 'exec')
    exec(code, {'__name__': '__main__', '__file__': path, '__builtins__': __builtins__})


def run_case(path, seed):
    """(returncode, stdout, stderr) of one child run."""
    p = subprocess.run([sys.executable, os.path.abspath(__file__), '--exec', path, str(seed)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT_S, cwd=os.path.dirname(path))
    return p.returncode, p.stdout.decode('utf-8'), p.stderr.decode('utf-8', 'replace')


def expected_output(name):
    """The .out text for case NAME, or raises ValueError with why the case is refused."""
    path = os.path.join(CASES, name + '.py')
    outs = []
    for seed in SEEDS:
        rc, out, err = run_case(path, seed)
        if rc != 0:
            tail = err.strip().splitlines()[-1] if err.strip() else 'exit status %d' % rc
            raise ValueError('raised under torch (cases must run to the end): %s' % tail)
        outs.append(out)
    if outs[0] != outs[1]:
        a, b = outs[0].splitlines(), outs[1].splitlines()
        for i in range(max(len(a), len(b))):
            la = a[i] if i < len(a) else '<none>'
            lb = b[i] if i < len(b) else '<none>'
            if la != lb:
                raise ValueError('output depends on the random seed (line %d: %r vs %r): set the '
                                 'values explicitly' % (i + 1, la, lb))
    out = outs[0]
    if not out.strip():
        raise ValueError('prints nothing')
    with open(path) as f:
        prints_tensors = '# gen: prints tensors' in f.read()  # print(tensor) is what it checks
    for bad in ('tensor(', 'grad_fn=', 'Parameter containing'):
        if bad in out and not (prints_tensors and bad != 'Parameter containing'):
            raise ValueError('prints a tensor directly (%r in the output): print .item(), '
                             '.tolist() or an f-string instead' % bad)
    return out


def main(argv):
    if len(argv) == 3 and argv[0] == '--exec':
        exec_case(argv[1], int(argv[2]))
        return 0
    check = '--check' in argv
    show = '--show' in argv
    names = [a[:-3] if a.endswith('.py') else a for a in argv if not a.startswith('--')]
    names = [os.path.basename(n) for n in names]
    every = sorted(f[:-3] for f in os.listdir(CASES) if f.endswith('.py'))
    if not names:
        names = every
    missing = [n for n in names if n not in every]
    if missing:
        print('no such case: %s' % ', '.join(missing))
        return 2
    def attempt(name):
        try:
            return expected_output(name), None
        except (ValueError, subprocess.TimeoutExpired) as e:
            return None, e

    # each case is two child processes (torch's import dominates): run them side by side
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 4) as pool:
        results = list(pool.map(attempt, names))
    bad = 0
    for name, (out, error) in zip(names, results):
        if error is not None:
            print('REFUSED %s: %s' % (name, error))
            bad += 1
            continue
        out_path = os.path.join(CASES, name + '.out')
        if show:
            sys.stdout.write(out)
            continue
        if check:
            old = open(out_path).read() if os.path.exists(out_path) else None
            if old != out:
                print('STALE %s.out' % name)
                bad += 1
            continue
        with open(out_path, 'w') as f:
            f.write(out)
    stale = sorted(f[:-4] for f in os.listdir(CASES) if f.endswith('.out') and f[:-4] not in every)
    for s in stale:
        print('ORPHAN %s.out (no %s.py)' % (s, s))
        bad += 1
    if not show:
        print('gen: %d cases, %d refused or stale' % (len(names), bad))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
