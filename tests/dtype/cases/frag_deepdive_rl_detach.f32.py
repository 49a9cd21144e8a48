# Reference fragment: shared/reference/backprop-deep-dive.txt, section "Detaching Tensors from
# the Graph" (text lines 208-210): RL target Q-values under no_grad, then .detach().
# It uses target_network, next_state and current_q without defining them: a context is prepended
# (explicit weights); verbatim with its indentation restored; prints appended.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn
import torch.nn.functional as F

target_network = nn.Linear(3, 2)
q_network = nn.Linear(3, 2)
with torch.no_grad():
    target_network.weight.copy_(torch.tensor([[0.2, -0.1, 0.4], [0.5, 0.3, -0.2]]))
    target_network.bias.copy_(torch.tensor([0.0, 0.1]))
    q_network.weight.copy_(torch.tensor([[0.1, 0.1, 0.1], [-0.2, 0.2, 0.0]]))
    q_network.bias.copy_(torch.tensor([0.05, -0.05]))
state = torch.tensor([[1.0, 0.0, 2.0], [0.5, 1.5, -1.0]])
next_state = torch.tensor([[0.0, 1.0, 1.0], [2.0, -1.0, 0.5]])
current_q = q_network(state).max(dim=1).values

with torch.no_grad():
    target_q = target_network(next_state).max(dim=1).values
loss = F.mse_loss(current_q, target_q.detach())
loss.backward()
print(f"{loss.item():.10f}")
print(target_q.tolist())
print(q_network.weight.grad.tolist())
print(target_network.weight.grad is None)
