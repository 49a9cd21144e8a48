# Bool tensors as torch makes them: comparisons give torch.bool masks that tolist() as True/False,
# combine with & | ~, index (x[mask], rows by a mask), count with .sum(), become numbers with
# .float() (float32, as torch), feed torch.where and masked_fill, and the accuracy of a classifier.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch
import torch.nn.functional as F

x = torch.tensor([[-1.5, 0.5, 2.0], [3.0, -0.25, 0.0]], requires_grad=True)
mask = x > 0
print(mask.dtype, mask.shape, mask.tolist())
print(((x > 0) & (x < 2.5)).tolist(), (~mask).tolist(), ((x < -1) | (x > 2)).tolist())
print(mask.sum().item(), mask.any().item(), mask.all().item(), mask[1].tolist(), mask[:, 0].tolist())
pos = x[mask]
print(pos.shape, pos.tolist())
loss = (pos ** 2).sum() + torch.where(mask, x, 0.1 * x).sum()
loss.backward()
print(f"{loss.item():.6f}", x.grad.tolist())
row_ok = torch.tensor([True, False])
print(x[row_ok].tolist(), torch.tensor([True, False, True]).dtype)
filled = x.detach().masked_fill(~mask, -1.0)
print(filled.tolist())

logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0], [1.0, 2.0, 0.5], [0.3, 0.1, 0.2]])
labels = torch.tensor([0, 2, 0, 0])
pred = logits.argmax(dim=1)
correct = (pred == labels)
print(pred.tolist(), correct.tolist(), correct.sum().item())
acc = correct.float().mean()
print(acc.dtype, acc.item(), f"{100 * correct.sum().item() / len(labels):.1f}%")
wrong = logits[pred != labels]
print(wrong.tolist(), F.cross_entropy(logits[correct], labels[correct]).item())
print(torch.zeros(2, dtype=torch.bool).tolist(), (labels == 0).long().tolist(), mask.int().sum().item())
