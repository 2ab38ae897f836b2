#!/usr/bin/python3
"""Converts a Hugging Face Llama folder to a GGUF v3 file that llama.cpp loads.

Usage: hf_to_gguf.py MODEL_DIR OUT.gguf [--type f32|f16|q8_0] [--rounded-hf DIR]

Written by hand with numpy only (no gguf-py, no torch) so the peer check runs from Debian
packages. Names, layouts and the rotary permutation follow llama.cpp's convert_hf_to_gguf.py
(LlamaModel) and gguf-py (constants.py, quants.py) so the file is what llama.cpp itself would
make from the same folder.

Streams: the GGUF header (every tensor's type, shape and offset) is computed from the
safetensors headers alone, then each tensor is read through a memory map a slice at a time,
converted and written, so memory stays at a few slices (plus one whole Q or K matrix, which the
rotary permutation reorders) however large the model: about 0.2 GB at Llama-3.1-8B's shapes,
where holding the weights as float32 would take 32 GB. Progress goes to stderr every few
seconds when stderr is a terminal or the output passes 1 GB.
"""

import argparse
import json
import math
import os
import struct
import sys
import time

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
# Values are converted in slices of this many elements (16 MB as float32): big enough that
# numpy's per-call cost vanishes, small enough that a slice's temporaries (Q8_0 makes several)
# stay in the tens of MB. A multiple of QK8_0, so no Q8_0 block straddles two slices.
CHUNK = 1 << 22
# safetensors dtype -> (numpy dtype of the stored bits, bytes per element)
ST_DTYPES = {"F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2)}


def fail(message):
    print("latte: error: " + message, file=sys.stderr)
    sys.exit(1)


class Source:
    """One tensor of a safetensors file: where its bytes are, not the bytes."""

    def __init__(self, path, offset, dtype, shape):
        self.path, self.offset, self.dtype, self.shape = path, offset, dtype, tuple(shape)
        self.size = math.prod(self.shape)

    def read(self, start=0, count=None):
        """Elements [start, start + count) of the flattened tensor as a new float32 array.
        Maps only those bytes, and the mapping goes when this returns: pages read through a
        mapping count in the process's resident memory until it is unmapped, so one map of a
        5 GB shard would grow to 5 GB."""
        if count is None:
            count = self.size - start
        if count == 0:
            return np.empty(0, np.float32)  # mmap refuses a zero-length map
        np_dtype, width = ST_DTYPES[self.dtype]
        try:
            raw = np.memmap(self.path, dtype=np_dtype, mode="r", offset=self.offset + start * width, shape=(count,))
        except (OSError, ValueError) as e:
            fail(f"{self.path}: cannot map its tensor bytes ({e}); did the file change during the conversion?")
        if self.dtype == "BF16":
            # bf16 is the top half of an f32: widen exactly by shifting into the high bits
            a = raw.astype(np.uint32)
            a <<= 16
            return a.view(np.float32)
        return raw.astype(np.float32)


def read_safetensors(path):
    """Returns {name: Source} for one .safetensors file (F32, F16 or BF16), from its header
    alone: no tensor data is read here, but every tensor is checked to lie inside the file."""
    try:
        size = os.path.getsize(path)
        f = open(path, "rb")
    except OSError as e:
        fail(f"{path}: {e.strerror}")
    with f:
        if size < 8:
            fail(f"{path}: too short to be a safetensors file")
        (header_len,) = struct.unpack("<Q", f.read(8))
        if header_len > size - 8:
            fail(f"{path}: header length {header_len} runs past the end of the file ({size} bytes)")
        try:
            header = json.loads(f.read(header_len))
        except ValueError as e:
            fail(f"{path}: header is not JSON ({e})")
    if not isinstance(header, dict):
        fail(f"{path}: header is not a JSON object")
    base = 8 + header_len
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        except (TypeError, KeyError, ValueError):
            fail(f"{path}: tensor {name} needs dtype, shape and a [begin, end] data_offsets")
        if dtype not in ST_DTYPES:
            fail(f"{path}: tensor {name} has dtype {dtype}; only F32, F16 and BF16 are converted")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            fail(f"{path}: tensor {name} has shape {shape!r}; want a list of sizes")
        nbytes = math.prod(shape) * ST_DTYPES[dtype][1]
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin and end - begin == nbytes):
            fail(
                f"{path}: tensor {name} of shape {shape} and dtype {dtype} needs {nbytes} bytes;"
                f" data_offsets are {[begin, end]}"
            )
        if base + end > size:
            fail(f"{path}: tensor {name} ends at byte {base + end}, past the end of the file ({size} bytes)")
        out[name] = Source(path, base + begin, dtype, shape)
    return out


