#!/usr/bin/env python3
"""Bad input gets a clear error and the session survives: regressions for what an adversarial
run found (issue "CI green on any fresh machine ..."). Each case runs the real binary in a temp
folder with files it writes there, and checks the exit status, what must appear in the output
and, where the session must go on, a value printed after the error.
Usage: test_robust.py BACKSTEP"""
import os
import shutil
import subprocess
import sys
import tempfile

CHAIN = "x = " + "+".join(["1"] * 20000)
DOTS = "x = randn(2, 2)" + ".T" * 20000
# 903 nodes, one computed value (h) shared by all: too costly for the layout
BIG = "x = param(1.0)\nh = x * 2\ny = h\n" + "y = y * h + 1\n" * 300
# the same with a leaf shared by all: the leaf is drawn again beside each use, and it lays out
SHARED_LEAF = "x = param(1.0)\ny = x\n" + "y = y * x + 1\n" * 300

# (name, files to write, args, stdin bytes, exit status, substrings that must appear, timeout)
CASES = [
    ("long chain is a syntax error", {}, ["-i"], (CHAIN + "\nprint(7)\n").encode(), 0,
     ["expression too deep", "\n7\n"]),
    ("long .T chain", {}, ["-i"], (DOTS + "\nprint(7)\n").encode(), 0,
     ["expression too deep", "\n7\n"]),
    ("999 terms still run", {}, ["-e", "x = " + "+".join(["1"] * 999), "-e", "print(x)"], b"", 0,
     ["999"]),
    ("script that loads itself", {"a.bs": ":load a.bs\n"}, ["a.bs"], b"", 1,
     ["already being loaded"]),
    ("two scripts that load each other", {"b.bs": "x = 1\n:load c.bs\n", "c.bs": ":load b.bs\n"},
     ["b.bs"], b"", 1, ["already being loaded"]),
    ("self-load at the prompt", {"a.bs": ":load a.bs\n"}, ["-i"], b":load a.bs\nprint(7)\n", 0,
     ["already being loaded", "\n7\n"]),
    (":load of a device", {}, ["-i"], b":load /dev/zero\nprint(7)\n", 0,
     ["not a regular file", "\n7\n"]),
    (":load of a directory", {}, ["-i"], b":load .\nprint(7)\n", 0, ["it is a directory", "7"]),
    (":save with extra words", {}, ["-e", ":save a b c"], b"", 1, ["usage: :save FILE"]),
    ("script that is a device", {}, ["/dev/zero"], b"", 2, ["not a regular file"]),
    ("giant empty tensor prints at once", {}, ["-e", "zeros(4294967296, 0)"], b"", 0,
     ["tensor([], size=(4294967296, 0))"]),
    ("shape product overflow", {}, ["-e", "reshape(zeros(6), 4294967296, 4294967296, -1)"], b"",
     1, ["is invalid for input of size 6"]),
    ("2**63 is not a size", {}, ["-e", "zeros(2**63)"], b"", 1, ["integer result too large"]),
    ("integer literal past 2**53", {}, ["-e", "9007199254740993"], b"", 1,
     ["integer literal too large"]),
    ("NUL byte in a script", {}, [], b"x = 1\nprint(x)\x00junk\n", 1, ["a NUL byte"]),
    ("NUL byte at the prompt", {}, ["-i"], b"print(1)\x00junk\nprint(7)\n", 0,
     ["a NUL byte", "\n7\n"]),
    ("BOM at the prompt", {}, ["-i"], b"\xef\xbb\xbfx = 7\nprint(x)\n", 0, ["7"]),
    ("unclosed bracket at end of -i input", {}, ["-i"], b"x = 1\ny = (x +\n", 1,
     ["was never closed"]),
    ("a trailing operator is an error at once, not a continuation", {}, ["-i"],
     b"a = 2\nc = a ** \nd = 3\nprint(d)\n", 0, ["expected an expression after '**'", "3"]),
    # a one-line statement that ran twice keeps its parse (eval.c, "Statements seen before"): the
    # same text failing further down must say its own line, not the first one's
    ("a statement run before says its own line", {"s.bs": "x = param(2.0)\ny = x * x\ny.backward()\n"
     "y = x * x\ny.backward()\ny = x * x\ny.backward()\n\n# c\ny.backward()\n"}, ["s.bs"], b"", 1,
     ["s.bs:10:11: error: Trying to backward"]),
    ("an operator in a statement run before says its own line", {"t.bs": "x = param(2.0)\ny = x * x\n"
     "y.backward()\nz = x.grad * 2\nz = x.grad * 2\nz = x.grad * 2\nx.grad = None\n\nz = x.grad * 2\n"},
     ["t.bs"], b"", 1, ["t.bs:9:12: error: unsupported operand type(s) for *"]),
    ("a subscript in a statement run before says its own line", {"u.bs": "x = param(2.0)\nL = [x, x * 2]\n"
     "z = sum(L[0:1]) + L[1]\nz = sum(L[0:1]) + L[1]\nz = sum(L[0:1]) + L[1]\nL = [x]\n  \n"
     "z = sum(L[0:1]) + L[1]\n"}, ["u.bs"], b"", 1, ["u.bs:8:21: error: list index out of range"]),
    ("a failed statement's backward() is undone", {}, ["-i"],
     b"a = param(2.0); L = a * 3\nx = L.backward() + 1\nprint(a.grad)\n", 0,
     ["returns nothing", "None"]),
    ("did you mean, and a method named without its call", {}, ["-i"],
     b"x = param(0.5); L = x * 2\nsigmod(x)\nL.backward\nL.gard\nL.bakward()\nxx\nzz\nprint(x.grad)\n", 0,
     ["name 'sigmod' is not defined. Did you mean: 'sigmoid'?",
      "backward is a method: call it, as in L.backward()",
      "'Tensor' object has no attribute 'gard'. Did you mean: 'grad'?",
      "a tensor has no method 'bakward'. Did you mean: 'backward'?",
      "name 'xx' is not defined. Did you mean: 'x'?", "name 'zz' is not defined\n", "None"]),
    ("x.grad = None forgets a grad; a number is refused, as torch refuses it", {}, ["-i"],
     b"x = param(2.0); L = x * x\nL.backward()\nx.grad = None\nprint(x.grad)\nx.grad = 3\nprint(7)\n", 0,
     ["None", "assigned grad expected to be a Tensor or None but got grad of type int", "7"]),
    ("model.float() converts a module made in f64; .double() and .to('cpu') pass; a failing "
     "statement takes the conversion back", {}, ["-i"],
     b"import torch\nimport torch.nn as nn\nm = nn.Linear(2, 1).double().to('cpu')\nm.float()\n"
     b"print(m.weight.dtype)\nt = (m.half(), undefined_name)\nprint(m.weight.dtype, 7)\n", 0,
     ["torch.float32", "name 'undefined_name' is not defined", "torch.float32 7"]),
    (":next past the end finishes", {}, ["-e", "a = param(2.0); L = a * a * 3", "-e", ":step L",
                                         "-e", ":next 4294967297"], b"", 0, ["finished"]),
    (":next with junk", {}, ["-e", "a = param(2.0); L = a * a * 3", "-e", ":step L", "-e",
                             ":next 10^12"], b"", 1, ["positive whole count"]),
    (":back N", {}, ["-e", "a = param(2.0); b = a * a; c = b * 3; L = c + 1", "-e", ":step L",
                     "-e", ":next 2", "-e", ":back 5"], b"", 0, ["step 1/"]),
    ("memory limit in human units", {}, ["--mem-limit", "1GiB", "-e", "zeros(100000, 100000)"],
     b"", 1, ["needs 74.5 GiB; the limit is 1 GiB"]),
    ("running total against the limit", {}, ["--mem-limit", "10MiB", "-i"],
     b"a = zeros(1000, 1000)\nb = zeros(1000, 1000)\nprint(a.shape)\n", 0,
     ["the session already holds 7.63 MiB; the limit is 10 MiB", "(1000, 1000)"]),
    ("bad --mem-limit", {}, ["--mem-limit", "lots", "-e", "1"], b"", 2, ["--mem-limit wants"]),
    ("export of a graph too costly to lay out", {"big.bs": BIG + ":export big.svg y\n"},
     ["big.bs"], b"", 1, ["the graph has 903 nodes", "write .dot"]),
    ("export of a graph with one leaf used everywhere", {"leaf.bs": SHARED_LEAF + ":export leaf.svg y\n"},
     ["leaf.bs"], b"", 0, ["wrote leaf.svg"]),
    ("ascii of a graph too large", {"big.bs": BIG * 2 + ":graph --ascii\n"}, ["big.bs"], b"", 1,
     ["more than a terminal can show"]),
    ("a theme that cannot be used says so", {}, ["-e", "1"], b"", 0,
     ["warning: BACKSTEP_THEME", "not a regular file"]),
    ("arange of 1e300 elements", {}, ["-e", "arange(1e300)"], b"", 1, ["too many"]),
]


