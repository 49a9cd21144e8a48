# Reference fragment: shared/reference/backprop-deep-dive.txt, section "Gradient Accumulation —
# The Most Common Backprop Bug" (text lines 197-204): the accumulation_steps loop.
# The fragment uses model, optimizer, dataloader and compute_loss without defining them, so a
# context is prepended (explicit weights, a list of 8 batches); the fragment itself is verbatim
# with its lost indentation restored; print lines are appended.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn
import torch.nn.functional as F

model = nn.Linear(2, 1)
with torch.no_grad():
    model.weight.copy_(torch.tensor([[0.5, -0.5]]))
    model.bias.copy_(torch.tensor([0.1]))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
X = torch.tensor([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0], [-1.0, 1.0],
                  [0.0, 1.0], [1.0, 1.0], [3.0, -1.0], [0.5, 0.5]])
Y = torch.tensor([[1.0], [0.0], [2.0], [-1.0], [0.5], [1.5], [2.5], [0.0]])
dataloader = []
for k in range(4):
    dataloader.append((X[2 * k:2 * k + 2], Y[2 * k:2 * k + 2]))


def compute_loss(model, batch):
    inputs, targets = batch
    return F.mse_loss(model(inputs), targets)


# ---- verbatim ----
accumulation_steps = 4
optimizer.zero_grad()
for i, batch in enumerate(dataloader):
    loss = compute_loss(model, batch) / accumulation_steps
    loss.backward()
    if (i + 1) % accumulation_steps == 0:
        optimizer.step()
        optimizer.zero_grad()
# ---- end verbatim ----
print(model.weight.tolist(), model.bias.tolist())
print(f"{compute_loss(model, (X, Y)).item():.10f}")
