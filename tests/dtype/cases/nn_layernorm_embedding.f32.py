# nn.LayerNorm and nn.Embedding with weights set explicitly, indexing into the result, grads of both
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn
ln = nn.LayerNorm(3)
emb = nn.Embedding(5, 3)
with torch.no_grad():
    emb.weight.copy_(torch.arange(15.0).view(5, 3) / 10)
    ln.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
idx = torch.tensor([[0, 4], [2, 2]])
h = ln(emb(idx))
loss = (h * h).sum() + h[0, 1, 2]
loss.backward()
print(loss.item())
print(emb.weight.grad.tolist())
print(ln.weight.grad.tolist(), ln.bias.grad.tolist())
print(emb, ln)
