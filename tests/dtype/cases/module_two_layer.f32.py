# An nn.Module with two nn.Linear layers; weights set with copy_ under no_grad; names fc1.weight...
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2, 3)
        self.fc2 = nn.Linear(3, 1)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        return self.fc2(h)


net = Net()
with torch.no_grad():
    net.fc1.weight.copy_(torch.tensor([[0.5, -0.3], [0.1, 0.8], [-0.6, 0.2]]))
    net.fc1.bias.copy_(torch.tensor([0.0, 0.1, 0.3]))
    net.fc2.weight.copy_(torch.tensor([[1.0, -0.5, 0.25]]))
    net.fc2.bias.copy_(torch.tensor([0.2]))

x = torch.tensor([[1.0, 2.0], [-1.0, 0.5]])
y = torch.tensor([[1.0], [0.0]])
loss = ((net(x) - y) ** 2).mean()
loss.backward()
print(f"loss = {loss.item():.6f}")
for name, p in net.named_parameters():
    print(f"{name:12s} {p.grad.tolist()}")
