# if/elif/else on values chooses the graph: a piecewise function and its grad at several points.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch


def piecewise(x):
    if x.item() < -1.0:
        return -2 * x - 1
    elif x.item() < 1.0:
        return x ** 2
    else:
        return 2 * x - 1


for v in [-2.0, -0.5, 0.0, 0.75, 3.0]:
    x = torch.tensor(v, requires_grad=True)
    y = piecewise(x)
    y.backward()
    if x.grad.item() > 0:
        sign = "rising"
    elif x.grad.item() == 0:
        sign = "flat"
    else:
        sign = "falling"
    print(f"x={v:5.2f} y={y.item():.4f} dy/dx={x.grad.item():.4f} {sign}")
