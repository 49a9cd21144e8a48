# A recursive function building a polynomial by Horner's rule; the grad is its derivative.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch


def horner(coeffs, x):
    if len(coeffs) == 1:
        return coeffs[0] * (x ** 0)
    return coeffs[0] + x * horner(coeffs[1:], x)


x = torch.tensor(1.5, requires_grad=True)
p = horner([1.0, -2.0, 0.5, 1.0], x)
p.backward()
print(f"p(1.5) = {p.item():.6f}")
print(f"p'(1.5) = {x.grad.item():.6f}")
print(1.0 - 2.0 * 1.5 + 0.5 * 1.5 ** 2 + 1.5 ** 3)
