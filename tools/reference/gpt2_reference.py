#!/usr/bin/python3
"""Independent PyTorch reference of Hugging Face's GPT-2 forward pass, with latte's prefill
elimination (DESIGN.md section 1) and a pruned KV cache.

Generates small random GPT-2 checkpoints in Hugging Face layout (config.json,
model.safetensors) plus golden outputs (golden.json) that latte's C++ tests compare against.
The C++ tests never run this script: its outputs are committed under tests/data/gpt2/.

Semantics follow transformers' modeling_gpt2.py (eval mode, no dropout):
  h = wte[ids] + wpe[positions]
  per layer (pre-norm; Conv1D: y = x @ W + b with W [in, out]):
    q,k,v = split(ln_1(h) @ c_attn.W + c_attn.b)          (q first, heads of d / n_head)
    P = softmax(q k^T / sqrt(head_dim), causal by original position: key pos <= query pos)
    h = h + (P v, heads merged) @ attn.c_proj.W + b
    h = h + mlp.c_proj(act(mlp.c_fc(ln_2(h))))
  logits = ln_f(h) @ wte^T                                 (lm_head tied, absent from the file)

Prefill elimination (what latte implements): layer l receives rows R_l (ascending original
positions, R_0 = the whole prompt). K,V of all of R_l are computed and become layer l's KV
cache; causal attention among R_l; ACC score of row j:
  c(j) = (1/H) sum_h sum_{i in R_l, pos_i >= pos_j} P[h,i,j] / |{i in R_l : pos_i >= pos_j}|
keep k = min(K[l], |R_l|) rows: the first and the last row of R_l are protected and count
toward k, the rest by highest score (ties to the earlier position), output ascending. Only
the kept rows get the attention output projection + residual and the MLP; R_{l+1} = kept.
Decode steps / continuation tokens attend, in every layer, to all of that layer's cache rows
plus themselves (and earlier new tokens) and are appended to the cache; no elimination.

The reference is written with plain tensor ops in float64 from the weights as read back from
the written safetensors file (F16 checkpoints are evaluated with their F16-rounded weights).
Self-checks: torch.nn modules (nn.Embedding, nn.LayerNorm, nn.Linear from the transposed
Conv1D weights, nn.MultiheadAttention) recompute the dense pass in float32 (1e-5) and, with
per-layer key masks over the full sequence and an independently written keep rule, the pruned
prefill, its decode steps and the continuation in float64 (1e-10); cached decode equals the
dense uncached pass over the whole sequence (1e-10); a keep-all schedule equals dense.

Deterministic: numpy PCG64 generators with fixed seeds, single-threaded, fixed number
formatting; re-running produces byte-identical files.

Usage: /usr/bin/python3 tools/reference/gpt2_reference.py --out tests/data/gpt2
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

N_POSITIONS = 64
LN_EPS = 1e-5
PROMPT_LEN = 20
GREEDY_TOKENS = 8
STEP_LOGITS = 3
CONT_LEN = 6

CHECKPOINTS = [
    dict(name="tiny", seed=5101, arch="GPT2LMHeadModel", dtype="F32", act="gelu_new",
         vocab=128, d=32, layers=3, heads=4, n_inner=None,
         schedules=[[14, 9, 5], [8, 4, 2]]),
    dict(name="tiny_f16", seed=5202, arch="GPT2LMHeadModel", dtype="F16", act="gelu",
         vocab=112, d=32, layers=3, heads=4, n_inner=None,
         schedules=[[14, 9, 5], [8, 4, 2]]),
    dict(name="base_model", seed=5303, arch="GPT2Model", dtype="F32", act="relu",
         vocab=200, d=40, layers=2, heads=4, n_inner=80,
         schedules=[[12, 6], [6, 2]]),
]

# --------------------------------------------------------------------------
# safetensors writer / reader (by hand; format: u64 LE header length, JSON
# header padded with spaces to a multiple of 8, raw little-endian data).
# --------------------------------------------------------------------------
from hf_reference_io import act_fn, read_safetensors, ref_layernorm, write_safetensors  # noqa: E402

# --------------------------------------------------------------------------
# Random weights and config in HF naming.
# --------------------------------------------------------------------------
def n_inner_of(cfg):
    return cfg["n_inner"] if cfg["n_inner"] is not None else 4 * cfg["n_embd"]


def make_weights(spec):
    rng = np.random.default_rng(spec["seed"])
    prefix = "transformer." if spec["arch"] == "GPT2LMHeadModel" else ""
    d = spec["d"]
    inner = spec["n_inner"] if spec["n_inner"] is not None else 4 * d
    w = {}

    def mat(*shape, std=0.2):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def conv1d(name, in_f, out_f):  # HF Conv1D: weight [in, out]
        w[name + ".weight"] = mat(in_f, out_f)
        w[name + ".bias"] = mat(out_f, std=0.1)

    def layernorm(name):
        w[name + ".weight"] = (1.0 + 0.1 * rng.standard_normal(d)).astype(np.float32)
        w[name + ".bias"] = (0.1 * rng.standard_normal(d)).astype(np.float32)

    w[prefix + "wte.weight"] = mat(spec["vocab"], d, std=0.5)
    w[prefix + "wpe.weight"] = mat(N_POSITIONS, d, std=0.5)
    for i in range(spec["layers"]):
        L = f"{prefix}h.{i}."
        layernorm(L + "ln_1")
        conv1d(L + "attn.c_attn", d, 3 * d)
        conv1d(L + "attn.c_proj", d, d)
        layernorm(L + "ln_2")
        conv1d(L + "mlp.c_fc", d, inner)
        conv1d(L + "mlp.c_proj", inner, d)
    layernorm(prefix + "ln_f")
    return w


def make_config(spec):
    cfg = {
        "activation_function": spec["act"],
        "architectures": [spec["arch"]],
        "attn_pdrop": 0.1,
        "bos_token_id": spec["vocab"] - 1,
        "embd_pdrop": 0.1,
        "eos_token_id": spec["vocab"] - 1,
        "initializer_range": 0.02,
        "layer_norm_epsilon": LN_EPS,
        "model_type": "gpt2",
        "n_embd": spec["d"],
        "n_head": spec["heads"],
        "n_inner": spec["n_inner"],
        "n_layer": spec["layers"],
        "n_positions": N_POSITIONS,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "tie_word_embeddings": True,
        "torch_dtype": "float16" if spec["dtype"] == "F16" else "float32",
        "use_cache": True,
        "vocab_size": spec["vocab"],
    }
    return cfg


class W:
    """Name resolution over an HF GPT-2 state dict ("transformer." prefix or none)."""

    def __init__(self, sd):
        self.sd = sd
        self.prefix = "transformer." if "transformer.wte.weight" in sd else ""
        assert "lm_head.weight" not in sd

    def __call__(self, name):
        return self.sd[self.prefix + name]


# --------------------------------------------------------------------------
# Reference: plain tensor ops, float64.
# --------------------------------------------------------------------------
def keep_rule(scores, k):
    """Indices (ascending) of the rows kept among len(scores) rows: first and last protected."""
    n = len(scores)
    if k >= n:
        return list(range(n))
    assert k >= 2, "a decoder keeps at least the first and the last row"
    rest = sorted(range(1, n - 1), key=lambda i: (-scores[i], i))[:k - 2]
    return sorted([0, n - 1] + rest)


class LayerCache:
    def __init__(self):
        self.k = None  # [m, H, hd]
        self.v = None
        self.pos = []

    def copy(self):
        c = LayerCache()
        c.k, c.v, c.pos = self.k.clone(), self.v.clone(), list(self.pos)
        return c


class RefGPT2:
    def __init__(self, sd, cfg):
        self.w = W(sd)
        self.cfg = cfg
        self.act = act_fn(cfg["activation_function"])
        self.eps = cfg["layer_norm_epsilon"]
        self.H = cfg["n_head"]
        self.d = cfg["n_embd"]
        self.hd = self.d // self.H
        self.L = cfg["n_layer"]

    def ln(self, x, name):
        return ref_layernorm(x, self.w(name + ".weight"), self.w(name + ".bias"), self.eps)

    def conv1d(self, x, name):
        return torch.matmul(x, self.w(name + ".weight")) + self.w(name + ".bias")

    def embed(self, ids, pos):
        return self.w("wte.weight")[torch.tensor(ids)] + self.w("wpe.weight")[torch.tensor(pos)]

    def logits(self, h):
        return torch.matmul(self.ln(h, "ln_f"), self.w("wte.weight").transpose(0, 1))

    def layer(self, l, h, pos, cache, keep=None):
        """Rows h [n, d] at original positions pos (ascending, after every cached position) go
        through layer l; their K,V are appended to `cache`. With keep (prefill only, cache empty
        before), the ACC scores of the n rows pick the rows that continue. Returns (h of the
        continuing rows, their indices into the n rows, scores or None)."""
        n = h.shape[0]
        p = f"h.{l}."
        qkv = self.conv1d(self.ln(h, p + "ln_1"), p + "attn.c_attn")
        q, k, v = (t.reshape(n, self.H, self.hd) for t in qkv.split(self.d, dim=-1))
        if cache.k is None:
            cache.k, cache.v, cache.pos = k, v, list(pos)
        else:
            assert keep is None and min(pos) > max(cache.pos)
            cache.k = torch.cat([cache.k, k], 0)
            cache.v = torch.cat([cache.v, v], 0)
            cache.pos = cache.pos + list(pos)
        qp = torch.tensor(pos)[:, None]
        kp = torch.tensor(cache.pos)[None, :]
        visible = kp <= qp  # [n, m]
        logit = torch.einsum("ihd,jhd->hij", q, cache.k) / math.sqrt(self.hd)
        logit = logit.masked_fill(~visible[None], float("-inf"))
        logit = logit - logit.max(dim=-1, keepdim=True).values
        e = torch.exp(logit)
        P = e / e.sum(dim=-1, keepdim=True)  # [H, n, m]
        ctx = torch.einsum("hij,jhd->ihd", P, cache.v).reshape(n, self.d)
        scores = None
        kept = list(range(n))
        if keep is not None:
            assert len(cache.pos) == n
            count = visible.to(torch.float64).sum(dim=0)  # queries that see key j
            scores = (P.sum(dim=1).sum(dim=0) / self.H / count).tolist()
            kept = keep_rule(scores, keep)
        idx = torch.tensor(kept)
        h = h[idx] + self.conv1d(ctx[idx], p + "attn.c_proj")
        m = self.conv1d(self.act(self.conv1d(self.ln(h, p + "ln_2"), p + "mlp.c_fc")), p + "mlp.c_proj")
        return h + m, kept, scores

    def prefill(self, ids, schedule=None):
        """schedule None: dense. Returns dict with caches, per-layer kept positions and scores,
        the final hidden states (ln_f not applied) and positions of the surviving rows."""
        pos = list(range(len(ids)))
        h = self.embed(ids, pos)
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
        """Decode steps / continuation: new tokens at positions pos0.. attend to each layer's
        cache plus themselves; caches are extended. Returns logits [len(ids), vocab]."""
        pos = list(range(pos0, pos0 + len(ids)))
        h = self.embed(ids, pos)
        for l in range(self.L):
            h, _, _ = self.layer(l, h, pos, caches[l])
        return self.logits(h)


def greedy(model, state, n_tokens):
    """Greedy continuation from a prefill state (its caches are extended). Returns the ids and
    the logits of every decode step (step t feeds ids[t] at position n0 + t)."""
    n0 = state["pos"][-1] + 1  # the last prompt row always survives
    last = model.logits(state["h"][-1:])[0]
    ids = [int(np.argmax(last.numpy()))]
    gaps = [top_gap(last)]
    steps = []
    for t in range(n_tokens - 1):
        lg = model.extend(state["caches"], [ids[-1]], n0 + t)[0]
        steps.append(lg)
        gaps.append(top_gap(lg))
        ids.append(int(np.argmax(lg.numpy())))
    return ids, last, steps, min(gaps)


def top_gap(lg):
    s = np.sort(lg.numpy())
    return float(s[-1] - s[-2])


def selection_margin(scores, kept):
    """Smallest score gap between a kept and a dropped unprotected row (inf if none)."""
    n = len(scores)
    if len(kept) >= n:
        return math.inf
    inner_kept = [scores[i] for i in kept if 0 < i < n - 1]
    dropped = [scores[i] for i in range(1, n - 1) if i not in kept]
    if not inner_kept or not dropped:
        return math.inf
    return min(inner_kept) - max(dropped)


# --------------------------------------------------------------------------
# Self-check: the same model assembled from torch.nn modules, over the full
# sequence, with elimination expressed as per-layer key masks.
# --------------------------------------------------------------------------
class ModuleGPT2(nn.Module):
    def __init__(self, sd, cfg):
        super().__init__()
        w = W(sd)
        d, H = cfg["n_embd"], cfg["n_head"]
        inner = n_inner_of(cfg)
        eps = cfg["layer_norm_epsilon"]
        self.H = H
        self.wte = nn.Embedding(cfg["vocab_size"], d)
        self.wpe = nn.Embedding(cfg["n_positions"], d)
        a = cfg["activation_function"]
        self.act = {"gelu": nn.GELU(), "relu": nn.ReLU()}.get(a) or nn.GELU(approximate="tanh")
        self.ln1, self.attn, self.ln2, self.fc, self.proj = (nn.ModuleList() for _ in range(5))
        for _ in range(cfg["n_layer"]):
            self.ln1.append(nn.LayerNorm(d, eps=eps))
            self.attn.append(nn.MultiheadAttention(d, H, dropout=0.0, batch_first=True))
            self.ln2.append(nn.LayerNorm(d, eps=eps))
            self.fc.append(nn.Linear(d, inner))
            self.proj.append(nn.Linear(inner, d))
        self.ln_f = nn.LayerNorm(d, eps=eps)

        def cp(param, t):
            assert param.shape == t.shape, (param.shape, t.shape)
            param.data.copy_(t.to(torch.float32))

        with torch.no_grad():
            cp(self.wte.weight, w("wte.weight"))
            cp(self.wpe.weight, w("wpe.weight"))
            for i in range(cfg["n_layer"]):
                p = f"h.{i}."
                cp(self.ln1[i].weight, w(p + "ln_1.weight"))
                cp(self.ln1[i].bias, w(p + "ln_1.bias"))
                cp(self.attn[i].in_proj_weight, w(p + "attn.c_attn.weight").t())
                cp(self.attn[i].in_proj_bias, w(p + "attn.c_attn.bias"))
                cp(self.attn[i].out_proj.weight, w(p + "attn.c_proj.weight").t())
                cp(self.attn[i].out_proj.bias, w(p + "attn.c_proj.bias"))
                cp(self.ln2[i].weight, w(p + "ln_2.weight"))
                cp(self.ln2[i].bias, w(p + "ln_2.bias"))
                cp(self.fc[i].weight, w(p + "mlp.c_fc.weight").t())
                cp(self.fc[i].bias, w(p + "mlp.c_fc.bias"))
                cp(self.proj[i].weight, w(p + "mlp.c_proj.weight").t())
                cp(self.proj[i].bias, w(p + "mlp.c_proj.bias"))
            cp(self.ln_f.weight, w("ln_f.weight"))
            cp(self.ln_f.bias, w("ln_f.bias"))

    def forward(self, ids, n0, schedule=None):
        """Full sequence ids (prompt of n0 tokens, then generated / continuation tokens).
        Prompt key rows eliminated before layer l are masked out of layer l's keys; the
        selection is done here, independently, from the module's attention weights."""
        L = len(ids)
        dt = self.wte.weight.dtype
        x = self.wte(torch.tensor([ids])) + self.wpe(torch.arange(L))[None]
        rows = list(range(n0))  # prompt positions entering the layer
        kept_pos, scores = [], []
        for i in range(len(self.attn)):
            vis = torch.tensor([[(j <= q) and (j >= n0 or j in rows) for j in range(L)] for q in range(L)])
            mask = torch.zeros(L, L, dtype=dt).masked_fill(~vis, float("-inf"))
            a = self.ln1[i](x)
            out, w = self.attn[i](a, a, a, attn_mask=mask, need_weights=True, average_attn_weights=False)
            if schedule is not None:
                Pw = w[0][:, rows][:, :, rows].to(torch.float64)  # [H, n, n] among R_l
                n = len(rows)
                cnt = torch.arange(n, 0, -1, dtype=torch.float64)  # queries at or after key j
                s = (Pw.mean(dim=0).sum(dim=0) / cnt).detach().numpy()
                k = min(schedule[i], n)
                pri = s.copy()
                pri[0] = pri[n - 1] = np.inf
                order = np.argsort(-pri, kind="stable")
                sel = np.sort(order[:k])
                rows = [rows[j] for j in sel]
                kept_pos.append(rows)
                scores.append(s.tolist())
            x = x + out
            x = x + self.proj[i](self.act(self.fc[i](self.ln2[i](x))))
        logits = torch.matmul(self.ln_f(x), self.wte.weight.t())[0]
        return logits.detach().to(torch.float64), kept_pos, scores


