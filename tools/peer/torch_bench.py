#!/usr/bin/python3
"""PyTorch peer for latte's BERT timings: fp32 and dynamic int8 on latte's own checkpoint.

Run with the Debian interpreter (python3-torch 1.13, python3-numpy):

    /usr/bin/python3 tools/peer/torch_bench.py MODEL_DIR --seq 16,128,512 --threads 2 --json

MODEL_DIR is a Hugging Face BertForSequenceClassification folder (config.json +
model.safetensors, F32/F16/BF16, with or without the "bert." prefix), e.g. one written by
`latte init --preset base --num-labels 2`, so torch and latte run the same weights. The model is
export_bert_onnx.py's plain-torch BERT. The int8 variant is
torch.quantization.quantize_dynamic over every nn.Linear with per-channel int8 weights
(per_channel_dynamic_qconfig; the onednn engine in Debian's torch): activations are quantized per tensor on the fly, as
latte's --dtype int8 does per row. Batch 1, inputs of exactly N tokens (random ids, all
attended), median of --repeats after --warmup untimed runs; each variant is timed in turn,
round by round, so both see the same machine state.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "reference"))
from export_bert_onnx import BertClassifier  # noqa: E402
from hf_reference_io import read_safetensors  # noqa: E402


def load_model(folder):
    with open(os.path.join(folder, "config.json")) as fh:
        cfg = json.load(fh)
    sd = read_safetensors(os.path.join(folder, "model.safetensors"), dtype=torch.float32)
    p = "bert." if "bert.embeddings.word_embeddings.weight" in sd else ""
    num_labels = sd["classifier.weight"].shape[0]
    model = BertClassifier(cfg["vocab_size"], cfg["max_position_embeddings"], cfg.get("type_vocab_size", 2),
                           cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"],
                           cfg["intermediate_size"], num_labels, cfg.get("layer_norm_eps", 1e-12))
    if cfg.get("hidden_act", "gelu") != "gelu":
        raise SystemExit(f"{folder}: hidden_act {cfg['hidden_act']}: the peer runs exact (erf) GELU only")

    def ln(key):
        if p + key + ".weight" in sd:
            return sd[p + key + ".weight"], sd[p + key + ".bias"]
        return sd[p + key + ".gamma"], sd[p + key + ".beta"]

    state = {"emb.word.weight": sd[p + "embeddings.word_embeddings.weight"],
             "emb.position.weight": sd[p + "embeddings.position_embeddings.weight"],
             "emb.token_type.weight": sd[p + "embeddings.token_type_embeddings.weight"]}
    state["emb.ln.weight"], state["emb.ln.bias"] = ln("embeddings.LayerNorm")
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "o": "attention.output.dense", "ff1": "intermediate.dense", "ff2": "output.dense"}
    for i in range(cfg["num_hidden_layers"]):
        base = f"{p}encoder.layer.{i}."
        for ours, theirs in names.items():
            state[f"layers.{i}.{ours}.weight"] = sd[base + theirs + ".weight"]
            state[f"layers.{i}.{ours}.bias"] = sd[base + theirs + ".bias"]
        state[f"layers.{i}.ln1.weight"], state[f"layers.{i}.ln1.bias"] = ln(f"encoder.layer.{i}.attention.output.LayerNorm")
        state[f"layers.{i}.ln2.weight"], state[f"layers.{i}.ln2.bias"] = ln(f"encoder.layer.{i}.output.LayerNorm")
    state["pool.weight"], state["pool.bias"] = sd[p + "pooler.dense.weight"], sd[p + "pooler.dense.bias"]
    state["cls.weight"], state["cls.bias"] = sd["classifier.weight"], sd["classifier.bias"]
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, cfg


def select_quantized_engine():
    """Debian's torch ships the onednn and qnnpack engines, not fbgemm: the best one present."""
    engines = torch.backends.quantized.supported_engines
    engine = next((e for e in ("fbgemm", "x86", "onednn", "qnnpack") if e in engines), None)
    if engine is None:
        raise SystemExit(f"this torch has no quantized engine (supported: {engines})")
    torch.backends.quantized.engine = engine
    return engine


def quantize(model):
    """Dynamic int8: per-channel int8 weights in every nn.Linear, activations per tensor on the fly."""
    return torch.quantization.quantize_dynamic(
        model, {nn.Linear: torch.quantization.per_channel_dynamic_qconfig}, dtype=torch.qint8)


def percentile(sorted_values, q):
    """Nearest-rank percentile of a sorted list."""
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="Hugging Face BERT classifier folder")
    ap.add_argument("--seq", default="128", help="comma-separated input lengths")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--variants", default="fp32,int8", help="fp32, int8 or both")
    ap.add_argument("--json", action="store_true", help="one JSON object per (variant, seq)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    engine = select_quantized_engine()
    fp32, cfg = load_model(args.model)
    models = {}
    for variant in args.variants.split(","):
        if variant == "fp32":
            models["torch-fp32"] = fp32
        elif variant == "int8":
            models["torch-int8"] = quantize(load_model(args.model)[0])
        else:
            raise SystemExit(f"--variants: unknown variant {variant} (fp32, int8)")
    generator = torch.Generator().manual_seed(0)
    if not args.json:
        print(f"torch {torch.__version__} (quantized engine {engine}), {args.threads} threads, "
              f"{args.repeats} rounds, batch 1")
        print(f"{'runtime':<12} {'seq':>5} {'median_ms':>10} {'p10_ms':>8} {'p90_ms':>8}")
    for seq in [int(s) for s in args.seq.split(",")]:
        if seq > cfg["max_position_embeddings"]:
            raise SystemExit(f"--seq {seq} exceeds max_position_embeddings {cfg['max_position_embeddings']}")
        ids = torch.randint(0, cfg["vocab_size"], (1, seq), generator=generator)
        mask = torch.ones(1, seq, dtype=torch.long)
        types = torch.zeros(1, seq, dtype=torch.long)
        times = {name: [] for name in models}
        with torch.inference_mode():
            for name, model in models.items():
                for _ in range(args.warmup):
                    model(ids, mask, types)
            for _ in range(args.repeats):  # rounds: every variant once per round
                for name, model in models.items():
                    start = time.perf_counter()
                    model(ids, mask, types)
                    times[name].append((time.perf_counter() - start) * 1e3)
        for name, values in times.items():
            values.sort()
            row = {"runtime": name, "torch": torch.__version__, "quantized_engine": engine, "seq": seq, "batch": 1, "threads": args.threads,
                   "repeats": args.repeats, "median_ms": statistics.median(values),
                   "p10_ms": percentile(values, 0.1), "p90_ms": percentile(values, 0.9),
                   "load_average": os.getloadavg()[0]}
            if args.json:
                print(json.dumps(row))
            else:
                print(f"{name:<12} {seq:>5} {row['median_ms']:>10.2f} {row['p10_ms']:>8.2f} {row['p90_ms']:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
