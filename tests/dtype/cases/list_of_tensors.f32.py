# A list of tensor params built with append, indexed, iterated; one loss sums over the list.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch

weights = []
for v in [0.5, -1.0, 2.0]:
    weights.append(torch.tensor(v, requires_grad=True))
xs = [torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3.0)]
total = weights[0] * xs[0]
for i in range(1, len(weights)):
    total = total + weights[i] * xs[i] ** 2
loss = total ** 2
loss.backward()
print(f"{loss.item():.4f}")
for i, w in enumerate(weights):
    print(i, w.grad.item())
print(len(weights), weights[-1].item())
