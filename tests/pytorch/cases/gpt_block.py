# One pre-norm GPT block as nanoGPT writes it (assets/gpt_block.bs at fixed sizes): token and
# position nn.Embedding, LayerNorm, causal self-attention with a fused QKV nn.Linear split in
# three, heads by view + transpose(1, 2), k.transpose(-2, -1), a triu mask with masked_fill,
# softmax, gelu (tanh) MLP, residuals, and a next-token cross-entropy; every param set from a
# formula, then the loss and every param's grad (tests/pytorch/test_gpt_block.py holds them to
# 1e-10)
import torch
import torch.nn as nn
import torch.nn.functional as F

N, S, D, H, V = 2, 4, 8, 2, 11


class CausalSelfAttention(nn.Module):
    def __init__(self, d, h, s):
        super().__init__()
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.n_head = h
        self.future = torch.triu(torch.ones(s, s, dtype=torch.bool), diagonal=1)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (k.size(-1) ** -0.5)
        att = att.masked_fill(self.future, float('-inf'))
        att = F.softmax(att, dim=-1)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.c_fc = nn.Linear(d, 4 * d)
        self.c_proj = nn.Linear(4 * d, d)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate='tanh'))


class Block(nn.Module):
    def __init__(self, d, h, s):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, h, s)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = MLP(d)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, D)
        self.wpe = nn.Embedding(S, D)
        self.h = Block(D, H, S)
        self.ln_f = nn.LayerNorm(D)
        self.lm_head = nn.Linear(D, V, bias=False)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(S))
        x = self.h(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


model = GPT()
with torch.no_grad():
    k = 0
    for name, p in model.named_parameters():
        k += 1
        p.copy_((torch.sin(torch.arange(p.numel()) * 0.37 + k) * 0.4).reshape(p.shape))
idx = torch.tensor([[1, 5, 2, 9], [3, 3, 10, 0]])
targets = torch.tensor([[5, 2, 9, 4], [3, 10, 0, 7]])
loss = model(idx, targets)
loss.backward()
print(f"loss {loss.item():.15e}")
for name, p in model.named_parameters():
    g = p.grad.reshape(-1).tolist()
    print(name, " ".join(f"{v:.15e}" for v in g))
