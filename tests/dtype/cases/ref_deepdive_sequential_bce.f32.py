# Reference snippet: shared/reference/backprop-deep-dive.txt, section "PyTorch Autograd in
# Practice" (text lines 149-164): the 2-2-1 nn.Sequential with nn.BCELoss.
# Verbatim, except: (1) the text lost its indentation, restored here (4 spaces under `for`);
# (2) the snippet depends on nn.Linear's random init, so the weights are set explicitly right
# after construction, to the text's own worked example (w11=0.3 ... b3=0.1), in lines marked
# "inserted". It prints, so no print lines are appended.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn
model = nn.Sequential(
    nn.Linear(2, 2),
    nn.ReLU(),
    nn.Linear(2, 1),
    nn.Sigmoid()
)
with torch.no_grad():  # inserted: explicit weights
    model[0].weight.copy_(torch.tensor([[0.3, 0.7], [-0.2, 0.5]]))  # inserted
    model[0].bias.copy_(torch.tensor([0.1, 0.0]))  # inserted
    model[2].weight.copy_(torch.tensor([[0.6, -0.4]]))  # inserted
    model[2].bias.copy_(torch.tensor([0.1]))  # inserted
loss_fn = nn.BCELoss()
x = torch.tensor([[1.0, 0.5]])
y = torch.tensor([[1.0]])
y_hat = model(x) # forward pass — builds the computational graph
loss = loss_fn(y_hat, y) # compute loss — extends the graph
loss.backward() # backward pass — computes ALL gradients
for name, param in model.named_parameters():
    print(f"{name:15s} grad_norm = {param.grad.norm().item():.4f}")
