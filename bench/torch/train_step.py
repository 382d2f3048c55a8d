"""Times training steps of a LLaMA-style model in PyTorch on the CPU.

The model is the architecture of synthloop's engine/llama with the config
that main.go trains: token embedding, per layer RMSNorm -> causal
self-attention with RoPE (interleaved pairs, theta 10000) -> residual,
RMSNorm -> SwiGLU MLP (w2(silu(w1 x) * w3 x)) -> residual, a final RMSNorm
and an output head tied to the embedding; no biases. A step is what
engine/train's SFT step does: forward, mean cross-entropy over every
position, backward, clip_grad_norm_(1.0), AdamW (betas 0.9/0.95, eps 1e-8,
weight decay 0.1 on the projection matrices only). It prints one RESULT
line in the format of main.go. Run it through run.sh.
"""

import argparse
import math
import os
import sys
import time

CONFIGS = {
    # name: (layers, dim, heads, hidden, batch, seq)
    "A": (2, 128, 4, 512, 32, 64),
    "B": (6, 384, 6, 1536, 8, 256),
}

ap = argparse.ArgumentParser()
ap.add_argument("--config", default="A", choices=sorted(CONFIGS))
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--steps", type=int, default=10)
ap.add_argument("--warmup", type=int, default=2)
ap.add_argument("--vocab", type=int, default=32)
ap.add_argument("--foreach", choices=["default", "on", "off"], default="default",
                help="AdamW's multi-tensor implementation")
ap.add_argument("--check", metavar="DIR",
                help="instead of timing, load the weights main.go -check saved in DIR and print the loss "
                     "and gradient norm of one step on its fixed sequence")
args = ap.parse_args()

# OpenBLAS (Debian's torch does its matrix products through libblas.so.3,
# which is OpenBLAS here) reads its thread count when it loads.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, str(args.threads))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(1)

LAYERS, DIM, HEADS, HIDDEN, BATCH, SEQ = CONFIGS[args.config]
VOCAB, EPS, THETA = args.vocab, 1e-5, 10000.0
HD = DIM // HEADS


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * self.weight


def rope(x, cos, sin):
    # x: [B, T, H, hd]; rotates each adjacent pair (2i, 2i+1) by pos*theta_i.
    b, t, h, hd = x.shape
    xr = x.view(b, t, h, hd // 2, 2)
    x0, x1 = xr[..., 0], xr[..., 1]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).view(b, t, h, hd)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention_norm = RMSNorm(DIM)
        self.wq = nn.Linear(DIM, DIM, bias=False)
        self.wk = nn.Linear(DIM, DIM, bias=False)
        self.wv = nn.Linear(DIM, DIM, bias=False)
        self.wo = nn.Linear(DIM, DIM, bias=False)
        self.ffn_norm = RMSNorm(DIM)
        self.w1 = nn.Linear(DIM, HIDDEN, bias=False)
        self.w2 = nn.Linear(HIDDEN, DIM, bias=False)
        self.w3 = nn.Linear(DIM, HIDDEN, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, d = x.shape
        h = self.attention_norm(x)
        q = rope(self.wq(h).view(b, t, HEADS, HD), cos, sin).transpose(1, 2)
        k = rope(self.wk(h).view(b, t, HEADS, HD), cos, sin).transpose(1, 2)
        v = self.wv(h).view(b, t, HEADS, HD).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(HD))
        att = att.masked_fill(mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.wo(y)
        h = self.ffn_norm(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class Llama(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_embeddings = nn.Embedding(VOCAB, DIM)
        self.layers = nn.ModuleList(Block() for _ in range(LAYERS))
        self.norm = RMSNorm(DIM)
        self.output = nn.Linear(DIM, VOCAB, bias=False)
        self.output.weight = self.tok_embeddings.weight  # tied head
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * LAYERS) if name.endswith(("wo.weight", "w2.weight")) else 0.02
                nn.init.normal_(p, std=std)
        inv = THETA ** (-torch.arange(0, HD, 2, dtype=torch.float64) / HD)
        ang = torch.arange(SEQ, dtype=torch.float64)[:, None] * inv[None, :]  # [T, hd/2]
        self.register_buffer("cos", ang.cos().float()[None, :, None, :], persistent=False)
        self.register_buffer("sin", ang.sin().float()[None, :, None, :], persistent=False)
        self.register_buffer("mask", torch.ones(SEQ, SEQ, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, tokens):
        x = self.tok_embeddings(tokens)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin, self.mask)
        return self.output(self.norm(x))


model = Llama()
params = sum(p.numel() for p in model.parameters())  # the tied matrix once
decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "tok_embeddings" not in n]
no_decay = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "tok_embeddings" not in n)]
opt_kw = {} if args.foreach == "default" else {"foreach": args.foreach == "on"}
opt = torch.optim.AdamW(
    [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
    lr=1e-4, betas=(0.9, 0.95), eps=1e-8, **opt_kw)

# 64 random sequences of SEQ+1 tokens; each step samples BATCH of them.
gen = torch.Generator().manual_seed(1)
pool = torch.randint(0, VOCAB, (64, SEQ + 1), generator=gen)


def load_safetensors(path):
    import json
    import struct
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", e
        lo, hi = e["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[8 + n + lo:8 + n + hi]), dtype=torch.float32).view(e["shape"])
    return out


if args.check:
    # Module names differ from Meta's only by the attention./feed_forward.
    # prefixes; the output head is tied.
    w = load_safetensors(os.path.join(args.check, "model.safetensors"))
    own = dict(model.named_parameters())
    with torch.no_grad():
        for name, t in w.items():
            key = name.replace("attention.w", "w").replace("feed_forward.", "")
            own[key].copy_(t)
    assert len(w) == len(own), (sorted(w), sorted(own))
    seq = torch.tensor([(7 * j + 3) % VOCAB for j in range(SEQ + 1)])
    rows = seq.repeat(BATCH, 1)
    logits = model(rows[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), rows[:, 1:].reshape(-1))
    loss.backward()
    gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    print(f"CHECK impl=torch config={args.config} loss={loss.item():.6f} grad_norm={gn.item():.6f}")
    sys.exit(0)


def step():
    rows = pool[torch.randint(0, 64, (BATCH,), generator=gen)]
    x, y = rows[:, :-1], rows[:, 1:]
    opt.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


first = last = float("nan")
for i in range(args.warmup):
    loss = step()
    if i == 0:
        first = loss
t0, c0 = time.perf_counter(), time.process_time()
for _ in range(args.steps):
    last = step()
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
tokens = args.steps * BATCH * SEQ
print(f"RESULT impl=torch config={args.config} threads={torch.get_num_threads()} params={params} "
      f"tokens_per_s={tokens / wall:.1f} tokens_per_cpu_s={tokens / cpu:.1f} step_ms={1000 * wall / args.steps:.2f} "
      f"first_loss={first:.4f} last_loss={last:.4f} torch={torch.__version__}")
sys.stdout.flush()
