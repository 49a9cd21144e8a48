# dtype: f32
# torch.amp.GradScaler over 20 steps, as torch documents it: float32 master weights, the forward
# in float16 (as autocast runs it), so the scaled grads of the float16 tensors overflow at
# init_scale=65536 (inf: the step is skipped, the scale halves); growth_interval=3 grows the scale
# after 3 good steps; step 12 forces an overflow (inputs x 1000). Each line: step, loss, the
# scale after update(), whether the step was skipped, the params. Step 5 unscales by hand first.
import torch

torch.set_default_dtype(torch.float32)  # torch's default (backstep's is float64)
w = torch.tensor([0.5, -0.25, 0.75], requires_grad=True)
b = torch.tensor([0.1], requires_grad=True)
opt = torch.optim.SGD([w, b], lr=0.05)
scaler = torch.amp.GradScaler(init_scale=65536.0, growth_interval=3)
print(scaler.get_scale(), scaler.get_growth_factor(), scaler.get_backoff_factor(), scaler.get_growth_interval())
x = torch.tensor([[1.0, 2.0, -1.0], [0.5, -1.5, 2.0], [2.0, 0.0, 1.0], [-1.0, 1.0, 0.5]])
t = torch.tensor([1.0, -0.5, 2.0, 0.0])
for step in range(20):
    opt.zero_grad()
    xs = x * 1000.0 if step == 12 else x
    y = (xs.half() * w.half()).sum(dim=1) + b.half()
    loss = ((y.float() - t) ** 2).mean()
    before = w.tolist() + b.tolist()
    scaled = scaler.scale(loss)
    scaled.backward()
    if step == 5:
        scaler.unscale_(opt)
        print('unscaled grads', w.grad.tolist(), b.grad.tolist())
    scaler.step(opt)
    scaler.update()
    skipped = w.tolist() + b.tolist() == before
    print(step, loss.item(), scaler.get_scale(), skipped, w.tolist(), b.tolist())
print(scaled.dtype, scaled.shape)