def require_decisive(min_gap, min_margin):
    """Golden data is meant for float32 C++ code: greedy choices and keep decisions must not
    hinge on a near tie."""
    assert min_gap > 1e-3, f"greedy top-2 gap {min_gap} too small: change the seed"
    assert min_margin > 1e-5, f"selection score margin {min_margin} too small: change the seed"


def maxdiff(a, b):
    return (torch.as_tensor(a, dtype=torch.float64) - torch.as_tensor(b, dtype=torch.float64)).abs().max().item()


def check(name, diff, tol, report):
    assert diff <= tol, f"self-check {name}: max abs diff {diff} > {tol}"
    report[name] = max(report.get(name, 0.0), diff)


# --------------------------------------------------------------------------
# Output writers.
# --------------------------------------------------------------------------
def fmt(v):
    """Shortest decimal that round-trips the float32 value (at most 9 significant digits)."""
    f = np.float32(v)
    if f == 0 or 1e-4 <= abs(f) < 1e6:
        return np.format_float_positional(f, unique=True, trim="-")
    return np.format_float_scientific(f, unique=True, trim="-")


def emit(x, indent):
    pad = " " * indent
    if isinstance(x, dict):
        items = [f'{pad}  {json.dumps(k)}: {emit(v, indent + 2)}' for k, v in x.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(x, list) and x and isinstance(x[0], (list, dict)):
        inner = ",\n".join(pad + "  " + emit(e, indent + 2) for e in x)
        return "[\n" + inner + "\n" + pad + "]"
    if isinstance(x, list):
        return "[" + ", ".join(emit(e, indent) for e in x) + "]"
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return json.dumps(x)
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, float):
        assert math.isfinite(x)
        return fmt(x)
    raise TypeError(type(x))


