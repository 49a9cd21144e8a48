#!/usr/bin/python3
"""Developer tool: writes tests/repl/mem_fixtures.txt, what PyTorch keeps for backward in each
graph below, for test_mem.py to compare with backstep's :mem.
Run with Debian's python3-torch: /usr/bin/python3 tests/repl/gen_mem_fixtures.py

Each graph is a backstep program. It runs here on torch through the few definitions in PRELUDE
(backstep's names for torch's functions), then every grad_fn reachable from the program's tensors
is walked and its _saved_* attributes unpacked (_saved_self, _saved_other, _saved_result,
_saved_mat2, _saved_indices, ...). A saved tensor is one storage: the same tensor kept by two
nodes or twice by one node (x * x), a leaf, an output of the graph, or a view of any of these
(x.T, reshape) count once, at the storage's size. A node freed by backward() raises when its saved
tensors are read: it keeps nothing.

Fixture lines (one graph per block):
  graph NAME            the block's name
  dtype f64|f32         the dtype of new leaves (:dtype)
  line STATEMENT        the program, in order
  after K B N           after line K (from 1): bytes and count of the distinct tensors kept by
                        every node of the graph so far
  node NAME GRAD_FN B   a node the program named: the bytes its grad_fn keeps (each tensor once)
  total B N             as `after` for the whole program
  released B            (graphs ending in backward()) what the freed nodes had kept before it
  end"""
import re
import os
import sys

import torch
import torch.nn.functional as F

PRELUDE = {
    "torch": torch,
}


def _leaf(t, requires_grad=False):
    return t.requires_grad_() if requires_grad else t


def _defs():
    d = {}
    for name in ("randn", "rand", "zeros", "ones"):
        fn = getattr(torch, name)
        d[name] = (lambda fn: lambda *s, requires_grad=False: _leaf(fn(*s), requires_grad))(fn)
    d["tensor"] = lambda v, requires_grad=False: torch.tensor(v, requires_grad=requires_grad)
    d["param"] = lambda v: (v.detach().clone() if isinstance(v, torch.Tensor)
                            else torch.tensor(v)).requires_grad_()
    for name in ("relu", "sigmoid", "tanh", "exp", "log", "sqrt", "abs", "sin", "cos"):
        d[name] = getattr(torch, name)
    d["leaky_relu"] = lambda x, slope=0.01: F.leaky_relu(x, slope)
    for name in ("gelu", "silu", "softplus"):
        d[name] = getattr(F, name)
    d["erf"] = torch.erf
    d["clamp"] = lambda x, min=None, max=None: torch.clamp(x, min, max)
    d["mse"] = F.mse_loss
    d["bce"] = F.binary_cross_entropy
    d["bce_with_logits"] = F.binary_cross_entropy_with_logits
    d["cross_entropy"] = F.cross_entropy
    d["softmax"] = lambda x, dim=-1: torch.softmax(x, dim)
    d["log_softmax"] = lambda x, dim=-1: torch.log_softmax(x, dim)
    d["layernorm"] = lambda x, eps=1e-5: F.layer_norm(x, x.shape[-1:], eps=eps)
    d["reshape"] = lambda x, *s: x.reshape(*s)
    d["max"] = lambda x, dim=None, keepdim=False: (
        x.max() if dim is None else x.max(dim=dim, keepdim=keepdim).values)
    d["mean"] = lambda x, dim=None, keepdim=False: (
        x.mean() if dim is None else x.mean(dim=dim, keepdim=keepdim))
    d["sum"] = lambda x, dim=None, keepdim=False: (
        x.sum() if dim is None else x.sum(dim=dim, keepdim=keepdim))
    return d


