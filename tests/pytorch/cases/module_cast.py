# model.bfloat16() / model.float() convert every param in place, its grad too (Module._apply);
# the params stay the same leaves, so an optimizer made afterwards steps them in the new dtype
import torch
torch.manual_seed(0)
model = torch.nn.Linear(3, 2)
with torch.no_grad():
    model.weight.copy_(torch.tensor([[0.3, -0.7, 0.12], [0.45, 0.05, -0.9]]))
    model.bias.copy_(torch.tensor([0.1, -0.2]))
model.bfloat16()
print(model.weight.dtype, model.bias.dtype)
print(model.weight.tolist())
x = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]).bfloat16()
y = model(x)
print(y.dtype, y.tolist())
L = (y.float() ** 2).sum()
L.backward()
print(model.weight.grad.dtype, model.weight.grad.tolist())
model.float()
print(model.weight.dtype, model.weight.grad.dtype, model.weight.tolist())
opt = torch.optim.SGD(model.parameters(), lr=0.1)
opt.step()
print(model.weight.tolist())
