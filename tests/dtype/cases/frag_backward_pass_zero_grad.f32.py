# Reference fragment: shared/reference/pytorch-backward-pass.txt, "Common Pitfalls" #1 (text line
# 154, "Correct approach"): the loop with optimizer.zero_grad() before each backward.
# The text flattened the loop onto one line; its statements are split back, with the body
# indented. It uses dataloader, model, loss_fn, target and optimizer without defining them:
# a context is prepended; prints appended.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn

model = nn.Linear(2, 1)
with torch.no_grad():
    model.weight.copy_(torch.tensor([[0.3, -0.3]]))
    model.bias.copy_(torch.tensor([0.0]))
loss_fn = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
dataloader = [torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]])]
target = torch.tensor([[1.0]])

for data in dataloader:
    optimizer.zero_grad()
    output = model(data)
    loss = loss_fn(output, target)
    loss.backward()
    optimizer.step()
print(f"{loss.item():.10f}")
print(model.weight.tolist(), model.bias.tolist())
