# Sets as a training script uses them: the distinct parameter names of a model (a set
# comprehension), shared parameters counted once (a set of tensors is a set of objects), names
# already seen in a loop, and set algebra on the names; sorted() where Python's order is by hash.
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
with torch.no_grad():
    for p in model.parameters():
        p.fill_(0.5)
names = {n.split(".")[1] for n, _ in model.named_parameters()}
print(sorted(names), len(names), "weight" in names, "grad" not in names)
w = torch.tensor([1.0, -2.0], requires_grad=True)
shared = [w, w, torch.tensor(3.0, requires_grad=True)]
print(len(shared), len(set(shared)), len({w, w}))
seen = set()
total = 0.0
for p in shared:
    if p in seen:
        continue
    seen.add(p)
    total = total + (p * p).sum()
total.backward()
print(f"{total.item():.4f}", w.grad.tolist())
a = {"fc1", "fc2", "out"}
b = {"fc2", "out", "head"}
print(sorted(a | b), sorted(a & b), sorted(a - b), sorted(a ^ b))
print(a.issubset(a | b), a.isdisjoint({"x"}), {1, 2} == {2, 1}, set() == set([]), len({1, 1.0, True}))
frozen = set(["bias"])
frozen.update(["weight", "bias"])
frozen.discard("missing")
frozen.remove("weight")
print(sorted(frozen), bool(set()), set(), {7})
try:
    frozen.remove("weight")
except KeyError as e:
    print("KeyError", e)
try:
    bad = {[1, 2]}
except TypeError as e:
    print("TypeError:", e)
