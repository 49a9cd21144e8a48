# print() with f-strings and the format specs PyTorch code uses: .4f .6f .3e d 15s >10s.
import torch; torch.set_default_dtype(torch.bfloat16)  # gen.py: the cast
import torch

w = torch.tensor([0.123456789, -2.5, 1000.0], requires_grad=True)
loss = (w ** 2).sum() / 3
loss.backward()
print(f"loss: {loss.item():.4f}")
print(f"loss: {loss.item():.6f}")
print(f"loss: {loss.item():.3e}")
print(f"loss: {loss.item()}")
for i, name in enumerate(["small", "negative", "large"]):
    g = w.grad[i].item()
    print(f"{i:3d} {name:15s}|{g:10.4f}|{name:>10s}|")
print(f"epoch {7:02d}/{20}, lr={0.01}, ok={True}")
print("plain", 3, 2.5, "words", None, False)
print(f"{'w':<4s}= {w[0].item():+.5f}")
