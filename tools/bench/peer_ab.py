#!/usr/bin/env python3
"""latte at each precision against its peers on BERT or on a T5 encoder, side by side in one
session.

Variants (each a separate process per round and sequence length, run in turn, so load on a
shared machine hits all of them alike; the table is the median over rounds of each run's
median, with the load average at each round's end):
  latte-f32, latte-int8, latte-bf16   `latte bench --dtype ...` on --model
  latte-f32-avx2, latte-int8-avx2     the same with latte and oneDNN capped at AVX2
                                      (LATTE_GEMM_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2): what an
                                      AVX2-only CPU runs
  ort                                 ONNX Runtime 1.30 (BERT: tools/peer/ort_bench.js on
                                      --onnx, a model of the same shape from export_bert_onnx.py;
                                      T5: tools/peer/t5_ort_bench.js on --onnx, the encoder
                                      export_t5_onnx.py exported from --model itself)
  torch-fp32, torch-int8              (BERT only) tools/peer/torch_bench.py on --model's own
                                      weights (int8: torch's dynamic quantization, per-channel)

--family t5 times the encoder. latte's encoder time comes from `latte bench --json` when it
takes the T5 folder (its "encoder_ms", else its "median_ms", of the "dense" line); otherwise
from --repeats separate `latte generate --prompt-ids <ids> --max-new-tokens 1 --json` runs (each
warms up before its prompt) on t5_ort_bench.js's own ids, the median of their "encoder_ms".
Which of the two was used is printed.

usage: tools/bench/peer_ab.py --model DIR --onnx tools/peer/bert-base.onnx
           [--seqs 4,8,16,32,64,128,512] [--rounds 3] [--repeats 10] [--threads 2]
           [--variants latte-f32,latte-int8,ort,torch-int8] [--json]
       tools/bench/peer_ab.py --family t5 --model /tmp/peer_t5 [--onnx tools/peer/t5-encoder.onnx]
           [--seqs 128,512] [--variants latte-f32,ort] ...
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
peer = os.path.join(here, "..", "peer")
AVX2 = {"LATTE_GEMM_ISA": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
FAMILIES = {
    "bert": {"onnx": "bert-base.onnx", "ort": "ort_bench.js", "seqs": "4,8,16,32,64,128,512",
             "variants": "latte-f32,latte-int8,latte-bf16,latte-f32-avx2,latte-int8-avx2,ort,torch-fp32,torch-int8"},
    "t5": {"onnx": "t5-encoder.onnx", "ort": "t5_ort_bench.js", "seqs": "128,512", "variants": "latte-f32,ort"},
}


def run_json(label, argv, extra=None):
    """The JSON lines a command prints; SystemExit naming `label` when it fails."""
    run = subprocess.run(argv, env={**os.environ, **(extra or {})}, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"{label} failed: {run.stderr.strip()}")
    return [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]


def latte_t5_bench(args):
    """None when `latte bench` takes the T5 folder (its JSON has encoder_ms or median_ms), else why not."""
    argv = [args.latte, "bench", "--model", args.model, "--seq", "8", "--repeats", "1", "--warmup", "1", "--json"]
    run = subprocess.run(argv, capture_output=True, text=True)
    if run.returncode != 0:
        return (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    if any("encoder_ms" in line or "median_ms" in line for line in lines):
        return None
    return "its JSON has neither encoder_ms nor median_ms"


def encoder_ms(lines):
    """latte bench on T5: the dense line's encoder_ms (a number, or an object with a median),
    else its median_ms."""
    line = next((x for x in lines if x.get("config") == "dense"), lines[0])
    value = line.get("encoder_ms")
    if isinstance(value, dict):
        value = value.get("median", value.get("median_ms"))
    return value if isinstance(value, (int, float)) else line["median_ms"]


def t5_ids(args, seq):
    """t5_ort_bench.js's ids of `seq` tokens for --model's vocabulary (the same input as ORT's)."""
    with open(os.path.join(args.model, "config.json")) as f:
        vocab = json.load(f)["vocab_size"]
    script = f"console.log(require({json.dumps(os.path.join(peer, 't5_ort_bench.js'))}).benchIds({seq}, {vocab}).join(','))"
    return subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout.strip()


def timed_run(variant, args, seq):
    """One timed run of `variant` at `seq` tokens: (median ms, the JSON line(s) it printed)."""
    common = ["--repeats", str(args.repeats), "--warmup", str(args.warmup), "--threads", str(args.threads)]
    label = f"{variant} at seq {seq}"
    onnx = args.onnx or os.path.join(peer, FAMILIES[args.family]["onnx"])
    if variant.startswith("latte-"):
        dtype = variant.split("-")[1]
        extra = AVX2 if variant.endswith("-avx2") else {}
        if args.family == "t5" and not args.latte_bench:
            argv = [args.latte, "generate", "--model", args.model, "--prompt-ids", t5_ids(args, seq),
                    "--max-new-tokens", "1", "--json", "--dtype", dtype, "--threads", str(args.threads)]
            lines = [{k: v for k, v in run_json(label, argv, extra)[0].items() if k != "prompt_ids"}
                     for _ in range(args.repeats)]
            return statistics.median(line["encoder_ms"] for line in lines), lines
        argv = [args.latte, "bench", "--model", args.model, "--seq", str(seq), "--dtype", dtype, "--json"] + common
        lines = run_json(label, argv, extra)
        return (encoder_ms(lines) if args.family == "t5" else lines[0]["median_ms"]), lines
    if variant == "ort":
        argv = ["node", os.path.join(peer, FAMILIES[args.family]["ort"]), "--model", onnx, "--seq", str(seq), "--json"]
        lines = run_json(label, argv + common)
        return lines[0]["median_ms"], lines
    if variant in ("torch-fp32", "torch-int8") and args.family == "bert":
        argv = ["/usr/bin/python3", os.path.join(peer, "torch_bench.py"), args.model, "--seq", str(seq),
                "--variants", variant.split("-")[1], "--json"] + common
        lines = run_json(label, argv)
        return lines[0]["median_ms"], lines
    raise SystemExit(f"--variants: unknown variant {variant} for --family {args.family}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", choices=sorted(FAMILIES), default="bert")
    parser.add_argument("--latte", default="build/latte")
    parser.add_argument("--model", required=True,
                        help="BERT classifier folder (latte init --preset base) or T5 folder (make_t5_checkpoint.py)")
    parser.add_argument("--onnx", default=None, help="default tools/peer/bert-base.onnx or t5-encoder.onnx")
    parser.add_argument("--seqs", default=None, help="default 4,8,16,32,64,128,512 (BERT), 128,512 (T5)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", default=None, help="comma-separated; default: all (BERT), latte-f32,ort (T5)")
    parser.add_argument("--json", action="store_true", help="also print every run as JSON on stderr")
    args = parser.parse_args()
    seqs = [int(s) for s in (args.seqs or FAMILIES[args.family]["seqs"]).split(",")]
    variants = (args.variants or FAMILIES[args.family]["variants"]).split(",")
    for variant in variants:
        known = variant.startswith("latte-") or variant == "ort" or (args.family == "bert" and variant.startswith("torch-"))
        if not known:
            raise SystemExit(f"--variants: unknown variant {variant} for --family {args.family}")
    if args.family == "t5":
        why_not = latte_t5_bench(args)
        args.latte_bench = why_not is None
        print("latte encoder time: " + ("`latte bench --json` (encoder_ms, else median_ms)" if args.latte_bench else
              f"median encoder_ms of {args.repeats} `latte generate --max-new-tokens 1` processes, one encoder "
              f"run each (latte bench on the T5 folder: {why_not})"))
    loads = [open("/proc/loadavg").read().split()[0]]
    results = {(seq, v): [] for seq in seqs for v in variants}
    for _ in range(args.rounds):
        for seq in seqs:
            for variant in variants:
                median, lines = timed_run(variant, args, seq)
                if args.json:
                    for line in lines:
                        print(json.dumps({"variant": variant, **line}), file=sys.stderr)
                results[(seq, variant)].append(median)
        loads.append(open("/proc/loadavg").read().split()[0])
    print(f"{args.family}: threads {args.threads}, {args.rounds} rounds x {args.repeats} runs; "
          f"load average (1 min) at each round's end: {' '.join(loads)}")
    # Each runtime against ONNX Runtime: above 1 is faster than ORT.
    header = "| seq | " + " | ".join(f"{v} ms" for v in variants)
    against = [v for v in variants if v != "ort"] if "ort" in variants else []
    header += "".join(f" | ORT / {v}" for v in against)
    print(header + " |")
    print("|---" * header.count("|") + "|")
    for seq in seqs:
        medians = {v: statistics.median(results[(seq, v)]) for v in variants}
        row = f"| {seq} | " + " | ".join(f"{medians[v]:.1f}" for v in variants)
        row += "".join(f" | {medians['ort'] / medians[v]:.2f}" for v in against)
        print(row + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
