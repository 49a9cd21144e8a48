# A per-example loss over rows X[i] and targets y[i] in a loop, averaged, matches the batch loss.
import torch; torch.set_default_dtype(torch.float16)  # gen.py: the cast
import torch

X = torch.tensor([[1.0, -1.0], [2.0, 0.5], [0.0, 3.0]])
y = torch.tensor([1.0, 2.0, -1.0])
w = torch.tensor([0.4, -0.3], requires_grad=True)
losses = []
total = 0.0
for i in range(len(X)):
    pred = (X[i] * w).sum()
    li = (pred - y[i]) ** 2
    losses.append(li.item())
    total = total + li
mean_loss = total / len(X)
mean_loss.backward()
print(losses)
print(f"{mean_loss.item():.8f}")
print(w.grad.tolist())