def main():
    exe = os.path.abspath(sys.argv[1])
    passed = failed = 0
    for name, files, args, stdin, want_rc, needles in CASES:
        tmp = tempfile.mkdtemp(prefix="bs-robust-")
        try:
            for fn, text in files.items():
                with open(os.path.join(tmp, fn), "w") as f:
                    f.write(text)
            env = dict(os.environ, HOME=tmp, XDG_STATE_HOME=os.path.join(tmp, "state"))
            env.pop("DISPLAY", None)
            env.pop("BACKSTEP_MEM_LIMIT", None)
            env.pop("BACKSTEP_THEME", None)
            if name.startswith("a theme"):
                env["BACKSTEP_THEME"] = "/dev/zero"
            p = subprocess.run([exe, "--no-window"] + args, input=stdin, capture_output=True,
                               cwd=tmp, env=env, timeout=60)
            out = (p.stdout + p.stderr).decode("utf-8", "replace")
            missing = [n for n in needles if n not in out]
            if p.returncode != want_rc or missing:
                failed += 1
                print("FAIL %s: exit %d (want %d), missing %r\n%s" %
                      (name, p.returncode, want_rc, missing, out[-2000:]))
            else:
                passed += 1
        except subprocess.TimeoutExpired:
            failed += 1
            print("FAIL %s: still running after 60 s" % name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print("robust: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
