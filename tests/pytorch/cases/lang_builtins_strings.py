# The Python a training loop leans on: isinstance (with a tuple of types), zip, any/all, sum() of a
# list of tensors, round, abs, the string methods of a log line (.format, .join, .upper, .split,
# .replace) and assert with its message.
import torch
import torch.nn as nn

model = nn.Linear(2, 1)
with torch.no_grad():
    model.weight.copy_(torch.tensor([[0.3, -0.6]]))
    model.bias.fill_(0.05)
xs = [torch.tensor([1.0, 2.0]), torch.tensor([-1.0, 0.5]), torch.tensor([0.0, 3.0])]
ys = [1.0, -1.0, 0.5]
losses = [(model(x) - y) ** 2 for x, y in zip(xs, ys)]
total = sum(losses)
total.sum().backward()
print(isinstance(total, torch.Tensor), isinstance(model, nn.Module), isinstance(3, (int, float)),
      isinstance("a", (int, float)), isinstance(model, (nn.Linear, nn.ReLU)))
print(round(total.item(), 4), round(2.5), round(-0.125, 2), abs(-3), abs(-2.5), abs(torch.tensor(-1.5)).item())
grads = [p.grad for p in model.parameters()]
print(any(g.abs().sum() > 10 for g in grads), all(g is not None for g in grads))
print([round(g, 6) for g in model.weight.grad.flatten().tolist()])
header = "{:>6} | {:<8} | {}".format("step", "loss", "lr")
line = "{0:>6} | {1:<8.4f} | {lr}".format(3, total.item(), lr=0.01)
print(header)
print(line)
parts = ["fc1", "weight"]
name = ".".join(parts)
print(name.upper(), name.split("."), name.replace("weight", "bias"), "-".join(str(i) for i in range(3)))
print(", ".join(f"{n}={p.shape[-1]}" for n, p in model.named_parameters()))
assert total.item() > 0, "the loss is a sum of squares"
try:
    assert total.item() < 0, f"loss {total.item():.3f} is not negative"
except AssertionError as e:
    print("AssertionError:", e)
