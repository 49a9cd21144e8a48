# nn.Linear(4, 1) with nn.Parameter-assigned weights trained 20 SGD steps with nn.MSELoss.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn

model = nn.Linear(4, 1)
model.weight = nn.Parameter(torch.tensor([[0.0, 0.0, 0.0, 0.0]]))
model.bias = nn.Parameter(torch.tensor([0.0]))
X = torch.tensor([[1.0, 0.0, 0.5, 2.0], [0.0, 1.0, 1.0, -1.0], [2.0, -1.0, 0.0, 0.5],
                  [1.0, 1.0, 1.0, 1.0], [-1.0, 2.0, 0.5, 0.0], [0.5, 0.5, -0.5, 1.5]])
true_w = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
y = X @ true_w + 0.25
loss_fn = nn.MSELoss()
opt = torch.optim.SGD(model.parameters(), lr=0.05)

for step in range(20):
    opt.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    opt.step()
    if step % 5 == 4:
        print(f"step {step + 1:2d}: {loss.item():.6f}")

for name, p in model.named_parameters():
    print(name, p.tolist())
