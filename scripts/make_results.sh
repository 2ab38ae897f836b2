#!/usr/bin/env bash
# Reproduces docs/results.md: accuracy at S = 1..5 on spam and brown-genre for
#   (a) a model fine-tuned with elimination (speedup sampled per batch from 1..5), and
#   (b) the same starting point fine-tuned dense, pruned only at inference.
# It runs scripts/make_default_model.sh first (data, pretraining, and (a) on spam,
# which is the bundled default model), then the three other fine-tunings, each
# calibrated on its dev set and evaluated on its test set. Every stage resumes or
# is skipped when done. About 45 minutes on 2 idle cores.
#
# Environment: as make_default_model.sh (LATTE, LATTE_DATA, LATTE_WORK, ...), and
# SPEEDUPS (default 1,2,3,4,5). The evaluation tables are also written as JSON lines
# to $LATTE_WORK/results/{spam,brown-genre}-{elim,dense}.jsonl, and charted (latte plot) as
# $LATTE_WORK/results/{spam,brown-genre}-accuracy.svg.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
latte=${LATTE:-$root/build/latte}
data=${LATTE_DATA:-$root/data}
work=${LATTE_WORK:-$root/out/default-model}
speedups=${SPEEDUPS:-1,2,3,4,5}
# Sleeping idle OpenMP threads for training only (see make_default_model.sh).
train=(env "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}" "$latte" train)

"$root/scripts/make_default_model.sh"
mkdir -p "$work/results"

# fine_tune NAME DATASET EPOCHS ELIMINATION-FLAGS...
fine_tune() {
  local name=$1 dataset=$2 epochs=$3
  shift 3
  echo "== fine-tuning $name"
  "${train[@]}" classify --init "$work/mlm" --train "$data/$dataset/train.jsonl" \
    --dev "$data/$dataset/dev.jsonl" --epochs "$epochs" --batch-size 32 --lr 1e-3 --max-length 128 \
    --seed 1 --save-dtype f16 --out "$work/$name" --resume "$@"
}

# evaluate NAME DATASET: calibrate on dev, profile on this machine, then the test
# table at every speedup.
evaluate() {
  local name=$1 dataset=$2 model=$work/$1
  [[ $name == spam ]] && model=$root/models/default
  if [[ ! -f "$model/latte.json" ]] || ! grep -q '"calibration"' "$model/latte.json"; then
    "$latte" calibrate --model "$model" --input "$data/$dataset/dev.jsonl" --max 400
  fi
  "$latte" profile --model "$model"  # refresh this machine's cached latency table
  echo "== $dataset, $name: test set"
  "$latte" eval --model "$model" --data "$data/$dataset/test.jsonl" --speedups "$speedups" --json \
    | tee "$work/results/$dataset-$([[ $name == *dense ]] && echo dense || echo elim).jsonl"
}

fine_tune spam-dense spam "${FINETUNE_EPOCHS:-4}" --eval-speedups 1
fine_tune brown-genre brown-genre "${FINETUNE_EPOCHS:-4}" --train-speedup-range 1,5 --eval-speedups 1,3,5
fine_tune brown-genre-dense brown-genre "${FINETUNE_EPOCHS:-4}" --eval-speedups 1

evaluate spam spam
evaluate spam-dense spam
evaluate brown-genre brown-genre
evaluate brown-genre-dense brown-genre
# Accuracy against the measured speedup, both arms on one chart per dataset.
for dataset in spam brown-genre; do
  "$latte" plot --series "(a) fine-tuned with elimination=$work/results/$dataset-elim.jsonl" \
    --series "(b) fine-tuned dense, pruned at inference=$work/results/$dataset-dense.jsonl" \
    --x measured_speedup --y accuracy --x-label "measured speedup" \
    --title "$dataset test set: accuracy against measured speedup" --out "$work/results/$dataset-accuracy.svg"
done
echo "make_results: JSON lines and charts (*.svg) in $work/results"
