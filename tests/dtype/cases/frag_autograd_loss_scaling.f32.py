# Reference fragment: shared/reference/autograd-chapter.txt, section 3.10 "Why mixed precision
# needs loss scaling" (text lines 271-276): manual loss scaling (not GradScaler).
# It uses loss, model and optimizer without defining them: a context is prepended (explicit
# weights, the same step done unscaled first for comparison); the six lines are verbatim;
# prints are appended.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn

model = nn.Linear(3, 1)
with torch.no_grad():
    model.weight.copy_(torch.tensor([[0.1, 0.2, 0.3]]))
    model.bias.copy_(torch.tensor([0.0]))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
x = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])
t = torch.tensor([[1.0], [0.0]])
loss = ((model(x) - t) ** 2).mean()
loss.backward(retain_graph=True)
plain = model.weight.grad.tolist()
optimizer.zero_grad()

scale = 65536.0
loss_scaled = loss * scale
loss_scaled.backward()
for p in model.parameters():
    p.grad /= scale
optimizer.step()
print(plain)
print(model.weight.grad.tolist())
print(model.weight.tolist(), model.bias.tolist())
