#!/usr/bin/env python3
"""Markdown tables of scripts/make_t5_model.sh's results, for docs/results.md (issue 21).

    python3 tools/results/t5_results.py out/t5-model

Reads WORK/{elim,dense}.eval.jsonl (`latte eval --truncation-baseline --json` lines of a T5 folder
on the instruction data) and prints, per task and prompting style, one row per target speedup:
exact match (accuracy for the classification tasks) with latte's 95 % interval over examples, for
(a) the model instruction-tuned with elimination, (b) the model instruction-tuned dense and pruned
only at inference, and (c) each model's source cut to the length whose dense encoder is predicted
to take 1/S as long (no elimination); then the encoder and end-to-end speedups measured beside
them (median of paired runs) and the kept fraction of the encoder's word-vectors. A summary table
gives every arm's change against its own S = 1 over all tasks and styles. The intervals say how
much the choice of test examples moves a figure, not how much another training run would.
Standard library only.
"""

import argparse
import json
import os
import sys

ARMS = (("elim", "(a) tuned with elimination"), ("dense", "(b) tuned dense, pruned at inference"))
FIELDS = ("speedup", "arm", "task", "style", "examples", "exact_match", "exact_match_ci95",
          "encoder_ms", "total_ms", "measured_encoder_speedup", "measured_speedup", "kept_fraction")


def read_eval(path):
    """{(task, style): {(arm, speedup): row}} of one eval file (SystemExit naming FILE:LINE)."""
    groups = {}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise SystemExit(f"{path}:{number}: not a JSON line ({error.msg})")
            missing = [field for field in FIELDS if field not in row]
            if missing:
                raise SystemExit(f"{path}:{number}: no {', '.join(missing)}; is this latte eval --json of a T5?")
            groups.setdefault((row["task"], row["style"]), {})[(row["arm"], float(row["speedup"]))] = row
    if not groups:
        raise SystemExit(f"{path}: no results")
    return groups


def cell(row):
    if row is None:
        return "-"
    low, high = row["exact_match_ci95"]
    return f"{100 * row['exact_match']:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", help="LATTE_WORK of scripts/make_t5_model.sh")
    args = parser.parse_args()
    evals = {}
    for arm, _ in ARMS:
        path = os.path.join(args.work, f"{arm}.eval.jsonl")
        if not os.path.exists(path):
            raise SystemExit(f"{path}: missing; run scripts/make_t5_model.sh")
        evals[arm] = read_eval(path)
    keys = sorted(evals["elim"], key=lambda key: (key == ("all", "all"), key))
    speedups = sorted({speedup for (_, speedup) in evals["elim"][keys[0]]})
    first = next(iter(evals["elim"][keys[0]].values()))
    print(f"Exact match in % [95 % interval over examples], greedy answers of up to {first.get('max_new_tokens', '?')} "
          "tokens; `eliminate`: ACC elimination in the encoder at S; `truncate`: the source cut to the length "
          "whose dense encoder is predicted to take 1/S as long. Speedups measured beside them on the (a) model "
          "(encoder / end to end, median of paired runs).\n")
    for key in keys:
        task, style = key
        rows = {arm: evals[arm].get(key, {}) for arm, _ in ARMS}
        n = next(iter(rows["elim"].values()))["examples"]
        print(f"**{task} / {style}** ({n} examples)\n")
        print("| S | (a) eliminate | (b) eliminate | (a) truncate | (b) truncate | encoder x | end-to-end x | kept |")
        print("|---|---|---|---|---|---|---|---|")
        for speedup in speedups:
            a = rows["elim"].get(("eliminate", speedup)) or rows["elim"].get(("dense", speedup))
            b = rows["dense"].get(("eliminate", speedup)) or rows["dense"].get(("dense", speedup))
            a_cut = rows["elim"].get(("truncate", speedup))
            b_cut = rows["dense"].get(("truncate", speedup))
            timing = a or b
            print(f"| {speedup:g} | {cell(a)} | {cell(b)} | {cell(a_cut)} | {cell(b_cut)} | "
                  f"{timing['measured_encoder_speedup']:.2f} | {timing['measured_speedup']:.2f} | "
                  f"{timing['kept_fraction']:.2f} |")
        print()
    print("**Change against S = 1 of the same model, all tasks and styles (points of exact match)**\n")
    print("| S | " + " | ".join(f"{label}: eliminate | truncate" for _, label in ARMS) + " |")
    print("|---|" + "---|---|" * len(ARMS))
    for speedup in speedups[1:]:
        cells = []
        for arm, _ in ARMS:
            rows = evals[arm][("all", "all")]
            base = rows.get(("dense", speedups[0]))
            for method in ("eliminate", "truncate"):
                row = rows.get((method, speedup))
                if row is None or base is None:
                    cells.append("-")
                    continue
                change = row.get("exact_match_change")
                interval = row.get("exact_match_change_ci95")
                text = f"{100 * change:+.1f}" if change is not None else "-"
                if interval:
                    text += f" [{100 * interval[0]:+.1f}, {100 * interval[1]:+.1f}]"
                cells.append(text)
        print(f"| {speedup:g} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
