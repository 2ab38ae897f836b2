#!/usr/bin/python3
"""Writes a random T5ForConditionalGeneration folder in Hugging Face layout (config.json + F32
model.safetensors with HF tensor names) for the speed comparison with ONNX Runtime: only the
shape matters there, so the weights are seeded noise, not a trained model.

Default shape: Flan-T5-base (12 encoder + 12 decoder layers, d_model 768, d_ff 2048, 12 heads,
d_kv 64, gated-gelu, vocab 32128, untied LM head, 32 buckets, max distance 128; 247.6M
parameters, 990 MB). Flags give smaller shapes.

Initialisation as transformers' T5PreTrainedModel._init_weights with initializer_factor 1:
shared (and an untied lm_head) N(0, 1); q N(0, (d_model * d_kv)^-0.5); k, v N(0, d_model^-0.5);
o N(0, (heads * d_kv)^-0.5); relative_attention_bias N(0, d_model^-0.5); wi / wi_0 / wi_1
N(0, d_model^-0.5); wo N(0, d_ff^-0.5); layer norms 1. One numpy PCG64 generator seeded with
--seed draws every tensor in the order the file stores them, so a seed gives the same bytes.

Usage: /usr/bin/python3 tools/peer/make_t5_checkpoint.py OUT_DIR [--layers 12]
       [--decoder-layers L] [--d-model 768] [--d-ff 2048] [--heads 12] [--d-kv 64]
       [--vocab 32128] [--ffn gated-gelu] [--tied] [--buckets 32] [--max-distance 128] [--seed 0]
"""

import argparse
import json
import math
import os
import sys

import numpy as np

from make_llama_checkpoint import write_safetensors_streamed

FFN_KINDS = ("gated-gelu", "relu", "gated-relu", "gelu")


def tensor_specs(a):
    """[(HF name, shape, std or None for a layer norm of ones)] in the order they are written."""
    d, inner, f = a.d_model, a.heads * a.d_kv, a.d_ff
    gated = a.ffn.startswith("gated-")
    specs = [("shared.weight", (a.vocab, d), 1.0)]
    for stack, layers in (("encoder", a.layers), ("decoder", a.decoder_layers)):
        for i in range(layers):
            b = f"{stack}.block.{i}.layer."
            specs.append((b + "0.layer_norm.weight", (d,), None))
            specs.append((b + "0.SelfAttention.q.weight", (inner, d), (d * a.d_kv) ** -0.5))
            specs.append((b + "0.SelfAttention.k.weight", (inner, d), d ** -0.5))
            specs.append((b + "0.SelfAttention.v.weight", (inner, d), d ** -0.5))
            specs.append((b + "0.SelfAttention.o.weight", (d, inner), inner ** -0.5))
            if i == 0:
                specs.append((b + "0.SelfAttention.relative_attention_bias.weight", (a.buckets, a.heads), d ** -0.5))
            ffn = 1
            if stack == "decoder":
                specs.append((b + "1.layer_norm.weight", (d,), None))
                specs.append((b + "1.EncDecAttention.q.weight", (inner, d), (d * a.d_kv) ** -0.5))
                specs.append((b + "1.EncDecAttention.k.weight", (inner, d), d ** -0.5))
                specs.append((b + "1.EncDecAttention.v.weight", (inner, d), d ** -0.5))
                specs.append((b + "1.EncDecAttention.o.weight", (d, inner), inner ** -0.5))
                ffn = 2
            specs.append((b + f"{ffn}.layer_norm.weight", (d,), None))
            for wi in (("wi_0", "wi_1") if gated else ("wi",)):
                specs.append((b + f"{ffn}.DenseReluDense.{wi}.weight", (f, d), d ** -0.5))
            specs.append((b + f"{ffn}.DenseReluDense.wo.weight", (d, f), f ** -0.5))
        specs.append((f"{stack}.final_layer_norm.weight", (d,), None))
    if not a.tied:
        specs.append(("lm_head.weight", (a.vocab, d), 1.0))
    return specs


def make_config(a):
    return {
        "architectures": ["T5ForConditionalGeneration"],
        "d_ff": a.d_ff, "d_kv": a.d_kv, "d_model": a.d_model,
        "decoder_start_token_id": 0, "dense_act_fn": "gelu_new" if a.ffn == "gated-gelu" else a.ffn.split("-")[-1],
        "dropout_rate": 0.1, "eos_token_id": 1, "feed_forward_proj": a.ffn,
        "initializer_factor": 1.0, "is_encoder_decoder": True, "is_gated_act": a.ffn.startswith("gated-"),
        "layer_norm_epsilon": 1e-6, "model_type": "t5", "n_positions": 512,
        "num_decoder_layers": a.decoder_layers, "num_heads": a.heads, "num_layers": a.layers,
        "pad_token_id": 0, "relative_attention_max_distance": a.max_distance,
        "relative_attention_num_buckets": a.buckets, "tie_word_embeddings": a.tied,
        "torch_dtype": "float32", "vocab_size": a.vocab,
        "latte_note": f"random weights from tools/peer/make_t5_checkpoint.py --seed {a.seed}",
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=12, help="encoder layers (default 12)")
    ap.add_argument("--decoder-layers", type=int, default=None, help="default: --layers")
    ap.add_argument("--d-model", type=int, default=768)
    ap.add_argument("--d-ff", type=int, default=2048)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--d-kv", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=32128)
    ap.add_argument("--ffn", default="gated-gelu", choices=FFN_KINDS, help="feed_forward_proj")
    ap.add_argument("--tied", action="store_true", help="tie_word_embeddings true (no lm_head.weight)")
    ap.add_argument("--buckets", type=int, default=32, help="relative_attention_num_buckets")
    ap.add_argument("--max-distance", type=int, default=128, help="relative_attention_max_distance")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.decoder_layers is None:
        a.decoder_layers = a.layers
    for flag in ("layers", "decoder_layers", "d_model", "d_ff", "heads", "d_kv", "vocab", "buckets", "max_distance"):
        if getattr(a, flag) < 1:
            ap.error(f"--{flag.replace('_', '-')} must be at least 1")
    if a.vocab < 3:
        ap.error("--vocab must be at least 3 (pad 0, eos 1, unk 2)")

    rng = np.random.default_rng(a.seed)

    def values(shape, std):
        if std is None:
            yield np.ones(shape, np.float32)
            return
        rows = shape[0]
        step = max(1, (1 << 22) // math.prod(shape[1:]))  # about 16 MB at a time
        for r in range(0, rows, step):
            n = min(step, rows - r)
            yield rng.standard_normal((n,) + tuple(shape[1:]), dtype=np.float32) * np.float32(std)

    specs = tensor_specs(a)
    os.makedirs(a.out, exist_ok=True)
    write_safetensors_streamed(os.path.join(a.out, "model.safetensors"),
                               [(name, shape, values(shape, std)) for name, shape, std in specs])
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(make_config(a), f, indent=2)
        f.write("\n")
    params = sum(math.prod(s) for _, s, _ in specs)
    size = os.path.getsize(os.path.join(a.out, "model.safetensors"))
    print(f"wrote {a.out}: {len(specs)} tensors, {params / 1e6:.1f}M parameters, {size / 1e6:.0f} MB "
          f"({a.layers}+{a.decoder_layers} layers, d_model {a.d_model}, d_ff {a.d_ff}, {a.heads} heads x d_kv "
          f"{a.d_kv}, {a.ffn}, vocab {a.vocab}, {'tied' if a.tied else 'untied'}, seed {a.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
