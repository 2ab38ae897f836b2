#!/usr/bin/python3
"""Independent PyTorch reference of Hugging Face's BERT forward pass.

Generates small random BERT checkpoints in Hugging Face layout (config.json,
model.safetensors, vocab.txt, tokenizer_config.json) plus golden outputs
(golden.json) that latte's C++ tests compare against. The C++ tests never run
this script: its outputs are committed under tests/data/bert/.

Semantics follow transformers' modeling_bert.py (eval mode, no dropout):
  embeddings = LayerNorm(word[ids] + token_type[tt] + position[0..L-1])
  per layer:
    q,k,v = Linear(x); scores = q k^T / sqrt(head_dim) + (1 - mask) * finfo(f32).min
    probs = softmax(scores); ctx = probs v (heads merged back)
    a = LayerNorm(Linear_o(ctx) + x)
    x = LayerNorm(Linear_out(act(Linear_in(a))) + a)
  pooler = tanh(Linear(x[:, 0]));  logits = Linear(pooler)   (classifier)

The reference forward is written with plain tensor ops in float64 from the
weights as read back from the written safetensors file (so F16 checkpoints are
evaluated with their F16-rounded weights). A self-check re-computes every case
with torch.nn modules (nn.Embedding, nn.LayerNorm, nn.TransformerEncoderLayer
whose post-norm layout equals BERT's layer, nn.Linear) in float64 and float32
and asserts agreement.

Deterministic: numpy PCG64 generators with fixed seeds, values written with
fixed formatting; re-running produces byte-identical files.

Usage: /usr/bin/python3 tools/reference/bert_reference.py --out tests/data/bert
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
import torch.nn.functional as F

# --------------------------------------------------------------------------
# Tiny WordPiece vocabulary (shared by every checkpoint).
# --------------------------------------------------------------------------
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0..4
WORDS = [
    "the", "a", "an", "is", "was", "are", "be", "to", "of", "and",
    "in", "it", "that", "this", "for", "on", "with", "as", "not", "but",
    "movie", "film", "book", "story", "plot", "actor", "music", "scene", "ending", "time",
    "good", "bad", "great", "awful", "boring", "fun", "funny", "sad", "happy", "love",
    "hate", "like", "very", "really", "quite", "too", "so", "more", "most", "best",
    "worst", "i", "you", "we", "they", "he", "she", "my", "your", "their",
    "watch", "read", "see", "saw", "think", "feel", "play", "make", "made", "go",
    "one", "two", "day", "night", "all", "no", "yes", "just", "well", "new",
    ".", ",", "!", "?", "'",
]
PIECES = [
    "##s", "##ed", "##ing", "##ly", "##er", "##est", "##ful", "##ness", "##less", "##able",
    "##al", "##ment", "##y", "##ish", "##ous", "##ive", "##en", "##ion", "##a", "##e",
    "##i", "##o", "##u", "##n", "##t", "##r", "##l", "##d", "##m", "##k",
]
VOCAB = SPECIALS + WORDS + PIECES
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = 0, 1, 2, 3, 4
FIRST_REGULAR_ID = len(SPECIALS)

HIDDEN = 32
HEADS = 4
INTERMEDIATE = 64
LAYERS = 2
MAX_POS = 64
TYPE_VOCAB = 2
LN_EPS = 1e-12

CHECKPOINTS = [
    # name, seed, architecture, num_labels, id2label, problem_type, act, dtype, ln names
    dict(name="cls3_f32", seed=1001, arch="BertForSequenceClassification",
         id2label={"0": "negative", "1": "neutral", "2": "positive"},
         problem_type="single_label_classification", act="gelu", dtype="F32", ln_style="weight_bias"),
    dict(name="cls3_f16", seed=2002, arch="BertForSequenceClassification",
         id2label={"0": "negative", "1": "neutral", "2": "positive"},
         problem_type=None, act="gelu", dtype="F16", ln_style="weight_bias"),
    dict(name="regression_f32", seed=3003, arch="BertForSequenceClassification",
         id2label={"0": "LABEL_0"},
         problem_type="regression", act="gelu_new", dtype="F32", ln_style="weight_bias"),
    dict(name="base_gamma_beta", seed=4004, arch="BertModel",
         id2label=None, problem_type=None, act="relu", dtype="F32", ln_style="gamma_beta"),
]

# --------------------------------------------------------------------------
# safetensors writer / reader (by hand; format: u64 LE header length, JSON
# header padded with spaces to a multiple of 8, raw little-endian data).
# --------------------------------------------------------------------------
from hf_reference_io import act_fn, read_safetensors, ref_layernorm, write_safetensors  # noqa: E402

# --------------------------------------------------------------------------
# Random weights in HF naming.
# --------------------------------------------------------------------------
def make_weights(spec):
    rng = np.random.default_rng(spec["seed"])
    prefix = "bert." if spec["arch"] == "BertForSequenceClassification" else ""
    g_name, b_name = ("gamma", "beta") if spec["ln_style"] == "gamma_beta" else ("weight", "bias")
    w = {}

    def mat(*shape, std=0.2):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def linear(name, out_f, in_f):
        w[name + ".weight"] = mat(out_f, in_f)
        w[name + ".bias"] = mat(out_f, std=0.1)

    def layernorm(name):
        w[name + "." + g_name] = (1.0 + 0.1 * rng.standard_normal(HIDDEN)).astype(np.float32)
        w[name + "." + b_name] = (0.1 * rng.standard_normal(HIDDEN)).astype(np.float32)

    e = prefix + "embeddings."
    w[e + "word_embeddings.weight"] = mat(len(VOCAB), HIDDEN, std=0.5)
    w[e + "position_embeddings.weight"] = mat(MAX_POS, HIDDEN, std=0.5)
    w[e + "token_type_embeddings.weight"] = mat(TYPE_VOCAB, HIDDEN, std=0.5)
    layernorm(e + "LayerNorm")
    for i in range(LAYERS):
        L = f"{prefix}encoder.layer.{i}."
        linear(L + "attention.self.query", HIDDEN, HIDDEN)
        linear(L + "attention.self.key", HIDDEN, HIDDEN)
        linear(L + "attention.self.value", HIDDEN, HIDDEN)
        linear(L + "attention.output.dense", HIDDEN, HIDDEN)
        layernorm(L + "attention.output.LayerNorm")
        linear(L + "intermediate.dense", INTERMEDIATE, HIDDEN)
        linear(L + "output.dense", HIDDEN, INTERMEDIATE)
        layernorm(L + "output.LayerNorm")
    linear(prefix + "pooler.dense", HIDDEN, HIDDEN)
    if spec["arch"] == "BertForSequenceClassification":
        linear("classifier", len(spec["id2label"]), HIDDEN)
    return w


class W:
    """Name resolution over an HF BERT state dict (prefix, gamma/beta)."""

    def __init__(self, sd):
        self.sd = sd
        self.prefix = "bert." if "bert.embeddings.word_embeddings.weight" in sd else ""
        self.has_classifier = "classifier.weight" in sd

    def __call__(self, name):
        full = name if name.startswith("classifier") else self.prefix + name
        if full in self.sd:
            return self.sd[full]
        alt = full.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        return self.sd[alt]


# --------------------------------------------------------------------------
# Reference forward: plain tensor ops, float64.
# --------------------------------------------------------------------------
def ref_linear(x, wt, b):
    return torch.matmul(x, wt.transpose(0, 1)) + b


def reference_forward(sd, cfg, input_ids, token_type_ids, attention_mask):
    w = W(sd)
    act = act_fn(cfg["hidden_act"])
    eps = cfg["layer_norm_eps"]
    nh = cfg["num_attention_heads"]
    H = cfg["hidden_size"]
    hd = H // nh
    ids = torch.tensor(input_ids, dtype=torch.long)
    tt = torch.tensor(token_type_ids, dtype=torch.long)
    m = torch.tensor(attention_mask, dtype=torch.float64)
    B, Lq = ids.shape

    x = (w("embeddings.word_embeddings.weight")[ids]
         + w("embeddings.token_type_embeddings.weight")[tt]
         + w("embeddings.position_embeddings.weight")[torch.arange(Lq)][None, :, :])
    x = ref_layernorm(x, w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"), eps)

    ext = (1.0 - m)[:, None, None, :] * float(np.finfo(np.float32).min)  # [B,1,1,L]
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def heads(t):
            return t.reshape(B, Lq, nh, hd).permute(0, 2, 1, 3)

        q = heads(ref_linear(x, w(p + "attention.self.query.weight"), w(p + "attention.self.query.bias")))
        k = heads(ref_linear(x, w(p + "attention.self.key.weight"), w(p + "attention.self.key.bias")))
        v = heads(ref_linear(x, w(p + "attention.self.value.weight"), w(p + "attention.self.value.bias")))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd) + ext
        scores = scores - scores.max(dim=-1, keepdim=True).values
        e = torch.exp(scores)
        probs = e / e.sum(dim=-1, keepdim=True)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(B, Lq, H)
        a = ref_linear(ctx, w(p + "attention.output.dense.weight"), w(p + "attention.output.dense.bias"))
        a = ref_layernorm(a + x, w(p + "attention.output.LayerNorm.weight"),
                          w(p + "attention.output.LayerNorm.bias"), eps)
        h = act(ref_linear(a, w(p + "intermediate.dense.weight"), w(p + "intermediate.dense.bias")))
        o = ref_linear(h, w(p + "output.dense.weight"), w(p + "output.dense.bias"))
        x = ref_layernorm(o + a, w(p + "output.LayerNorm.weight"), w(p + "output.LayerNorm.bias"), eps)

    pooled = torch.tanh(ref_linear(x[:, 0], w("pooler.dense.weight"), w("pooler.dense.bias")))
    out = {"last_hidden_state": x, "pooler_output": pooled}
    if w.has_classifier:
        out["logits"] = ref_linear(pooled, sd["classifier.weight"], sd["classifier.bias"])
    return out


# --------------------------------------------------------------------------
# Self-check: the same model assembled from torch.nn modules.
# --------------------------------------------------------------------------
class ModuleBert(nn.Module):
    def __init__(self, sd, cfg):
        super().__init__()
        w = W(sd)
        H, I = cfg["hidden_size"], cfg["intermediate_size"]
        eps = cfg["layer_norm_eps"]
        self.word = nn.Embedding(cfg["vocab_size"], H)
        self.pos = nn.Embedding(cfg["max_position_embeddings"], H)
        self.tt = nn.Embedding(cfg["type_vocab_size"], H)
        self.ln = nn.LayerNorm(H, eps=eps)
        a = cfg["hidden_act"]
        if a == "gelu":
            act = "gelu"
        elif a == "relu":
            act = "relu"
        else:
            act = lambda t: F.gelu(t, approximate="tanh")  # noqa: E731
        self.layers = nn.ModuleList([
            nn.TransformerEncoderLayer(H, cfg["num_attention_heads"], dim_feedforward=I, dropout=0.0,
                                       activation=act, layer_norm_eps=eps, batch_first=True, norm_first=False)
            for _ in range(cfg["num_hidden_layers"])])
        self.pooler = nn.Linear(H, H)
        self.classifier = nn.Linear(H, sd["classifier.weight"].shape[0]) if w.has_classifier else None

        def cp(param, t):
            assert param.shape == t.shape, (param.shape, t.shape)
            param.data.copy_(t.to(torch.float32))

        with torch.no_grad():
            cp(self.word.weight, w("embeddings.word_embeddings.weight"))
            cp(self.pos.weight, w("embeddings.position_embeddings.weight"))
            cp(self.tt.weight, w("embeddings.token_type_embeddings.weight"))
            cp(self.ln.weight, w("embeddings.LayerNorm.weight"))
            cp(self.ln.bias, w("embeddings.LayerNorm.bias"))
            for i, lyr in enumerate(self.layers):
                p = f"encoder.layer.{i}."
                cp(lyr.self_attn.in_proj_weight, torch.cat([w(p + f"attention.self.{n}.weight")
                                                            for n in ("query", "key", "value")], 0))
                cp(lyr.self_attn.in_proj_bias, torch.cat([w(p + f"attention.self.{n}.bias")
                                                          for n in ("query", "key", "value")], 0))
                cp(lyr.self_attn.out_proj.weight, w(p + "attention.output.dense.weight"))
                cp(lyr.self_attn.out_proj.bias, w(p + "attention.output.dense.bias"))
                cp(lyr.norm1.weight, w(p + "attention.output.LayerNorm.weight"))
                cp(lyr.norm1.bias, w(p + "attention.output.LayerNorm.bias"))
                cp(lyr.linear1.weight, w(p + "intermediate.dense.weight"))
                cp(lyr.linear1.bias, w(p + "intermediate.dense.bias"))
                cp(lyr.linear2.weight, w(p + "output.dense.weight"))
                cp(lyr.linear2.bias, w(p + "output.dense.bias"))
                cp(lyr.norm2.weight, w(p + "output.LayerNorm.weight"))
                cp(lyr.norm2.bias, w(p + "output.LayerNorm.bias"))
            cp(self.pooler.weight, w("pooler.dense.weight"))
            cp(self.pooler.bias, w("pooler.dense.bias"))
            if self.classifier is not None:
                cp(self.classifier.weight, sd["classifier.weight"])
                cp(self.classifier.bias, sd["classifier.bias"])

    def forward(self, ids, tt, mask):
        L = ids.shape[1]
        x = self.ln(self.word(ids) + self.tt(tt) + self.pos(torch.arange(L))[None])
        pad = mask == 0
        for lyr in self.layers:
            # Grad stays enabled so nn.TransformerEncoderLayer takes its plain (non fast-path) route,
            # which computes padded query rows like HF does.
            x = lyr(x, src_key_padding_mask=pad)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        out = {"last_hidden_state": x, "pooler_output": pooled}
        if self.classifier is not None:
            out["logits"] = self.classifier(pooled)
        return out


def run_modules(sd, cfg, case, dtype):
    model = ModuleBert(sd, cfg).eval()
    if dtype == torch.float64:
        model = model.double()  # exact: every weight is float32-representable
    ids = torch.tensor(case["input_ids"], dtype=torch.long)
    tt = torch.tensor(case["token_type_ids"], dtype=torch.long)
    mask = torch.tensor(case["attention_mask"], dtype=torch.long)
    out = model(ids, tt, mask)
    return {k: v.detach().to(torch.float64) for k, v in out.items()}


def self_check(sd, cfg, case, ref):
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
        mod = run_modules(sd, cfg, case, dtype)
        assert set(mod) == set(ref), (set(mod), set(ref))
        for k in ref:
            diff = (mod[k] - ref[k]).abs().max().item()
            assert diff <= tol, f"self-check {k} {dtype}: max abs diff {diff} > {tol}"
    # Padding must not leak: each padded row's valid positions equal the row run alone.
    for b, row in enumerate(case["input_ids"]):
        n = sum(case["attention_mask"][b])
        if n == len(row):
            continue
        alone = reference_forward(sd, cfg, [row[:n]], [case["token_type_ids"][b][:n]], [[1] * n])
        diff = (alone["last_hidden_state"][0] - ref["last_hidden_state"][b, :n]).abs().max().item()
        assert diff <= 1e-12, f"padding leaks into row {b}: {diff}"


# --------------------------------------------------------------------------
# Inputs.
# --------------------------------------------------------------------------
def make_cases(seed):
    rng = np.random.default_rng(seed)
    hi = len(VOCAB)

    def words(n):
        return [int(t) for t in rng.integers(FIRST_REGULAR_ID, hi, size=n)]

    def single(length):  # [CLS] w... [SEP]
        return [CLS_ID] + words(length - 2) + [SEP_ID]

    cases = []
    ids = single(7)
    cases.append(dict(name="single_len7", input_ids=[ids], token_type_ids=[[0] * 7], attention_mask=[[1] * 7]))

    a, b = words(5), words(4)
    ids = [CLS_ID] + a + [SEP_ID] + b + [SEP_ID]
    tt = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    cases.append(dict(name="pair_len12", input_ids=[ids], token_type_ids=[tt], attention_mask=[[1] * len(ids)]))

    lens = [5, 12, 9]
    Lm = max(lens)
    bi, bt, bm = [], [], []
    for n in lens:
        s = single(n)
        bi.append(s + [PAD_ID] * (Lm - n))
        bt.append([0] * Lm)
        bm.append([1] * n + [0] * (Lm - n))
    cases.append(dict(name="batch3_padded_5_12_9", input_ids=bi, token_type_ids=bt, attention_mask=bm))

    ids = single(MAX_POS)
    cases.append(dict(name="single_len64_maxpos", input_ids=[ids], token_type_ids=[[0] * MAX_POS],
                      attention_mask=[[1] * MAX_POS]))
    return cases


# --------------------------------------------------------------------------
# Output writers.
# --------------------------------------------------------------------------
def fmt(v):
    """Shortest decimal that round-trips the float32 value."""
    s = np.format_float_scientific(np.float32(v), unique=True, trim="-")
    # Prefer positional notation for moderate magnitudes (still shortest round-trip digits).
    f = np.float32(v)
    if f == 0 or 1e-4 <= abs(f) < 1e6:
        s = np.format_float_positional(f, unique=True, trim="-")
    return s


def json_value(x, indent):
    """Nested list/number JSON with innermost rows on one line."""
    if isinstance(x, list) and x and isinstance(x[0], list):
        pad = " " * (indent + 2)
        inner = (",\n").join(pad + json_value(e, indent + 2) for e in x)
        return "[\n" + inner + "\n" + " " * indent + "]"
    if isinstance(x, list):
        return "[" + ", ".join(json_value(e, indent) for e in x) + "]"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, float):
        return fmt(x)
    return json.dumps(x)


def write_golden(path, cases):
    keys = ["name", "input_ids", "token_type_ids", "attention_mask", "last_hidden_state", "pooler_output", "logits"]
    parts = []
    for c in cases:
        fields = []
        for k in keys:
            if k in c:
                fields.append('    "%s": %s' % (k, json_value(c[k], 4)))
        parts.append("  {\n" + ",\n".join(fields) + "\n  }")
    with open(path, "w", newline="\n") as f:
        f.write("[\n" + ",\n".join(parts) + "\n]\n")


def make_config(spec):
    cfg = {
        "architectures": [spec["arch"]],
        "model_type": "bert",
        "vocab_size": len(VOCAB),
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "intermediate_size": INTERMEDIATE,
        "hidden_act": spec["act"],
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": MAX_POS,
        "type_vocab_size": TYPE_VOCAB,
        "initializer_range": 0.02,
        "layer_norm_eps": LN_EPS,
        "pad_token_id": PAD_ID,
        "position_embedding_type": "absolute",
        "classifier_dropout": None,
        "use_cache": True,
    }
    if spec["id2label"] is not None:
        cfg["id2label"] = dict(spec["id2label"])
        cfg["label2id"] = {v: int(k) for k, v in spec["id2label"].items()}
    if spec["problem_type"] is not None:
        cfg["problem_type"] = spec["problem_type"]
    cfg["torch_dtype"] = "float16" if spec["dtype"] == "F16" else "float32"
    return cfg


def write_json(path, obj):
    with open(path, "w", newline="\n") as f:
        f.write(json.dumps(obj, indent=2) + "\n")


def to_list(t):
    return t.to(torch.float64).tolist()


def generate(spec, out_root):
    d = os.path.join(out_root, spec["name"])
    os.makedirs(d, exist_ok=True)
    cfg = make_config(spec)
    write_json(os.path.join(d, "config.json"), cfg)
    with open(os.path.join(d, "vocab.txt"), "w", newline="\n") as f:
        f.write("".join(t + "\n" for t in VOCAB))
    write_json(os.path.join(d, "tokenizer_config.json"),
               {"do_lower_case": True, "model_max_length": MAX_POS, "tokenizer_class": "BertTokenizer"})

    st_path = os.path.join(d, "model.safetensors")
    write_safetensors(st_path, make_weights(spec), spec["dtype"])
    sd = read_safetensors(st_path)  # evaluate exactly what is on disk (F16-rounded for F16)

    cases = make_cases(spec["seed"] + 17)
    for c in cases:
        ref = reference_forward(sd, cfg, c["input_ids"], c["token_type_ids"], c["attention_mask"])
        self_check(sd, cfg, c, ref)
        for k, v in ref.items():
            # Round to float32 for storage.
            c[k] = to_list(v.to(torch.float32))
        B, L = len(c["input_ids"]), len(c["input_ids"][0])
        assert np.array(c["last_hidden_state"]).shape == (B, L, HIDDEN)
        assert np.array(c["pooler_output"]).shape == (B, HIDDEN)
    write_golden(os.path.join(d, "golden.json"), cases)

    # Sanity on what a C++ reader will see: parse the golden back.
    with open(os.path.join(d, "golden.json")) as f:
        back = json.load(f)
    assert len(back) == len(cases)
    for c, b in zip(cases, back):
        for k in ("last_hidden_state", "pooler_output", "logits"):
            if k in c:
                assert np.array_equal(np.array(c[k], dtype=np.float32), np.array(b[k], dtype=np.float32)), k
    stats = {k: float(np.abs(np.array(cases[-1][k])).max()) for k in ("last_hidden_state", "pooler_output")}
    if "logits" in cases[0]:
        stats["logits"] = [round(float(x), 4) for x in np.array(cases[1]["logits"]).ravel()]
    print(f"{spec['name']}: {len(sd)} tensors, {os.path.getsize(st_path)} bytes safetensors, "
          f"{len(cases)} cases, self-check OK, {stats}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory, e.g. tests/data/bert")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for spec in CHECKPOINTS:
        generate(spec, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
