#!/usr/bin/env python3
"""Must-show 2 of issue 17: an exported program trained with DistributedDataParallel on 2 CPU
processes (gloo) reaches the same loss as one process on the same global batch.

Each program (the MLP of tests/bench/mlp.bs, two small ones whose rows do not divide evenly, one a
mean and one a sum over the rows, a module with an Embedding, a ModuleList, a LayerNorm and a
Sequential, a GPT block over a batch of 3 sequences, and any assets/*gpt* script present) is
exported with `:export`, compiled with `python3 -m py_compile`, must say that it splits the batch
(a mean or a sum over its rows), and is trained 50 steps in float64 twice: by one process, and by
two processes started by hand with the variables torchrun sets (MASTER_ADDR, MASTER_PORT on a
free port, RANK, WORLD_SIZE, LOCAL_RANK; Debian's torchrun of torch 1.13 crashes in its launcher).
Every one of the 50 losses must agree to 1e-12, and each rank must have been given only its rows
of the batch (Model.forward is wrapped to record the rows it sees). The Model's state_dict() keys
must be the session's model.named_parameters(), and the MLP's Model(H=64) must build and run.
Programs whose rows mix across the batch (a GPT block over one sequence, one whose attention runs
over the batch's positions flattened into one sequence, centring by the batch's mean, a matmul
contracting over the rows, a cross_entropy with ignored targets) must say that every rank
computes all of it, and are trained the same way.
Prints the line count of each exported file. Exit 77 without /usr/bin/python3 with torch.
Usage: test_export_ddp.py BACKSTEP"""
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

exe = os.path.abspath(sys.argv[1])
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = os.environ.get("BACKSTEP_PYTHON", "/usr/bin/python3")
if subprocess.run([PY, "-c", "import torch, torch.distributed"], capture_output=True).returncode:
    print("SKIP: no python3 with torch (Debian: python3-torch)")
    sys.exit(77)
STEPS, TOL, TIMEOUT = 50, 1e-12, 120

# runs the exported program with Model.forward wrapped to print the rows of each batch argument
DRIVER = r"""
import importlib.util, sys
path = sys.argv[1]
spec = importlib.util.spec_from_file_location("exported", path)
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
forward, seen = m.Model.forward, []
def wrapped(self, *a):
    if not seen:
        seen.append([len(t) for t in a])
    return forward(self, *a)
m.Model.forward = wrapped
sys.argv = [path] + sys.argv[2:]
m.main()
print("rows seen", seen[0] if seen else None, flush=True)
"""

UNEVEN_MEAN = """import torch
seed(1)
x = randn(7, 3)
t = randn(7, 2)
W = param(randn(3, 2) * 0.5)
b = param(zeros(2))
opt = torch.optim.Adam([W, b], lr=0.05)
L = mse(tanh(x @ W + b), t)
"""

UNEVEN_SUM = """import torch
seed(2)
x = randn(7, 3)
t = randn(7, 1)
W = param(randn(3, 1) * 0.5)
c = param(0.1)
opt = torch.optim.SGD([W, c], lr=0.01, momentum=0.9)
L = ((sigmoid(x @ W) * c - t) ** 2).sum() / 7
"""


MODULES = """import torch
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(5, 4)
        self.blocks = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])
        self.ln = nn.LayerNorm(4)
        self.head = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 3))
    def forward(self, idx):
        h = self.emb(idx)
        for b in self.blocks:
            h = h + torch.relu(b(h))
        return self.head(self.ln(h))
torch.manual_seed(0)
model = Net()
idx = torch.tensor([0, 3, 1, 4, 2, 2])
y = torch.tensor([0, 1, 2, 1, 0, 2])
loss = nn.functional.cross_entropy(model(idx), y)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
print("KEYS", [n for n, p in model.named_parameters()])
"""

# the GPT blocks' layers (BLOCK_INIT in their sessions)
BLOCK_INIT = """class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, C)
        self.ln1 = nn.LayerNorm(C)
        self.q = nn.Linear(C, C)
        self.k = nn.Linear(C, C)
        self.v = nn.Linear(C, C)
        self.ln2 = nn.LayerNorm(C)
        self.mlp = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(), nn.Linear(4 * C, C))
        self.head = nn.Linear(C, V)
"""

