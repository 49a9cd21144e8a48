# nn.CrossEntropyLoss on an nn.Linear(3, 3) classifier, 20 SGD steps; accuracy at the end.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn

model = nn.Linear(3, 3)
with torch.no_grad():
    model.weight.copy_(torch.tensor([[0.1, 0.0, -0.1], [0.0, 0.1, 0.0], [-0.1, 0.0, 0.1]]))
    model.bias.copy_(torch.zeros(3))
X = torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.0, 1.0, 0.2],
                  [0.1, 0.8, 0.0], [0.0, 0.1, 1.0], [0.2, 0.0, 0.9]])
labels = torch.tensor([0, 0, 1, 1, 2, 2])
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=1.0)

for step in range(20):
    logits = model(X)
    loss = criterion(logits, labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 5 == 0:
        print(f"step {step:2d} loss {loss.item():.8f}")

with torch.no_grad():
    probs = torch.softmax(model(X), dim=1)
    print(probs[0].tolist())
    print(probs.sum(dim=1).tolist())
