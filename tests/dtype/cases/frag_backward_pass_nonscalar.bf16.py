# Reference fragment: shared/reference/pytorch-backward-pass.txt, "Common Pitfalls" #2 (text line
# 158, "Correct approach"): loss = model_output - target; loss.backward(torch.ones_like(loss)).
# The text flattened the two statements onto one line; they are split back. It uses
# model_output and target without defining them: a context is prepended; prints appended.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch

w = torch.tensor([[1.0, -1.0], [0.5, 2.0], [0.0, 1.0]], requires_grad=True)
model_output = w @ torch.tensor([2.0, 1.0])
target = torch.tensor([1.0, 1.0, 1.0])

loss = model_output - target # tensor loss
loss.backward(torch.ones_like(loss))
print(loss.tolist())
print(w.grad.tolist())
