#!/usr/bin/python3
"""Independent PyTorch reference of Hugging Face's Llama forward pass (LlamaForCausalLM, and
Qwen2's biased Q/K/V), with latte's prefill elimination (DESIGN.md section 1) and a pruned KV cache.

Generates small random checkpoints in Hugging Face layout (config.json, model.safetensors) plus
golden outputs (golden.json) that latte's C++ tests compare against. The C++ tests never run this
script: its outputs are committed under tests/data/llama/.

Semantics follow transformers' modeling_llama.py (eval mode):
  h = embed_tokens[ids]                                   (no position embedding)
  per layer (pre-norm, RMSNorm: x * rsqrt(mean(x^2) + eps) * weight, computed in f32 by HF):
    q = x Wq^T (+bq), k = x Wk^T (+bk), v = x Wv^T (+bv)  heads of head_dim; n_kv_heads for k, v
    q, k rotated by rotate_half at each row's ORIGINAL position: x*cos + rotate_half(x)*sin,
      rotate_half(x) = cat(-x2, x1) over the two halves of the head; inv_freq
      theta^(-2i/head_dim), or the "llama3" rope_scaling of _compute_llama3_parameters
    P = softmax(q k^T / sqrt(head_dim), causal by original position); query head h reads
      key/value head h // (n_heads / n_kv_heads) (repeat_kv)
    h = h + (P v, heads merged) Wo^T (+bo)
    h = h + down(silu(gate(x)) * up(x)), x = post_attention_layernorm(h)
  logits = norm(h) lm_head^T                              (lm_head = embed_tokens when tied)

Prefill elimination (what latte implements), as for GPT-2: layer l receives rows R_l; K (after
rotation) and V of all of R_l become layer l's KV cache; causal ACC score of row j averaged over
ALL query heads: c(j) = (1/H) sum_h sum_{i in R_l, pos_i >= pos_j} P[h,i,j] / |{i : pos_i >= pos_j}|;
keep k = min(K[l], |R_l|) rows, the first and the last protected, the rest by score (ties to the
earlier position); only kept rows get the output projection and the MLP. Decode steps attend to
every cached row of their layer plus themselves.

Self-checks: a second implementation over the full sequence (float32 and float64) with
torch.nn.Linear modules, Meta's original rotary layout (Q and K rows permuted into adjacent pairs,
rotated as complex numbers: the layout llama.cpp uses too), repeat_interleave for the shared K/V
heads, and elimination as per-layer key masks with its own keep rule; cached decode equals the
uncached pass; a keep-all schedule equals dense.

Deterministic: numpy PCG64 generators with fixed seeds, single-threaded, fixed number formatting.

Usage: /usr/bin/python3 tools/reference/llama_reference.py --out tests/data/llama
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_reference import (LayerCache, check, emit, f32, greedy, keep_rule, maxdiff,  # noqa: E402
                            selection_margin, write_json)
from hf_reference_io import read_safetensors, write_safetensors  # noqa: E402

PROMPT_LEN = 20
GREEDY_TOKENS = 8
STEP_LOGITS = 3
CONT_LEN = 6
MAX_POSITIONS = 64

CHECKPOINTS = [
    # GQA (4 query heads over 2 KV heads), tied head, llama3 rope scaling, F32 on disk.
    dict(name="tiny", seed=6101, model_type="llama", dtype="F32", vocab=128, d=32, layers=3, heads=4,
         kv_heads=2, head_dim=None, ffn=72, tied=True, attention_bias=False, mlp_bias=False,
         theta=500000.0, scaling=dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                      original_max_position_embeddings=16),
         schedules=[[14, 9, 5], [8, 4, 2]]),
    # Untied head, attention and MLP biases, head_dim given (12 x 4 heads != 40), BF16 on disk.
    dict(name="tiny_bf16", seed=6202, model_type="llama", dtype="BF16", vocab=112, d=40, layers=2, heads=4,
         kv_heads=4, head_dim=12, ffn=64, tied=False, attention_bias=True, mlp_bias=True,
         theta=10000.0, scaling=None, schedules=[[12, 6], [6, 2]]),
    # Qwen2: Q/K/V biases, none on o_proj; multi-query (1 KV head); F16 on disk.
    dict(name="qwen2", seed=6303, model_type="qwen2", dtype="F16", vocab=150, d=32, layers=2, heads=4,
         kv_heads=1, head_dim=None, ffn=48, tied=False, attention_bias=None, mlp_bias=False,
         theta=1000000.0, scaling=None, schedules=[[12, 6], [6, 2]]),
]

ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}


def head_dim_of(spec):
    return spec["head_dim"] or spec["d"] // spec["heads"]


def biases(spec):
    """(q/k/v bias, o bias, mlp bias) of the spec's family."""
    if spec["model_type"] == "qwen2":
        return True, False, False
    return spec["attention_bias"], spec["attention_bias"], spec["mlp_bias"]


