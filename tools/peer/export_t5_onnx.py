#!/usr/bin/python3
"""Export a T5 checkpoint folder's encoder (and its first decoder step, for the parity check)
to ONNX.

Run with the Debian interpreter (it has torch 1.13 + numpy; no transformers, no onnx package):

    /usr/bin/python3 tools/peer/export_t5_onnx.py MODEL_DIR [OUT.onnx]

MODEL_DIR is a Hugging Face T5ForConditionalGeneration folder, e.g. one made by
make_t5_checkpoint.py: config.json + model.safetensors (HF names; F32, F16 or BF16 on disk,
read with tools/reference/hf_reference_io.py and computed in float32). So the exported graphs
hold exactly the weights latte runs. OUT defaults to tools/peer/t5-encoder.onnx.

The model is written with plain torch ops, HF modeling_t5.py semantics (eval, no dropout):
  rms(x, g) = g * x * rsqrt(mean(x^2) + eps)                   (no mean subtracted, no bias)
  relative bias: block 0's relative_attention_bias [buckets, heads] at
      _relative_position_bucket(key_pos - query_pos) (bidirectional in the encoder, causal in
      the decoder; the float32 log as HF), shared by every block of the stack
  attention: softmax(q k^T + bias + mask) v, NO 1/sqrt(d_kv) scaling, q/k/v/o without bias;
      the mask is HF's extended mask (1 - attention_mask) * float32 min, added to the bias
  encoder: h = shared[ids]; per block h += o(attn(rms(h))); h += ffn(rms(h));
      last_hidden_state = rms(h, encoder.final_layer_norm)
  ffn: relu / gelu: wo(act(wi x)); gated-*: wo(act(wi_0 x) * wi_1 x); "gated-gelu" is the
      tanh GELU (gelu_new), plain "gelu" the erf one (feed_forward_proj as HF parses it)
  first decoder step (t5-encoder.first-step.onnx): the token decoder_start_token_id attends to
      itself (bias of distance 0) and to every encoder row (no bias), FFN, final norm, times
      d_model^-0.5 when tied, then the LM head: the logits `latte generate --logits` prints.

ONNX: opset 14.
  OUT.onnx: inputs `input_ids` int64 [batch, sequence] and (unless --no-attention-mask)
      `attention_mask` int64 [batch, sequence], both dynamic; output `last_hidden_state`
      float32 [batch, sequence, d_model] and (unless --no-cross-kv) `cross_kv.N` float32
      [batch, sequence, 2 * heads * d_kv], decoder layer N's EncDecAttention k and v of it: the
      work latte's encode() does and times as encoder_ms. Traced at [1, 8].
  OUT stem + .first-step.onnx (unless --no-first-step): input `encoder_hidden_states` float32
      [batch, sequence, d_model] (dynamic), output `logits` float32 [batch, vocab].

Next to OUT.onnx it writes OUT.onnx.ref.json: the folder, the shape, a fixed input [2, T]
(row 0 full, ending in </s>; row 1 with its last 4 positions padded and masked), torch's
last_hidden_state for it and torch's first-step logits of row 0; and the same two computed by
the independent float64 reference tools/reference/t5_reference.py (RefT5) on the same folder,
with the differences (the export fails when they exceed --ref-tol). check_t5_export.js runs the
ONNX graphs with onnxruntime-node and compares them with torch and with latte.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "reference"))
from hf_reference_io import act_fn, read_safetensors  # noqa: E402  (F32/F16/BF16 safetensors)

PAD, EOS = 0, 1


def ffn_kind(feed_forward_proj):
    """(gated, activation name for act_fn) as transformers' T5Config parses feed_forward_proj."""
    parts = feed_forward_proj.split("-")
    gated = parts[0] == "gated"
    if len(parts) > 2 or (len(parts) == 2 and not gated):
        raise SystemExit(f"feed_forward_proj {feed_forward_proj!r}: expected ACT or gated-ACT")
    act = "gelu_new" if feed_forward_proj == "gated-gelu" else parts[-1]
    if act not in ("relu", "gelu", "gelu_new"):
        raise SystemExit(f"feed_forward_proj {feed_forward_proj!r}: activation {act!r} not supported (relu, gelu)")
    return gated, act


