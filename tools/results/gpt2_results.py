#!/usr/bin/env python3
"""Markdown tables of scripts/make_gpt2_model.sh's results, for docs/results.md (issue 11).

    python3 tools/results/gpt2_results.py out/gpt2-model [--prompts 256,512]

Reads WORK/seed*/{elim,dense}.eval-prompt{P}.jsonl (`latte eval --task lm --json` lines) and
prints, per prompt length, one row per target speedup and arm: perplexity (mean over seeds and
the min-max spread when there are several), its change against the same arm's S = 1 in percent,
next-token accuracy, the measured TTFT speedup and the KV cache the pruned prompt leaves. With
one seed the change carries latte's 95 % interval from a paired bootstrap over the test windows
(`perplexity_change_ci95_pct`). Then the perplexity increase at S = 3.72 of each arm (what
"passable perplexity" means here) and, seed by seed, the two arms compared on the same windows:
the difference of their increases, with its own paired-bootstrap interval. The intervals say how
much the choice of test windows moves a figure, not how much another training run would.
Standard library only.
"""

import argparse
import glob
import json
import math
import os
import random
import statistics
import sys

ARMS = (("elim", "trained with elimination"), ("dense", "zero-shot (trained dense)"),
        ("elim-kept", "trained with elimination, kept prompt rows scored"))


def read_jsonl(path):
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise SystemExit(f"{path}:{number}: not a JSON line ({error.msg})")
            if not isinstance(row, dict) or "speedup" not in row or "perplexity" not in row:
                raise SystemExit(f"{path}:{number}: not a line of latte eval --task lm --json")
            rows.append(row)
    if not rows:
        raise SystemExit(f"{path}: no results")
    return {row["speedup"]: row for row in rows}


def spread(values, fmt):
    if len(values) == 1:
        return fmt.format(values[0])
    return (fmt + " ({}-{})").format(statistics.mean(values), fmt.format(min(values)), fmt.format(max(values)))


def change_percent(base, other):
    """100 (exp(mean(other - base)) - 1) over paired per-window NLLs."""
    return 100.0 * math.expm1(sum(o - b for b, o in zip(base, other)) / len(base))


def arm_difference(elim, dense, speedup, resamples=2000):
    """An elimination arm's perplexity increase at `speedup` minus the zero-shot arm's, in
    percentage points, with a 95 % interval from resampling the shared windows (None when the
    lines lack per-window NLLs or were scored on different windows)."""
    series = [elim[1].get("window_nll"), elim[speedup].get("window_nll"),
              dense[1].get("window_nll"), dense[speedup].get("window_nll")]
    if any(w is None for w in series) or len({len(w) for w in series}) != 1:
        return None
    e1, es, d1, ds = series
    n = len(e1)

    def difference(indices):
        pick = lambda values: [values[i] for i in indices]
        return change_percent(pick(e1), pick(es)) - change_percent(pick(d1), pick(ds))

    generator = random.Random(20261126)
    draws = sorted(difference([generator.randrange(n) for _ in range(n)]) for _ in range(resamples))
    return difference(range(n)), draws[round(0.025 * (resamples - 1))], draws[round(0.975 * (resamples - 1))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("work", help="LATTE_WORK of scripts/make_gpt2_model.sh")
    ap.add_argument("--prompts", default="256,512")
    args = ap.parse_args()
    seeds = sorted(glob.glob(os.path.join(args.work, "seed*")))
    if not seeds:
        raise SystemExit(f"{args.work}: no seed* folders (run scripts/make_gpt2_model.sh first)")
    for prompt in args.prompts.split(","):
        results = {}  # (arm, seed) -> {speedup: row}
        for arm, _ in ARMS:
            for seed in seeds:
                path = os.path.join(seed, f"{arm}.eval-prompt{prompt}.jsonl")
                if os.path.exists(path):
                    results[(arm, seed)] = read_jsonl(path)
        if not results:
            print(f"(no results for prompt {prompt})\n")
            continue
        arm_seeds = {arm: [s for s in seeds if (arm, s) in results] for arm, _ in ARMS}
        speedups = sorted({s for rows in results.values() for s in rows})
        print(f"Prompt {prompt} tokens, 32 continuation tokens scored; seeds per arm: " +
              ", ".join(f"{label} {len(arm_seeds[arm])}" for arm, label in ARMS) + "\n")
        print("| S | arm | perplexity | vs S = 1 | next-token accuracy | measured TTFT speedup | KV cache MB |")
        print("|---|---|---|---|---|---|---|")
        increase = {}
        for speedup in speedups:
            for arm, label in ARMS:
                runs = [results[(arm, s)] for s in arm_seeds[arm] if speedup in results[(arm, s)]]
                if not runs:
                    continue
                ppl = [r[speedup]["perplexity"] for r in runs]
                change = [100.0 * (r[speedup]["perplexity"] / r[1]["perplexity"] - 1.0) for r in runs if 1 in r]
                interval = runs[0][speedup].get("perplexity_change_ci95_pct") if len(runs) == 1 else None
                accuracy = [r[speedup]["next_token_accuracy"] for r in runs]
                measured = [r[speedup]["measured_speedup"] for r in runs]
                kv = [r[speedup].get("kv_cache_bytes", float("nan")) / 1e6 for r in runs]
                if speedup == 3.72:
                    increase[arm] = change
                print(f"| {speedup:g} | {label} | {spread(ppl, '{:.1f}')} | "
                      f"{spread(change, '{:+.2f}') + ' %' if change else '-'}"
                      f"{' [{:+.2f}, {:+.2f}]'.format(*interval) if interval and speedup != 1 else ''} | "
                      f"{spread(accuracy, '{:.4f}')} | "
                      f"{spread(measured, '{:.2f}')}x | {spread(kv, '{:.2f}')} |")
        print()
        for arm, label in ARMS:
            if increase.get(arm):
                print(f"- {label}: perplexity {spread(increase[arm], '{:+.2f}')} % at S = 3.72 (prompt {prompt})")
        for seed in seeds:
            dense = results.get(("dense", seed))
            for arm, label in ARMS:
                elim = results.get((arm, seed))
                if arm == "dense" or not elim or not dense or 1 not in elim or 1 not in dense:
                    continue
                for speedup in speedups:
                    if speedup == 1 or speedup not in elim or speedup not in dense:
                        continue
                    compared = arm_difference(elim, dense, speedup)
                    if compared:
                        print(f"- {os.path.basename(seed)}, S = {speedup:g}: the increase of the arm {label} minus "
                              f"the zero-shot arm's, same windows: {compared[0]:+.2f} points "
                              f"(95 % interval over windows {compared[1]:+.2f} to {compared[2]:+.2f})")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
