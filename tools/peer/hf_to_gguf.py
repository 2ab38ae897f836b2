#!/usr/bin/python3
"""Converts a Hugging Face Llama folder to a GGUF v3 file that llama.cpp loads.

Usage: hf_to_gguf.py MODEL_DIR OUT.gguf [--type f32|f16|q8_0] [--rounded-hf DIR]

Written by hand with numpy only (no gguf-py, no torch) so the peer check runs from Debian
packages. Names, layouts and the rotary permutation follow llama.cpp's convert_hf_to_gguf.py
(LlamaModel) and gguf-py (constants.py, quants.py) so the file is what llama.cpp itself would
make from the same folder.
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
ALIGNMENT = 32  # general.alignment default in ggml

# gguf value types (gguf-py GGUFValueType)
T_UINT32, T_INT32, T_FLOAT32, T_BOOL, T_STRING, T_ARRAY, T_UINT64 = 4, 5, 6, 7, 8, 9, 10
# ggml tensor types (gguf-py GGMLQuantizationType)
GGML_F32, GGML_F16, GGML_Q8_0 = 0, 1, 8
# general.file_type (gguf-py LlamaFileType)
FILE_TYPE = {"f32": 0, "f16": 1, "q8_0": 7}
QK8_0 = 32


def fail(message):
    print("latte: error: " + message, file=sys.stderr)
    sys.exit(1)


def read_safetensors(path):
    """Returns {name: float32 array} for one .safetensors file (F32, F16 or BF16)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        fail(f"{path}: too short to be a safetensors file")
    (header_len,) = struct.unpack_from("<Q", raw, 0)
    try:
        header = json.loads(raw[8 : 8 + header_len])
    except ValueError as e:
        fail(f"{path}: header is not JSON ({e})")
    base = 8 + header_len
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        buf = raw[base + begin : base + end]
        dtype = info["dtype"]
        if dtype == "F32":
            a = np.frombuffer(buf, dtype="<f4")
        elif dtype == "F16":
            a = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif dtype == "BF16":
            # bf16 is the top half of an f32: widen exactly by shifting into the high bits
            a = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            fail(f"{path}: tensor {name} has dtype {dtype}; only F32, F16 and BF16 are converted")
        out[name] = a.reshape(info["shape"]).astype(np.float32)
    return out


