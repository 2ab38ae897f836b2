#!/usr/bin/env python3
"""latte at each precision against its peers on BERT, side by side in one session.

Variants (each a separate process per round and sequence length, run in turn, so load on a
shared machine hits all of them alike; the table is the median over rounds of each run's
median, with the load average at each round's end):
  latte-f32, latte-int8, latte-bf16   `latte bench --dtype ...` on --model
  latte-f32-avx2, latte-int8-avx2     the same with latte and oneDNN capped at AVX2
                                      (LATTE_GEMM_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2): what an
                                      AVX2-only CPU runs
  ort                                 ONNX Runtime 1.30 (tools/peer/ort_bench.js) on --onnx, a
                                      model of the same shape (export_bert_onnx.py)
  torch-fp32, torch-int8              tools/peer/torch_bench.py on --model's own weights
                                      (int8: torch's dynamic quantization, per-channel weights)

usage: tools/bench/peer_ab.py --model DIR --onnx tools/peer/bert-base.onnx
           [--seqs 4,8,16,32,64,128,512] [--rounds 3] [--repeats 10] [--threads 2]
           [--variants latte-f32,latte-int8,ort,torch-int8] [--json]
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


def command_for(variant, args, seq):
    """(argv, extra environment) of one timed run of `variant` at `seq` tokens."""
    common = ["--repeats", str(args.repeats), "--warmup", str(args.warmup), "--threads", str(args.threads)]
    if variant.startswith("latte-"):
        dtype = variant.split("-")[1]
        argv = [args.latte, "bench", "--model", args.model, "--seq", str(seq), "--dtype", dtype, "--json"] + common
        return argv, AVX2 if variant.endswith("-avx2") else {}
    if variant == "ort":
        return ["node", os.path.join(peer, "ort_bench.js"), "--model", args.onnx, "--seq", str(seq), "--json"] + common, {}
    if variant in ("torch-fp32", "torch-int8"):
        return ["/usr/bin/python3", os.path.join(peer, "torch_bench.py"), args.model, "--seq", str(seq),
                "--variants", variant.split("-")[1], "--json"] + common, {}
    raise SystemExit(f"--variants: unknown variant {variant}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latte", default="build/latte")
    parser.add_argument("--model", required=True, help="BERT classifier folder (latte init --preset base)")
    parser.add_argument("--onnx", default=os.path.join(peer, "bert-base.onnx"))
    parser.add_argument("--seqs", default="4,8,16,32,64,128,512")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", default="latte-f32,latte-int8,latte-bf16,latte-f32-avx2,latte-int8-avx2,"
                                              "ort,torch-fp32,torch-int8")
    parser.add_argument("--json", action="store_true", help="also print every run as JSON on stderr")
    args = parser.parse_args()
    seqs = [int(s) for s in args.seqs.split(",")]
    variants = args.variants.split(",")
    loads = [open("/proc/loadavg").read().split()[0]]
    results = {(seq, v): [] for seq in seqs for v in variants}
    for _ in range(args.rounds):
        for seq in seqs:
            for variant in variants:
                argv, extra = command_for(variant, args, seq)
                run = subprocess.run(argv, env={**os.environ, **extra}, capture_output=True, text=True)
                if run.returncode != 0:
                    raise SystemExit(f"{variant} at seq {seq} failed: {run.stderr.strip()}")
                line = json.loads(run.stdout.splitlines()[0])
                if args.json:
                    print(json.dumps({"variant": variant, **line}), file=sys.stderr)
                results[(seq, variant)].append(line["median_ms"])
        loads.append(open("/proc/loadavg").read().split()[0])
    print(f"threads {args.threads}, {args.rounds} rounds x {args.repeats} runs; "
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