def read_weights(model_dir):
    """{name: Source} over the folder's one file or its shards; a name in two files is taken
    from the later one, as a dict update of whole files did."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        try:
            with open(index) as f:
                files = sorted(set(json.load(f)["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            fail(f"{index}: not a shard index with a weight_map ({e!r})")
    elif os.path.exists(os.path.join(model_dir, "model.safetensors")):
        files = ["model.safetensors"]
    else:
        fail(f"{model_dir}: no model.safetensors or model.safetensors.index.json")
    weights = {}
    for name in files:
        weights.update(read_safetensors(os.path.join(model_dir, name)))
    return weights


def chunks_of(src, transform=None):
    """The float32 values of `src` in order, as flat slices of at most CHUNK elements.
    `transform` (the Q/K permutation) moves rows across the whole tensor, so it reads the whole
    tensor first; the largest such, Q, is n_embd x n_embd (64 MB of float32 for an 8B model)."""
    if transform is None:
        for start in range(0, src.size, CHUNK):
            yield src.read(start, min(CHUNK, src.size - start))
        return
    flat = transform(src.read().reshape(src.shape)).reshape(-1)
    for start in range(0, flat.size, CHUNK):
        yield flat[start : start + CHUNK]


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


def tensor_bytes(n_elements, ggml_type):
    """Bytes of n_elements stored as ggml_type (a Q8_0 block: an f16 scale and 32 int8)."""
    if ggml_type == GGML_F32:
        return 4 * n_elements
    if ggml_type == GGML_F16:
        return 2 * n_elements
    return n_elements // QK8_0 * (2 + QK8_0)


def encode(a, ggml_type):
    """A flat float32 slice as ggml_type's bytes (any buffer that file.write takes)."""
    if ggml_type == GGML_F32:
        return np.ascontiguousarray(a, dtype="<f4")
    if ggml_type == GGML_F16:
        return a.astype("<f2")
    return quantize_q8_0(a)


class Progress:
    """'tensor i of N, x of y GB written' on stderr at most every few seconds, only where
    someone may be waiting: stderr is a terminal, or the file is over 1 GB (a log then gets a
    line every few seconds; the small test conversions print nothing)."""

    EVERY_S = 3.0

    def __init__(self, n_tensors, total_bytes):
        self.tty = sys.stderr.isatty()
        self.on = self.tty or total_bytes > 1 << 30
        self.n, self.total = n_tensors, total_bytes
        self.last = time.monotonic()
        self.shown = False

    def update(self, i, written, force=False):
        now = time.monotonic()
        if not self.on or (now - self.last < self.EVERY_S and not force):
            return
        self.last, self.shown = now, True
        line = f"hf_to_gguf: tensor {i} of {self.n}, {written / 1e9:.2f} of {self.total / 1e9:.2f} GB written"
        # on a terminal the line rewrites itself; in a log each update is a line of its own
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def finish(self, written):
        if self.shown:  # the final count, so the last line shown is not a stale one
            self.update(self.n, written, force=True)
            if self.tty:
                print(file=sys.stderr)


