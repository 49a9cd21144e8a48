# In-place indexed assignment: x[i] = v, x[:, j] = 0, x[mask] = v and x[rows] = v on a computed
# tensor (the gradient flows to the untouched entries and to v), on a buffer that starts as zeros
# and is filled with values that require grad, on a leaf under torch.no_grad() (changed in place,
# seen through every name), and torch's errors for a leaf that requires grad and for shapes.
import torch

x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
w = torch.tensor(3.0, requires_grad=True)
y = x * 2
y[0, 1] = w * 10
y[:, 2] = 0
y[1] = torch.tensor([7.0, 8.0, 9.0]) * w
y[y > 25] = -1.0
print(y.tolist())
(y * y).sum().backward()
print(x.grad.tolist(), w.grad.item())
out = torch.zeros(3)
for i in range(3):
    out[i] = w * (i + 1)
loss = (out ** 2).sum()
w.grad = None
loss.backward()
print(out.tolist(), out.requires_grad, w.grad.item())
h = torch.zeros(2, 3)
v = torch.tensor([1.0, -1.0], requires_grad=True)
h[:, 1] = v
h[[0], 2] = v[0] * 5
(h.sum() * 2).backward()
print(h.tolist(), v.grad.tolist())
z = torch.zeros(4)
alias = z
z[1:3] = 5
z[-1] = 2.5
z[[0]] = 1
print(z.tolist(), alias.tolist(), z.requires_grad)
with torch.no_grad():
    x[0, 0] = 100
    x[1] = torch.tensor([0.0, 1.0, 2.0])
print(x.tolist(), x.requires_grad, x.is_leaf)
x.grad[0] = 0
print(x.grad.tolist())
for bad in ["x[0] = 1", "x[[1]] = 1"]:
    try:
        if bad == "x[0] = 1":
            x[0] = 1
        else:
            x[[1]] = 1
    except RuntimeError as e:
        print("RuntimeError:", e)
c = torch.zeros(2, 3)
try:
    c[0] = torch.tensor([1.0, 2.0])
except RuntimeError as e:
    print("RuntimeError:", e)
try:
    c[[0, 1]] = torch.ones(4)
except RuntimeError as e:
    print("RuntimeError:", e)
