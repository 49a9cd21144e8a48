# Reference fragment: shared/reference/backprop-deep-dive.txt, section "PyTorch Autograd in
# Practice" (text lines 176-177): inference under `with torch.no_grad():`.
# The fragment uses model and test_inputs without defining them: a context is prepended (the
# text's 2-2-1 network with its worked-example weights); verbatim with its indentation restored;
# prints appended. (The @torch.inference_mode() decorator that follows it is not included.)
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1), nn.Sigmoid())
with torch.no_grad():
    model[0].weight.copy_(torch.tensor([[0.3, 0.7], [-0.2, 0.5]]))
    model[0].bias.copy_(torch.tensor([0.1, 0.0]))
    model[2].weight.copy_(torch.tensor([[0.6, -0.4]]))
    model[2].bias.copy_(torch.tensor([0.1]))
test_inputs = torch.tensor([[1.0, 0.5], [0.0, 0.0], [-1.0, 2.0]])

with torch.no_grad():
    predictions = model(test_inputs)
print(predictions.requires_grad)
print(predictions.tolist())
