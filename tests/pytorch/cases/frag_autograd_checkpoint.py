# Reference fragment: shared/reference/autograd-chapter.txt, section 3.11 (text lines 293-298):
# a forward that checkpoints each of self.blocks, then self.head.
# It is a method without its class: a context is prepended (an nn.Module with blocks and a head,
# explicit weights); the method verbatim; a forward, backward and prints appended.
import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(2, 2), nn.Tanh()) for _ in range(3)])
        self.head = nn.Linear(2, 1)
        with torch.no_grad():
            for i, b in enumerate(self.blocks):
                b[0].weight.copy_(torch.tensor([[0.5, -0.25], [0.125, 0.75]]) * (i + 1))
                b[0].bias.copy_(torch.tensor([0.1, -0.1]))
            self.head.weight.copy_(torch.tensor([[1.0, -2.0]]))
            self.head.bias.copy_(torch.tensor([0.5]))

    def forward(self, x):
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=False)
        return self.head(x)

net = Net()
x = torch.tensor([[1.0, 2.0], [-1.0, 0.5]])
loss = net(x).sum()
loss.backward()
print(f"{loss.item():.10f}")
for name, p in net.named_parameters():
    print(name, p.grad.tolist())
