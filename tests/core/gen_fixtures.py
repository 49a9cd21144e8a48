#!/usr/bin/python3
"""Developer tool: prints the PyTorch numbers pasted into tests/core/test_engine.c.
Run with Debian's python3-torch: /usr/bin/python3 tests/core/gen_fixtures.py"""
import torch
torch.set_default_dtype(torch.float64)
P = lambda v: torch.tensor(v, requires_grad=True)

def seed_net():
    x1, x2, y = torch.tensor(1.0), torch.tensor(0.5), torch.tensor(1.0)
    w = dict(w11=P(0.3), w12=P(0.7), b1=P(0.1), w21=P(-0.2), w22=P(0.5), b2=P(0.0),
             v1=P(0.6), v2=P(-0.4), b3=P(0.1))
    z1 = w['w11'] * x1 + w['w12'] * x2 + w['b1']
    z2 = w['w21'] * x1 + w['w22'] * x2 + w['b2']
    h1, h2 = torch.relu(z1), torch.relu(z2)
    z3 = w['v1'] * h1 + w['v2'] * h2 + w['b3']
    L = torch.nn.functional.binary_cross_entropy(torch.sigmoid(z3), y)
    return w, L

w, L = seed_net()
L.backward()
print("L %.17g" % L.item())
for k in ['w11', 'w12', 'b1', 'w21', 'w22', 'b2', 'v1', 'v2', 'b3']:
    print("%s %.17g" % (k, w[k].grad.item()))
# accumulation: second backward with retain_graph doubles the grads
w, L = seed_net()
L.backward(retain_graph=True); L.backward()
print("acc_w11 %.17g" % w['w11'].grad.item())
# sgd momentum 0.9, lr 0.1, 3 steps on the seed net
for name, mk in [("sgd", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
                 ("adam", lambda ps: torch.optim.Adam(ps, lr=0.01))]:
    w, L = seed_net()
    opt = mk(list(w.values()))
    for i in range(3):
        opt.zero_grad()
        w2, L = seed_net()
        for k in w: w2[k] = w[k]
        # rebuild with the same leaves
        x1, x2, y = torch.tensor(1.0), torch.tensor(0.5), torch.tensor(1.0)
        z1 = w['w11'] * x1 + w['w12'] * x2 + w['b1']
        z2 = w['w21'] * x1 + w['w22'] * x2 + w['b2']
        z3 = w['v1'] * torch.relu(z1) + w['v2'] * torch.relu(z2) + w['b3']
        L = torch.nn.functional.binary_cross_entropy(torch.sigmoid(z3), y)
        L.backward()
        opt.step()
    print("%s_w11 %.17g %s_v1 %.17g" % (name, w['w11'].item(), name, w['v1'].item()))
# tensor ops: softmax + cross entropy gradient
z = P([[1.0, 2.0, 0.5], [0.1, -1.0, 2.0]])
t = torch.tensor([1, 2])
ce = torch.nn.functional.cross_entropy(z, t)
ce.backward()
print("ce %.17g" % ce.item())
print("ce_grad", " ".join("%.17g" % v for v in z.grad.flatten().tolist()))
