#!/usr/bin/python3
"""Writes a random Llama checkpoint in Hugging Face layout (config.json + F32 model.safetensors)
for the speed comparison with llama.cpp: only the shape matters there, so the weights are
seeded noise (scaled so activations stay finite), not a trained model.

Usage: make_llama_checkpoint.py OUT_DIR [--layers 4] [--hidden 512] [--heads 8] [--kv-heads 4]
       [--intermediate 1408] [--vocab 32000] [--context 4096]
"""

import argparse
import json
import math
import os
import struct

import numpy as np


def write_safetensors(path, tensors):
    """{name: array} -> an F32 .safetensors file."""
    write_safetensors_streamed(path, [(name, a.shape, [a]) for name, a in tensors.items()])


def write_safetensors_streamed(path, tensors):
    """[(name, shape, slices)] -> an F32 .safetensors file, where slices yields the tensor's
    values in order in any number of arrays: the header needs only the shapes, so a caller can
    produce each tensor while it is written (hf_to_gguf.py --rounded-hf on a large model)."""
    header, offset = {}, 0
    for name, shape, _ in tensors:
        size = 4 * math.prod(shape)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    head = json.dumps(header).encode()
    head += b" " * ((8 - len(head) % 8) % 8)  # the format pads the header to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for name, _, slices in tensors:
            done = 0
            for a in slices:
                data = np.ascontiguousarray(a, dtype="<f4")
                f.write(data)
                done += data.nbytes
            begin, end = header[name]["data_offsets"]
            if done != end - begin:  # the header's offsets would no longer match the data
                raise RuntimeError(f"{name}: wrote {done} bytes, header says {end - begin}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--intermediate", type=int, default=1408)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--context", type=int, default=4096)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    h, hd = args.hidden, args.hidden // args.heads

    def mat(out_f, in_f):
        return (rng.standard_normal((out_f, in_f), dtype=np.float32) / np.sqrt(in_f)).astype(np.float32)

    t = {"model.embed_tokens.weight": mat(args.vocab, h), "model.norm.weight": np.ones(h, np.float32)}
    for i in range(args.layers):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = np.ones(h, np.float32)
        t[p + "post_attention_layernorm.weight"] = np.ones(h, np.float32)
        t[p + "self_attn.q_proj.weight"] = mat(args.heads * hd, h)
        t[p + "self_attn.k_proj.weight"] = mat(args.kv_heads * hd, h)
        t[p + "self_attn.v_proj.weight"] = mat(args.kv_heads * hd, h)
        t[p + "self_attn.o_proj.weight"] = mat(h, args.heads * hd)
        t[p + "mlp.gate_proj.weight"] = mat(args.intermediate, h)
        t[p + "mlp.up_proj.weight"] = mat(args.intermediate, h)
        t[p + "mlp.down_proj.weight"] = mat(h, args.intermediate)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
        "hidden_size": h, "intermediate_size": args.intermediate, "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads, "num_key_value_heads": args.kv_heads,
        "max_position_embeddings": args.context, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        "rope_scaling": None, "tie_word_embeddings": True, "vocab_size": args.vocab,
        "bos_token_id": 0, "eos_token_id": 1, "torch_dtype": "float32",
        "attention_bias": False, "mlp_bias": False,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(args.out, "model.safetensors"), t)


if __name__ == "__main__":
    main()
