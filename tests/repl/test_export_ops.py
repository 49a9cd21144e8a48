#!/usr/bin/env python3
"""Every op of core/ops.def has an export: for each op of the table (read from core/ops.def, as
test_formulas.py's op_coverage reads it), a program that uses it is exported with
`:export op.py --check`; the exported PyTorch program's loss and grads, run under python3-torch in
float64, must equal backstep's to 1e-12. An op added to the table without a program here fails
("no program"), and one without a PyTorch spelling in repl/export_py.c fails at the export.
Exit 77 without /usr/bin/python3 with torch.
Usage: test_export_ops.py BACKSTEP"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

exe = os.path.abspath(sys.argv[1])
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = os.environ.get("BACKSTEP_PYTHON", "/usr/bin/python3")
if subprocess.run([PY, "-c", "import torch"], capture_output=True).returncode:
    print("SKIP: no python3 with torch (Debian: python3-torch)")
    sys.exit(77)

PRELUDE = """import torch
seed(3)
X = param(randn(4, 3))
P = param(rand(4, 3) + 0.5)
W = param(randn(3, 2))
y = rand(4, 3)
labels = tensor([0, 2, 1, 0])
"""

# op name (core/ops.def's function name) -> a loss that uses it
OP_PROGRAMS = {
    "add": "L = sum((X + y) * X)",
    "sub": "L = sum((X - y) * X)",
    "mul": "L = sum(X * y * X)",
    "div": "L = sum(X / (y + 1) + y / P)",
    "pow": "L = sum(X ** 2 + P ** y + P ** 0.5)",
    "neg": "L = sum(-X * y)",
    "relu": "L = sum(relu(X) * y)",
    "leaky_relu": "L = sum(leaky_relu(X, 0.1) * y)",
    "sigmoid": "L = sum(sigmoid(X) * y)",
    "tanh": "L = sum(tanh(X) * y)",
    "exp": "L = sum(exp(X) * y)",
    "log": "L = sum(log(P) * y)",
    "sqrt": "L = sum(sqrt(P) * y)",
    "abs": "L = sum(abs(X) * y)",
    "sin": "L = sum(sin(X) * y)",
    "cos": "L = sum(cos(X) * y)",
    "erf": "L = sum(erf(X) * y)",
    "gelu": "L = sum(gelu(X) * y + gelu(X, approximate='tanh'))",
    "silu": "L = sum(silu(X) * y)",
    "softplus": "L = sum(softplus(X) * y)",
    "clamp": "L = sum(clamp(X, min=-0.4, max=0.6) * y + clamp(X, max=0.1) + clamp(X, -1))",
    "matmul": "L = sum((X @ W) ** 2)",
    "transpose": "L = sum((X.T @ y) ** 2)",
    "reshape": "L = sum(reshape(X, 2, 6) ** 2 * reshape(y, 2, 6))",
    "sum": "L = sum(sum(X * y, dim=0) ** 2) + sum(sum(X, dim=1, keepdim=True) * y)",
    "mean": "L = mean(mean(X * y, dim=1) ** 2) + mean(X ** 2)",
    "max": "L = sum(max(X * y, dim=1)) + max(X)",
    "softmax": "L = sum(softmax(X, dim=-1) * y + softmax(X, dim=0) * y)",
    "log_softmax": "L = sum(log_softmax(X, dim=1) * y)",
    "layernorm": "L = sum(layernorm(X) * y)",
    "mse": "L = mse(X, y) + mse(X, 0.5)",
    "bce": "L = bce(sigmoid(X), y)",
    "bce_with_logits": "L = bce_with_logits(X, y)",
    "cross_entropy": "L = cross_entropy(X, labels)",
    "select": "L = sum(X[1] * y[0]) + sum(X[:, 2] * y[:, 0])",
    "slice": "L = sum(X[:, 1:3] * y[:, 0:2]) + sum(X[1:3] ** 2) + sum(X[::2] * y[::2])",
    "index_select": "L = sum(X[tensor([0, 2])] * y[tensor([1, 3])]) + sum(X[tensor(1)] ** 2)",
    "where": "L = sum(where(X > 0, X * y, X * 2))",
    "masked_fill": "L = sum(X.masked_fill(y > 0.5, 0.25) * X)",
    "cat": "L = sum(torch.cat([X, X * y], dim=0) ** 2) + sum(torch.cat([X, y], dim=1) * 3)",
    "permute": "L = sum(X.reshape(2, 2, 3).permute(2, 0, 1) ** 2 * y.reshape(3, 2, 2)) + sum(X.transpose(0, 1) * y.T)",
    "tril": "L = sum(torch.tril(X @ X.T) * 2) + sum(torch.tril(X, diagonal=-1) * y)",
    "triu": "L = sum(torch.triu(X @ X.T) ** 2) + sum(torch.triu(X, diagonal=1) * y)",
}

with open(os.path.join(ROOT, "core", "ops.def")) as f:
    ops = re.findall(r"^BS_OP\(\w+,\s*(\w+),", f.read(), re.M)
fails = ["op %s has no program in test_export_ops.py's OP_PROGRAMS" % o for o in ops if o not in OP_PROGRAMS]
checked = 0
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_server  # noqa: E402  (torch imported once for all the programs)

tmp = tempfile.mkdtemp(prefix="bs-export-ops-")
server, server_env = torch_server.start(PY, tmp)
try:
    for op in ops:
        if op not in OP_PROGRAMS:
            continue
        path = os.path.join(tmp, op + ".bs")
        with open(path, "w") as f:
            f.write(PRELUDE + OP_PROGRAMS[op] + "\n:export %s/%s.py --check\n" % (tmp, op))
        p = subprocess.run([exe, "--no-window", path], capture_output=True, text=True, timeout=120,
                           cwd=tmp, env=dict(os.environ, **server_env))
        m = re.search(r"difference (\S+); grads of (\d+) params, largest difference (\S+)", p.stdout)
        if not m:
            fails.append("%s: %s" % (op, (p.stderr or p.stdout).strip()[-300:]))
        elif not (float(m.group(1)) <= 1e-12 and float(m.group(3)) <= 1e-12):
            fails.append("%s: %s" % (op, m.group(0)))
        else:
            checked += 1
finally:
    server.kill()
    server.wait()
    shutil.rmtree(tmp, ignore_errors=True)
print("export_ops: %d of the %d ops of core/ops.def exported and checked to 1e-12" % (checked, len(ops)))
if fails:
    print("FAIL:\n  " + "\n  ".join(fails))
    sys.exit(1)
