# dtype: bf16
# softmax and log_softmax as torch 1.13's CPU kernels compute them, f32 and bf16: over the last dim
# (_vec_log_softmax_lastdim: in bf16 the sum of exps and its log each kept as a BFloat16) and over
# another dim (_vec_softmax: vectors of 8 floats or 16 bfloat16s along the inner positions, then a
# scalar tail with the C library's exp, stored exps divided by their float sum; the backward:
# host_softmax_backward's float sums for bf16, fma(-exp(y), sum, g) for f32 log_softmax). Widths
# 3, 8, 16, 21 and 40 cross the vector lines.
import torch

for dt in [torch.float32, torch.bfloat16]:
    torch.set_default_dtype(dt)
    for D in [3, 8, 16, 21, 40]:
        t = torch.arange(4 * D * 1.0).reshape(4, D)
        x = (torch.sin(t * 1.37 + 0.2) * 2 + torch.cos(t * 0.113) + 0.3).requires_grad_()
        w = torch.cos(t * 2.71) * 1.5 + torch.sin(t * 0.05)
        for dim in [0, 1]:
            for name, f in [('softmax', torch.softmax), ('log_softmax', torch.log_softmax)]:
                y = f(x, dim=dim)
                (y * w).sum().backward()
                print(dt, D, dim, name, y.tolist()[1], y.tolist()[3][-3:])
                print(dt, D, dim, name, x.grad.tolist()[2], x.grad.sum().item())
                x.grad = None
