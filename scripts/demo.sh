#!/usr/bin/env bash
# The demo: sets up latte (dependencies + build), then runs it on the bundled
# default model (models/default) when present, else on a freshly initialised
# random BERT: info, classification at several speedups, the plan for a target,
# and a side-by-side benchmark of dense vs pruned.
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
echo "== latte classify at speedups 1, 2 and 3"
for speedup in 1 2 3; do
  echo "-- speedup $speedup"
  "$latte" classify --model "$model" --input "$samples" --speedup "$speedup" --json
done

echo "== latte plan --seq 256 --speedup 2"
"$latte" plan --model "$model" --seq 256 --speedup 2

echo "== latte bench --seq 256 --speedups 1.5,2 (dense and pruned interleaved)"
"$latte" bench --model "$model" --seq 256 --speedups 1.5,2 --repeats 5

test_set="$root/data/spam/test.jsonl"
if [[ -f "$test_set" ]]; then
  echo "== latte eval on the spam test set"
  "$latte" eval --model "$model" --data "$test_set" --speedups 1,1.5,2,3
else
  echo "== for the spam test-set table: build/latte data fetch --out data && scripts/demo.sh"
fi
