# Reference fragment: shared/reference/autograd-chapter.txt, section 3.9 "The four toggles"
# (text lines 254-255): a validation loss under `with torch.no_grad():`.
# It uses compute_loss, model and val_data without defining them: a context is prepended; the
# two lines are verbatim; prints are appended.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch
import torch.nn as nn

model = nn.Linear(2, 1)
with torch.no_grad():
    model.weight.copy_(torch.tensor([[1.5, -0.5]]))
    model.bias.copy_(torch.tensor([0.25]))
val_data = (torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.0, 3.0]]), torch.tensor([[1.0], [3.0], [-1.0]]))


def compute_loss(model, data):
    inputs, targets = data
    return ((model(inputs) - targets) ** 2).mean()


with torch.no_grad():
    val_loss = compute_loss(model, val_data)
print(f"val_loss = {val_loss.item():.10f}")
print(val_loss.requires_grad, model.weight.grad is None)
