# A teacher whose output is detached: the student learns, the teacher gets no grad.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch
import torch.nn as nn

teacher = nn.Linear(2, 1)
student = nn.Linear(2, 1)
with torch.no_grad():
    teacher.weight.copy_(torch.tensor([[1.0, -1.0]]))
    teacher.bias.copy_(torch.tensor([0.5]))
    student.weight.copy_(torch.tensor([[0.0, 0.0]]))
    student.bias.copy_(torch.tensor([0.0]))
opt = torch.optim.SGD(student.parameters(), lr=0.1)
x = torch.tensor([[1.0, 2.0], [0.5, -0.5], [2.0, 1.0]])

for step in range(20):
    fixed = teacher(x).detach()
    loss = (student(x) - fixed).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 5 == 0:
        print(f"{step:2d} {loss.item():.6f}")

print(teacher.weight.grad is None, teacher.bias.grad is None)
print(student.weight.tolist(), student.bias.tolist())
