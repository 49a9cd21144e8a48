# Lambdas and the builtins that take functions: sorted(..., key=lambda ...), min/max with key,
# map, filter, zip, any/all, sum over a generator (counting a model's parameters), a closure
# over a function's argument, and a lambda as an activation.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn
import torch.nn.functional as F

model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
total = sum(p.numel() for p in model.parameters())
trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
print(total, trainable)
print([tuple(p.shape) for p in model.parameters()])
print(sorted([(name, p.numel()) for name, p in model.named_parameters()], key=lambda t: t[1]))

scores = {'adam': 0.91, 'sgd': 0.85, 'rmsprop': 0.88}
print(sorted(scores, key=lambda k: scores[k], reverse=True))
print(max(scores.items(), key=lambda kv: kv[1]), min(scores, key=lambda k: scores[k]))
losses = [0.9, 0.5, 0.7, 0.2, 0.4]
print(list(map(lambda v: round(v * 10), losses)), list(filter(lambda v: v < 0.5, losses)))
print(any(v < 0.3 for v in losses), all(v < 1 for v in losses), sum(v * v for v in losses))
for i, (a, b) in enumerate(zip(losses, losses[1:])):
    if b > a:
        print("went up at", i + 1)

def make_scaled(k):
    return lambda t: k * t

double = make_scaled(2.0)
act = lambda t: F.relu(t) - 0.1 * F.relu(-t)
x = torch.tensor([-2.0, -0.5, 1.0, 3.0], requires_grad=True)
y = act(double(x)).sum()
y.backward()
print(y.item(), x.grad.tolist())
square = lambda v: v ** 2
print(list(map(square, range(5))), square(torch.tensor(3.0)).item())
