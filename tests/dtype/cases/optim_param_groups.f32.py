# torch.optim with param groups: a list of dicts, one lr per group, the constructor's lr and
# momentum as the defaults; optimizer.param_groups read and changed (a manual lr decay), and
# model.state_dict() / load_state_dict() to keep and restore the best weights.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1))
with torch.no_grad():
    model[0].weight.copy_(torch.tensor([[0.3, -0.2], [0.1, 0.4]]))
    model[0].bias.copy_(torch.tensor([0.0, 0.1]))
    model[2].weight.copy_(torch.tensor([[0.5, -0.6]]))
    model[2].bias.fill_(0.2)
x = torch.tensor([[1.0, 0.5], [-0.5, 1.5], [2.0, -1.0], [0.0, 1.0]])
y = torch.tensor([[1.0], [0.0], [1.0], [0.5]])
optimizer = torch.optim.SGD([
    {'params': model[0].parameters()},
    {'params': model[2].parameters(), 'lr': 0.05},
], lr=0.2, momentum=0.9)
print(len(optimizer.param_groups))
for group in optimizer.param_groups:
    print(group['lr'], group['momentum'], len(group['params']))
loss_fn = nn.MSELoss()
best_loss = None
best_state = None
for epoch in range(8):
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    if best_loss is None or loss.item() < best_loss:
        best_loss = loss.item()
        best_state = {k: v.clone() for k, v in model.state_dict().items()}
    if epoch % 3 == 2:
        for group in optimizer.param_groups:
            group['lr'] = group['lr'] * 0.5
    print(f"{epoch} {loss.item():.8f} {optimizer.param_groups[0]['lr']:.4f} {optimizer.param_groups[1]['lr']:.4f}")
print(list(model.state_dict().keys()))
print(f"best {best_loss:.8f}")
model.load_state_dict(best_state)
print(f"restored {loss_fn(model(x), y).item():.8f}")
print(model[2].weight.tolist())
