#!/usr/bin/python3
"""tests/core/gen_index_fixtures.py: PyTorch's numbers for the indexing ops (select, slice,
index_select, where, masked_fill) and gelu(approximate='tanh') on one graph, what each backward
node keeps (grad_fn._saved_*), and which saved tensors share their input's storage (views),
printed as the C that tests/core/test_index.c holds.

Run with Debian's python3-torch (/usr/bin/python3, torch 1.13) and paste the output into
tests/core/test_index.c; float64 throughout. backstep has no bool tensors: the masks below are
bool here and 0/1 doubles there."""
import torch
import torch.nn.functional as F

X = [[0.5, -1.25, 2.0, 0.75], [1.5, 0.25, -0.5, -2.0], [-0.75, 1.0, 3.0, 0.125]]
B = [0.3, -0.6, 0.9, 1.2]
V = 0.7
M = [[1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 0]]
M2 = [1, 0, 0, 1]
IDX = [2, 0, 2, -1]


def weights(n):
    """the weights each term is summed with: test_index.c computes the same"""
    return torch.tensor([((k % 5) - 2) * 0.5 + 0.25 for k in range(n)], dtype=torch.float64)


def c_array(name, vals):
    return "static const double %s[] = {%s};" % (name, ", ".join(repr(float(v)) for v in vals))


x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
b = torch.tensor(B, dtype=torch.float64, requires_grad=True)
v = torch.tensor(V, dtype=torch.float64, requires_grad=True)
m = torch.tensor(M, dtype=torch.bool)
m2 = torch.tensor(M2, dtype=torch.bool)
idx = torch.tensor(IDX)

terms = [
    ("select0", x[1]),
    ("select1", x[:, -1]),
    ("slice1", x[:, 1:3]),
    ("slice0", x[::2]),
    ("slice_clamped", x[:, -10:10:3]),
    ("index_select", x[:, idx]),
    ("where", torch.where(m, x, b)),
    ("masked_fill", x.masked_fill(m2, v)),
    ("gelu_tanh", F.gelu(x, approximate="tanh")),
]
L = sum((t * weights(t.numel()).reshape(t.shape)).sum() for _, t in terms)
L.backward(retain_graph=True)

print(c_array("fx_x", sum(X, [])))
print(c_array("fx_b", B))
print("static const double fx_L = %r;" % L.item())
print(c_array("fx_dx", x.grad.flatten().tolist()))
print(c_array("fx_db", b.grad.tolist()))
print("static const double fx_dv = %r;" % v.grad.item())
for name, t in terms:
    print(c_array("fx_" + name, t.detach().flatten().tolist()))

# what each backward node keeps: the tensor-valued _saved_ attributes, in dir() order. x[:, idx]
# is IndexBackward0 (it keeps the indices as a list); torch.index_select, the op backstep has,
# is IndexSelectBackward0
saved_of = dict(terms)
saved_of["index_select"] = x.index_select(1, idx % 4)
# x.masked_fill(m2, 0.7), a number for the value, is MaskedFillBackward0, the name backstep's table
# gives masked_fill; with the tensor v torch says MaskedFillBackward1 (it keeps the same)
saved_of["masked_fill_number"] = x.masked_fill(m2, V)
print("static const char *const fx_saved[][3] = {")
for name in [t[0] for t in terms] + ["masked_fill_number"]:
    g = saved_of[name].grad_fn
    keep = [a[len("_saved_"):] for a in dir(g) if a.startswith("_saved_")
            and isinstance(getattr(g, a), torch.Tensor)]
    print('    {"%s", "%s", "%s"},' % (name, " ".join(keep), g.name()))
print("};")


# which saved tensors are views of x's storage: y * y saves y (MulBackward0's self)
def shares(y):
    s = (y * y).grad_fn._saved_self
    return s.storage().data_ptr() == x.storage().data_ptr()


views = [
    ("x[:, 1:3]", x[:, 1:3]),
    ("x[:, 1:3].reshape(-1)", x[:, 1:3].reshape(-1)),
    ("x[1].reshape(2, 2)", x[1].reshape(2, 2)),
    ("x[:, 1].reshape(3)", x[:, 1].reshape(3)),
    ("x[:, 1].reshape(3, 1)", x[:, 1].reshape(3, 1)),
    ("x[0:2].reshape(-1)", x[0:2].reshape(-1)),
    ("x[::2].reshape(-1)", x[::2].reshape(-1)),
    ("x.T[1:3].reshape(-1)", x.T[1:3].reshape(-1)),
]
print("static const struct { const char *what; bool view; } fx_views[] = {")
for what, y in views:
    print('    {"%s", %s},' % (what, "true" if shares(y) else "false"))
print("};")
