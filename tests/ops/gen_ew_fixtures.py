#!/usr/bin/python3
"""tests/ops/gen_ew_fixtures.py: PyTorch's numbers for the elementwise ops added through
core/ew_math.h (erf, gelu in both forms, silu, softplus, clamp), printed as the C arrays test_ops.c
holds. Six elements: torch's CPU kernels take their scalar loop (the vector loop starts at eight
doubles), whose gelu test_ops.c matches to the bit.

Run with Debian's python3-torch (/usr/bin/python3, torch 1.13) and paste the output into
tests/ops/test_ops.c; float64 throughout, output and x.grad for the upstream g below."""
import torch
import torch.nn.functional as F

X = [-2.5, -0.7, 0.0, 0.5, 2.5, 21.0]
G = [1.0, 2.0, 3.0, -1.0, 0.5, 1.5]

CASES = [
    ("erf", torch.erf),
    ("gelu", F.gelu),
    ("gelu_tanh", lambda t: F.gelu(t, approximate="tanh")),
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

# gelu(approximate='tanh') to the bit: 48 points, each its own one-element tensor (torch's scalar
# loop), in float64 (test_ops.c, the eager engine) and float32 (tests/run/test_backend_cpu.c, the
# CPU backend's f32 loop)
gen = torch.Generator().manual_seed(7)
XT = (torch.randn(48, generator=gen, dtype=torch.float64) * 3).tolist()
GT = torch.randn(48, generator=gen, dtype=torch.float64).tolist()
for dt, suffix in ((torch.float64, ""), (torch.float32, "_f32")):
    ys, ds = [], []
    for xv, gv in zip(XT, GT):
        x = torch.tensor([xv], dtype=dt, requires_grad=True)
        y = F.gelu(x, approximate="tanh")
        y.backward(torch.tensor([gv], dtype=dt))
        ys.append(y.item())
        ds.append(x.grad.item())
    if dt == torch.float64:
        print(c_array("fx_gelu48_x", XT))
        print(c_array("fx_gelu48_g", GT))
    print(c_array("fx_gelu48_y" + suffix, ys))
    print(c_array("fx_gelu48_dx" + suffix, ds))