class Writer:
    def __init__(self):
        self.kv = []  # encoded key/value pairs
        self.tensors = []  # (name, ggml shape ne[], type, bytes, iterable of float32 slices)

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

    def add_tensor(self, name, shape, ggml_type, chunks):
        """Records a tensor of numpy shape `shape` whose float32 values `chunks` yields in order,
        lazily (a generator): nothing is read until write() reaches the tensor."""
        # ggml's ne[] lists dimensions innermost first: the reverse of numpy's shape
        ne = list(reversed(shape))
        nbytes = tensor_bytes(math.prod(shape), ggml_type)
        self.tensors.append((name, ne, ggml_type, nbytes, chunks))

    def write(self, path):
        """Header first (its offsets come from the sizes computed in add_tensor), then each
        tensor converted slice by slice; a failure part way removes the partial file."""

        def pad(n):
            return (ALIGNMENT - n % ALIGNMENT) % ALIGNMENT

        head = bytearray()
        head += GGUF_MAGIC + struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.kv))
        for body in self.kv:
            head += body
        offset = 0
        for name, ne, ggml_type, nbytes, _ in self.tensors:
            head += self._str(name) + struct.pack("<I", len(ne))
            head += struct.pack(f"<{len(ne)}Q", *ne)
            head += struct.pack("<IQ", ggml_type, offset)
            offset += nbytes + pad(nbytes)
        head += b"\0" * pad(len(head))
        progress = Progress(len(self.tensors), len(head) + offset)
        try:
            f = open(path, "wb")
        except OSError as e:
            fail(f"{path}: {e.strerror}")
        try:
            with f:
                f.write(head)
                total = len(head)
                for i, (name, _, ggml_type, nbytes, chunks) in enumerate(self.tensors):
                    done = 0
                    for a in chunks:
                        data = encode(a, ggml_type)
                        f.write(data)
                        done += memoryview(data).nbytes
                        progress.update(i + 1, total + done)
                    if done != nbytes:  # the header's offsets would no longer match the data
                        raise RuntimeError(f"{name}: wrote {done} bytes, header says {nbytes}")
                    f.write(b"\0" * pad(nbytes))
                    total += nbytes + pad(nbytes)
        except BaseException:
            # no half-written model left to be mistaken for a whole one (a regular file only:
            # never remove /dev/null or a pipe given as OUT)
            if os.path.isfile(path):
                os.remove(path)
            raise
        progress.finish(total)


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

    def matrix_type(shape):
        # as convert_hf_to_gguf: 1-D tensors (norms, biases) stay F32; Q8_0 needs whole blocks
        # along each row, otherwise the tensor falls back to F16
        if len(shape) < 2 or out_type == "f32":
            return GGML_F32
        if out_type == "q8_0" and shape[-1] % QK8_0 == 0:
            return GGML_Q8_0
        return GGML_F16

    # Only the safetensors headers are read here: the whole GGUF is planned (and every missing
    # or left-over tensor reported) before a byte of tensor data is read or written.
    weights = read_weights(model_dir)
    all_weights = dict(weights)  # the --rounded-hf folder holds every tensor, in file order

    def take(hf_name, gguf_name, rotary_heads=None):
        if hf_name not in weights:
            fail(f"{model_dir}: missing tensor {hf_name}")
        src = weights.pop(hf_name)
        transform = None
        if rotary_heads is not None:
            # permute() splits the rows into heads of (first half, second half) pairs
            if not src.shape or src.shape[0] % (2 * rotary_heads):
                shape = list(src.shape)
                fail(f"{model_dir}: tensor {hf_name} of shape {shape} is not {rotary_heads} heads of rotary pairs")
            transform = lambda a: permute(a, rotary_heads, rotary_heads)  # noqa: E731
        w.add_tensor(gguf_name, src.shape, matrix_type(src.shape), chunks_of(src, transform))

    def take_optional(hf_name, gguf_name, rotary_heads=None):
        if hf_name in weights:
            take(hf_name, gguf_name, rotary_heads)

    if rope_type == "llama3":
        factors = llama3_rope_factors(config, head_dim)
        w.add_tensor("rope_freqs.weight", factors.shape, GGML_F32, [factors])
    take("model.embed_tokens.weight", "token_embd.weight")
    # permute(w, n_head, n_head_kv) permutes K by n_head_kv heads, Q by n_head
    q, k = n_head, n_head_kv
    for i in range(n_layer):
        p, b = f"model.layers.{i}.", f"blk.{i}."
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
    if rounded_dir is not None:
        write_rounded(all_weights, cfg_path, rounded_dir, matrix_type)
    w.write(out_path)


def rounded_chunks(src, ggml_type):
    for a in chunks_of(src):
        yield stored_values(a, ggml_type)


def write_rounded(weights, cfg_path, out_dir, matrix_type):
    """An F32 Hugging Face folder of the weights as the GGUF stores them (F16 or Q8_0 rounded).
    Q8_0 blocks run along each row, and the Q/K permutation only reorders rows, so rounding
    the HF tensors gives the same values as rounding the permuted ones. Streamed like the GGUF:
    a slice of a tensor at a time (slices hold whole Q8_0 blocks, so each rounds as it would
    in the whole tensor)."""
    import shutil

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from make_llama_checkpoint import write_safetensors_streamed

    os.makedirs(out_dir, exist_ok=True)
    shutil.copy(cfg_path, os.path.join(out_dir, "config.json"))
    write_safetensors_streamed(
        os.path.join(out_dir, "model.safetensors"),
        [(n, src.shape, rounded_chunks(src, matrix_type(src.shape))) for n, src in weights.items()],
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
