#!/usr/bin/python3
"""tests/ops/gen_ew_fixtures.py: PyTorch's numbers for the elementwise ops added through
core/ew_math.h (erf, gelu, silu, softplus, clamp), printed as the C arrays test_ops.c holds.

Run with Debian's python3-torch (/usr/bin/python3, torch 1.13) and paste the output into
tests/ops/test_ops.c; float64 throughout, output and x.grad for the upstream g below."""
import torch
import torch.nn.functional as F

X = [-2.5, -0.7, 0.0, 0.5, 2.5, 21.0]
G = [1.0, 2.0, 3.0, -1.0, 0.5, 1.5]

CASES = [
    ("erf", torch.erf),
    ("gelu", F.gelu),
    ("silu", F.silu),
    ("softplus", F.softplus),
    ("clamp", lambda t: torch.clamp(t, min=-0.5, max=0.5)),
    ("clamp_min", lambda t: torch.clamp(t, min=-0.5)),
    ("clamp_max", lambda t: torch.clamp(t, max=0.5)),
    ("clamp_crossed", lambda t: torch.clamp(t, min=1.0, max=-1.0)),
]


def c_array(name, vals):
    return "static const double %s[] = {%s};" % (name, ", ".join(repr(float(v)) for v in vals))


print(c_array("fx_ew_x", X))
print(c_array("fx_ew_g", G))
for name, f in CASES:
    x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    y = f(x)
    y.backward(torch.tensor(G, dtype=torch.float64))
    print(c_array("fx_" + name, y.detach().tolist()))
    print(c_array("fx_" + name + "_dx", x.grad.tolist()))
