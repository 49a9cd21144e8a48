# Reference fragment: shared/reference/autograd-chapter.txt, section 3.3 "Computation graphs as
# DAGs" (text lines 86-89): z = W1 @ x + b1 ... loss = (y - target).pow(2).mean().
# It uses W1, x, b1, W2, b2 and target without defining them: a context is prepended; the four
# lines are verbatim; a backward and prints are appended.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch

W1 = torch.tensor([[0.5, -0.2], [0.1, 0.4], [-0.3, 0.8]], requires_grad=True)
b1 = torch.tensor([0.1, 0.0, -0.1], requires_grad=True)
W2 = torch.tensor([[0.7, -0.5, 0.2]], requires_grad=True)
b2 = torch.tensor([0.05], requires_grad=True)
x = torch.tensor([1.0, 2.0])
target = torch.tensor([0.3])

z = W1 @ x + b1
h = z.relu()
y = W2 @ h + b2
loss = (y - target).pow(2).mean()
loss.backward()
print(f"loss = {loss.item():.10f}")
print(W1.grad.tolist())
print(b1.grad.tolist())
print(W2.grad.tolist(), b2.grad.tolist())
