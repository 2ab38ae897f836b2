#!/usr/bin/python3
"""Export a GPT-2 checkpoint folder's prefill (last-position logits) to ONNX.

Run with the Debian interpreter (it has torch 1.13 + numpy; no transformers, no onnx package):

    /usr/bin/python3 tools/peer/export_gpt2_onnx.py MODEL_DIR OUT.onnx

MODEL_DIR is a Hugging Face GPT-2 folder, e.g. one made by `latte init --family gpt2`:
config.json + model.safetensors (HF names, with or without the "transformer." prefix;
Conv1D weights [in, out]; F32, F16 or BF16 on disk, computed in float32). The lm_head is
tied to wte unless the file has its own lm_head.weight and tie_word_embeddings is false.
So the exported graph holds exactly the weights latte runs.

The model is written with plain torch ops, HF modeling_gpt2.py semantics (eval, no dropout):
  h = wte[ids] + wpe[0..T-1]
  per layer (pre-norm): a = ln_1(h); q,k,v = split(a @ c_attn.W + b)
      P = softmax(q k^T / sqrt(head_dim) with the causal mask); h += (P v) @ attn.c_proj.W + b
      h += mlp.c_proj(act(mlp.c_fc(ln_2(h))))        act from activation_function (gelu_new:
                                                       tanh approximation)
  logits = ln_f(h[:, T-1]) @ wte^T                   only the last position, as a prefill /
                                                       time-to-first-token computes (latte's
                                                       prefill also makes only the last row's)
layer_norm_epsilon from config.json; scale_attn_weights and scale_attn_by_inverse_layer_idx
are honoured; reorder_and_upcast_attn only changes rounding and is ignored.

ONNX: opset 14, input `input_ids` int64 [batch, sequence] (both dynamic; the peer runs
batch 1), output `logits` float32 [batch, vocab]. Traced at [1, 8].

Next to OUT.onnx it writes OUT.onnx.ref.json: the model's shape, the model folder, one random
input [1, --check-seq] (seeded) and torch's logits for it. check_gpt2_export.js runs the ONNX
model on that input with onnxruntime-node and compares with torch and with latte.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from hf_reference_io import act_fn, read_safetensors  # noqa: E402  (F32/F16/BF16 safetensors)


class Gpt2LastLogits(nn.Module):
    """GPT-2 forward over input_ids [b, T] -> logits of position T-1 [b, vocab]."""

    def __init__(self, sd, cfg):
        super().__init__()
        prefix = "transformer." if "transformer.wte.weight" in sd else ""
        w = lambda name: sd[prefix + name]  # noqa: E731
        self.d = cfg["n_embd"]
        self.H = cfg["n_head"]
        self.L = cfg["n_layer"]
        assert self.d % self.H == 0, "n_embd must be a multiple of n_head"
        self.hd = self.d // self.H
        self.eps = float(cfg.get("layer_norm_epsilon", 1e-5))
        self.act = act_fn(cfg.get("activation_function", "gelu_new"))
        self.scale_attn = bool(cfg.get("scale_attn_weights", True))
        self.inv_layer = bool(cfg.get("scale_attn_by_inverse_layer_idx", False))

        P = lambda t: nn.Parameter(t.clone(), requires_grad=False)  # noqa: E731
        self.wte = P(w("wte.weight"))
        self.wpe = P(w("wpe.weight"))
        self.names = []
        for i in range(self.L):
            for n in ("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
                      "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                      "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"):
                key = f"h{i}_" + n.replace(".", "_")
                self.register_parameter(key, P(w(f"h.{i}.{n}")))
        self.ln_f_weight = P(w("ln_f.weight"))
        self.ln_f_bias = P(w("ln_f.bias"))
        tied = cfg.get("tie_word_embeddings", True)
        if "lm_head.weight" in sd and not tied:
            self.lm_head = P(sd["lm_head.weight"])
        else:
            self.lm_head = None
        vocab = self.wte.shape[0]
        # A zero bias makes the head one Gemm(transB=1) in ONNX, so wte is stored once (a bare
        # x @ wte^T would be exported as Transpose + MatMul and constant-folded into a copy).
        self.register_buffer("head_bias", torch.zeros(vocab))
        assert self.wte.shape[1] == self.d and self.wpe.shape[1] == self.d

    def p(self, i, name):
        return getattr(self, f"h{i}_{name}")

    def ln(self, x, g, b):
        return nn.functional.layer_norm(x, (self.d,), g, b, self.eps)

    def forward(self, input_ids):
        b, T = input_ids.shape[0], input_ids.shape[1]
        pos = torch.arange(T, dtype=torch.long, device=input_ids.device)
        h = self.wte[input_ids] + self.wpe[pos][None]
        causal = pos[None, :] > pos[:, None]  # [T, T]: True where key is after the query
        neg = torch.finfo(torch.float32).min  # HF's masked value
        for i in range(self.L):
            a = self.ln(h, self.p(i, "ln_1_weight"), self.p(i, "ln_1_bias"))
            qkv = torch.matmul(a, self.p(i, "attn_c_attn_weight")) + self.p(i, "attn_c_attn_bias")
            q, k, v = qkv.split(self.d, dim=-1)
            q, k, v = (t.reshape(b, T, self.H, self.hd).transpose(1, 2) for t in (q, k, v))
            s = torch.matmul(q, k.transpose(-1, -2))
            scale = 1.0
            if self.scale_attn:
                scale /= math.sqrt(self.hd)
            if self.inv_layer:
                scale /= float(i + 1)
            if scale != 1.0:
                s = s * scale
            s = s.masked_fill(causal, neg)
            ctx = torch.matmul(torch.softmax(s, dim=-1), v).transpose(1, 2).reshape(b, T, self.d)
            h = h + torch.matmul(ctx, self.p(i, "attn_c_proj_weight")) + self.p(i, "attn_c_proj_bias")
            m = self.ln(h, self.p(i, "ln_2_weight"), self.p(i, "ln_2_bias"))
            m = self.act(torch.matmul(m, self.p(i, "mlp_c_fc_weight")) + self.p(i, "mlp_c_fc_bias"))
            h = h + torch.matmul(m, self.p(i, "mlp_c_proj_weight")) + self.p(i, "mlp_c_proj_bias")
        last = self.ln(h[:, -1, :], self.ln_f_weight, self.ln_f_bias)  # [b, d]
        head = self.wte if self.lm_head is None else self.lm_head
        return nn.functional.linear(last, head, self.head_bias)  # [b, vocab]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir", help="GPT-2 folder: config.json + model.safetensors")
    ap.add_argument("out", help="output .onnx path (the .ref.json goes next to it)")
    ap.add_argument("--opset", type=int, default=14)
    ap.add_argument("--check-seq", type=int, default=None,
                    help="length of the saved random reference input (default 64, at most "
                         "n_positions - 1 so that latte generate can take it as a prompt)")
    ap.add_argument("--seed", type=int, default=1234, help="seed of the reference input")
    args = ap.parse_args()

    with open(os.path.join(args.model_dir, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type", "gpt2") != "gpt2":
        raise SystemExit(f"{args.model_dir}: model_type {cfg.get('model_type')!r} is not gpt2")
    st = os.path.join(args.model_dir, "model.safetensors")
    sd = read_safetensors(st, torch.float32)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    model = Gpt2LastLogits(sd, cfg).eval()
    del sd
    vocab = model.wte.shape[0]
    n_pos = model.wpe.shape[0]
    inner = model.p(0, "mlp_c_fc_weight").shape[1]
    nparams = sum(p.numel() for p in model.parameters())
    if args.check_seq is None:
        args.check_seq = max(1, min(64, n_pos - 1))
    if not 1 <= args.check_seq <= n_pos:
        raise SystemExit(f"--check-seq must be in [1, {n_pos}]")

    g = torch.Generator().manual_seed(args.seed)
    ids = torch.randint(0, vocab, (1, args.check_seq), generator=g, dtype=torch.long)
    with torch.no_grad():
        ref_logits = model(ids)
        # export at another length than the check input so the dynamic axis is exercised
        dummy = torch.randint(0, vocab, (1, min(8, n_pos)), generator=g, dtype=torch.long)
        torch.onnx.export(
            model, (dummy,), args.out,
            input_names=["input_ids"], output_names=["logits"],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}},
            opset_version=args.opset, do_constant_folding=True,
        )

    ref_path = args.out + ".ref.json"
    with open(ref_path, "w") as fh:
        json.dump({
            "family": "gpt2",
            "model_dir": os.path.abspath(args.model_dir),
            "config": {"layers": model.L, "hidden": model.d, "heads": model.H, "ffn": inner,
                       "vocab": vocab, "max_pos": n_pos, "layer_norm_epsilon": model.eps,
                       "activation_function": cfg.get("activation_function", "gelu_new"),
                       "opset": args.opset, "seed": args.seed},
            "torch_version": torch.__version__,
            "shape": list(ids.shape),
            "input_ids": ids.flatten().tolist(),
            "logits_shape": list(ref_logits.shape),
            "logits": ref_logits.flatten().tolist(),
        }, fh)
    size_mb = os.path.getsize(args.out) / 1e6
    print(f"wrote {args.out} ({size_mb:.1f} MB, {nparams / 1e6:.1f}M params, opset {args.opset}, "
          f"{model.L} layers d {model.d} heads {model.H} ffn {inner} vocab {vocab} n_positions {n_pos})")
    print(f"wrote {ref_path} (reference input {list(ids.shape)}, torch logits[:4] "
          f"{[round(v, 6) for v in ref_logits.flatten()[:4].tolist()]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
