# dtype: bf16
# torch.arange as its CPU kernel makes the values: two vectors at a time (4 doubles, 8 floats, 16
# halves or bfloat16s each) whose lanes are base + l * step from a base rounded to the dtype, then
# start + step * i for the rest, each a * b + c one fma. In bf16 that is far from
# round(start + i * step) once the values pass 256; in f64 and f32 it shows in the last digits of
# fractional steps.
import torch

for dt in [torch.float64, torch.float32, torch.bfloat16, torch.float16]:
    print(dt, torch.arange(-3, 7, 0.37, dtype=dt).tolist())
    print(dt, torch.arange(0.1, 2.9, 0.01, dtype=dt).tolist()[::7])
    print(dt, torch.arange(4080.0, 4200.0, dtype=dt).tolist())
    print(dt, torch.arange(0, 1000, 0.7, dtype=dt).sum().item())
torch.set_default_dtype(torch.bfloat16)
t = torch.arange(300.0)
print(t[250:].tolist(), (t * 0.5).sum().item())