def f32(t):
    """Tensor -> nested lists of the float32-rounded values (as Python floats)."""
    return torch.as_tensor(t).to(torch.float32).to(torch.float64).tolist()


def write_json(path, obj):
    with open(path, "w", newline="\n") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


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
    sd = read_safetensors(st_path)  # evaluate exactly what is on disk (F16-rounded for F16)
    model = RefGPT2(sd, cfg)
    report = {}

    rng = np.random.default_rng(spec["seed"] + 17)
    V = spec["vocab"]
    prompt = [int(t) for t in rng.integers(0, V - 1, size=PROMPT_LEN)]  # eos/bos (V-1) excluded
    cont = [int(t) for t in rng.integers(0, V - 1, size=CONT_LEN)]
    n0 = PROMPT_LEN

    # Dense prefill, greedy decode with the cache.
    dense = model.prefill(prompt)
    dense_logits = model.logits(dense["h"])
    assert dense["pos"] == list(range(n0))
    cont_state = {"caches": [c.copy() for c in dense["caches"]]}
    g_ids, g_last, g_steps, gap = greedy(model, dense, GREEDY_TOKENS)
    min_gap = gap
    check("dense last row == prefill logits", maxdiff(g_last, dense_logits[-1]), 1e-12, report)

    # Cached decode == the dense pass over the whole sequence without a cache.
    full = model.prefill(prompt + g_ids[:-1])
    full_logits = model.logits(full["h"])
    check("cached decode vs uncached (f64)", maxdiff(torch.stack(g_steps), full_logits[n0:]), 1e-10, report)
    check("cached decode vs uncached (f64)", maxdiff(dense_logits, full_logits[:n0]), 1e-10, report)

    # Keep-all schedules equal dense.
    for keep_all in ([n0] * model.L, [n0 + 5] * model.L):
        st = model.prefill(prompt, keep_all)
        check("keep-all == dense", maxdiff(model.logits(st["h"]), dense_logits), 1e-12, report)
        ka_ids, _, ka_steps, _ = greedy(model, st, GREEDY_TOKENS)
        assert ka_ids == g_ids
        check("keep-all == dense", maxdiff(torch.stack(ka_steps), torch.stack(g_steps)), 1e-12, report)

    # torch.nn modules, float32 and float64, dense.
    mod32 = ModuleGPT2(sd, cfg).eval()
    mod64 = ModuleGPT2(sd, cfg).eval().double()  # exact: every weight is float32-representable
    seq = prompt + g_ids[:-1]
    lg32, _, _ = mod32(seq, n0)
    check("torch.nn f32 dense", maxdiff(lg32, full_logits), 1e-5, report)
    lg64, _, _ = mod64(seq, n0)
    check("torch.nn f64 dense", maxdiff(lg64, full_logits), 1e-10, report)

    # Continuation after the dense prefill.
    cont_dense = model.extend(cont_state["caches"], cont, n0)
    full_c = model.logits(model.prefill(prompt + cont)["h"])
    check("continuation dense vs uncached (f64)", maxdiff(cont_dense, full_c[n0:]), 1e-10, report)
    lgc, _, _ = mod64(prompt + cont, n0)
    check("torch.nn f64 dense", maxdiff(lgc, full_c), 1e-10, report)

    # Pruned schedules.
    pruned = []
    cont_pruned = None
    min_margin = math.inf
    for si, sched in enumerate(spec["schedules"]):
        assert len(sched) == model.L and all(a >= b for a, b in zip(sched, sched[1:]))
        st = model.prefill(prompt, sched)
        assert st["pos"][0] == 0 and st["pos"][-1] == n0 - 1
        cache_rows = [len(c.pos) for c in st["caches"]]
        for l in range(model.L):
            entering = list(range(n0)) if l == 0 else st["kept_positions"][l - 1]
            assert st["caches"][l].pos == entering
            assert len(st["kept_positions"][l]) == min(sched[l], len(entering))
            kept_idx = [entering.index(p) for p in st["kept_positions"][l]]
            min_margin = min(min_margin, selection_margin(st["scores"][l], kept_idx))
        caches_for_cont = [c.copy() for c in st["caches"]]
        p_ids, p_last, p_steps, gap = greedy(model, st, GREEDY_TOKENS)
        min_gap = min(min_gap, gap)

        # Independent: modules over the full sequence with per-layer key masks and their own
        # selection from nn.MultiheadAttention's weights.
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
        # Continuation token by token equals all at once.
        step_caches = [c.copy() for c in model.prefill(prompt, sched)["caches"]]
        one = torch.cat([model.extend(step_caches, [t], n0 + i) for i, t in enumerate(cont)])
        check("continuation stepwise vs batched (f64)", maxdiff(one, c_logits), 1e-10, report)
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

    require_decisive(min_gap, min_margin)

    golden = {
        "prompt_ids": prompt,
        "dense": {
            "logits": f32(dense_logits),
            "last_hidden_state": f32(model.ln(dense["h"], "ln_f")),
            "greedy_ids": g_ids,
            "step_logits": f32(torch.stack(g_steps[:STEP_LOGITS])),
        },
        "pruned": pruned,
        "continuation": {
            "ids": cont,
            "dense_logits": f32(cont_dense),
            "pruned_logits": f32(cont_pruned),
        },
    }
    gpath = os.path.join(d, "golden.json")
    with open(gpath, "w", newline="\n") as f:
        f.write(emit(golden, 0) + "\n")

    # What a C++ reader will see: parse the golden back, compare with the float32 values.
    with open(gpath) as f:
        back = json.load(f)

    def same(a, b):
        return np.array_equal(np.array(a, dtype=np.float32), np.array(b, dtype=np.float32))

    assert back["prompt_ids"] == prompt
    for k in ("logits", "last_hidden_state", "step_logits"):
        assert same(back["dense"][k], golden["dense"][k]), k
    for a, b in zip(back["pruned"], pruned):
        for k in ("last_logits", "step_logits"):
            assert same(a[k], b[k]), k
        for x, y in zip(a["scores"], b["scores"]):
            assert same(x, y)
        assert a["kept_positions"] == b["kept_positions"] and a["greedy_ids"] == b["greedy_ids"]
    for k in ("dense_logits", "pruned_logits"):
        assert same(back["continuation"][k], golden["continuation"][k]), k

    sizes = {f: os.path.getsize(os.path.join(d, f)) for f in sorted(os.listdir(d))}
    print(f"{spec['name']}: {len(sd)} tensors, files {sizes}")
    print(f"  dense greedy {g_ids}; pruned greedy {[p['greedy_ids'] for p in pruned]}")
    print(f"  kept positions {[p['kept_positions'] for p in pruned]}")
    print(f"  min greedy top-2 gap {min_gap:.3g}, min selection margin {min_margin:.3g}")
    for k, v in report.items():
        print(f"  self-check {k}: max abs diff {v:.3g}")
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory, e.g. tests/data/gpt2")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for spec in CHECKPOINTS:
        generate(spec, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
