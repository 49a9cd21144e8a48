# dtype: f32
# torch's float math, element by element: exp, log, tanh, sin, cos, erf are SLEEF's in every lane
# (their kernels map whole tensors), sigmoid, silu, softplus, gelu('tanh') and pow's general exponents are
# SLEEF's in blocks of 16 and the C library's past them (cpu_kernel_vec's scalar tail), so sizes
# 5, 16, 21 and 40 cross those lines; then layer_norm's moments and backward on rows of 3 to 300.
# (gelu's exact form is left out: its kernel's erf is Vectorized<float>::erf, a polynomial of its
# own that backstep does not have.)
import torch
torch.set_default_dtype(torch.float32)

for n in [5, 16, 21, 40]:
    t = torch.arange(n * 1.0)
    x = (torch.sin(t * 1.37 + 0.2) * 2.5 + torch.cos(t * 0.113)).requires_grad_()
    p = torch.cos(t * 0.7).abs() + 0.5
    outs = [x.exp(), (p * 3).log(), x.tanh(), x.sin(), x.cos(), x.erf(),
            x.sigmoid(), torch.nn.functional.silu(x), torch.nn.functional.softplus(x),
            torch.nn.functional.gelu(x, approximate='tanh'),
            p ** 2.5, p ** x]
    total = outs[0].sum()
    for o in outs[1:]:
        total = total + o.sum()
    total.backward()
    print(n, [o.tolist()[n - 1] for o in outs])
    print(n, x.grad.tolist())

for D in [3, 5, 8, 13, 40, 130, 300]:
    t = torch.arange(4 * D).reshape(4, D)
    x = (torch.sin(t * 1.37 + 0.2) * 2 + torch.cos(t * 0.113) + 0.3).requires_grad_()
    w = torch.cos(t * 2.71) * 1.5 + torch.sin(t * 0.05)
    y = torch.nn.LayerNorm(D)(x)
    (y * w).sum().backward()
    print(D, y.tolist()[2][:6], y.sum().item())
    print(D, x.grad.tolist()[1][:6], x.grad.sum().item())
