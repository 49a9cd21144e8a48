# dtype: bf16
# Adam on bfloat16 params, op by op as torch 1.13 computes _single_tensor_adam: the Python-float
# scalars in bfloat16, add_'s alpha (vector lanes for the first 32 elements of the 40-element
# param, the scalar tail after), addcmul_ and addcdiv_ in float; weight decay on the second group.
import torch
torch.set_default_dtype(torch.bfloat16)

a = torch.tensor([3.0, -2.0, 0.7], requires_grad=True)
w = (torch.sin(torch.arange(40.0) * 0.9) * 2).requires_grad_()
opt = torch.optim.Adam([{'params': [a]}, {'params': [w], 'weight_decay': 0.01, 'lr': 0.05}],
                       lr=0.1, betas=(0.9, 0.995), eps=1e-6)
s = torch.tensor([1.0, 10.0, 0.3])
t = torch.cos(torch.arange(40.0) * 0.3)
for step in range(15):
    opt.zero_grad()
    loss = (s * a ** 2).sum() + ((w - t) ** 2).sum()
    loss.backward()
    opt.step()
    if step % 5 == 4:
        print(step, loss.item(), a.tolist(), w.tolist()[28:36])
print(a.tolist())
print(w.tolist())
