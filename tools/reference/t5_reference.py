#!/usr/bin/python3
"""Independent PyTorch reference of Hugging Face's T5 (T5ForConditionalGeneration, eval mode),
with latte's encoder elimination (DESIGN.md section 1, T5).

Generates small random T5 checkpoints in Hugging Face layout (config.json, model.safetensors)
plus golden outputs (golden.json) that latte's C++ tests compare against. The C++ tests never
run this script: its outputs are committed under tests/data/t5/.

Semantics follow transformers' modeling_t5.py (no dropout):
  rms(x, g) = x / sqrt(mean(x^2) + eps) * g                    (no mean, no bias)
  attention: softmax(q k^T + bias) v, NO 1/sqrt(d_kv) scaling; q,k,v,o without bias
  relative bias: block 0 of each stack owns relative_attention_bias [buckets, heads], shared by
    all blocks of the stack; the encoder's buckets are bidirectional (half per direction), the
    decoder's causal; bucket(key_pos - query_pos) as _relative_position_bucket (float32 log)
  encoder block: h += SelfAttention(rms(h)); h += FFN(rms(h)); out = rms(h, final_layer_norm)
  decoder block: h += causal SelfAttention(rms(h)); h += EncDecAttention(rms(h), memory) (no
    bias); h += FFN(rms(h)); logits = lm_head(rms(h, final) * (d_model^-0.5 if tied))
  FFN: relu: wo(relu(wi x)); gated-gelu: wo(gelu_tanh(wi_0 x) * wi_1 x)

Encoder elimination: layer l receives rows R_l (ascending original positions); attention among
R_l with the bias of their ORIGINAL positions; ACC score c(j) = (1/H) sum_h sum_{i in R_l}
P[h,i,j]; keep k = min(K[l], |R_l|): the last row (the final </s>) protected and counted, the
rest by highest score (ties to the earlier position), ascending; only the kept rows get the
output projection, residual and FFN. The decoder cross-attends to the rows leaving the last
layer.

Self-checks (float64, from the weights as read back from the written file, so BF16 checkpoints
are evaluated with their rounded weights): the float32 bucket formula equals an independently
written float64 one for every distance used (no bucket hinges on rounding); the cached decoder
equals the uncached pass over the whole target (1e-10); keep-all equals dense; the pruned
encoder equals a full-length encoder whose eliminated rows are masked out of each layer's keys,
with its own numpy selection (1e-10); greedy ids and kept rows do not hinge on near ties.

Deterministic: numpy PCG64 generators with fixed seeds, single-threaded, fixed formatting.

Usage: /usr/bin/python3 tools/reference/t5_reference.py --out tests/data/t5
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

from hf_reference_io import act_fn, read_safetensors, write_safetensors
from gpt2_reference import check, emit, f32, maxdiff, require_decisive, top_gap, write_json

SOURCE_LEN = 12
GREEDY_TOKENS = 6
STEP_LOGITS = 3
PAD, EOS = 0, 1

CHECKPOINTS = [
    dict(name="tiny_gated", seed=7101, dtype="F32", ffn="gated-gelu", tied=True, vocab=128, d=32,
         d_kv=8, heads=4, d_ff=64, layers=2, dec_layers=3, buckets=8, max_distance=24,
         schedules=[[8, 4], [5, 3]]),
    dict(name="tiny_relu", seed=7202, dtype="BF16", ffn="relu", tied=False, vocab=112, d=32,
         d_kv=6, heads=4, d_ff=48, layers=2, dec_layers=2, buckets=8, max_distance=20,
         schedules=[[9, 6], [4, 2]]),
]


def make_config(spec):
    return {
        "architectures": ["T5ForConditionalGeneration"],
        "d_ff": spec["d_ff"],
        "d_kv": spec["d_kv"],
        "d_model": spec["d"],
        "decoder_start_token_id": PAD,
        "dropout_rate": 0.1,
        "eos_token_id": EOS,
        "feed_forward_proj": spec["ffn"],
        "initializer_factor": 1.0,
        "is_encoder_decoder": True,
        "layer_norm_epsilon": 1e-6,
        "model_type": "t5",
        "num_decoder_layers": spec["dec_layers"],
        "num_heads": spec["heads"],
        "num_layers": spec["layers"],
        "pad_token_id": PAD,
        "relative_attention_max_distance": spec["max_distance"],
        "relative_attention_num_buckets": spec["buckets"],
        "tie_word_embeddings": spec["tied"],
        "torch_dtype": "bfloat16" if spec["dtype"] == "BF16" else "float32",
        "vocab_size": spec["vocab"],
    }


def make_weights(spec):
    rng = np.random.default_rng(spec["seed"])
    d, inner, f = spec["d"], spec["heads"] * spec["d_kv"], spec["d_ff"]
    w = {}

    def mat(*shape, std=0.2):
        w_ = (rng.standard_normal(shape) * std).astype(np.float32)
        return w_

    def norm(name):
        w[name] = (1.0 + 0.1 * rng.standard_normal(d)).astype(np.float32)

    w["shared.weight"] = mat(spec["vocab"], d, std=0.5)
    for stack, n_layers in (("encoder", spec["layers"]), ("decoder", spec["dec_layers"])):
        for i in range(n_layers):
            b = f"{stack}.block.{i}.layer."
            norm(b + "0.layer_norm.weight")
            for m in "qkv":
                w[b + f"0.SelfAttention.{m}.weight"] = mat(inner, d)
            w[b + "0.SelfAttention.o.weight"] = mat(d, inner)
            if i == 0:
                w[b + "0.SelfAttention.relative_attention_bias.weight"] = mat(spec["buckets"], spec["heads"], std=0.5)
            ffn = 1
            if stack == "decoder":
                norm(b + "1.layer_norm.weight")
                for m in "qkv":
                    w[b + f"1.EncDecAttention.{m}.weight"] = mat(inner, d)
                w[b + "1.EncDecAttention.o.weight"] = mat(d, inner)
                ffn = 2
            norm(b + f"{ffn}.layer_norm.weight")
            if spec["ffn"].startswith("gated"):
                w[b + f"{ffn}.DenseReluDense.wi_0.weight"] = mat(f, d)
                w[b + f"{ffn}.DenseReluDense.wi_1.weight"] = mat(f, d)
            else:
                w[b + f"{ffn}.DenseReluDense.wi.weight"] = mat(f, d)
            w[b + f"{ffn}.DenseReluDense.wo.weight"] = mat(d, f)
        norm(f"{stack}.final_layer_norm.weight")
    if not spec["tied"]:
        w["lm_head.weight"] = mat(spec["vocab"], d, std=0.5)
    return w


def bucket_hf(relative_position, bidirectional, num_buckets, max_distance):
    """transformers' T5Attention._relative_position_bucket, float32 log as there."""
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    large = max_exact + (torch.log(relative_position.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, relative_position, large)


def bucket_scalar(rel, bidirectional, num_buckets, max_distance):
    """The same rule written again, one distance at a time, in float64."""
    offset = 0
    if bidirectional:
        num_buckets //= 2
        offset = num_buckets if rel > 0 else 0
        dist = abs(rel)
    else:
        dist = max(-rel, 0)
    exact = num_buckets // 2
    if dist < exact:
        return offset + dist
    b = exact + int(math.log(dist / exact) / math.log(max_distance / exact) * (num_buckets - exact))
    return offset + min(b, num_buckets - 1)


class RefT5:
    def __init__(self, sd, cfg):
        self.sd, self.cfg = sd, cfg
        self.H, self.dkv, self.d = cfg["num_heads"], cfg["d_kv"], cfg["d_model"]
        self.eps = cfg["layer_norm_epsilon"]
        self.gated = cfg["feed_forward_proj"].startswith("gated")
        self.act = act_fn("gelu_new" if "gelu" in cfg["feed_forward_proj"] else "relu")

    def rms(self, x, name):
        return x / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + self.eps) * self.sd[name]

    def lin(self, x, name):
        return x @ self.sd[name].t()

    def bias(self, stack, qpos, kpos):
        """[H, len(qpos), len(kpos)] from original positions."""
        rel = torch.tensor(kpos)[None, :] - torch.tensor(qpos)[:, None]
        b = bucket_hf(rel, stack == "encoder", self.cfg["relative_attention_num_buckets"],
                      self.cfg["relative_attention_max_distance"])
        table = self.sd[f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
        return table[b].permute(2, 0, 1)

    def heads(self, x):
        return x.reshape(x.shape[0], self.H, self.dkv)

    def attend(self, q, k, v, bias=None, mask=None):
        logit = torch.einsum("ihd,jhd->hij", q, k)
        if bias is not None:
            logit = logit + bias
        if mask is not None:
            logit = logit.masked_fill(~mask[None], float("-inf"))
        logit = logit - logit.max(dim=-1, keepdim=True).values
        e = torch.exp(logit)
        P = e / e.sum(dim=-1, keepdim=True)
        return torch.einsum("hij,jhd->ihd", P, v).reshape(q.shape[0], self.H * self.dkv), P

    def ffn(self, h, p):
        x = self.rms(h, p + "layer_norm.weight")
        if self.gated:
            a = self.act(self.lin(x, p + "DenseReluDense.wi_0.weight")) * self.lin(x, p + "DenseReluDense.wi_1.weight")
        else:
            a = self.act(self.lin(x, p + "DenseReluDense.wi.weight"))
        return h + self.lin(a, p + "DenseReluDense.wo.weight")

    def encode(self, ids, schedule=None):
        pos = list(range(len(ids)))
        h = self.sd["shared.weight"][torch.tensor(ids)]
        kept_pos, scores = [], []
        for l in range(self.cfg["num_layers"]):
            p = f"encoder.block.{l}.layer."
            x = self.rms(h, p + "0.layer_norm.weight")
            q, k, v = (self.heads(self.lin(x, p + f"0.SelfAttention.{m}.weight")) for m in "qkv")
            ctx, P = self.attend(q, k, v, self.bias("encoder", pos, pos))
            kept = list(range(len(pos)))
            if schedule is not None:
                s = (P.sum(dim=1).sum(dim=0) / self.H).tolist()
                scores.append(s)
                n = len(pos)
                if schedule[l] < n:
                    rest = sorted(range(n - 1), key=lambda i: (-s[i], i))[:schedule[l] - 1]
                    kept = sorted(rest + [n - 1])
            idx = torch.tensor(kept)
            h = h[idx] + self.lin(ctx[idx], p + "0.SelfAttention.o.weight")
            pos = [pos[i] for i in kept]
            kept_pos.append(list(pos))
            h = self.ffn(h, p + "1.")
        return self.rms(h, "encoder.final_layer_norm.weight"), pos, kept_pos, scores

    def decode(self, memory, memory_pos, ids, cache):
        """Decoder tokens `ids` after those in `cache` (per layer [k, v, positions]); returns
        logits [len(ids), vocab] and extends the cache."""
        first = len(cache[0][2]) if cache else 0
        pos = list(range(first, first + len(ids)))
        h = self.sd["shared.weight"][torch.tensor(ids)]
        for l in range(self.cfg["num_decoder_layers"]):
            p = f"decoder.block.{l}.layer."
            x = self.rms(h, p + "0.layer_norm.weight")
            q, k, v = (self.heads(self.lin(x, p + f"0.SelfAttention.{m}.weight")) for m in "qkv")
            if len(cache) <= l:
                cache.append([k, v, list(pos)])
            else:
                cache[l] = [torch.cat([cache[l][0], k]), torch.cat([cache[l][1], v]), cache[l][2] + pos]
            kk, vv, kpos = cache[l]
            mask = torch.tensor(kpos)[None, :] <= torch.tensor(pos)[:, None]
            ctx, _ = self.attend(q, kk, vv, self.bias("decoder", pos, kpos), mask)
            h = h + self.lin(ctx, p + "0.SelfAttention.o.weight")
            x = self.rms(h, p + "1.layer_norm.weight")
            q = self.heads(self.lin(x, p + "1.EncDecAttention.q.weight"))
            mk, mv = (self.heads(self.lin(memory, p + f"1.EncDecAttention.{m}.weight")) for m in "kv")
            ctx, _ = self.attend(q, mk, mv)
            h = h + self.lin(ctx, p + "1.EncDecAttention.o.weight")
            h = self.ffn(h, p + "2.")
        out = self.rms(h, "decoder.final_layer_norm.weight")
        if self.cfg["tie_word_embeddings"]:
            return (out * self.d ** -0.5) @ self.sd["shared.weight"].t()
        return out @ self.sd["lm_head.weight"].t()

    def greedy(self, memory, memory_pos, n_tokens):
        cache, ids, steps, gaps = [], [], [], []
        token = self.cfg["decoder_start_token_id"]
        for _ in range(n_tokens):
            lg = self.decode(memory, memory_pos, [token], cache)[0]
            steps.append(lg)
            gaps.append(top_gap(lg))
            token = int(np.argmax(lg.numpy()))
            ids.append(token)
        return ids, steps, min(gaps)

    def masked_encode(self, ids, schedule):
        """Independent check of elimination: every row runs every layer; rows eliminated before
        layer l are masked out of its keys and queries; selection with numpy."""
        n0 = len(ids)
        h = self.sd["shared.weight"][torch.tensor(ids)]
        rows = list(range(n0))
        full_bias = self.bias("encoder", list(range(n0)), list(range(n0)))
        kept_pos, scores = [], []
        for l in range(self.cfg["num_layers"]):
            p = f"encoder.block.{l}.layer."
            x = self.rms(h, p + "0.layer_norm.weight")
            q, k, v = (self.heads(self.lin(x, p + f"0.SelfAttention.{m}.weight")) for m in "qkv")
            alive = torch.zeros(n0, dtype=torch.bool)
            alive[rows] = True
            ctx, P = self.attend(q, k, v, full_bias, alive[None, :].expand(n0, n0))
            s = P[:, rows][:, :, rows].mean(dim=0).sum(dim=0).numpy()
            k_keep = min(schedule[l], len(rows))
            pri = s.copy()
            pri[-1] = np.inf
            sel = np.sort(np.argsort(-pri, kind="stable")[:k_keep])
            rows = [rows[j] for j in sel]
            kept_pos.append(rows)
            scores.append(s.tolist())
            h = h + self.lin(ctx, p + "0.SelfAttention.o.weight")
            h = self.ffn(h, p + "1.")
        return self.rms(h, "encoder.final_layer_norm.weight")[torch.tensor(rows)], kept_pos, scores


def selection_margin(scores, kept):
    n = len(scores)
    inner = [scores[i] for i in kept if i < n - 1]
    dropped = [scores[i] for i in range(n - 1) if i not in kept]
    if not inner or not dropped:
        return math.inf
    return min(inner) - max(dropped)


def generate(spec, out_root):
    d = os.path.join(out_root, spec["name"])
    os.makedirs(d, exist_ok=True)
    cfg = make_config(spec)
    write_json(os.path.join(d, "config.json"), cfg)
    st_path = os.path.join(d, "model.safetensors")
    write_safetensors(st_path, make_weights(spec), spec["dtype"])
    sd = read_safetensors(st_path)
    model = RefT5(sd, cfg)
    report = {}

    # No bucket may hinge on float32 rounding of the log.
    span = SOURCE_LEN + GREEDY_TOKENS
    for bidirectional in (True, False):
        rel = torch.arange(-span, span + 1)
        hf = bucket_hf(rel, bidirectional, spec["buckets"], spec["max_distance"]).tolist()
        assert hf == [bucket_scalar(r, bidirectional, spec["buckets"], spec["max_distance"]) for r in rel.tolist()]

    rng = np.random.default_rng(spec["seed"] + 17)
    source = [int(t) for t in rng.integers(3, spec["vocab"], size=SOURCE_LEN - 1)] + [EOS]
    memory, mpos, _, _ = model.encode(source)
    ids, steps, min_gap = model.greedy(memory, mpos, GREEDY_TOKENS)
    # Cached decoding equals one uncached pass over the whole target.
    full = model.decode(memory, mpos, [cfg["decoder_start_token_id"]] + ids[:-1], [])
    check("cached decode vs uncached (f64)", maxdiff(torch.stack(steps), full), 1e-10, report)

    pruned = []
    min_margin = math.inf
    for sched in spec["schedules"] + [[SOURCE_LEN] * cfg["num_layers"]]:
        mem_p, pos_p, kept_pos, scores = model.encode(source, sched)
        mem_m, kept_m, scores_m = model.masked_encode(source, sched)
        assert kept_m == kept_pos, (kept_m, kept_pos)
        check("masked encoder vs pruned (f64)", maxdiff(mem_m, mem_p), 1e-10, report)
        for a, b in zip(scores, scores_m):
            check("masked encoder scores (f64)", maxdiff(a, b), 1e-10, report)
        entering = list(range(SOURCE_LEN))
        for l in range(cfg["num_layers"]):
            min_margin = min(min_margin, selection_margin(scores[l], [entering.index(p) for p in kept_pos[l]]))
            entering = kept_pos[l]
        p_ids, p_steps, gap = model.greedy(mem_p, pos_p, GREEDY_TOKENS)
        if sched[0] >= SOURCE_LEN:  # keep-all equals dense
            check("keep-all == dense", maxdiff(mem_p, memory), 1e-12, report)
            assert p_ids == ids
            continue
        min_gap = min(min_gap, gap)
        pruned.append({
            "keep": list(sched),
            "kept_positions": kept_pos,
            "scores": [f32(s) for s in scores],
            "encoder_hidden": f32(mem_p),
            "first_logits": f32(p_steps[0]),
            "greedy_ids": p_ids,
        })
    require_decisive(min_gap, min_margin)

    golden = {
        "source_ids": source,
        "dense": {
            "encoder_hidden": f32(memory),
            "first_logits": f32(steps[0]),
            "greedy_ids": ids,
            "step_logits": f32(torch.stack(steps[:STEP_LOGITS])),
        },
        "pruned": pruned,
    }
    gpath = os.path.join(d, "golden.json")
    with open(gpath, "w", newline="\n") as f:
        f.write(emit(golden, 0) + "\n")
    with open(gpath) as f:
        back = json.load(f)
    assert back["source_ids"] == source and back["dense"]["greedy_ids"] == ids
    for k in ("encoder_hidden", "first_logits", "step_logits"):
        assert np.array_equal(np.array(back["dense"][k], np.float32), np.array(golden["dense"][k], np.float32))

    sizes = {f: os.path.getsize(os.path.join(d, f)) for f in sorted(os.listdir(d))}
    print(f"{spec['name']}: {len(sd)} tensors, files {sizes}")
    print(f"  dense greedy {ids}; pruned greedy {[p['greedy_ids'] for p in pruned]}")
    print(f"  kept positions {[p['kept_positions'] for p in pruned]}")
    print(f"  min greedy top-2 gap {min_gap:.3g}, min selection margin {min_margin:.3g}")
    for k, v in report.items():
        print(f"  self-check {k}: max abs diff {v:.3g}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory, e.g. tests/data/t5")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    for spec in CHECKPOINTS:
        generate(spec, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
