#!/usr/bin/python3
"""Reference gradients for src/train, computed with PyTorch in float64.

Writes tests/fixtures/train/<name>.bin for tiny llama configurations (GQA
with a separate output head; MQA with a tied head; GQA with a sliding window
on some layers) and tiny deepseek2 (MLA) configurations (plain attn_q; low-rank
query with a tied head). Each fixture holds
the configuration, inputs/targets, initial weights, logits, loss, the
gradient of every weight, and the losses + final weights of 10 AdamW steps
(bias correction, decoupled weight decay on matrices and embeddings but not
on norm weights, gradient clipping by global norm). The C++ test
src/train/torch_reference_test.cpp reads these files; CI never needs torch.

The model follows llama.cpp's llama graph exactly as src/train implements it:
RMSNorm (x * rstd) * w; RoPE in ggml NORM mode (adjacent pairs) with angles
built by float32 repeated multiplication like ggml's rope cache; causal
attention with query head h reading KV head h // (NH / NKV), scale
1/sqrt(head_dim), on sliding-window layers query i sees key j iff
0 <= i - j < window; SwiGLU MLP; mean cross-entropy over all B*T positions.

Run: /usr/bin/python3 scripts/torch_reference.py  (Debian python3-torch)

File format (little-endian): b"EFFX", u32 version=1, u32 n_arrays, then per
array: u32 name_len, name bytes, u32 dtype (0 = f32, 1 = i32), u32 ndim,
i64 dims[ndim], then the elements.
"""
import os
import struct
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

CONFIGS = [
    dict(name="gqa_untied", vocab=64, embd=32, layers=2, heads=4, kv_heads=2, ff=64,
         seq=16, batch=2, tied=False, seed=1),
    dict(name="mqa_tied", vocab=48, embd=24, layers=1, heads=3, kv_heads=1, ff=40,
         seq=8, batch=2, tied=True, seed=2),
    # Sliding window 5 < seq 12 with pattern 2: layers 0 and 2 windowed, 1 global.
    dict(name="swa_gqa", vocab=40, embd=24, layers=3, heads=4, kv_heads=2, ff=32,
         seq=12, batch=2, tied=False, seed=3, window=5, swa_pattern=2),
    # deepseek2 Multi-head Latent Attention (decompressed form), plain attn_q.
    dict(name="mla_plain_q", vocab=40, embd=24, layers=2, heads=3, kv_heads=3, ff=32,
         seq=10, batch=2, tied=False, seed=6,
         mla=dict(kv_lora_rank=8, q_lora_rank=0, nope=6, rope=4, v=5)),
    # ... with a low-rank query (attn_q_a, attn_q_a_norm, attn_q_b) and a tied head.
    dict(name="mla_q_lora", vocab=36, embd=16, layers=1, heads=2, kv_heads=2, ff=24,
         seq=8, batch=2, tied=True, seed=5,
         mla=dict(kv_lora_rank=6, q_lora_rank=10, nope=4, rope=4, v=6)),
]
RMS_EPS = 1e-5
ROPE_BASE = 10000.0
ADAM = dict(lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, clip=1.0, steps=10)


def param_layout(c):
    """(name, shape as [out, in] / [n], is_norm) in the GGUF tensor order."""
    if "mla" in c:
        return mla_param_layout(c)
    C, F, V = c["embd"], c["ff"], c["vocab"]
    hd = C // c["heads"]
    qd, kd = c["heads"] * hd, c["kv_heads"] * hd
    out = [("token_embd.weight", (V, C), False)]
    for l in range(c["layers"]):
        p = f"blk.{l}."
        out += [(p + "attn_norm.weight", (C,), True), (p + "attn_q.weight", (qd, C), False),
                (p + "attn_k.weight", (kd, C), False), (p + "attn_v.weight", (kd, C), False),
                (p + "attn_output.weight", (C, qd), False), (p + "ffn_norm.weight", (C,), True),
                (p + "ffn_gate.weight", (F, C), False), (p + "ffn_up.weight", (F, C), False),
                (p + "ffn_down.weight", (C, F), False)]
    out.append(("output_norm.weight", (C,), True))
    if not c["tied"]:
        out.append(("output.weight", (V, C), False))
    return out


