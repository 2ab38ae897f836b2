#!/usr/bin/env python3
"""Markdown tables of scripts/make_gpt2_model.sh's results, for docs/results.md (issues 11, 22).

    python3 tools/results/gpt2_results.py out/gpt2-model [--prompts 256,512] [--headline 3.72]

Reads WORK/seed*/{elim,dense}.eval-prompt{P}.jsonl (`latte eval --task lm --json` lines) and
prints, per prompt length, one row per target speedup and arm: perplexity (with several seeds,
their mean and range: "mean (min to max)"), its change against the same arm's S = 1 in percent,
next-token accuracy, the measured TTFT speedup and the KV cache the pruned prompt leaves. With
one seed the change carries latte's 95 % interval from a paired bootstrap over the test windows
(`perplexity_change_ci95_pct`). Then the perplexity increase at S = HEADLINE (3.72 for GPT-2, 2.9 for Llama) of each arm (what
"passable perplexity" means here) and, seed by seed, each elimination arm against the zero-shot
arm on the same windows: the difference of their increases with its paired-bootstrap interval,
as `latte compare --json` wrote it (WORK/seed*/{arm}-vs-dense.prompt{P}.jsonl), and the arm
fine-tuned with elimination against its control fine-tuned dense (elim-ft-vs-dense-ft) where run. The intervals say
how much the choice of test windows moves a figure, not how much another training run would.
Standard library only.
"""

import argparse
import glob
import json
import os
import statistics
import sys

MODEL_ARMS = (("elim", "trained with elimination"), ("dense", "zero-shot (trained dense)"),
              ("elim-kept", "trained with elimination, kept prompt rows scored"),
              ("elim-ft", "dense, then fine-tuned with elimination"),
              ("dense-ft", "dense, then fine-tuned dense (zero-shot)"))
# `latte eval --truncation-baseline`: each model with its prompts cut to their last tokens instead.
ARMS = MODEL_ARMS + tuple((arm + "-cut", label + ", prompt truncated instead") for arm, label in MODEL_ARMS)


def read_jsonl(path, fields, producer, truncated=False):
    """JSON lines with every one of `fields`, by speedup (SystemExit naming FILE:LINE otherwise):
    the model's own, or with `truncated` those of the truncation baseline ("arm": "truncate")."""
    rows = {}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise SystemExit(f"{path}:{number}: not a JSON line ({error.msg})")
            if not isinstance(row, dict) or any(field not in row for field in fields):
                raise SystemExit(f"{path}:{number}: not a line of {producer}")
            if (row.get("arm") == "truncate") == truncated:
                rows[row["speedup"]] = row
    if not rows and not truncated:
        raise SystemExit(f"{path}: no results")
    return rows


def spread(values, fmt):
    """One value as it is; several as their mean and range: "610.9 (607.8 to 614.1)"."""
    if len(values) == 1:
        return fmt.format(values[0])
    return (fmt + " ({} to {})").format(statistics.mean(values), fmt.format(min(values)), fmt.format(max(values)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("work", help="LATTE_WORK of scripts/make_gpt2_model.sh")
    ap.add_argument("--prompts", default="256,512")
    ap.add_argument("--headline", type=float, default=3.72, help="the speedup whose increases are listed")
    args = ap.parse_args()
    seeds = sorted(glob.glob(os.path.join(args.work, "seed*")))
    if not seeds:
        raise SystemExit(f"{args.work}: no seed* folders (run scripts/make_gpt2_model.sh first)")
    for prompt in args.prompts.split(","):
        results = {}  # (arm, seed) -> {speedup: row}
        for arm, _ in MODEL_ARMS:
            for seed in seeds:
                path = os.path.join(seed, f"{arm}.eval-prompt{prompt}.jsonl")
                if os.path.exists(path):
                    fields, producer = ("speedup", "perplexity"), "latte eval --task lm --json"
                    results[(arm, seed)] = read_jsonl(path, fields, producer)
                    cut = read_jsonl(path, fields, producer, truncated=True)
                    if cut and 1 in results[(arm, seed)]:  # changes against the model's S = 1
                        results[(arm + "-cut", seed)] = {1: results[(arm, seed)][1], **cut}
        if not results:
            print(f"(no results for prompt {prompt})\n")
            continue
        arm_seeds = {arm: [s for s in seeds if (arm, s) in results] for arm, _ in ARMS}
        speedups = sorted({s for rows in results.values() for s in rows})
        print(f"Prompt {prompt} tokens, 32 continuation tokens scored; seeds per arm: " +
              ", ".join(f"{label} {len(arm_seeds[arm])}" for arm, label in ARMS if arm_seeds[arm]) + "\n")
        print("| S | arm | perplexity | vs S = 1 | next-token accuracy | measured TTFT speedup | KV cache MB |")
        print("|---|---|---|---|---|---|---|")
        increase = {}
        for speedup in speedups:
            for arm, label in ARMS:
                runs = [results[(arm, s)] for s in arm_seeds[arm] if speedup in results[(arm, s)]]
                if not runs or (speedup == 1 and arm.endswith("-cut")):
                    continue
                ppl = [r[speedup]["perplexity"] for r in runs]
                change = [100.0 * (r[speedup]["perplexity"] / r[1]["perplexity"] - 1.0) for r in runs if 1 in r]
                interval = runs[0][speedup].get("perplexity_change_ci95_pct") if len(runs) == 1 else None
                accuracy = [r[speedup]["next_token_accuracy"] for r in runs]
                measured = [r[speedup]["measured_speedup"] for r in runs]
                kv = [r[speedup].get("kv_cache_bytes", float("nan")) / 1e6 for r in runs]
                if speedup == args.headline:
                    increase[arm] = change
                print(f"| {speedup:g} | {label} | {spread(ppl, '{:.1f}')} | "
                      f"{spread(change, '{:+.2f}') + ' %' if change and speedup != 1 else '-'}"
                      f"{' [{:+.2f}, {:+.2f}]'.format(*interval) if interval and speedup != 1 else ''} | "
                      f"{spread(accuracy, '{:.4f}')} | "
                      f"{spread(measured, '{:.2f}')}x | {spread(kv, '{:.2f}')} |")
        print()
        for arm, label in ARMS:
            if increase.get(arm):
                print(f"- {label}: perplexity {spread(increase[arm], '{:+.2f}')} % at S = {args.headline:g} (prompt {prompt})")
        labels = dict(ARMS)
        pairs = [(arm, "dense") for arm, _ in MODEL_ARMS if arm != "dense"] + [("elim-ft", "dense-ft")]
        for seed in seeds:
            for arm, base in pairs:
                path = os.path.join(seed, f"{arm}-vs-{base}.prompt{prompt}.jsonl")
                if not os.path.exists(path):
                    continue
                for speedup, row in sorted(read_jsonl(path, ("speedup", "difference_points"), "latte compare --json").items()):
                    low, high = row["difference_ci95_points"]
                    print(f"- {os.path.basename(seed)}, S = {speedup:g}: the increase of the arm {labels[arm]} minus "
                          f"that of the arm {labels[base]}, same windows: {row['difference_points']:+.2f} points "
                          f"(95 % interval over windows {low:+.2f} to {high:+.2f})")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
