#!/usr/bin/env python3
"""Full-pass A/B of Linear's GEMM paths: `latte bench` with LATTE_GEMM=onednn
(oneDNN only, latte before PackedGemm) against the default (PackedGemm for few
rows); the -avx2 variants cap latte (LATTE_GEMM_ISA) and oneDNN
(ONEDNN_MAX_CPU_ISA) at AVX2, which is what an AVX2-only CPU runs. Every round runs each variant once per sequence length, in turn,
as separate processes, so load on a shared machine hits all of them alike; the
table shows the median over rounds of each run's median, and the load average.

usage: tools/bench/gemm_ab.py --model /tmp/gemm/base [--seqs 4,8,16] [--rounds 3] [--threads 2]
"""
import argparse
import json
import os
import statistics
import subprocess


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--latte", default="build/latte")
    parser.add_argument("--model", required=True)
    parser.add_argument("--seqs", default="4,8,16,32,64,128")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", default="onednn,auto,onednn-avx2,auto-avx2")
    args = parser.parse_args()
    seqs = [int(s) for s in args.seqs.split(",")]
    variants = args.variants.split(",")
    environments = {
        "onednn": {"LATTE_GEMM": "onednn"},
        "auto": {"LATTE_GEMM": "auto"},
        "onednn-avx2": {"LATTE_GEMM": "onednn", "ONEDNN_MAX_CPU_ISA": "AVX2"},
        "auto-avx2": {"LATTE_GEMM": "auto", "LATTE_GEMM_ISA": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
        "packed": {"LATTE_GEMM": "packed"},
    }
    loads = [open("/proc/loadavg").read().split()[0]]
    results = {(seq, variant): [] for seq in seqs for variant in variants}
    for _ in range(args.rounds):
        for seq in seqs:
            for variant in variants:
                command = [args.latte, "bench", "--model", args.model, "--seq", str(seq), "--repeats",
                           str(args.repeats), "--warmup", "1", "--threads", str(args.threads), "--json"]
                output = subprocess.run(command, env={**os.environ, **environments[variant]}, check=True,
                                        capture_output=True, text=True).stdout
                results[(seq, variant)].append(json.loads(output.splitlines()[0])["median_ms"])
        loads.append(open("/proc/loadavg").read().split()[0])
    print(f"threads {args.threads}, {args.rounds} rounds x {args.repeats} runs; "
          f"load average (1 min) at each round's end: {' '.join(loads)}")
    # Each variant against oneDNN capped at the same ISA: the speedup it brings.
    baseline = {v: "onednn-avx2" if v.endswith("-avx2") else "onednn" for v in variants}
    compared = [v for v in variants if not v.startswith("onednn") and baseline[v] in variants]
    header = "| seq | " + " | ".join(f"{v} ms" for v in variants)
    header += "".join(f" | {baseline[v]} / {v}" for v in compared)
    print(header + " |")
    print("|---" * (header.count("|")) + "|")
    for seq in seqs:
        medians = {v: statistics.median(results[(seq, v)]) for v in variants}
        row = f"| {seq} | " + " | ".join(f"{medians[v]:.1f}" for v in variants)
        row += "".join(f" | **{medians[baseline[v]] / medians[v]:.2f}x**" for v in compared)
        print(row + " |")


if __name__ == "__main__":
    main()