def mla_param_layout(c):
    """deepseek2 tensors; shapes in numpy order (ggml ne reversed): attn_k_b
    ne {nope, r, NH} is (NH, r, nope), attn_v_b ne {r, hv, NH} is (NH, hv, r)."""
    C, F, V, NH = c["embd"], c["ff"], c["vocab"], c["heads"]
    m = c["mla"]
    r, ql, nope, rope, hv = m["kv_lora_rank"], m["q_lora_rank"], m["nope"], m["rope"], m["v"]
    hk = nope + rope
    out = [("token_embd.weight", (V, C), False)]
    for l in range(c["layers"]):
        p = f"blk.{l}."
        out.append((p + "attn_norm.weight", (C,), True))
        if ql > 0:
            out += [(p + "attn_q_a.weight", (ql, C), False),
                    (p + "attn_q_a_norm.weight", (ql,), True),
                    (p + "attn_q_b.weight", (NH * hk, ql), False)]
        else:
            out.append((p + "attn_q.weight", (NH * hk, C), False))
        out += [(p + "attn_kv_a_mqa.weight", (r + rope, C), False),
                (p + "attn_kv_a_norm.weight", (r,), True),
                (p + "attn_k_b.weight", (NH, r, nope), False),
                (p + "attn_v_b.weight", (NH, hv, r), False),
                (p + "attn_output.weight", (C, NH * hv), False),
                (p + "ffn_norm.weight", (C,), True),
                (p + "ffn_gate.weight", (F, C), False), (p + "ffn_up.weight", (F, C), False),
                (p + "ffn_down.weight", (C, F), False)]
    out.append(("output_norm.weight", (C,), True))
    if not c["tied"]:
        out.append(("output.weight", (V, C), False))
    return out


def init_weights(c, rng):
    """Weights large enough that attention and the MLP are far from trivial."""
    w = {}
    for name, shape, is_norm in param_layout(c):
        if is_norm:
            a = 1.0 + 0.1 * rng.standard_normal(shape)
        elif name == "token_embd.weight":
            a = rng.standard_normal(shape)
        elif name.endswith("attn_k_b.weight"):  # contracts over the latent (axis 1)
            a = rng.standard_normal(shape) / np.sqrt(shape[1])
        elif len(shape) == 3:
            a = rng.standard_normal(shape) / np.sqrt(shape[2])
        else:
            a = rng.standard_normal(shape) / np.sqrt(shape[1])
        w[name] = a.astype(np.float32)
    return w


