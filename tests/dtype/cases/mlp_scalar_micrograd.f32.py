# micrograd's demo in PyTorch: a 2-3-1 tanh MLP of scalar params held in lists, 20 SGD steps.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch

xs = [[2.0, 3.0], [3.0, -1.0], [0.5, 1.0], [1.0, 1.0]]
ys = [1.0, -1.0, -1.0, 1.0]
init = [[0.1, -0.2, 0.0], [0.3, 0.4, 0.1], [-0.5, 0.2, -0.1]]
neurons = []
for row in init:
    neuron = []
    for v in row:
        neuron.append(torch.tensor(v, requires_grad=True))
    neurons.append(neuron)
out_w = [torch.tensor(0.5, requires_grad=True), torch.tensor(-0.3, requires_grad=True),
         torch.tensor(0.8, requires_grad=True), torch.tensor(0.1, requires_grad=True)]
params = out_w + neurons[0] + neurons[1] + neurons[2]


def mlp(x):
    out = out_w[3]
    for j in range(3):
        w = neurons[j]
        out = out + out_w[j] * torch.tanh(w[0] * x[0] + w[1] * x[1] + w[2])
    return torch.tanh(out)


for step in range(20):
    loss = 0.0
    for i in range(len(xs)):
        loss = loss + (mlp(xs[i]) - ys[i]) ** 2
    for p in params:
        p.grad = None
    loss.backward()
    with torch.no_grad():
        for p in params:
            p -= 0.05 * p.grad
    if step % 5 == 4:
        print(step, f"{loss.item():.8f}")
print(len(params))
for x in xs:
    print(f"{mlp(x).item():.6f}")