# a GPT block on a batch of N sequences of T tokens (nanoGPT's): the (N, T) tokens are flattened
# to N*T positions for the embedding and the cross-entropy, and the attention mixes positions only
# within a sequence (softmax over T, the causal mask, q @ k batched over the sequences, a tril of
# the scores, a (T, T) running average @ x). N = 3 rows do not divide evenly over 2 ranks.
# ATTEND is the attention's own line; GPT_MIXED puts the batch's N*T positions in one sequence.
GPT_BATCH = """import torch
import torch.nn as nn
import torch.nn.functional as F
torch.manual_seed(0)
N, T, C, V = 3, 4, 8, 11
BLOCK_INIT        self.pos = nn.Embedding(T, C)
    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(T))
        h = self.ln1(x)
ATTEND
        wei = torch.tril(torch.ones(T, T)) / torch.arange(1, T + 1).reshape(T, 1)
        x = x + wei @ x
        x = x + self.mlp(self.ln2(x))
        return self.head(x)
model = Block()
idx = torch.randint(0, V, (N, T))
targets = torch.randint(0, V, (N, T))
logits = model(idx)
loss = F.cross_entropy(logits.view(N * T, V), targets.view(N * T))
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
print("KEYS", [n for n, p in model.named_parameters()])
"""
GPT_BATCH, GPT_MIXED = (GPT_BATCH.replace("BLOCK_INIT", BLOCK_INIT).replace("ATTEND\n", att) for att in (
    """        att = self.q(h) @ self.k(h).transpose(-2, -1) / C ** 0.5
        att = torch.softmax(att.masked_fill(torch.tril(torch.ones(T, T)) == 0, float('-inf')), dim=-1)
        x = x + torch.tril(att) @ self.v(h)
""",
    """        h = h.view(N * T, C)
        att = self.q(h) @ self.k(h).T / C ** 0.5
        att = torch.softmax(att.masked_fill(torch.tril(torch.ones(N * T, N * T)) == 0, float('-inf')), dim=-1)
        x = x + (att @ self.v(h)).view(N, T, C)
"""))

# a GPT block on one sequence: its rows are positions, and causal attention mixes them
GPT_ONE_SEQUENCE = """import torch
import torch.nn as nn
torch.manual_seed(0)
T, C, V = 4, 8, 11
BLOCK_INIT    def forward(self, idx):
        x = self.tok(idx)
        h = self.ln1(x)
        att = self.q(h) @ self.k(h).T / C ** 0.5
        mask = torch.tensor([[0.0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]]) > 0
        att = torch.softmax(att.masked_fill(mask, float('-inf')), dim=-1)
        x = x + att @ self.v(h)
        x = x + self.mlp(self.ln2(x))
        return self.head(x)
model = Block()
idx = torch.tensor([1, 5, 2, 9])
targets = torch.tensor([5, 2, 9, 3])
loss = nn.functional.cross_entropy(model(idx), targets)
print("KEYS", [n for n, p in model.named_parameters()])
""".replace("BLOCK_INIT", BLOCK_INIT)

# rows mixed across the batch: centred by the batch's mean (a mean over dim 0 feeding an op)
MIXED_MEAN = """seed(3)
x = randn(6, 3)
t = randn(6, 2)
W = param(randn(3, 2) * 0.5)
h = tanh(x @ W)
L = mse(h - h.mean(0), t)
"""

# rows mixed across the batch: a matmul contracting over them
MIXED_MATMUL = """seed(4)
x = randn(6, 3)
t = randn(4, 2)
W = param(randn(3, 2) * 0.5)
A = param(randn(4, 6) * 0.3)
L = mse(A @ tanh(x @ W), t)
"""

# cross_entropy ignores the targets -100: its mean is over the other rows, not a mean over rows
IGNORED_TARGETS = """import torch
import torch.nn.functional as F
torch.manual_seed(5)
x = torch.randn(6, 3)
y = torch.tensor([0, 2, -100, 1, -100, -100])
W = torch.randn(3, 3, requires_grad=True)
loss = F.cross_entropy(torch.tanh(x @ W), y)
optimizer = torch.optim.SGD([W], lr=0.5)
"""

