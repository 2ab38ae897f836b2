#!/usr/bin/env bash
# Trains a small Flan-style T5 here and evaluates it on the instruction data per task and
# prompting style (issue 21 section 5, docs/results.md "T5"):
#   1. latte data fetch (lm, spam, brown-genre) and the instruction data of this run: latte data
#      instruct --max-input-words MAX_INPUT_WORDS (tasks spam, genre, fill; styles zero, options,
#      fewshot) into LATTE_WORK/instruct;
#   2. a SentencePiece Unigram vocabulary of VOCAB pieces trained the way T5's was (Debian's
#      spm_train: NMT-NFKC, no byte fallback, <pad> 0 / </s> 1 / <unk> 2, no <s>) on lm/train.txt
#      and the zero-shot and options prompts of instruct/train.jsonl (the few-shot ones repeat them);
#   3. span-corruption pretraining from scratch on lm/train.txt (latte train t5-span, dense,
#      gated-gelu, PRESET);
#   4. instruction tuning of that checkpoint on instruct/train.jsonl in two arms, same data, steps
#      and seed: elim - ACC elimination in the encoder, speedup sampled per batch from TRAIN_RANGE;
#      dense - no elimination (the zero-shot arm: pruned only at inference);
#   5. latte calibrate of each arm on 400 dev sources (the ACC schedules behind --speedup);
#   6. latte eval on instruct/test.jsonl at S = 1, 2, 3, 4 with --truncation-baseline (the source
#      cut to the length whose dense encoder takes as long), JSON lines and every answer, and the
#      table of docs/results.md (tools/results/t5_results.py).
# Every training resumes where it stopped (rerun after an interruption), and an evaluation already
# made of a model as it is now is kept (EVAL_AGAIN=1 redoes it). Models stay in LATTE_WORK, out of
# the repository.
#
# Environment (defaults in brackets): LATTE [build/latte], LATTE_DATA [./data], LATTE_WORK
# [out/t5-model], VOCAB [8000], MAX_INPUT_WORDS [80], PRESET [mini: 4+4 layers, d_model 256, 8
# heads of 32, d_ff 512], LAYERS [the preset's, in each stack], SPAN_STEPS [500], SPAN_SEQ_LEN [256], SPAN_LR [2e-3], TUNE_STEPS [1000],
# TUNE_LR [1e-3], BATCH [16], TRAIN_RANGE [1,4], SPEEDUPS [1,2,3,4], EVAL_MAX [0 = all 1,800 test
# examples], THREADS [all cores], PARALLEL [unset; 1: the two arms train at once, a thread each],
# EVAL_AGAIN [unset].
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
latte=${LATTE:-$root/build/latte}
data=${LATTE_DATA:-$root/data}
work=${LATTE_WORK:-$root/out/t5-model}
threads=()
if [[ -n "${THREADS:-}" ]]; then threads=(--threads "$THREADS"); fi
layers=()
if [[ -n "${LAYERS:-}" ]]; then layers=(--layers "$LAYERS"); fi
# Training with idle OpenMP threads sleeping, not spinning (see make_default_model.sh).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

if [[ ! -x "$latte" ]]; then
  echo "make_t5_model: $latte not found; run scripts/setup.sh first" >&2
  exit 1
fi
if ! "$latte" train seq2seq --help >/dev/null 2>&1; then
  echo "make_t5_model: $latte has no 'train seq2seq' (built without the trainer?)" >&2
  exit 1
fi
if ! command -v spm_train >/dev/null; then
  echo "make_t5_model: spm_train not found; apt-get install sentencepiece" >&2
  exit 1
fi
mkdir -p "$work"

echo "== 1. datasets in $data, instruction data in $work/instruct"
if [[ ! -f "$data/lm/train.txt" || ! -f "$data/spam/train.jsonl" || ! -f "$data/brown-genre/train.jsonl" ]]; then
  "$latte" data fetch --out "$data"
fi
if [[ ! -f "$work/instruct/test.jsonl" ]]; then
  "$latte" data instruct --data "$data" --out "$work/instruct" --max-input-words "${MAX_INPUT_WORDS:-80}"
fi

tokenizer=$work/tokenizer
echo "== 2. SentencePiece vocabulary of ${VOCAB:-8000} pieces -> $tokenizer"
if [[ ! -f "$tokenizer/spiece.model" ]]; then
  mkdir -p "$tokenizer"
  input=$work/spm_input.txt
  python3 - "$data/lm/train.txt" "$work/instruct/train.jsonl" >"$input" <<'EOF'
import json, sys
with open(sys.argv[1], encoding="utf-8") as text:
    sys.stdout.writelines(text)
