# dtype: bf16
# layer_norm on bfloat16 rows of 1 to 300, as torch 1.13's BFloat16 kernel computes it: the moments
# in bfloat16 arithmetic (Vectorized<BFloat16> lanes of 16 in chunks, the row's tail one by one),
# rstd's sum, root and quotient each rounded, y = x * rstd + bias in float from the bfloat16 rstd
# and bias; the backward from the saved bfloat16 mean and rstd, its two sums rounded to bfloat16.
# Rows of 1, 15, 16, 17, 31, 33 and 300 cross the vector and chunk lines.
import torch
torch.set_default_dtype(torch.bfloat16)

for D in [1, 3, 5, 8, 13, 15, 16, 17, 24, 31, 33, 40, 130, 300]:
    t = torch.arange(4 * D * 1.0).reshape(4, D)
    x = (torch.sin(t * 1.37 + 0.2) * 2 + torch.cos(t * 0.113) + 0.3).requires_grad_()
    w = torch.cos(t * 2.71) * 1.5 + torch.sin(t * 0.05)
    y = torch.nn.functional.layer_norm(x, (D,))
    (y * w).sum().backward()
    print(D, y.tolist()[2][:8], y.tolist()[3][-3:])
    print(D, x.grad.tolist()[1][:8], x.grad.tolist()[0][-3:])
