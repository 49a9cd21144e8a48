# try/except/else/finally and raise, as tutorials write input checks: ValueError from a function,
# catching by type (and by a tuple of types), `as e` and print(e), else and finally, KeyError and
# IndexError from Python's own containers, and a re-raise that an outer handler catches.
import torch; torch.set_default_dtype(torch.float32)  # gen.py: the cast
import torch

def check_lr(lr):
    if lr <= 0:
        raise ValueError(f"learning rate must be positive, got {lr}")
    return lr

for lr in [0.1, -1.0, 0.01]:
    try:
        ok = check_lr(lr)
    except ValueError as e:
        print("bad:", e)
    else:
        print("ok:", ok)
    finally:
        print("checked", lr)

config = {'lr': 0.1}
try:
    print(config['epochs'])
except KeyError as e:
    print("missing key", e)

data = [1, 2, 3]
try:
    data[10]
except (IndexError, KeyError) as e:
    print("index error:", e)

def safe_div(a, b):
    try:
        return a / b
    except ZeroDivisionError:
        print("division by zero, returning inf")
        return float('inf')
    finally:
        print("safe_div done")

print(safe_div(1.0, 4.0), safe_div(1.0, 0.0))

def layer(x, w):
    if x.shape[-1] != w.shape[0]:
        raise RuntimeError("shape mismatch")
    return x @ w

try:
    try:
        layer(torch.ones(2, 3), torch.ones(2, 2))
    except RuntimeError:
        print("inner handler")
        raise
except Exception as e:
    print("outer handler:", e)
print(layer(torch.ones(1, 2), torch.ones(2, 2)).tolist())