with open(sys.argv[2], encoding="utf-8") as examples:
    for line in examples:
        example = json.loads(line)
        if example["style"] != "fewshot":
            sys.stdout.writelines(part + "\n" for part in example["source"].split("\n") if part.strip())
EOF
  # Relative names: the model records its input and prefix.
  (cd "$work" && spm_train --input=spm_input.txt --model_prefix=tokenizer/spiece --model_type=unigram \
    --vocab_size="${VOCAB:-8000}" --character_coverage=0.9995 --normalization_rule_name=nmt_nfkc \
    --byte_fallback=false --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 --input_sentence_size=200000 \
    --shuffle_input_sentence=true --num_threads=2 --random_seed=42 --minloglevel=1)
  rm -f "$tokenizer/spiece.vocab" "$input"
  # T5Tokenizer's settings (100 sentinels), as the test tokenizer's.
  cp "$root/tests/data/t5_tokenizer/tokenizer_config.json" "$tokenizer/tokenizer_config.json"
fi

echo "== 3. span-corruption pretraining -> $work/span"
"$latte" train t5-span --train "$data/lm/train.txt" --dev "$data/lm/dev.txt" --tokenizer "$tokenizer" \
  --preset "${PRESET:-mini}" "${layers[@]}" --seq-len "${SPAN_SEQ_LEN:-256}" --batch-size "${BATCH:-16}" \
  --steps "${SPAN_STEPS:-500}" --lr "${SPAN_LR:-2e-3}" --eval-every 100 --dev-examples 64 \
  "${threads[@]}" --out "$work/span" --resume 2>&1 | tee -a "$work/span.train.log"

tune() {  # arm, threads...
  local arm=$1
  shift
  local elimination=()
  if [[ $arm == elim ]]; then elimination=(--train-speedup-range "${TRAIN_RANGE:-1,4}"); fi
  "$latte" train seq2seq --init "$work/span" --train "$work/instruct/train.jsonl" \
    --dev "$work/instruct/dev.jsonl" --steps "${TUNE_STEPS:-1000}" --batch-size "${BATCH:-16}" \
    --lr "${TUNE_LR:-1e-3}" --max-target-len 16 "${elimination[@]}" --eval-speedups 1,2,4 \
    --eval-every "$(((${TUNE_STEPS:-1000} + 3) / 4))" --dev-examples 256 --dev-generate 64 "$@" \
    --out "$work/$arm" --resume >>"$work/$arm.train.log" 2>&1
}
echo "== 4. instruction tuning, arms elim (TRAIN_RANGE ${TRAIN_RANGE:-1,4}) and dense -> $work/{elim,dense} (logs: $work/*.train.log)"
if [[ -n "${PARALLEL:-}" ]]; then
  tune elim --threads 1 &
  elim_pid=$!
  tune dense --threads 1 || { wait "$elim_pid" || true; exit 1; }
  wait "$elim_pid"
else
  tune elim "${threads[@]}"
  tune dense "${threads[@]}"
fi
tail -n 2 "$work/elim.train.log" "$work/dense.train.log"
for arm in elim dense; do
  if [[ -z "${EVAL_AGAIN:-}" && "$work/$arm/latte.json" -nt "$work/$arm/model.safetensors" ]]; then continue; fi
  echo "== 5. arm $arm: latte calibrate on 400 instruct/dev.jsonl sources"
  "$latte" calibrate --model "$work/$arm" --input "$work/instruct/dev.jsonl" --text-field source --max 400 \
    "${threads[@]}"
done

# An evaluation already written for the model as it is now is kept: each result is written under
# a temporary name and renamed when complete, so an interrupted one is redone.
fresh() { [[ -z "${EVAL_AGAIN:-}" && -s "$1" && "$1" -nt "$2/model.safetensors" ]]; }
for arm in elim dense; do
  result=$work/$arm.eval.jsonl
  if fresh "$result" "$work/$arm"; then
    echo "== 6. arm $arm: $result is up to date"
    continue
  fi
  echo "== 6. arm $arm: instruct/test.jsonl at S = ${SPEEDUPS:-1,2,3,4}, with the truncation baseline"
  "$latte" eval --model "$work/$arm" --data "$work/instruct/test.jsonl" --speedups "${SPEEDUPS:-1,2,3,4}" \
    --truncation-baseline --max "${EVAL_MAX:-0}" --predictions "$work/$arm.predictions.jsonl" "${threads[@]}" \
    --json >"$result.partial"
  mv "$result.partial" "$result"
done
python3 "$root/tools/results/t5_results.py" "$work" | tee "$work/results.md"
echo "make_t5_model: tokenizer, models, logs, evaluations (*.eval.jsonl), answers and tables (results.md) in $work"