def rope_tables(T, n_rot):
    """cos/sin [T, n_rot/2] with float32 angles built like ggml's rope cache."""
    theta_scale = np.float32(np.power(np.float32(ROPE_BASE), np.float32(-2.0) / np.float32(n_rot)))
    cos = np.zeros((T, n_rot // 2))
    sin = np.zeros((T, n_rot // 2))
    for t in range(T):
        theta = np.float32(t)
        for i in range(n_rot // 2):
            cos[t, i] = np.cos(np.float64(theta))
            sin[t, i] = np.sin(np.float64(theta))
            theta = np.float32(theta * theta_scale)
    return torch.tensor(cos), torch.tensor(sin)


def rope_fn(x, cos, sin):
    return rope(x, cos, sin)


def rmsnorm(x, w):
    rstd = torch.rsqrt((x * x).mean(-1, keepdim=True) + RMS_EPS)
    return (x * rstd) * w


def rope(x, cos, sin):
    # x: [B, T, H, hd]; pairs (2i, 2i+1), all of the last axis rotated.
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    out = torch.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def is_swa(c, il):
    """llama.cpp's set_swa_pattern as ModelConfig::is_swa: pattern 0 = every layer."""
    W, P = c.get("window", 0), c.get("swa_pattern", 0)
    return W > 0 and (P == 0 or il % P < P - 1)


def attention_mask(c, il, T):
    """[T, T] bool: query i sees key j iff 0 <= i - j (< window on windowed layers)."""
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    mask = j <= i
    if is_swa(c, il):
        mask = mask & (i - j < c["window"])
    return mask


def mla_attention(c, p, q_, xn, cos, sin, mask):
    """deepseek2 MLA in the decompressed form, as src/model/deepseek2_forward.cpp:
    q = xn Wq^T (or rmsnorm(xn Wq_a^T) * q_a_norm, then Wq_b); [q_nope | q_pe]
    per head, RoPE (NORM) on q_pe; kv = xn Wkv_a^T = [latent | k_pe], RoPE on
    the shared k_pe; c = rmsnorm(latent) * kv_a_norm; k_nope[h] = c W_kb[h]
    (W_kb[h]: [r, nope]), v[h] = W_vb[h] c (W_vb[h]: [hv, r]); scores
    (q_nope.k_nope + q_pe.k_pe) / sqrt(nope + rope)."""
    B, T, _ = xn.shape
    NH = c["heads"]
    m = c["mla"]
    r, ql, nope, rope, hv = m["kv_lora_rank"], m["q_lora_rank"], m["nope"], m["rope"], m["v"]
    hk = nope + rope
    if ql > 0:
        qa = rmsnorm(xn @ p[q_ + "attn_q_a.weight"].T, p[q_ + "attn_q_a_norm.weight"])
        q = qa @ p[q_ + "attn_q_b.weight"].T
    else:
        q = xn @ p[q_ + "attn_q.weight"].T
    q = q.view(B, T, NH, hk)
    q = torch.cat([q[..., :nope], rope_fn(q[..., nope:], cos, sin)], dim=-1)
    kv = xn @ p[q_ + "attn_kv_a_mqa.weight"].T  # [B, T, r + rope]
    k_pe = rope_fn(kv[..., r:].reshape(B, T, 1, rope), cos, sin)
    lat = rmsnorm(kv[..., :r], p[q_ + "attn_kv_a_norm.weight"])  # [B, T, r]
    k_nope = torch.einsum("btj,hji->bthi", lat, p[q_ + "attn_k_b.weight"])
    v = torch.einsum("btj,hdj->bthd", lat, p[q_ + "attn_v_b.weight"])
    k = torch.cat([k_nope, k_pe.expand(B, T, NH, rope)], dim=-1)
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, T, *]
    s = (q @ k.transpose(-1, -2)) / np.sqrt(hk)
    s = s.masked_fill(~mask, float("-inf"))
    return (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, NH * hv)


def forward(c, p, ids, targets, cos, sin):
    B, T = ids.shape
    C, NH, NKV = c["embd"], c["heads"], c["kv_heads"]
    hd = C // NH
    x = p["token_embd.weight"][ids]  # [B, T, C]
    for l in range(c["layers"]):
        mask = attention_mask(c, l, T)
        q_ = f"blk.{l}."
        xn = rmsnorm(x, p[q_ + "attn_norm.weight"])
        if "mla" in c:
            y = mla_attention(c, p, q_, xn, cos, sin, mask)
            x = x + y @ p[q_ + "attn_output.weight"].T
            xn = rmsnorm(x, p[q_ + "ffn_norm.weight"])
            g = xn @ p[q_ + "ffn_gate.weight"].T
            u = xn @ p[q_ + "ffn_up.weight"].T
            x = x + (torch.nn.functional.silu(g) * u) @ p[q_ + "ffn_down.weight"].T
            continue
        q = (xn @ p[q_ + "attn_q.weight"].T).view(B, T, NH, hd)
        k = (xn @ p[q_ + "attn_k.weight"].T).view(B, T, NKV, hd)
        v = (xn @ p[q_ + "attn_v.weight"].T).view(B, T, NKV, hd)
        q, k = rope_fn(q, cos, sin), rope_fn(k, cos, sin)
        group = NH // NKV
        k = k.repeat_interleave(group, dim=2)  # head h -> kv head h // group
        v = v.repeat_interleave(group, dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, T, hd]
        s = (q @ k.transpose(-1, -2)) / np.sqrt(hd)
        s = s.masked_fill(~mask, float("-inf"))
        y = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, NH * hd)
        x = x + y @ p[q_ + "attn_output.weight"].T
        xn = rmsnorm(x, p[q_ + "ffn_norm.weight"])
        g = xn @ p[q_ + "ffn_gate.weight"].T
        u = xn @ p[q_ + "ffn_up.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ p[q_ + "ffn_down.weight"].T
    xf = rmsnorm(x, p["output_norm.weight"])
    w_out = p["token_embd.weight"] if c["tied"] else p["output.weight"]
    logits = xf @ w_out.T  # [B, T, V]
    loss = torch.nn.functional.cross_entropy(logits.view(B * T, -1), targets.view(-1))
    return logits, loss


def check_gradient_resolution(c, params, layout):
    """A nonzero gradient element below ~2e-6 of its tensor's largest is at the
    limit of F32 resolution (it is a sum of much larger terms that cancel).
    AdamW normalises it to a step of about lr whose sign is then arbitrary, so
    the 10-step weight comparison would test rounding, not the code: such a
    configuration needs another seed. (Exact zeros, e.g. unused embedding rows,
    are exact in F32 too; token_embd rows gather few terms and are exempt.)"""
    for n, _, _ in layout:
        if n == "token_embd.weight":
            continue
        g = params[n].grad.abs()
        tiny = (g > 0) & (g < 2e-6 * g.max())
        if bool(tiny.any()):
            raise SystemExit(f"{c['name']}: {n} has gradient elements below F32 resolution; "
                             "pick another seed")


class Fixture:
    def __init__(self):
        self.arrays = []

    def add(self, name, array, dtype):
        a = np.ascontiguousarray(array, dtype=np.float32 if dtype == 0 else np.int32)
        self.arrays.append((name, dtype, a))

    def write(self, path):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(b"EFFX" + struct.pack("<II", 1, len(self.arrays)))
            for name, dtype, a in self.arrays:
                nb = name.encode()
                f.write(struct.pack("<I", len(nb)) + nb + struct.pack("<II", dtype, a.ndim))
                f.write(struct.pack(f"<{a.ndim}q", *a.shape))
                f.write(a.astype("<f4" if dtype == 0 else "<i4").tobytes())
        os.replace(tmp, path)


def make_fixture(c, out_dir):
    rng = np.random.default_rng(c["seed"])
    B, T, V = c["batch"], c["seq"], c["vocab"]
    tokens = rng.integers(0, V, size=(B, T + 1))
    ids, targets = tokens[:, :-1], tokens[:, 1:]
    w0 = init_weights(c, rng)
    layout = param_layout(c)
    hd = c["embd"] // c["heads"]
    n_rot = c["mla"]["rope"] if "mla" in c else hd
    cos, sin = rope_tables(T, n_rot)
    ids_t, tgt_t = torch.tensor(ids), torch.tensor(targets)

    params = {n: torch.tensor(w0[n].astype(np.float64), requires_grad=True) for n, _, _ in layout}
    logits, loss = forward(c, params, ids_t, tgt_t, cos, sin)
    loss.backward()
    check_gradient_resolution(c, params, layout)

    fx = Fixture()
    fx.add("config", [V, c["embd"], c["layers"], c["heads"], c["kv_heads"], c["ff"], T, B,
                      int(c["tied"]), n_rot], 1)
    if c.get("window", 0) > 0:  # only windowed fixtures carry it (older files unchanged)
        fx.add("swa", [c["window"], c["swa_pattern"]], 1)
    if "mla" in c:  # deepseek2: {kv_lora_rank, q_lora_rank, nope, rope, v head}
        m = c["mla"]
        fx.add("mla", [m["kv_lora_rank"], m["q_lora_rank"], m["nope"], m["rope"], m["v"]], 1)
    fx.add("hparams", [RMS_EPS, ROPE_BASE, ADAM["lr"], ADAM["beta1"], ADAM["beta2"], ADAM["eps"],
                       ADAM["weight_decay"], ADAM["clip"]], 0)
    fx.add("ids", ids, 1)
    fx.add("targets", targets, 1)
    for n, _, _ in layout:
        fx.add("w." + n, w0[n], 0)
    fx.add("logits", logits.detach().numpy().reshape(B * T, V), 0)
    fx.add("loss", [loss.item()], 0)
    for n, _, _ in layout:
        fx.add("g." + n, params[n].grad.numpy(), 0)

    # 10 AdamW steps from the same weights on the same batch.
    params = {n: torch.tensor(w0[n].astype(np.float64), requires_grad=True) for n, _, _ in layout}
    decay = [params[n] for n, _, is_norm in layout if not is_norm]
    no_decay = [params[n] for n, _, is_norm in layout if is_norm]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": ADAM["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=ADAM["lr"], betas=(ADAM["beta1"], ADAM["beta2"]), eps=ADAM["eps"])
    losses, norms = [], []
    for _ in range(ADAM["steps"]):
        opt.zero_grad()
        _, loss = forward(c, params, ids_t, tgt_t, cos, sin)
        loss.backward()
        norms.append(torch.nn.utils.clip_grad_norm_(list(params.values()), ADAM["clip"]).item())
        opt.step()
        losses.append(loss.item())
    fx.add("adam_losses", losses, 0)
    fx.add("adam_grad_norms", norms, 0)
    for n, _, _ in layout:
        fx.add("w10." + n, params[n].detach().numpy(), 0)
    path = os.path.join(out_dir, c["name"] + ".bin")
    fx.write(path)
    print(f"{path}: loss {losses[0]:.6f} -> {losses[-1]:.6f}, grad norm {norms[0]:.4f}")


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "fixtures", "train")
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    for c in CONFIGS:
        make_fixture(c, out_dir)


if __name__ == "__main__":
    main()
