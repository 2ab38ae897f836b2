#!/usr/bin/python3
"""int8 logits of latte and PyTorch, each against fp32, on the same checkpoint and texts.

Run with the Debian interpreter (python3-torch 1.13, python3-numpy):

    /usr/bin/python3 tools/peer/int8_logits.py models/default --input data/spam/test.jsonl --max 200

MODEL_DIR is a BertForSequenceClassification folder that latte reads (config.json,
model.safetensors, vocab). Every text is tokenized once by `latte tokenize`, so all four runs see
the same ids: latte --dtype f32 and --dtype int8 (`latte classify --json --speedup 1`), torch fp32
(tools/peer/export_bert_onnx.py's plain-torch BERT) and torch int8 (quantize_dynamic over every
nn.Linear, per-channel int8 weights, activations per tensor; the onednn engine in Debian's
torch). It prints, for each run against torch fp32 and for latte int8 against torch int8: the
largest and mean |logit difference| and how often the argmax (the predicted label) agrees.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from torch_bench import load_model, quantize, select_quantized_engine  # noqa: E402


def latte_lines(latte, *args):
    result = subprocess.run([latte, *args], check=True, capture_output=True, text=True)
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def compare(name, ours, reference):
    differences = [abs(a - b) for x, y in zip(ours, reference) for a, b in zip(x, y)]
    agree = sum(max(range(len(x)), key=x.__getitem__) == max(range(len(y)), key=y.__getitem__)
                for x, y in zip(ours, reference))
    return {"run": name, "max_abs": max(differences), "mean_abs": sum(differences) / len(differences),
            "argmax_agree": agree / len(ours), "inputs": len(ours)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="Hugging Face BERT classifier folder")
    ap.add_argument("--input", required=True, help="texts: one per line, or JSONL with a \"text\" field")
    ap.add_argument("--max", type=int, default=200, help="first N texts")
    ap.add_argument("--latte", default=os.path.join(here, "..", "..", "build", "latte"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="one JSON object per comparison")
    args = ap.parse_args()
    if args.max < 1:
        raise SystemExit("--max must be at least 1")
    torch.set_num_threads(args.threads)
    engine = select_quantized_engine()

    with open(args.input, encoding="utf-8") as fh:
        lines = [line for line in fh if line.strip()][: args.max]
    if not lines:
        raise SystemExit(f"{args.input}: no texts")
    with tempfile.NamedTemporaryFile("w", suffix=os.path.splitext(args.input)[1], delete=False) as fh:
        fh.writelines(line if line.endswith("\n") else line + "\n" for line in lines)
        texts = fh.name
    try:
        common = ["--model", args.model, "--input", texts]
        ids = [row["ids"] for row in latte_lines(args.latte, "tokenize", *common, "--json")]
        runs = {}
        for dtype in ("f32", "int8"):
            rows = latte_lines(args.latte, "classify", *common, "--json", "--speedup", "1", "--dtype", dtype,
                               "--threads", str(args.threads))
            runs[f"latte {dtype}"] = [row["logits"] for row in rows]
    finally:
        os.unlink(texts)

    fp32, _ = load_model(args.model)
    int8 = quantize(load_model(args.model)[0])
    for name, model in (("torch fp32", fp32), ("torch int8", int8)):
        logits = []
        with torch.inference_mode():
            for sequence in ids:
                tensor = torch.tensor([sequence], dtype=torch.long)
                logits.append(model(tensor, torch.ones_like(tensor), torch.zeros_like(tensor))[0].tolist())
        runs[name] = logits
    if any(len(v) != len(ids) for v in runs.values()):
        raise SystemExit("latte returned a different number of results than texts: " +
                         ", ".join(f"{k} {len(v)}" for k, v in runs.items()))

    results = [compare(f"{name} vs torch fp32", runs[name], runs["torch fp32"])
               for name in ("latte f32", "latte int8", "torch int8")]
    results.append(compare("latte int8 vs torch int8", runs["latte int8"], runs["torch int8"]))
    if args.json:
        for row in results:
            print(json.dumps({**row, "model": args.model, "torch": torch.__version__, "quantized_engine": engine}))
        return 0
    print(f"{len(ids)} texts of {args.input}, torch {torch.__version__} (quantized engine {engine}), "
          f"{args.threads} threads")
    print(f"{'comparison':<28} {'max |dlogit|':>13} {'mean |dlogit|':>14} {'argmax agrees':>14}")
    for row in results:
        print(f"{row['run']:<28} {row['max_abs']:>13.6f} {row['mean_abs']:>14.6f} {row['argmax_agree']:>13.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