def make_weights(spec):
    rng = np.random.default_rng(spec["seed"])
    d, hd, H, KV, F = spec["d"], head_dim_of(spec), spec["heads"], spec["kv_heads"], spec["ffn"]
    qkv_b, o_b, mlp_b = biases(spec)
    w = {}

    def mat(*shape, std=0.2):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def linear(name, out_f, in_f, bias):
        w[name + ".weight"] = mat(out_f, in_f)
        if bias:
            w[name + ".bias"] = mat(out_f, std=0.1)

    def norm(name):
        w[name] = (1.0 + 0.1 * rng.standard_normal(d)).astype(np.float32)

    w["model.embed_tokens.weight"] = mat(spec["vocab"], d, std=0.5)
    for i in range(spec["layers"]):
        p = f"model.layers.{i}."
        norm(p + "input_layernorm.weight")
        linear(p + "self_attn.q_proj", H * hd, d, qkv_b)
        linear(p + "self_attn.k_proj", KV * hd, d, qkv_b)
        linear(p + "self_attn.v_proj", KV * hd, d, qkv_b)
        linear(p + "self_attn.o_proj", d, H * hd, o_b)
        norm(p + "post_attention_layernorm.weight")
        linear(p + "mlp.gate_proj", F, d, mlp_b)
        linear(p + "mlp.up_proj", F, d, mlp_b)
        linear(p + "mlp.down_proj", d, F, mlp_b)
    norm("model.norm.weight")
    if not spec["tied"]:
        w["lm_head.weight"] = mat(spec["vocab"], d, std=0.3)
    return w


def make_config(spec):
    cfg = {
        "architectures": [ARCHITECTURES[spec["model_type"]]],
        "attention_dropout": 0.0,
        "bos_token_id": spec["vocab"] - 2,
        # A list, as Llama 3 Instruct writes it: generation stops at any of them.
        "eos_token_id": [spec["vocab"] - 1, spec["vocab"] - 3],
        "hidden_act": "silu",
        "hidden_size": spec["d"],
        "initializer_range": 0.02,
        "intermediate_size": spec["ffn"],
        "max_position_embeddings": MAX_POSITIONS,
        "model_type": spec["model_type"],
        "num_attention_heads": spec["heads"],
        "num_hidden_layers": spec["layers"],
        "num_key_value_heads": spec["kv_heads"],
        "rms_norm_eps": 1e-5,
        "rope_scaling": None,
        "rope_theta": spec["theta"],
        "tie_word_embeddings": spec["tied"],
        "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[spec["dtype"]],
        "use_cache": True,
        "vocab_size": spec["vocab"],
    }
    if spec["head_dim"]:
        cfg["head_dim"] = spec["head_dim"]
    if spec["model_type"] == "llama":
        cfg["attention_bias"] = spec["attention_bias"]
        cfg["mlp_bias"] = spec["mlp_bias"]
    else:
        cfg["use_sliding_window"] = False
    if spec["scaling"]:
        cfg["rope_scaling"] = dict(spec["scaling"], rope_type="llama3")
    return cfg


