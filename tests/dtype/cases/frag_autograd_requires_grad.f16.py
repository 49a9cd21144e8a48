# Reference fragment: shared/reference/autograd-chapter.txt, section 3.9 "The four toggles"
# (text line 245): x = torch.randn(10, requires_grad=True).
# One line without imports: `import torch` is prepended; prints appended (only what does not
# depend on the random values).
import torch; torch.set_default_dtype(torch.float16)  # gen.py: the cast
import torch

x = torch.randn(10, requires_grad=True)
print(x.requires_grad, x.shape[0], x.grad)
(x * 2).sum().backward()
print(x.grad.tolist())
