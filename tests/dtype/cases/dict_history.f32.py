# Dicts as a training script uses them: a config dict, history = {'loss': []} filled in the loop,
# d[k], d[k] = v, d.get(k, default), 'k' in d, len(d), d.items()/keys()/values(), dict printing,
# a dict comprehension, and a dict of tensors.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn

config = {'lr': 0.1, 'epochs': 6, 'log_every': 2}
print(config)
print(config['lr'], config.get('momentum', 0.0), 'epochs' in config, len(config))
config['hidden'] = 3

model = nn.Linear(2, 1)
with torch.no_grad():
    model.weight.copy_(torch.tensor([[0.5, -0.25]]))
    model.bias.fill_(0.1)
x = torch.tensor([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]])
y = torch.tensor([[1.0], [0.0], [2.0]])
opt = torch.optim.SGD(model.parameters(), lr=config['lr'])
history = {'loss': [], 'grad_norm': []}
for epoch in range(config['epochs']):
    opt.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    history['loss'].append(loss.item())
    history['grad_norm'].append(model.weight.grad.norm().item())
    opt.step()
    if epoch % config['log_every'] == 0:
        print(f"epoch {epoch}: loss {history['loss'][-1]:.6f}")
for name, values in history.items():
    print(name, len(values), f"{min(values):.6f}")
print(list(config.keys()), list(config.values()))
best = {k: v[-1] for k, v in history.items()}
print(sorted(best))
counts = {}
for label in ['cat', 'dog', 'cat', 'bird', 'cat']:
    counts[label] = counts.get(label, 0) + 1
print(counts, max(counts, key=counts.get))
params = {name: p for name, p in model.named_parameters()}
print(list(params), params['weight'].shape, params['bias'].tolist())
