# enumerate over a list of (x, y) tuples; losses collected in a list; one SGD step per example.
import torch; torch.set_default_dtype(torch.float16)  # gen.py: the cast
import torch

data = [(1.0, 2.0), (2.0, 4.5), (3.0, 5.5), (4.0, 8.5)]
w = torch.tensor(1.0, requires_grad=True)
losses = []
for epoch in range(3):
    for i, (x, y) in enumerate(data):
        loss = (w * x - y) ** 2
        loss.backward()
        with torch.no_grad():
            w -= 0.01 * w.grad
        w.grad.zero_()
        losses.append(loss.item())
        if epoch == 0:
            print(i, f"{loss.item():.6f}")

print(len(losses))
print(f"first {losses[0]:.6f} last {losses[-1]:.6f}")
print(w.item())
for k, v in enumerate([w.item(), losses[-1]]):
    print(k, f"{v:.8f}")
