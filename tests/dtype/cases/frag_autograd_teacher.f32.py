# Reference fragment: shared/reference/autograd-chapter.txt, section 3.9 "The four toggles"
# (text lines 249-250): a detached teacher output as a fixed target for the student.
# It uses teacher_model, student_model and x without defining them: a context is prepended
# (explicit weights); the two lines are verbatim; a backward and prints are appended.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch
import torch.nn as nn

teacher_model = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1))
student_model = nn.Linear(2, 1)
with torch.no_grad():
    teacher_model[0].weight.copy_(torch.tensor([[1.0, -0.5], [0.3, 0.9]]))
    teacher_model[0].bias.copy_(torch.tensor([0.0, 0.2]))
    teacher_model[2].weight.copy_(torch.tensor([[0.6, 0.4]]))
    teacher_model[2].bias.copy_(torch.tensor([-0.1]))
    student_model.weight.copy_(torch.tensor([[0.2, 0.2]]))
    student_model.bias.copy_(torch.tensor([0.0]))
x = torch.tensor([[1.0, 0.5], [-0.5, 1.0], [2.0, -1.0]])

fixed = teacher_model(x).detach()   # don't update the teacher
loss = (student_model(x) - fixed).pow(2).mean()
loss.backward()
print(f"{loss.item():.10f}")
print(student_model.weight.grad.tolist(), student_model.bias.grad.tolist())
print(teacher_model[0].weight.grad is None, fixed.requires_grad)