MLP = [
    "X = randn(4, 3)",
    "W1 = param(randn(3, 5))",
    "b1 = param(zeros(5))",
    "W2 = param(randn(5, 2))",
    "Y = randn(4, 2)",
    "h = relu(X @ W1 + b1)",
    "out = h @ W2",
    "L = mse(out, Y)",
]
LOSSES = [
    "z = param(randn(4, 3))",
    "t = tensor([0, 2, 1, 1])",
    "ce = cross_entropy(z, t)",
    "p = sigmoid(z)",
    "y01 = rand(4, 3)",
    "b = bce(p, y01)",
    "bl = bce_with_logits(z, y01)",
    "L = ce + b + bl",
]

GRAPHS = [
    # one tensor kept twice by one node
    ("square", "f64", ["x = param([1.0, 2.0])", "y = x * x"]),
    # X needs no grad: X @ W1 keeps X alone; h is kept by relu and by h @ W2
    ("mlp", "f64", MLP),
    ("mlp_f32", "f32", MLP),
    # ops that keep their result; the product keeps those same results
    ("results", "f64", ["x = param(randn(3, 4))", "s = sigmoid(x)", "th = tanh(x)", "e = exp(x)",
                        "sq = sqrt(e)", "y = s * th", "z = y + sq", "L = sum(z)"]),
    ("losses", "f64", LOSSES),
    # the ops added through core/ew_math.h: each keeps its input (clamp's bounds are Scalars)
    ("activations", "f64", ["x = param(randn(3, 4))", "g1 = gelu(x)", "s1 = silu(x)",
                            "sp = softplus(x)", "c1 = clamp(x, min=-0.5)", "c2 = clamp(x, -0.5, 0.5)",
                            "e1 = erf(x)", "L = sum(g1 + s1 + sp + c1 + c2 + e1)"]),
    ("losses_f32", "f32", LOSSES),
    # softmax / log_softmax keep results, layernorm its input and per-row mean and rstd
    ("rows", "f64", ["z = param(randn(4, 3))", "s = softmax(z, dim=1)", "ls = log_softmax(z, dim=-1)",
                     "n = layernorm(z)", "L = sum(s * ls) + sum(n)"]),
    # h kept by tanh (result), by h * h (twice) and by h @ a; a by h @ a and a.T * 2's view
    ("shared", "f64", ["a = param(randn(3, 3))", "h = tanh(a)", "y = h * h", "u = h @ a",
                       "v = a.T * a", "L = sum(y) + sum(u) + sum(v)"]),
    # Python numbers: a Scalar (x ** 2, x - 1) or a wrapped 0-d tensor (x * 3, 2 ** x, 3 / x)
    ("numbers", "f64", ["x = param([1.0, 2.0, 3.0])", "a = x * 3", "b = 2 * x", "c = x ** 2",
                        "d = 2 ** x", "e = 3 / x", "f = x / 4", "g = x - 1", "k = 0.5 * x",
                        "L = sum(a + b + c + d + e + f + g + k)"]),
    ("numbers_f32", "f32", ["x = param([1.0, 2.0, 3.0])", "a = x * 3", "k = x * 0.5", "c = x ** 2",
                            "d = 2.0 ** x", "L = sum(a + k + c + d)"]),
    # matmul forms: vector @ matrix, matrix @ vector, batch @ matrix, matrix @ batch, transposes
    ("matmul", "f64", ["v = param(randn(3))", "W = param(randn(3, 4))", "u = randn(4)",
                       "B = param(randn(2, 5, 3))", "C = randn(2, 4, 5)", "a1 = v @ W", "a2 = W @ u",
                       "a3 = B @ W", "a4 = W.T @ v", "a5 = W @ C",
                       "L = sum(a1) + sum(a2) + sum(a3) + sum(a4) + sum(a5)"]),
    # tensor and tensor: each operand for the other's grad
    ("tensors", "f64", ["x = param(randn(2, 3))", "c = randn(2, 3)", "q = c * x", "r = x / c",
                        "s = c / x", "w = x ** c", "L = sum(q + r + s + w)"]),
    ("reductions", "f64", ["x = param(randn(3, 4))", "m = max(x, dim=1)", "M = max(x)",
                           "k = mean(x, dim=0)", "s = sum(x, dim=1)", "n = mean(x)",
                           "L = sum(m) + M + sum(k) + sum(s) + n"]),
    # views share storage: reshape and x.T of x are x; reshape of x.T is a copy
    ("views", "f64", ["x = param(randn(3, 4))", "r = reshape(x, 4, 3)", "tt = x.T", "y = r * tt",
                      "z = reshape(tt, 12)", "w = z * z", "L = sum(y) + sum(w)"]),
    # after backward() without retain_graph the saved tensors are released; with it they stay
    ("freed", "f64", MLP + ["L.backward()"]),
    ("retained", "f64", MLP + ["L.backward(retain_graph=True)"]),
]


