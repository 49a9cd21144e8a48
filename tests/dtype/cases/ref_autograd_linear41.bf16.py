# Reference snippet: shared/reference/autograd-chapter.txt, section 3.5 "What autograd actually
# stores" (text lines 140-150): nn.Linear(4, 1) regression, one backward.
# Verbatim, except: (1) the text imports only torch.nn but uses torch.randn, which is a NameError
# in Python, so `import torch` is prepended (marked "prepended"); (2) x, y and the weights come
# from torch.randn and the random init, so explicit values are set right after them (lines
# marked "inserted"); (3) the snippet's bare expressions print nothing in a script, so print
# lines are appended (marked "appended").
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch  # prepended
import torch.nn as nn

model = nn.Linear(4, 1)
x = torch.randn(8, 4)
y = torch.randn(8, 1)
with torch.no_grad():  # inserted: explicit weights and data
    model.weight.copy_(torch.tensor([[0.1, -0.2, 0.3, 0.05]]))  # inserted
    model.bias.copy_(torch.tensor([0.5]))  # inserted
x = torch.arange(32.0).view(8, 4) / 10  # inserted
y = torch.tensor([[1.0], [0.0], [2.0], [1.5], [-1.0], [0.5], [3.0], [2.0]])  # inserted

loss = ((model(x) - y) ** 2).mean()
loss.backward()

model.weight.grad   # populated, shape (1, 4)
model.bias.grad     # populated, shape (1,)
print(f"loss = {loss.item():.10f}")  # appended
print(model.weight.grad.tolist())  # appended
print(model.bias.grad.tolist())  # appended
