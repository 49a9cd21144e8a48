# Reference snippet: shared/reference/backprop-overview.txt, "Training a 3-layer network in
# PyTorch" (text lines 18-35): one SGD step of a 10-32-1 nn.Sequential with nn.MSELoss.
# Verbatim, except: the text lost its indentation (restored under `for`) and glued the next
# paragraph's first words onto the last line (removed). It uses torch.randn and nn.Linear's
# random init, but what it prints (names and grad shapes) does not depend on them, so nothing
# is inserted. It prints, so nothing is appended.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn
model = nn.Sequential(
    nn.Linear(10, 32),
    nn.ReLU(),
    nn.Linear(32, 1),
)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
loss_fn = nn.MSELoss()
X = torch.randn(64, 10)
y = torch.randn(64, 1)
optimizer.zero_grad()
preds = model(X)
loss = loss_fn(preds, y)
loss.backward()
optimizer.step()
for name, p in model.named_parameters():
    print(name, p.grad.shape if p.grad is not None else None)