# loads the exported program and prints its Model's state_dict() keys and Model()'s size arguments;
# with "H=64": builds Model(H=64) and prints the loss of the global batch and the params' shapes
PROBE = r"""
import importlib.util, inspect, sys
spec = importlib.util.spec_from_file_location("exported", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
print("KEYS", list(m.Model().state_dict()))
print("SIZES", {k: v.default for k, v in inspect.signature(m.Model.__init__).parameters.items() if k != "self"})
if len(sys.argv) > 2:
    k, v = sys.argv[2].split("=")
    model = m.Model(**{k: int(v)}).double()
    print("LOSS", model(*m.batch()).item())
    print("SHAPES", {n: list(p.shape) for n, p in model.named_parameters()})
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def losses(text):
    return [float(v) for v in re.findall(r"^step \d+ loss (\S+)$", text, re.M)]


def run_ranks(driver, prog, world):
    """starts `world` ranks; returns [(rc, stdout+stderr)] per rank"""
    port = free_port()
    procs = []
    for r in range(world):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(r),
                   WORLD_SIZE=str(world), LOCAL_RANK=str(r), OMP_NUM_THREADS="1")
        args = [RUN, driver, prog, "--steps", str(STEPS), "--dtype", "float64", "--exact"]
        procs.append(subprocess.Popen(args + (["--ddp"] if world > 1 else []), env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    out = []
    for p in procs:
        try:
            o, _ = p.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            o, _ = p.communicate()
            o = "timed out after %d s\n%s" % (TIMEOUT, o)
        out.append((p.returncode, o))
    return out


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_server  # noqa: E402  (torch imported once; every rank and probe is a fresh fork)

tmp = tempfile.mkdtemp(prefix="bs-export-ddp-")
server, server_env = torch_server.start(PY, tmp)
RUN = server_env["BACKSTEP_PYTHON"]  # runs a program as `PY program ...` would
os.environ["BS_TORCH_SERVER"] = server_env["BS_TORCH_SERVER"]
fails, report = [], []
try:
    driver = os.path.join(tmp, "driver.py")
    with open(driver, "w") as f:
        f.write(DRIVER)
    probe = os.path.join(tmp, "probe.py")
    with open(probe, "w") as f:
        f.write(PROBE)
    # (name, session, how the loss reduces over the rows: "mean", "sum" or None: not split)
    cases = [("mlp", open(os.path.join(ROOT, "tests/bench/mlp.bs")).read(), "mean"),
             ("uneven_mean", UNEVEN_MEAN, "mean"), ("uneven_sum", UNEVEN_SUM, "sum"),
             ("modules", MODULES, "mean"), ("gpt_batch", GPT_BATCH, "mean"),
             ("gpt_one_sequence", GPT_ONE_SEQUENCE, None), ("gpt_mixed", GPT_MIXED, None),
             ("mixed_mean", MIXED_MEAN, None), ("mixed_matmul", MIXED_MATMUL, None),
             ("ignored_targets", IGNORED_TARGETS, None)]
    for path in sorted(glob.glob(os.path.join(ROOT, "assets", "*gpt*"))):
        if path.endswith((".bs", ".py")):
            cases.append((os.path.splitext(os.path.basename(path))[0], open(path).read(), "mean"))
    for name, src, reduce in cases:
        prog = os.path.join(tmp, name + ".py")
        script = os.path.join(tmp, name + "_session" + (".py" if "import torch" in src else ".bs"))
        with open(script, "w") as f:
            f.write(src + ("" if src.endswith("\n") else "\n") + ":export %s\n" % prog)
        p = subprocess.run([exe, "--no-window", script], capture_output=True, text=True,
                           timeout=TIMEOUT, cwd=tmp)
        if p.returncode or not os.path.exists(prog):
            fails.append("%s: the export failed: %s" % (name, p.stderr.strip()[-300:]))
            continue
        c = subprocess.run([PY, "-m", "py_compile", prog], capture_output=True, text=True)
        if c.returncode:
            fails.append("%s: py_compile: %s" % (name, c.stderr.strip()[-300:]))
        text = open(prog).read()
        # state_dict() keys are the session's named_parameters(); the sizes are Model()'s arguments
        q = subprocess.run([RUN, probe, prog] + (["H=64"] if name == "mlp" else []), capture_output=True,
                           text=True, timeout=TIMEOUT)
        got = dict(re.findall(r"^(KEYS|SIZES|LOSS|SHAPES) (.*)$", q.stdout, re.M))
        session_keys = re.search(r"^KEYS (.*)$", p.stdout, re.M)
        if q.returncode or "KEYS" not in got:
            fails.append("%s: loading the program: %s" % (name, q.stderr.strip()[-300:]))
        elif session_keys and eval(got["KEYS"]) != eval(session_keys.group(1)):
            fails.append("%s: state_dict() keys %s, the session's named_parameters() %s"
                         % (name, got["KEYS"], session_keys.group(1)))
        if name == "modules" and not session_keys:
            fails.append("modules: the session printed no named_parameters()")
        if name == "mlp" and "SHAPES" in got:
            sizes, shapes = eval(got["SIZES"]), eval(got["SHAPES"])
            if sizes != {"D": 16, "H": 32, "C": 10}:
                fails.append("mlp: Model() takes %s, not the session's D=16, H=32, C=10" % sizes)
            if shapes.get("W2") != [64, 64] or shapes.get("W1") != [16, 64] or not 0 < float(got["LOSS"]) < 100:
                fails.append("mlp: Model(H=64) has %s and loss %s" % (shapes, got.get("LOSS")))
        m = re.search(r"its share of the batch's (\d+) rows", text)
        rows = int(m.group(1)) if m else 0
        said = re.search(r"# (the loss is not a mean or a sum over rows of a batch|"
                         r"rank r trains on its rows of the global batch\. The loss is a (mean|sum) over the rows)",
                         text)
        if reduce and not (rows and said and said.group(2) == reduce):
            fails.append("%s: the exported program does not split the batch across ranks as a %s over "
                         "the rows (it says: %s)" % (name, reduce, said.group(1) if said else "nothing"))
        if not reduce and (rows or not said or said.group(2)):
            fails.append("%s: the rows are mixed across the batch, but the exported program splits it (it "
                         "says: %s)" % (name, said.group(1) if said else "nothing"))
        one = run_ranks(driver, prog, 1)
        two = run_ranks(driver, prog, 2)
        retried = ""
        if any(rc for rc, o in two):  # once more, on another port; said in the report
            retried = " (2 processes: once more after rc %s)" % [rc for rc, o in two]
            two = run_ranks(driver, prog, 2)
        bad = [o for rc, o in one + two if rc]
        if bad:
            fails.append("%s: a process failed (rc %s): %s" % (name, [rc for rc, o in one + two],
                                                            bad[0].strip()[-1200:]))
            continue
        a, b = losses(one[0][1]), losses(two[0][1])
        if len(a) != STEPS or len(b) != STEPS:
            fails.append("%s: %d and %d losses printed, not %d" % (name, len(a), len(b), STEPS))
            continue
        diff = max(abs(u - v) / max(1.0, abs(u)) for u, v in zip(a, b))
        if not diff <= TOL:
            fails.append("%s: 1 process and 2 differ by %.3g (final %r, %r)" % (name, diff, a[-1], b[-1]))
        if a[-1] == a[0]:
            fails.append("%s: the loss did not change in %d steps" % (name, STEPS))
        seen = [re.search(r"rows seen (.*)", o).group(1) for rc, o in two]
        if rows:
            want = [str([(r + 1) * rows // 2 - r * rows // 2] * len(eval(seen[r]))) for r in range(2)]
            if seen != want:
                fails.append("%s: the ranks saw rows %s of the batch, not %s" % (name, seen, want))
        report.append("%s: %d lines, %d state_dict keys%s, batch %s, loss %.10g -> %.10g in %d steps, 1 vs 2 processes "
                      "differ by %.3g" % (name, text.count("\n"), len(eval(got.get("KEYS", "[]"))),
                                          " (the session's named_parameters())" if session_keys else "", rows or "not split", a[0], a[-1],
                                          STEPS, diff) + retried)
finally:
    server.kill()
    server.wait()
    shutil.rmtree(tmp, ignore_errors=True)
print("export_ddp:\n  " + "\n  ".join(report))
if fails:
    print("FAIL:\n  " + "\n  ".join(fails))
    sys.exit(1)