def saved_of(fn):
    """(tensors, freed): the tensors fn keeps for backward"""
    out = []
    for attr in dir(fn):
        if not attr.startswith("_saved_"):
            continue
        try:
            v = getattr(fn, attr)
        except RuntimeError:  # "Trying to backward through the graph a second time"
            return [], True
        for t in (v if isinstance(v, (tuple, list)) else [v]):
            if isinstance(t, torch.Tensor):
                out.append(t)
    return out, False


def key(t):
    st = t.storage()
    return (st.data_ptr(), st.nbytes())


def walk(ns):
    """every grad_fn reachable from the tensors in ns: {fn: (keys, freed)}"""
    fns, stack = {}, [v.grad_fn for v in ns.values() if isinstance(v, torch.Tensor)]
    keep = []  # hold the unpacked tensors so no storage is reused while walking
    while stack:
        fn = stack.pop()
        if fn is None or fn in fns:
            continue
        ts, freed = saved_of(fn)
        keep += ts
        fns[fn] = ({key(t) for t in ts if t.numel()}, freed)
        stack += [g for g, _ in fn.next_functions]
    return fns, keep


def size(keys):
    return sum(k[1] for k in keys)


def run(name, dtype, lines, out):
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float32 if dtype == "f32" else torch.float64)
    ns = dict(_defs())
    ends_backward = ".backward(" in lines[-1]
    out.append("graph %s" % name)
    out.append("dtype %s" % dtype)
    out += ["line %s" % ln for ln in lines]
    keep, before = [], None
    for k, ln in enumerate(lines):
        if k == len(lines) - 1:
            before = walk(ns)[0]
        exec(ln, ns)
        fns, held = walk(ns)
        keep.append(held)
        live = set().union(*[kk for kk, fr in fns.values() if not fr])
        out.append("after %d %d %d" % (k + 1, size(live), len(live)))
    after = fns
    named = {}
    for ln in lines:
        m = re.match(r"(\w+) = ", ln)
        v = ns.get(m.group(1)) if m else None
        if isinstance(v, torch.Tensor) and v.grad_fn is not None:
            named[m.group(1)] = v.grad_fn
    for var in sorted(named):
        fn = named[var]
        keys, freed = after[fn]
        out.append("node %s %s %d" % (var, type(fn).__name__, 0 if freed else size(keys)))
    live = set().union(*[k for k, fr in after.values() if not fr])
    out.append("total %d %d" % (size(live), len(live)))
    if ends_backward:
        gone = set().union(*[before[fn][0] for fn, (k, fr) in after.items() if fr])
        out.append("released %d" % size(gone))
    out.append("end")
    print("%-12s %s total %d bytes in %d tensors" % (name, dtype, size(live), len(live)))


def main():
    out = ["# What PyTorch's grad_fn._saved_* keep for each graph, for tests/repl/test_mem.py.",
           "# Generated by tests/repl/gen_mem_fixtures.py with torch %s; do not edit." % torch.__version__]
    for g in GRAPHS:
        run(*g, out)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mem_fixtures.txt")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote", path, file=sys.stderr)


if __name__ == "__main__":
    main()
