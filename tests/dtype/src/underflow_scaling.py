# dtype: f16
# The graph of tests/repl/transcripts/underflow.bs (:underflow's), as torch runs it: float32
# master weights, the forward in float16, a small loss; dL/d(w.half()) = 1e-4 * x underflows to
# zero in float16 for 3 of its 4 entries; loss scaling (x 65536, unscaled in float32) keeps them;
# bfloat16, with float32's exponent range, keeps them unscaled.
import torch

torch.set_default_dtype(torch.float32)  # torch's default (backstep's is float64)
w = torch.tensor([0.5, -0.3, 0.8, 0.1], requires_grad=True)
x = torch.tensor([2e-4, -3e-4, 1e-4, 2.5e-4])
wh = w.half()
h = wh * x.half()
L = (h.float() * 1e-4).sum()
L.backward()
print(L.item(), w.grad.tolist())
w.grad = None
opt = torch.optim.SGD([w], lr=0.1)
scaler = torch.amp.GradScaler(init_scale=65536.0)
h = w.half() * x.half()
L = (h.float() * 1e-4).sum()
scaler.scale(L).backward()
scaler.unscale_(opt)
print(w.grad.tolist(), scaler.get_scale())
w.grad = None
hb = w.bfloat16() * x.bfloat16()
Lb = (hb.float() * 1e-4).sum()
Lb.backward()
print(Lb.item(), w.grad.tolist())
# float16's range and bfloat16's: overflow to inf, underflow to zero
print(torch.tensor([6e4, 7e4, 6e-8, 2e-8, 1e-4]).half().tolist())
print(torch.tensor([3e38, 1e-40, 1e-45, 1e-4]).bfloat16().tolist())
