# Reference snippets: shared/reference/backprop-deep-dive.txt, section "PyTorch Autograd in
# Practice": the 2-2-1 network (text lines 149-164) followed by "A complete training loop"
# (text lines 167-173), which continues it (it uses its model, x, y and loss_fn).
# Verbatim, except: the lost indentation is restored; the weights are set explicitly after
# construction (lines marked "inserted"; nn.Linear's init is random). The loop prints nothing,
# so print lines are appended at the end (marked "appended").
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
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
for epoch in range(1000):
    y_hat = model(x)
    loss = loss_fn(y_hat, y)
    optimizer.zero_grad() # clear old gradients
    loss.backward() # compute new gradients
    optimizer.step() # update weights using those gradients
print(f"final loss = {loss.item():.8f}")  # appended
print(f"y_hat = {y_hat.item():.8f}")  # appended
for name, param in model.named_parameters():  # appended
    print(name, param.tolist())  # appended