def inverse_frequencies(cfg, hd):
    """transformers' default and llama3 inv_freq, in float64."""
    inv = 1.0 / (cfg["rope_theta"] ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    sc = cfg.get("rope_scaling")
    if not sc:
        return inv
    factor, low, high = sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"]
    old = sc["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old / low, old / high
    wavelen = 2 * math.pi / inv
    out = np.where(wavelen > low_wavelen, inv / factor, inv)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * out / factor + smooth * out
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return np.where(medium, smoothed, out)


# --------------------------------------------------------------------------
# Reference: plain tensor ops, float64, HF's layout.
# --------------------------------------------------------------------------
class RefLlama:
    def __init__(self, sd, cfg):
        self.sd = sd
        self.cfg = cfg
        self.H = cfg["num_attention_heads"]
        self.KV = cfg["num_key_value_heads"]
        self.d = cfg["hidden_size"]
        self.hd = cfg.get("head_dim") or self.d // self.H
        self.L = cfg["num_hidden_layers"]
        self.eps = cfg["rms_norm_eps"]
        self.inv = torch.tensor(inverse_frequencies(cfg, self.hd), dtype=torch.float64)
        self.head = sd["lm_head.weight"] if "lm_head.weight" in sd else sd["model.embed_tokens.weight"]

    def w(self, name):
        return self.sd["model." + name]

    def norm(self, x, name):
        return x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + self.eps) * self.w(name)

    def linear(self, x, name):
        y = torch.matmul(x, self.w(name + ".weight").t())
        b = "model." + name + ".bias"
        return y + self.sd[b] if b in self.sd else y

    def rotate(self, x, pos):
        """x [n, heads, hd] at positions pos: HF's rotate_half."""
        ang = torch.tensor(pos, dtype=torch.float64)[:, None] * self.inv[None, :]
        emb = torch.cat([ang, ang], dim=-1)[:, None, :]
        x1, x2 = x[..., : self.hd // 2], x[..., self.hd // 2:]
        return x * torch.cos(emb) + torch.cat([-x2, x1], dim=-1) * torch.sin(emb)

    def embed(self, ids):
        return self.w("embed_tokens.weight")[torch.tensor(ids)]

    def logits(self, h):
        return torch.matmul(self.norm(h, "norm.weight"), self.head.t())

    def layer(self, l, h, pos, cache, keep=None):
        n = h.shape[0]
        p = f"layers.{l}."
        x = self.norm(h, p + "input_layernorm.weight")
        q = self.rotate(self.linear(x, p + "self_attn.q_proj").reshape(n, self.H, self.hd), pos)
        k = self.rotate(self.linear(x, p + "self_attn.k_proj").reshape(n, self.KV, self.hd), pos)
        v = self.linear(x, p + "self_attn.v_proj").reshape(n, self.KV, self.hd)
        if cache.k is None:
            cache.k, cache.v, cache.pos = k, v, list(pos)
        else:
            assert keep is None and min(pos) > max(cache.pos)
            cache.k = torch.cat([cache.k, k], 0)
            cache.v = torch.cat([cache.v, v], 0)
            cache.pos = cache.pos + list(pos)
        group = self.H // self.KV
        kh = cache.k[:, [h // group for h in range(self.H)]]
        vh = cache.v[:, [h // group for h in range(self.H)]]
        visible = torch.tensor(cache.pos)[None, :] <= torch.tensor(pos)[:, None]
        logit = torch.einsum("ihd,jhd->hij", q, kh) / math.sqrt(self.hd)
        logit = logit.masked_fill(~visible[None], float("-inf"))
        logit = logit - logit.max(dim=-1, keepdim=True).values
        e = torch.exp(logit)
        P = e / e.sum(dim=-1, keepdim=True)
        ctx = torch.einsum("hij,jhd->ihd", P, vh).reshape(n, self.H * self.hd)
        scores = None
        kept = list(range(n))
        if keep is not None:
            assert len(cache.pos) == n
            count = visible.to(torch.float64).sum(dim=0)
            scores = (P.sum(dim=1).sum(dim=0) / self.H / count).tolist()
            kept = keep_rule(scores, keep)
        idx = torch.tensor(kept)
        h = h[idx] + self.linear(ctx[idx], p + "self_attn.o_proj")
        x = self.norm(h, p + "post_attention_layernorm.weight")
        gate = self.linear(x, p + "mlp.gate_proj")
        m = self.linear(gate * torch.sigmoid(gate) * self.linear(x, p + "mlp.up_proj"), p + "mlp.down_proj")
        return h + m, kept, scores

    def prefill(self, ids, schedule=None):
        pos = list(range(len(ids)))
        h = self.embed(ids)
        caches, kept_pos, scores = [], [], []
        for l in range(self.L):
            c = LayerCache()
            h, kept, s = self.layer(l, h, pos, c, None if schedule is None else schedule[l])
            pos = [pos[i] for i in kept]
            caches.append(c)
            kept_pos.append(list(pos))
            scores.append(s)
        return dict(caches=caches, kept_positions=kept_pos, scores=scores, h=h, pos=pos)

    def extend(self, caches, ids, pos0):
        pos = list(range(pos0, pos0 + len(ids)))
        h = self.embed(ids)
        for l in range(self.L):
            h, _, _ = self.layer(l, h, pos, caches[l])
        return self.logits(h)


# --------------------------------------------------------------------------
# Self-check: torch.nn modules over the full sequence, Meta's rotary layout.
# --------------------------------------------------------------------------
def permute_for_pairs(w, heads, hd):
    """HF's q/k rows [heads*hd, in] -> Meta's: each head's two halves interleaved into adjacent
    pairs (the inverse of transformers' convert_llama_weights_to_hf permute)."""
    return w.reshape(heads, 2, hd // 2, -1).transpose(1, 2).reshape(heads * hd, -1)


class ModuleLlama(nn.Module):
    def __init__(self, sd, cfg):
        super().__init__()
        self.H, self.KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        d = cfg["hidden_size"]
        self.hd = cfg.get("head_dim") or d // self.H
        self.eps = cfg["rms_norm_eps"]
        self.inv = torch.tensor(inverse_frequencies(cfg, self.hd), dtype=torch.float64)
        self.embed = nn.Embedding(cfg["vocab_size"], d)
        self.layers = nn.ModuleList()

        def lin(name, permute_heads=None):
            w = sd[name + ".weight"]
            b = sd.get(name + ".bias")
            if permute_heads:
                w = permute_for_pairs(w, permute_heads, self.hd)
                if b is not None:
                    b = permute_for_pairs(b[:, None], permute_heads, self.hd)[:, 0]
            m = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
            with torch.no_grad():
                m.weight.copy_(w.to(torch.float32))
                if b is not None:
                    m.bias.copy_(b.to(torch.float32))
            return m

        def gain(name):
            return nn.Parameter(sd[name].to(torch.float32).clone())

        with torch.no_grad():
            self.embed.weight.copy_(sd["model.embed_tokens.weight"].to(torch.float32))
        for i in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            layer = nn.Module()
            layer.q = lin(p + "self_attn.q_proj", self.H)
            layer.k = lin(p + "self_attn.k_proj", self.KV)
            layer.v = lin(p + "self_attn.v_proj")
            layer.o = lin(p + "self_attn.o_proj")
            layer.gate = lin(p + "mlp.gate_proj")
            layer.up = lin(p + "mlp.up_proj")
            layer.down = lin(p + "mlp.down_proj")
            layer.n1 = gain(p + "input_layernorm.weight")
            layer.n2 = gain(p + "post_attention_layernorm.weight")
            self.layers.append(layer)
        self.final = gain("model.norm.weight")
        head = sd["lm_head.weight"] if "lm_head.weight" in sd else sd["model.embed_tokens.weight"]
        self.head = nn.Parameter(head.to(torch.float32).clone())

    def rms(self, x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * g

    def rotate_pairs(self, x, n):
        """x [n, heads, hd] with adjacent pairs: multiply each pair, as a complex number, by e^(i angle)."""
        ang = torch.arange(n, dtype=torch.float64)[:, None] * self.inv[None, :]
        rot = torch.polar(torch.ones_like(ang), ang).to(torch.complex128 if x.dtype == torch.float64 else torch.complex64)
        xc = torch.view_as_complex(x.reshape(n, x.shape[1], -1, 2).contiguous())
        return torch.view_as_real(xc * rot[:, None, :]).reshape(x.shape)

    def forward(self, ids, n0, schedule=None):
        L = len(ids)
        x = self.embed(torch.tensor(ids))
        rows = list(range(n0))
        kept_pos, scores = [], []
        for i, layer in enumerate(self.layers):
            vis = torch.tensor([[(j <= q) and (j >= n0 or j in rows) for j in range(L)] for q in range(L)])
            a = self.rms(x, layer.n1)
            q = self.rotate_pairs(layer.q(a).reshape(L, self.H, self.hd), L)
            k = self.rotate_pairs(layer.k(a).reshape(L, self.KV, self.hd), L)
            v = layer.v(a).reshape(L, self.KV, self.hd)
            k = k.repeat_interleave(self.H // self.KV, dim=1)
            v = v.repeat_interleave(self.H // self.KV, dim=1)
            logit = torch.einsum("ihd,jhd->hij", q, k) / math.sqrt(self.hd)
            P = torch.softmax(logit.masked_fill(~vis[None], float("-inf")), dim=-1)
            if schedule is not None:
                Pw = P[:, rows][:, :, rows].to(torch.float64)
                n = len(rows)
                cnt = torch.arange(n, 0, -1, dtype=torch.float64)
                s = (Pw.mean(dim=0).sum(dim=0) / cnt).detach().numpy()
                kk = min(schedule[i], n)
                pri = s.copy()
                pri[0] = pri[n - 1] = np.inf
                sel = np.sort(np.argsort(-pri, kind="stable")[:kk])
                rows = [rows[j] for j in sel]
                kept_pos.append(rows)
                scores.append(s.tolist())
            # Heads back in HF's order are not needed: o_proj reads the context as Meta's model
            # does, head by head, and V was never permuted.
            x = x + layer.o(torch.einsum("hij,jhd->ihd", P, v).reshape(L, -1))
            b = self.rms(x, layer.n2)
            x = x + layer.down(nn.functional.silu(layer.gate(b)) * layer.up(b))
        logits = torch.matmul(self.rms(x, self.final), self.head.t())
        return logits.detach().to(torch.float64), kept_pos, scores


# --------------------------------------------------------------------------
# One checkpoint.
# --------------------------------------------------------------------------
def generate(spec, out_root):
    d = os.path.join(out_root, spec["name"])
    os.makedirs(d, exist_ok=True)
    cfg = make_config(spec)
    write_json(os.path.join(d, "config.json"), cfg)
    st_path = os.path.join(d, "model.safetensors")
    write_safetensors(st_path, make_weights(spec), spec["dtype"])
    sd = read_safetensors(st_path)
    model = RefLlama(sd, cfg)
    report = {}

    rng = np.random.default_rng(spec["seed"] + 17)
    V = spec["vocab"]
    prompt = [int(t) for t in rng.integers(0, V - 3, size=PROMPT_LEN)]  # special ids excluded
    cont = [int(t) for t in rng.integers(0, V - 3, size=CONT_LEN)]
    n0 = PROMPT_LEN

    dense = model.prefill(prompt)
    dense_logits = model.logits(dense["h"])
    cont_caches = [c.copy() for c in dense["caches"]]
    g_ids, g_last, g_steps, min_gap = greedy(model, dense, GREEDY_TOKENS)
    check("dense last row == prefill logits", maxdiff(g_last, dense_logits[-1]), 1e-12, report)
    full = model.prefill(prompt + g_ids[:-1])
    full_logits = model.logits(full["h"])
    check("cached decode vs uncached (f64)", maxdiff(torch.stack(g_steps), full_logits[n0:]), 1e-10, report)

    for keep_all in ([n0] * model.L, [n0 + 5] * model.L):
        st = model.prefill(prompt, keep_all)
        check("keep-all == dense", maxdiff(model.logits(st["h"]), dense_logits), 1e-12, report)

    mod32 = ModuleLlama(sd, cfg).eval()
    mod64 = ModuleLlama(sd, cfg).eval().double()
    seq = prompt + g_ids[:-1]
    check("torch.nn f32 dense", maxdiff(mod32(seq, n0)[0], full_logits), 1e-5, report)
    check("torch.nn f64 dense", maxdiff(mod64(seq, n0)[0], full_logits), 1e-10, report)

    cont_dense = model.extend(cont_caches, cont, n0)
    full_c = model.logits(model.prefill(prompt + cont)["h"])
    check("continuation dense vs uncached (f64)", maxdiff(cont_dense, full_c[n0:]), 1e-10, report)

    pruned = []
    cont_pruned = None
    min_margin = math.inf
    for si, sched in enumerate(spec["schedules"]):
        st = model.prefill(prompt, sched)
        cache_rows = [len(c.pos) for c in st["caches"]]
        for l in range(model.L):
            entering = list(range(n0)) if l == 0 else st["kept_positions"][l - 1]
            assert st["caches"][l].pos == entering
            kept_idx = [entering.index(p) for p in st["kept_positions"][l]]
            min_margin = min(min_margin, selection_margin(st["scores"][l], kept_idx))
        caches_for_cont = [c.copy() for c in st["caches"]]
        p_ids, p_last, p_steps, gap = greedy(model, st, GREEDY_TOKENS)
        min_gap = min(min_gap, gap)

        lgm, kp_m, sc_m = mod64(prompt + p_ids[:-1], n0, sched)
        assert kp_m == st["kept_positions"], (kp_m, st["kept_positions"])
        for a, b in zip(sc_m, st["scores"]):
            check("torch.nn f64 pruned scores", maxdiff(a, b), 1e-10, report)
        check("torch.nn f64 pruned logits", maxdiff(lgm[n0 - 1], p_last), 1e-10, report)
        check("torch.nn f64 pruned logits", maxdiff(lgm[n0:], torch.stack(p_steps)), 1e-10, report)
        lgm32, kp_m32, _ = mod32(prompt + p_ids[:-1], n0, sched)
        assert kp_m32 == st["kept_positions"]
        check("torch.nn f32 pruned logits", maxdiff(lgm32[n0 - 1:], torch.stack([p_last] + p_steps)), 1e-5, report)

        c_logits = model.extend(caches_for_cont, cont, n0)
        lgc, kp_c, _ = mod64(prompt + cont, n0, sched)
        assert kp_c == st["kept_positions"]
        check("torch.nn f64 pruned logits", maxdiff(lgc[n0:], c_logits), 1e-10, report)
        if si == 0:
            cont_pruned = c_logits
        pruned.append({
            "keep": list(sched),
            "kept_positions": st["kept_positions"],
            "scores": [f32(s) for s in st["scores"]],
            "last_logits": f32(p_last),
            "greedy_ids": p_ids,
            "step_logits": f32(torch.stack(p_steps[:STEP_LOGITS])),
            "cache_rows": cache_rows,
        })

    assert min_gap > 1e-3, f"greedy top-2 gap {min_gap} too small: change the seed"
    assert min_margin > 1e-5, f"selection score margin {min_margin} too small: change the seed"

    golden = {
        "prompt_ids": prompt,
        "dense": {
            "logits": f32(dense_logits),
            "last_hidden_state": f32(model.norm(dense["h"], "norm.weight")),
            "greedy_ids": g_ids,
            "step_logits": f32(torch.stack(g_steps[:STEP_LOGITS])),
        },
        "pruned": pruned,
        "continuation": {"ids": cont, "dense_logits": f32(cont_dense), "pruned_logits": f32(cont_pruned)},
    }
    gpath = os.path.join(d, "golden.json")
    with open(gpath, "w", newline="\n") as f:
        f.write(emit(golden, 0) + "\n")
    with open(gpath) as f:
        back = json.load(f)
    assert np.array_equal(np.array(back["dense"]["logits"], dtype=np.float32),
                          np.array(golden["dense"]["logits"], dtype=np.float32))

    sizes = {f: os.path.getsize(os.path.join(d, f)) for f in sorted(os.listdir(d))}
    print(f"{spec['name']}: {len(sd)} tensors, files {sizes}")
    print(f"  dense greedy {g_ids}; pruned greedy {[p['greedy_ids'] for p in pruned]}")
    print(f"  min greedy top-2 gap {min_gap:.3g}, min selection margin {min_margin:.3g}")
    for k, v in report.items():
        print(f"  self-check {k}: max abs diff {v:.3g}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory, e.g. tests/data/llama")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for spec in CHECKPOINTS:
        generate(spec, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
