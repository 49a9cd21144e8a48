# Plain Python values: ints and floats with + - * / // % **, comparisons, and/or/not, +=, -=, *=.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
a = 17
b = 5
print(a + b, a - b, a * b, a / b, a // b, a % b, a ** 2)
print(-a // b, -a % b, 7.5 // 2, 7.5 % 2)
print(a > b, a == 17, b != 5, a <= b, 3 < b < 10)
print(True and False, True or False, not True, not (a < b))
x = 1
x += 4
x *= 3
x -= 2
x //= 2
print(x)
y = 2.0
y /= 8
y **= 2
print(y)
z = None
print(z is None, z)
t = (1, 2.5, "three")
lst = [4, 5, 6]
lst.append(7)
print(len(t), t[1], t[-1], len(lst), lst[-1], lst[1:3])
print(t)
print(lst)
