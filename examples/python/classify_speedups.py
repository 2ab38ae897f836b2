"""Accuracy and latency of one classifier at several speedups, plotted (matplotlib, Agg).

    PYTHONPATH=build/python python3 examples/python/classify_speedups.py [--data data/spam/test.jsonl]

Uses the spam test set of `latte data fetch` when it is there, else the few labelled e-mails below.
Latency is the median of single-input calls (batch 1), each speedup's runs interleaved with dense ones.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import latte  # noqa: E402

EMBEDDED = [
    ("Congratulations! You have won a FREE cruise. Reply with your bank details to claim your prize now", "spam"),
    ("Cheap meds online, no prescription needed, order today and save 80% on every order", "spam"),
    ("URGENT: your account has been suspended, verify your password at the link below immediately", "spam"),
    ("Make money fast working from home, thousands of dollars a week guaranteed, click here", "spam"),
    ("Lowest mortgage rates of the year, pre-approved, no credit check, call now to lock it in", "spam"),
    ("Hot singles in your area are waiting to meet you, sign up free tonight", "spam"),
    ("Hi Bob, the meeting moved to 3pm tomorrow; I attached the agenda and last week's notes", "ham"),
    ("Can you review my patch to the build scripts before Friday? The tests pass on my machine", "ham"),
    ("Thanks for dinner last night, the kids loved it. Let's do it again at our place next month", "ham"),
    ("The quarterly report draft is in the shared folder, please add your section by Wednesday", "ham"),
    ("Reminder: the office is closed on Monday for the holiday, deliveries resume on Tuesday", "ham"),
    ("I pushed a fix for the memory leak in the parser; the nightly run should be green again", "ham"),
]


def load(path):
    if path and Path(path).is_file():
        rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
        return [(row["text"], row["label"]) for row in rows]
    return EMBEDDED


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder (default: the bundled one)")
    parser.add_argument("--data", default="data/spam/test.jsonl", help="JSONL with text and label")
    parser.add_argument("--speedups", default="1,1.5,2,3,4")
    parser.add_argument("--timed", type=int, default=32, help="inputs timed one at a time")
    parser.add_argument("--out", default="speedups.png")
    args = parser.parse_args()

    model = latte.Model(args.model)
    examples = load(args.data)
    texts = [text for text, _ in examples]
    labels = [model.labels[int(label)] if str(label).isdigit() else label for _, label in examples]
    speedups = [float(s) for s in args.speedups.split(",")]
    timed = texts[: args.timed]

    def median_ms(speedup):
        times = []
        for text in timed:
            start = time.perf_counter()
            model.classify([text], speedup=speedup)
            times.append((time.perf_counter() - start) * 1e3)
        return statistics.median(times)

    print(f"model {model.path}: {len(texts)} examples, latency over {len(timed)} at batch 1")
    print(f"{'speedup':>8} {'accuracy':>9} {'ms':>8} {'measured':>9} {'kept':>6}")
    rows = []
    dense_kept = sum(sum(r.kept) for r in model.classify(texts, speedup=1))
    for speedup in speedups:
        results = model.classify(texts, speedup=speedup)
        accuracy = sum(r.label == gold for r, gold in zip(results, labels)) / len(labels)
        kept = sum(sum(r.kept) for r in results) / dense_kept  # word-vectors kept, against dense
        dense_ms, pruned_ms = median_ms(1.0), median_ms(speedup)
        rows.append((speedup, accuracy, pruned_ms, dense_ms / pruned_ms))
        print(f"{speedup:8.2f} {accuracy:9.4f} {pruned_ms:8.3f} {dense_ms / pruned_ms:8.2f}x {kept:6.2f}")

    figure, axis = plt.subplots(figsize=(5, 3.5))
    axis.plot([r[2] for r in rows], [r[1] for r in rows], "o-")
    for speedup, accuracy, ms, _ in rows:
        axis.annotate(f"S={speedup:g}", (ms, accuracy), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axis.set_xlabel("latency per input (ms, median, batch 1)")
    axis.set_ylabel("accuracy")
    axis.set_title(f"{model.family}: accuracy against latency")
    figure.tight_layout()
    figure.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
