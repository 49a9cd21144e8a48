# Reference fragment: shared/reference/backprop-deep-dive.txt, section "Gradient Checkpointing"
# (text lines 219-230): DeepModel with checkpoint(self.block1, x, use_reentrant=False).
# It uses HeavyBlock without defining it: a context is prepended (a Linear + tanh block with
# explicit weights); the class verbatim with its indentation restored; a forward, backward and
# prints appended, beside the same model without checkpoints (the grads must be identical).
import torch
import torch.nn as nn

class HeavyBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[0.2, -0.1, 0.4], [0.5, 0.3, -0.2], [0.1, 0.1, 0.1]]))
            self.fc.bias.copy_(torch.tensor([0.0, 0.1, -0.1]))

    def forward(self, x):
        return torch.tanh(self.fc(x)) + x

from torch.utils.checkpoint import checkpoint
class DeepModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = HeavyBlock()
        self.block2 = HeavyBlock()
        self.block3 = HeavyBlock()
    def forward(self, x):
        x = checkpoint(self.block1, x, use_reentrant=False)
        x = checkpoint(self.block2, x, use_reentrant=False)
        x = self.block3(x)
        return x

model = DeepModel()
x = torch.tensor([[1.0, 0.0, 2.0], [0.5, 1.5, -1.0]])
loss = (model(x) ** 2).mean()
loss.backward()
print(f"{loss.item():.10f}")
print(model.block1.fc.weight.grad.tolist())
print(model.block2.fc.bias.grad.tolist())
plain = (model.block3(model.block2(model.block1(x))) ** 2).mean()
g1 = model.block1.fc.weight.grad.clone()
model.zero_grad()
plain.backward()
print(torch.equal(g1, model.block1.fc.weight.grad))
