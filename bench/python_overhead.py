"""The Python module's overhead per classify call on the bundled model (docs/benchmarks.md).

    PYTHONPATH=build/python python3 bench/python_overhead.py --cli build/latte [--seq 16,64,128]

For each input length: the median time of one dense forward pass as the library runs it
(`latte bench --seq N --batch 1`, the CLI's own timing of BertModel::forward on N tokens) against
the median wall time of model.classify([text]) and model.logits([text]) from Python on a text of
exactly N tokens, rounds of each interleaved. The Python call also tokenizes the text (the CLI's
classify does too, `latte bench` does not): its median time is shown on its own.
"""

import argparse
import json
import os
import statistics
import subprocess
import time

import latte


def text_of(tokenizer, tokens):
    words = []
    while len(tokenizer.encode(" ".join(words + ["offer"]), max_length=4096)) <= tokens:
        words.append("offer")
    assert len(tokenizer.encode(" ".join(words), max_length=4096)) == tokens
    return " ".join(words)


def median_call_ms(call, calls):
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", default="build/latte")
    parser.add_argument("--seq", default="16,64,128")
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ, LATTE_NO_PROFILE="1")

    model = latte.Model()
    tokenizer = latte.Tokenizer(model.path)
    print(f"model {model.path}, threads {os.environ.get('LATTE_NUM_THREADS', 'all cores')}, "
          f"{args.rounds} rounds of {args.calls} calls, interleaved")
    print(f"{'tokens':>6} {'library_ms':>10} {'classify_ms':>11} {'logits_ms':>9} {'tokenize_ms':>11} "
          f"{'classify_overhead':>17} {'logits_overhead':>15}")
    for seq in (int(s) for s in args.seq.split(",")):
        text = text_of(tokenizer, seq)
        library, classify, logits, tokenize = [], [], [], []
        for _ in range(args.rounds):
            bench = subprocess.run([args.cli, "bench", "--seq", str(seq), "--batch", "1", "--repeats", str(args.calls),
                                    "--warmup", "20", "--json"], capture_output=True, text=True, env=env, check=True)
            library.append(json.loads(bench.stdout.splitlines()[0])["median_ms"])
            for _ in range(20):
                model.classify([text])
            classify.append(median_call_ms(lambda: model.classify([text]), args.calls))
            logits.append(median_call_ms(lambda: model.logits([text]), args.calls))
            tokenize.append(median_call_ms(lambda: tokenizer.encode(text, max_length=4096), args.calls))
        lib, cls, lgt, tok = (statistics.median(v) for v in (library, classify, logits, tokenize))
        print(f"{seq:6d} {lib:10.4f} {cls:11.4f} {lgt:9.4f} {tok:11.4f} {100 * (cls / lib - 1):16.1f}% "
              f"{100 * (lgt / lib - 1):14.1f}%")
    with open("/proc/loadavg") as load:
        print(f"load average at the end: {load.read().split()[0]}")


if __name__ == "__main__":
    main()
