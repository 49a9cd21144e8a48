# nn.Dropout and model.train()/model.eval(): in training every entry is either dropped (0) or scaled
# by 1/(1-p); in eval mode, and under F.dropout(training=False), the input passes unchanged; the
# training flag follows train()/eval() into submodules. Only what does not depend on the random
# mask is printed.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch
import torch.nn as nn
import torch.nn.functional as F

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.drop = nn.Dropout(p=0.5)
        self.fc2 = nn.Linear(4, 1)

    def forward(self, x):
        return self.fc2(self.drop(F.relu(self.fc1(x))))

model = MLP()
print(model)
with torch.no_grad():
    model.fc1.weight.copy_(torch.tensor([[0.1, 0.2, 0.3], [-0.1, 0.4, 0.2], [0.5, -0.3, 0.1], [0.2, 0.2, -0.2]]))
    model.fc1.bias.fill_(0.1)
    model.fc2.weight.copy_(torch.tensor([[1.0, -1.0, 0.5, 2.0]]))
    model.fc2.bias.fill_(0.0)
x = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
print(model.training, model.drop.training)
drop = nn.Dropout(0.25)
h = torch.ones(4, 5)
y = drop(h)
print(y.shape, ((y == 0) | (y == 1 / 0.75)).all().item())
model.eval()
print(model.training, model.drop.training)
with torch.no_grad():
    out = model(x)
print([round(v, 6) for v in out.flatten().tolist()])
print(torch.equal(F.dropout(h, p=0.9, training=False), h), torch.equal(nn.Dropout(1.0)(h), torch.zeros(4, 5)))
model.train()
print(model.training, model.fc1.training, nn.Dropout(0.0)(x).tolist() == x.tolist())
