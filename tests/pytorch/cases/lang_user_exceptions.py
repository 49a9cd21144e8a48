# User exception classes as a training loop uses them: an EarlyStopping signal raised inside a
# function and caught around the loop, a subclass caught by its base, a tuple of types,
# isinstance on the caught exception, and re-raising a built-in error as one of the script's own.
import torch


class TrainingError(Exception):
    pass


class EarlyStop(TrainingError):
    """raised when the loss stops improving"""


class DivergedError(TrainingError):
    pass


def check(step, loss, best):
    if loss != loss or loss > 1e6:
        raise DivergedError(f"loss {loss} at step {step}")
    if loss > best - 1e-3:
        raise EarlyStop("no improvement at step", step)


w = torch.tensor([2.0], requires_grad=True)
best = float("inf")
try:
    for step in range(100):
        loss = ((w - 1.0) ** 2).sum()
        loss.backward()
        with torch.no_grad():
            w -= 0.3 * w.grad
            w.grad.zero_()
        check(step, loss.item(), best)
        best = min(best, loss.item())
except EarlyStop as e:
    print("stopped:", e, isinstance(e, TrainingError), isinstance(e, DivergedError), type(e).__name__)
print(f"{w.item():.6f}", f"{best:.8f}")
for value in [float("nan"), 5.0]:
    try:
        check(7, value, 1.0)
    except (DivergedError, ValueError) as e:
        print("diverged:", e)
    except TrainingError as e:
        print("other:", e, type(e).__name__)


def safe_div(a, b):
    try:
        return a / b
    except ZeroDivisionError:
        raise TrainingError("division by zero in the schedule")


try:
    safe_div(1, 0)
except Exception as e:
    print("caught", type(e).__name__, e)
try:
    raise EarlyStop
except TrainingError as e:
    print("bare class:", repr(e), isinstance(e, Exception))