def relative_bucket(rel, bidirectional, num_buckets, max_distance):
    """transformers' T5Attention._relative_position_bucket (float32 log as there)."""
    buckets = torch.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (rel > 0).to(torch.long) * num_buckets
        rel = torch.abs(rel)
    else:
        rel = -torch.min(rel, torch.zeros_like(rel))
    max_exact = num_buckets // 2
    is_small = rel < max_exact
    # rel 0 gives log(0) = -inf here, as in HF; torch.where takes the exact branch for it
    large = max_exact + (torch.log(rel.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, rel, large)


class T5Stack(nn.Module):
    """The weights and the pieces both graphs use."""

    def __init__(self, sd, cfg):
        super().__init__()
        self.d, self.H, self.dkv = cfg["d_model"], cfg["num_heads"], cfg["d_kv"]
        self.eps = float(cfg.get("layer_norm_epsilon", 1e-6))
        self.buckets = int(cfg.get("relative_attention_num_buckets", 32))
        self.max_distance = int(cfg.get("relative_attention_max_distance", 128))
        self.gated, act = ffn_kind(cfg.get("feed_forward_proj", "relu"))
        self.act = act_fn(act)
        self._names = {}
        self.inner = self.H * self.dkv
        if tuple(sd["shared.weight"].shape[1:]) != (self.d,):
            raise SystemExit(f"shared.weight has shape {list(sd['shared.weight'].shape)}, d_model {self.d}")

    def param(self, sd, name):
        """Registers the HF tensor `name` (once) and returns it."""
        if name not in self._names:
            if name not in sd:
                raise SystemExit(f"model.safetensors has no tensor {name}")
            key = name.replace(".", "_")
            self.register_parameter(key, nn.Parameter(sd[name].clone(), requires_grad=False))
            self._names[name] = key
        return getattr(self, self._names[name])

    def p(self, name):
        return getattr(self, self._names[name])

    def rms(self, x, name):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.p(name) * (x * torch.rsqrt(var + self.eps))

    def lin(self, x, name):
        return torch.matmul(x, self.p(name).t())

    def heads(self, x):  # [b, T, H*dkv] -> [b, H, T, dkv]
        return x.reshape(x.shape[0], x.shape[1], self.H, self.dkv).transpose(1, 2)

    def attend(self, q, k, v, bias):
        s = torch.matmul(q, k.transpose(-1, -2))
        if bias is not None:
            s = s + bias
        ctx = torch.matmul(torch.softmax(s, dim=-1), v)  # [b, H, T, dkv]
        return ctx.transpose(1, 2).reshape(ctx.shape[0], ctx.shape[2], self.inner)

    def ffn(self, h, p):
        x = self.rms(h, p + "layer_norm.weight")
        if self.gated:
            a = self.act(self.lin(x, p + "DenseReluDense.wi_0.weight")) * self.lin(x, p + "DenseReluDense.wi_1.weight")
        else:
            a = self.act(self.lin(x, p + "DenseReluDense.wi.weight"))
        return h + self.lin(a, p + "DenseReluDense.wo.weight")

    def register_ffn(self, sd, p):
        self.param(sd, p + "layer_norm.weight")
        for wi in (("wi_0", "wi_1") if self.gated else ("wi",)):
            self.param(sd, p + f"DenseReluDense.{wi}.weight")
        self.param(sd, p + "DenseReluDense.wo.weight")


class T5Encoder(T5Stack):
    """input_ids [b, T] (+ attention_mask [b, T]) -> last_hidden_state [b, T, d_model]."""

    def __init__(self, sd, cfg, with_mask=True):
        super().__init__(sd, cfg)
        self.L = cfg["num_layers"]
        self.with_mask = with_mask
        self.param(sd, "shared.weight")
        self.param(sd, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
        for i in range(self.L):
            b = f"encoder.block.{i}.layer."
            self.param(sd, b + "0.layer_norm.weight")
            for m in "qkvo":
                self.param(sd, b + f"0.SelfAttention.{m}.weight")
            self.register_ffn(sd, b + "1.")
        self.param(sd, "encoder.final_layer_norm.weight")

    def forward(self, input_ids, attention_mask=None):
        T = input_ids.shape[1]
        h = self.p("shared.weight")[input_ids]
        pos = torch.arange(T, dtype=torch.long, device=input_ids.device)
        rel = pos[None, :] - pos[:, None]  # key - query
        bucket = relative_bucket(rel, True, self.buckets, self.max_distance)
        table = self.p("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
        bias = table[bucket].permute(2, 0, 1)[None]  # [1, H, T, T]
        if attention_mask is not None:
            keep = attention_mask[:, None, None, :].to(torch.float32)
            bias = bias + (1.0 - keep) * torch.finfo(torch.float32).min
        for i in range(self.L):
            b = f"encoder.block.{i}.layer.0."
            x = self.rms(h, b + "layer_norm.weight")
            q, k, v = (self.heads(self.lin(x, b + f"SelfAttention.{m}.weight")) for m in "qkv")
            h = h + self.lin(self.attend(q, k, v, bias), b + "SelfAttention.o.weight")
            h = self.ffn(h, f"encoder.block.{i}.layer.1.")
        return self.rms(h, "encoder.final_layer_norm.weight")


class T5EncoderNoMask(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids):
        return self.encoder(input_ids)


class T5EncoderWithMemory(nn.Module):
    """The encoder, then every decoder layer's cross-attention keys and values projected from its
    output: the work latte's encode() does (and times as encoder_ms), so that the peer does it too.
    Outputs last_hidden_state and cross_kv.N [b, T, 2 * inner] (K then V, one MatMul per layer,
    as latte projects them)."""

    def __init__(self, encoder, sd, cfg):
        super().__init__()
        self.encoder = encoder
        layers = cfg.get("num_decoder_layers", cfg["num_layers"])
        for i in range(layers):
            b = f"decoder.block.{i}.layer.1.EncDecAttention."
            for m in "kv":
                if b + f"{m}.weight" not in sd:
                    raise SystemExit(f"model.safetensors has no tensor {b}{m}.weight")
            both = torch.cat([sd[b + "k.weight"], sd[b + "v.weight"]], 0).clone()
            self.register_parameter(f"cross_kv_{i}", nn.Parameter(both, requires_grad=False))
        self.layers = layers

    def forward(self, *inputs):  # input_ids (, attention_mask): as the wrapped encoder takes them
        hidden = self.encoder(*inputs)
        return (hidden,) + tuple(torch.matmul(hidden, getattr(self, f"cross_kv_{i}").t()) for i in range(self.layers))


class T5FirstStep(T5Stack):
    """encoder_hidden_states [b, n, d_model] -> logits [b, vocab] of the first decoder step
    (the token decoder_start_token_id; every encoder row attended to)."""

    def __init__(self, sd, cfg):
        super().__init__(sd, cfg)
        self.L = cfg.get("num_decoder_layers", cfg["num_layers"])
        self.start = int(cfg.get("decoder_start_token_id", PAD))
        self.tied = bool(cfg.get("tie_word_embeddings", True))
        self.param(sd, "shared.weight")
        self.param(sd, "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
        for i in range(self.L):
            b = f"decoder.block.{i}.layer."
            self.param(sd, b + "0.layer_norm.weight")
            self.param(sd, b + "1.layer_norm.weight")
            for m in "qkvo":
                self.param(sd, b + f"0.SelfAttention.{m}.weight")
                self.param(sd, b + f"1.EncDecAttention.{m}.weight")
            self.register_ffn(sd, b + "2.")
        self.param(sd, "decoder.final_layer_norm.weight")
        self.head = "shared.weight" if self.tied else "lm_head.weight"
        self.param(sd, self.head)
        # A zero bias makes the head one Gemm(transB=1), so a tied table is stored once.
        self.register_buffer("head_bias", torch.zeros(self.p(self.head).shape[0]))

    def forward(self, encoder_hidden_states):
        mem = encoder_hidden_states
        h = self.p("shared.weight")[self.start].reshape(1, 1, self.d).expand(mem.shape[0], 1, self.d)
        zero = torch.zeros((1, 1), dtype=torch.long)
        table = self.p("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
        self_bias = table[relative_bucket(zero, False, self.buckets, self.max_distance)].permute(2, 0, 1)[None]
        for i in range(self.L):
            b = f"decoder.block.{i}.layer."
            x = self.rms(h, b + "0.layer_norm.weight")
            q, k, v = (self.heads(self.lin(x, b + f"0.SelfAttention.{m}.weight")) for m in "qkv")
            h = h + self.lin(self.attend(q, k, v, self_bias), b + "0.SelfAttention.o.weight")
            x = self.rms(h, b + "1.layer_norm.weight")
            q = self.heads(self.lin(x, b + "1.EncDecAttention.q.weight"))
            k, v = (self.heads(self.lin(mem, b + f"1.EncDecAttention.{m}.weight")) for m in "kv")
            h = h + self.lin(self.attend(q, k, v, None), b + "1.EncDecAttention.o.weight")
            h = self.ffn(h, b + "2.")
        out = self.rms(h[:, 0, :], "decoder.final_layer_norm.weight")
        if self.tied:
            out = out * (self.d ** -0.5)
        return nn.functional.linear(out, self.p(self.head), self.head_bias)


def reference_check(st_path, cfg, ids):
    """t5_reference.py's float64 RefT5 on the same folder: (encoder hidden [T, d], first logits)."""
    from t5_reference import RefT5  # noqa: E402  (tools/reference, on sys.path above)
    if ffn_kind(cfg.get("feed_forward_proj", "relu"))[1] == "gelu":  # RefT5 maps every gelu to tanh
        raise SystemExit("t5_reference.py's RefT5 has no erf-GELU FFN: use --no-ref-check")
    defaults = {"num_decoder_layers": cfg["num_layers"], "tie_word_embeddings": True, "decoder_start_token_id": PAD,
                "layer_norm_epsilon": 1e-6, "relative_attention_num_buckets": 32,
                "relative_attention_max_distance": 128, "feed_forward_proj": "relu"}
    ref = RefT5(read_safetensors(st_path), {**defaults, **cfg})
    memory, pos, _, _ = ref.encode(ids)
    logits = ref.decode(memory, pos, [ref.cfg["decoder_start_token_id"]], [])[0]
    return memory, logits


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir", help="T5 folder: config.json + model.safetensors")
    ap.add_argument("out", nargs="?", default=os.path.join(here, "t5-encoder.onnx"),
                    help="output .onnx path (default tools/peer/t5-encoder.onnx; the .ref.json and the "
                         "first-step graph go next to it)")
    ap.add_argument("--opset", type=int, default=14)
    ap.add_argument("--check-seq", type=int, default=64, help="length T of the saved reference input (default 64)")
    ap.add_argument("--seed", type=int, default=1234, help="seed of the reference input")
    ap.add_argument("--no-attention-mask", action="store_true", help="export the encoder with input_ids only")
    ap.add_argument("--no-cross-kv", action="store_true",
                    help="export the encoder alone, without the decoder's cross-attention keys and values "
                         "(latte's encoder_ms includes them)")
    ap.add_argument("--no-first-step", action="store_true", help="do not export the first decoder step")
    ap.add_argument("--no-ref-check", action="store_true", help="skip the float64 t5_reference.py comparison")
    ap.add_argument("--ref-tol", type=float, default=1e-4,
                    help="largest |torch f32 - t5_reference f64| accepted, relative to the largest |value| "
                         "of each output (default 1e-4)")
    args = ap.parse_args()

    with open(os.path.join(args.model_dir, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") not in ("t5", "mt5"):
        raise SystemExit(f"{args.model_dir}: model_type {cfg.get('model_type')!r} is not t5")
    st = os.path.join(args.model_dir, "model.safetensors")
    if not os.path.exists(st):
        raise SystemExit(f"{args.model_dir}: no model.safetensors (sharded folders are not read here)")
    if args.check_seq < 6:
        raise SystemExit("--check-seq must be at least 6 (row 1 pads its last 4 positions)")
    sd = read_safetensors(st, torch.float32)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    encoder = T5Encoder(sd, cfg, with_mask=not args.no_attention_mask).eval()
    step = None if args.no_first_step else T5FirstStep(sd, cfg).eval()
    vocab = encoder.p("shared.weight").shape[0]
    d_ff = encoder.p("encoder.block.0.layer.1.DenseReluDense.wo.weight").shape[1]
    nparams = sum(p.numel() for p in encoder.parameters())

    # Reference input: ids in [3, min(vocab, 32000)) (clear of pad/eos/unk and T5's sentinel rows),
    # </s> last; row 1 padded over its last 4 positions.
    T = args.check_seq
    g = torch.Generator().manual_seed(args.seed)
    top = min(vocab, 32000)
    ids = torch.randint(3, top, (2, T), generator=g, dtype=torch.long)
    ids[0, T - 1] = EOS
    ids[1, T - 5] = EOS
    ids[1, T - 4:] = PAD
    mask = torch.ones(2, T, dtype=torch.long)
    mask[1, T - 4:] = 0
    stem = args.out[:-5] if args.out.endswith(".onnx") else args.out
    step_path = stem + ".first-step.onnx"
    with torch.no_grad():
        hidden = encoder(ids, mask if encoder.with_mask else None)
        if not encoder.with_mask:  # no mask input: the reference checks only the unpadded row
            hidden, ids, mask = hidden[:1], ids[:1], mask[:1]
        first_logits = step(hidden[:1]) if step is not None else None
        dummy = torch.randint(3, top, (1, 8), generator=g, dtype=torch.long)
        names, axes = ["input_ids"], {"input_ids": {0: "batch", 1: "sequence"},
                                      "last_hidden_state": {0: "batch", 1: "sequence"}}
        inputs = (dummy,)
        model = encoder
        if encoder.with_mask:
            names.append("attention_mask")
            axes["attention_mask"] = {0: "batch", 1: "sequence"}
            inputs = (dummy, torch.ones_like(dummy))
        else:
            model = T5EncoderNoMask(encoder)
        outputs = ["last_hidden_state"]
        if not args.no_cross_kv:
            model = T5EncoderWithMemory(model, sd, cfg).eval()
            outputs += [f"cross_kv.{i}" for i in range(model.layers)]
            axes.update({name: {0: "batch", 1: "sequence"} for name in outputs[1:]})
        torch.onnx.export(model, inputs, args.out, input_names=names, output_names=outputs,
                          dynamic_axes=axes, opset_version=args.opset, do_constant_folding=True)
        if step is not None:
            torch.onnx.export(step, (hidden[:1, :8].contiguous(),), step_path,
                              input_names=["encoder_hidden_states"], output_names=["logits"],
                              dynamic_axes={"encoder_hidden_states": {0: "batch", 1: "sequence"},
                                            "logits": {0: "batch"}},
                              opset_version=args.opset, do_constant_folding=True)
    del sd

    reference = None
    if not args.no_ref_check:
        ref_hidden, ref_logits = reference_check(st, cfg, ids[0].tolist())
        reference = {"encoder_max_abs_diff": (hidden[0].double() - ref_hidden).abs().max().item(),
                     "encoder_max_abs": ref_hidden.abs().max().item(),
                     "first_logits": ref_logits.tolist()}
        worst = reference["encoder_max_abs_diff"] / reference["encoder_max_abs"]
        line = (f"torch f32 vs t5_reference.py f64 on row 0: encoder max |diff| "
                f"{reference['encoder_max_abs_diff']:.3e} (max |value| {reference['encoder_max_abs']:.3f})")
        if first_logits is not None:
            reference["first_logits_max_abs_diff"] = (first_logits[0].double() - ref_logits).abs().max().item()
            reference["first_logits_max_abs"] = ref_logits.abs().max().item()
            worst = max(worst, reference["first_logits_max_abs_diff"] / reference["first_logits_max_abs"])
            line += (f", first-step logits max |diff| {reference['first_logits_max_abs_diff']:.3e} "
                     f"(max |logit| {reference['first_logits_max_abs']:.3f})")
        print(line)
        if worst > args.ref_tol:
            raise SystemExit(f"FAIL: torch export differs from t5_reference.py by {worst:.3e} relative "
                             f"(--ref-tol {args.ref_tol})")

    ref_path = args.out + ".ref.json"
    with open(ref_path, "w") as fh:
        json.dump({
            "family": "t5",
            "model_dir": os.path.abspath(args.model_dir),
            "config": {"layers": encoder.L, "decoder_layers": cfg.get("num_decoder_layers", encoder.L),
                       "hidden": encoder.d, "heads": encoder.H, "d_kv": encoder.dkv, "ffn": d_ff, "vocab": vocab,
                       "feed_forward_proj": cfg.get("feed_forward_proj", "relu"), "gated": encoder.gated,
                       "buckets": encoder.buckets, "max_distance": encoder.max_distance,
                       "layer_norm_epsilon": encoder.eps, "tie_word_embeddings": cfg.get("tie_word_embeddings", True),
                       "decoder_start_token_id": cfg.get("decoder_start_token_id", PAD),
                       "opset": args.opset, "seed": args.seed, "attention_mask": encoder.with_mask,
                       "cross_kv": not args.no_cross_kv},
            "torch_version": torch.__version__,
            "first_step_model": os.path.basename(step_path) if step is not None else None,
            "shape": list(ids.shape),
            "input_ids": ids.flatten().tolist(),
            "attention_mask": mask.flatten().tolist(),
            "hidden_shape": list(hidden.shape),
            "last_hidden_state": hidden.flatten().tolist(),
            "first_logits": first_logits.flatten().tolist() if first_logits is not None else None,
            "reference": reference,
        }, fh)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB, encoder {nparams / 1e6:.1f}M params, "
          f"opset {args.opset}, {encoder.L} layers d_model {encoder.d} heads {encoder.H} x d_kv {encoder.dkv} "
          f"d_ff {d_ff} {cfg.get('feed_forward_proj', 'relu')} vocab {vocab}"
          f"{'' if encoder.with_mask else ', no attention_mask input'}"
          f"{'' if args.no_cross_kv else ', with the decoder cross-attention keys and values'})")
    if step is not None:
        print(f"wrote {step_path} ({os.path.getsize(step_path) / 1e6:.1f} MB, first decoder step, "
              f"{step.L} layers, {'tied' if step.tied else 'untied'} head)")
    print(f"wrote {ref_path} (reference input {list(ids.shape)}, torch last_hidden_state[0, 0, :4] "
          f"{[round(v, 6) for v in hidden[0, 0, :4].tolist()]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