def read_weights(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    elif os.path.exists(os.path.join(model_dir, "model.safetensors")):
        files = ["model.safetensors"]
    else:
        fail(f"{model_dir}: no model.safetensors or model.safetensors.index.json")
    weights = {}
    for name in files:
        weights.update(read_safetensors(os.path.join(model_dir, name)))
    return weights


def permute(w, n_head, n_head_kv):
    """convert_hf_to_gguf.py LlamaModel.permute: HF stores rotary pairs as (first half, second
    half) of each head; llama.cpp's rope (GGML_ROPE_TYPE_NORM) rotates adjacent pairs, so the
    rows of each head are interleaved."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_factors(config, head_dim):
    """convert_hf_to_gguf.py LlamaModel.generate_extra_tensors: per-pair frequency divisors."""
    rs = config["rope_scaling"]
    base = config.get("rope_theta", 10000.0)
    freqs = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    factor = rs.get("factor", 8.0)
    low_freq_factor = rs.get("low_freq_factor", 1.0)
    high_freq_factor = rs.get("high_freq_factor", 4.0)
    old_context_len = rs.get("original_max_position_embeddings", 8192)
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_freq_wavelen:
            factors.append(1)
        elif wavelen > low_freq_wavelen:
            factors.append(factor)
        else:
            smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def quantize_q8_0(a):
    """gguf-py quants.py Q8_0: blocks of 32 along rows, scale d = max|x|/127 stored as f16,
    qs = round-half-away-from-zero(x / d) as int8."""
    blocks = a.reshape(-1, QK8_0).astype(np.float32)
    d = np.abs(blocks).max(axis=1, keepdims=True) / 127
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, 0, 1 / d)
    x = blocks * inv
    qs = (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int8)
    out = np.empty(blocks.shape[0], dtype=[("d", "<f2"), ("qs", "i1", (QK8_0,))])
    out["d"] = d[:, 0].astype(np.float16)
    out["qs"] = qs
    return out.tobytes()


def stored_values(a, ggml_type):
    """The float32 values llama.cpp reads back for `a` stored as ggml_type: lets a check run
    latte on exactly the rounded weights the GGUF file holds."""
    if ggml_type == GGML_F32:
        return a.astype(np.float32)
    if ggml_type == GGML_F16:
        return a.astype(np.float16).astype(np.float32)
    blocks = np.frombuffer(quantize_q8_0(a), dtype=[("d", "<f2"), ("qs", "i1", (QK8_0,))])
    return (blocks["d"].astype(np.float32)[:, None] * blocks["qs"].astype(np.float32)).reshape(a.shape)


class Writer:
    def __init__(self):
        self.kv = []  # encoded key/value pairs
        self.tensors = []  # (name, ggml shape ne[], type, bytes)

    @staticmethod
    def _str(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def add(self, key, vtype, value):
        body = self._str(key) + struct.pack("<I", vtype)
        body += self._value(vtype, value)
        self.kv.append(body)

    def add_array(self, key, etype, values):
        body = self._str(key) + struct.pack("<IIQ", T_ARRAY, etype, len(values))
        body += b"".join(self._value(etype, v) for v in values)
        self.kv.append(body)

    def _value(self, vtype, v):
        if vtype == T_STRING:
            return self._str(v)
        fmt = {T_UINT32: "<I", T_INT32: "<i", T_FLOAT32: "<f", T_BOOL: "<?", T_UINT64: "<Q"}[vtype]
        return struct.pack(fmt, v)

    def add_tensor(self, name, array, ggml_type):
        # ggml's ne[] lists dimensions innermost first: the reverse of numpy's shape
        ne = list(reversed(array.shape))
        if ggml_type == GGML_F32:
            data = array.astype("<f4").tobytes()
        elif ggml_type == GGML_F16:
            data = array.astype("<f2").tobytes()
        else:
            data = quantize_q8_0(array)
        self.tensors.append((name, ne, ggml_type, data))

    def write(self, path):
        def pad(n):
            return (ALIGNMENT - n % ALIGNMENT) % ALIGNMENT

        out = bytearray()
        out += GGUF_MAGIC + struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.kv))
        for body in self.kv:
            out += body
        offset = 0
        for name, ne, ggml_type, data in self.tensors:
            out += self._str(name) + struct.pack("<I", len(ne))
            out += struct.pack(f"<{len(ne)}Q", *ne)
            out += struct.pack("<IQ", ggml_type, offset)
            offset += len(data) + pad(len(data))
        out += b"\0" * pad(len(out))
        for _, _, _, data in self.tensors:
            out += data + b"\0" * pad(len(data))
        with open(path, "wb") as f:
            f.write(out)


def bytes_to_unicode():
    """GPT-2's byte-level alphabet: the printable string llama.cpp's 'gpt2' vocabulary uses
    for each byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


# Llama 3's pre-tokenizer split; llama.cpp knows it as tokenizer.ggml.pre "llama-bpe"
# (convert_hf_to_gguf.py recognizes it by hashing tokenizer output; matching the regex is
# enough here). Any other pre-tokenizer is written as "default", GPT-2's split.
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def split_patterns(pre_tokenizer):
    """The regexes of the Split steps in a tokenizer.json pre_tokenizer (alone or in a Sequence)."""
    if not isinstance(pre_tokenizer, dict):
        return []
    steps = pre_tokenizer.get("pretokenizers", [pre_tokenizer])
    return [st.get("pattern", {}).get("Regex") for st in steps if isinstance(st, dict) and st.get("type") == "Split"]


def add_vocab(w, model_dir, config, vocab_size):
    w.add("tokenizer.ggml.model", T_STRING, "gpt2")
    tok_path = os.path.join(model_dir, "tokenizer.json")
    tok = None
    if os.path.exists(tok_path):
        try:
            with open(tok_path, encoding="utf-8") as f:
                tok = json.load(f)
        except ValueError as e:
            fail(f"{tok_path}: not JSON ({e})")
    pre = "llama-bpe" if tok is not None and LLAMA3_SPLIT in split_patterns(tok.get("pre_tokenizer")) else "default"
    w.add("tokenizer.ggml.pre", T_STRING, pre)
    if tok is not None:
        model = tok.get("model", {})
        if model.get("type") != "BPE":
            fail(f"{tok_path}: model.type is {model.get('type')!r}; only byte-level BPE is converted")
        id_to_token = {i: t for t, i in model["vocab"].items()}
        special = set()
        for added in tok.get("added_tokens", []):
            id_to_token[added["id"]] = added["content"]
            special.add(added["id"])
        tokens, types = [], []
        for i in range(vocab_size):
            if i in id_to_token:
                tokens.append(id_to_token[i])
                types.append(3 if i in special else 1)  # CONTROL / NORMAL
            else:
                tokens.append(f"[PAD{i}]")
                types.append(5)  # UNUSED, as convert_hf_to_gguf pads
        merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    else:
        # No tokenizer files (the test checkpoints): a byte-level vocabulary of the model's size
        # so llama.cpp loads the file; prompts are fed as token ids, never as text.
        alphabet = bytes_to_unicode()
        tokens = [alphabet[i] if i < 256 else f"<tok{i}>" for i in range(vocab_size)]
        types = [1] * vocab_size
        merges = []
    w.add_array("tokenizer.ggml.tokens", T_STRING, tokens)
    w.add_array("tokenizer.ggml.token_type", T_INT32, types)
    w.add_array("tokenizer.ggml.merges", T_STRING, merges)
    bos = config.get("bos_token_id")
    eos = config.get("eos_token_id")
    if isinstance(eos, list):
        eos = eos[0] if eos else None
    if bos is not None:
        w.add("tokenizer.ggml.bos_token_id", T_UINT32, bos)
    if eos is not None:
        w.add("tokenizer.ggml.eos_token_id", T_UINT32, eos)


def convert(model_dir, out_path, out_type, rounded_dir=None):
    cfg_path = os.path.join(model_dir, "config.json")
    try:
        with open(cfg_path) as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{cfg_path}: {e}")
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size"):
        if key not in config:
            fail(f"{cfg_path}: missing field {key}")
    n_embd = config["hidden_size"]
    n_layer = config["num_hidden_layers"]
    n_head = config["num_attention_heads"]
    n_head_kv = config.get("num_key_value_heads") or n_head
    head_dim = config.get("head_dim") or n_embd // n_head
    vocab_size = config["vocab_size"]
    rope_scaling = config.get("rope_scaling") or {}
    rope_type = rope_scaling.get("rope_type", rope_scaling.get("type"))
    if rope_type not in (None, "default", "llama3"):
        fail(f"{cfg_path}: rope_scaling type {rope_type!r} is not converted (only llama3)")

    w = Writer()
    w.add("general.architecture", T_STRING, "llama")
    w.add("general.name", T_STRING, os.path.basename(os.path.normpath(model_dir)))
    w.add("general.alignment", T_UINT32, ALIGNMENT)
    w.add("general.file_type", T_UINT32, FILE_TYPE[out_type])
    w.add("llama.context_length", T_UINT32, config.get("max_position_embeddings", 2048))
    w.add("llama.embedding_length", T_UINT32, n_embd)
    w.add("llama.block_count", T_UINT32, n_layer)
    w.add("llama.feed_forward_length", T_UINT32, config["intermediate_size"])
    w.add("llama.attention.head_count", T_UINT32, n_head)
    w.add("llama.attention.head_count_kv", T_UINT32, n_head_kv)
    w.add("llama.rope.dimension_count", T_UINT32, head_dim)
    w.add("llama.rope.freq_base", T_FLOAT32, float(config.get("rope_theta", 10000.0)))
    w.add("llama.attention.layer_norm_rms_epsilon", T_FLOAT32, float(config.get("rms_norm_eps", 1e-6)))
    w.add("llama.vocab_size", T_UINT32, vocab_size)
    if head_dim != n_embd // n_head:
        w.add("llama.attention.key_length", T_UINT32, head_dim)
        w.add("llama.attention.value_length", T_UINT32, head_dim)
    add_vocab(w, model_dir, config, vocab_size)

    def matrix_type(a):
        # as convert_hf_to_gguf: 1-D tensors (norms, biases) stay F32; Q8_0 needs whole blocks
        # along each row, otherwise the tensor falls back to F16
        if a.ndim < 2 or out_type == "f32":
            return GGML_F32
        if out_type == "q8_0" and a.shape[-1] % QK8_0 == 0:
            return GGML_Q8_0
        return GGML_F16

    weights = read_weights(model_dir)
    if rounded_dir is not None:
        write_rounded(weights, cfg_path, rounded_dir, matrix_type)

    def take(hf_name, gguf_name, transform=None):
        if hf_name not in weights:
            fail(f"{model_dir}: missing tensor {hf_name}")
        a = weights.pop(hf_name)
        if transform is not None:
            a = transform(a)
        w.add_tensor(gguf_name, a, matrix_type(a))

    def take_optional(hf_name, gguf_name, transform=None):
        if hf_name in weights:
            take(hf_name, gguf_name, transform)

    if rope_type == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(config, head_dim), GGML_F32)
    take("model.embed_tokens.weight", "token_embd.weight")
    for i in range(n_layer):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        q = lambda a: permute(a, n_head, n_head)  # noqa: E731
        k = lambda a: permute(a, n_head, n_head_kv)  # noqa: E731
        take(p + "input_layernorm.weight", b + "attn_norm.weight")
        take(p + "self_attn.q_proj.weight", b + "attn_q.weight", q)
        take(p + "self_attn.k_proj.weight", b + "attn_k.weight", k)
        take(p + "self_attn.v_proj.weight", b + "attn_v.weight")
        take(p + "self_attn.o_proj.weight", b + "attn_output.weight")
        take_optional(p + "self_attn.q_proj.bias", b + "attn_q.bias", q)
        take_optional(p + "self_attn.k_proj.bias", b + "attn_k.bias", k)
        take_optional(p + "self_attn.v_proj.bias", b + "attn_v.bias")
        take_optional(p + "self_attn.o_proj.bias", b + "attn_output.bias")
        take(p + "post_attention_layernorm.weight", b + "ffn_norm.weight")
        take(p + "mlp.gate_proj.weight", b + "ffn_gate.weight")
        take(p + "mlp.up_proj.weight", b + "ffn_up.weight")
        take(p + "mlp.down_proj.weight", b + "ffn_down.weight")
        take_optional(p + "mlp.gate_proj.bias", b + "ffn_gate.bias")
        take_optional(p + "mlp.up_proj.bias", b + "ffn_up.bias")
        take_optional(p + "mlp.down_proj.bias", b + "ffn_down.bias")
    take("model.norm.weight", "output_norm.weight")
    # a tied model has no lm_head; llama.cpp then reuses token_embd for the output
    take_optional("lm_head.weight", "output.weight")
    rotary = [n for n in weights if "rotary_emb" in n]
    for n in rotary:
        weights.pop(n)
    if weights:
        fail(f"{model_dir}: tensors not converted: {', '.join(sorted(weights)[:5])}")
    w.write(out_path)


def write_rounded(weights, cfg_path, out_dir, matrix_type):
    """An F32 Hugging Face folder of the weights as the GGUF stores them (F16 or Q8_0 rounded).
    Q8_0 blocks run along each row, and the Q/K permutation only reorders rows, so rounding
    the HF tensors gives the same values as rounding the permuted ones."""
    import shutil

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from make_llama_checkpoint import write_safetensors

    os.makedirs(out_dir, exist_ok=True)
    shutil.copy(cfg_path, os.path.join(out_dir, "config.json"))
    write_safetensors(
        os.path.join(out_dir, "model.safetensors"),
        {n: stored_values(a, matrix_type(a)) for n, a in weights.items()},
    )


def main():
    parser = argparse.ArgumentParser(description="Hugging Face Llama folder -> GGUF v3")
    parser.add_argument("model_dir")
    parser.add_argument("out")
    parser.add_argument("--type", choices=sorted(FILE_TYPE), default="f32")
    parser.add_argument(
        "--rounded-hf",
        metavar="DIR",
        help="also write DIR: an F32 Hugging Face folder holding the weights as rounded in OUT",
    )
    args = parser.parse_args()
    convert(args.model_dir, args.out, args.type, args.rounded_hf)


if __name__ == "__main__":
    main()
