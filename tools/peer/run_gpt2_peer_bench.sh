#!/usr/bin/env bash
# One command for the ONNX Runtime peer on GPT-2's prefill, on latte's own checkpoint:
#   tools/peer/run_gpt2_peer_bench.sh [gpt2_ort_bench.js options...]
# e.g.
#   MODEL_DIR=/tmp/peer_gpt2 tools/peer/run_gpt2_peer_bench.sh --seq 512,1024 --threads 2 --repeats 10 --json
#
# Idempotent setup, each step skipped when already done:
#   1. apt: nodejs/npm and python3-torch/python3-numpy for /usr/bin/python3
#   2. npm: onnxruntime-node (pinned in package.json/package-lock.json) into tools/peer/node_modules,
#      with --ignore-scripts (its install script fetches GPU binaries from an unreachable host)
#   3. the checkpoint MODEL_DIR: if absent, `latte init --family gpt2 --preset base --out MODEL_DIR`
#      (GPT-2 124M shape, random weights, 497 MB) with the built latte binary
#   4. the ONNX model MODEL: exported from MODEL_DIR with export_gpt2_onnx.py if absent, or if it
#      was exported from another folder, or if MODEL_DIR/model.safetensors is newer; then checked
#      with check_gpt2_export.js against torch (1e-4) and against latte's first_logits (1e-3)
# then runs gpt2_ort_bench.js with all arguments passed through (--model MODEL added unless given).
# Environment: MODEL_DIR (default /tmp/peer_gpt2), MODEL (default tools/peer/gpt2.onnx),
# LATTE (default build/latte), PYTHON (default /usr/bin/python3), CHECK_SEQ (extra lengths
# for the ORT vs latte check on the benchmark's own inputs, e.g. CHECK_SEQ=512,1024).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
PYTHON="${PYTHON:-/usr/bin/python3}"
MODEL_DIR="${MODEL_DIR:-/tmp/peer_gpt2}"
MODEL="${MODEL:-$here/gpt2.onnx}"
LATTE="${LATTE:-$root/build/latte}"

log() { echo "[run_gpt2_peer_bench] $*" >&2; }

# shellcheck source=peer_setup.sh
source "$here/peer_setup.sh"

# 1.-2. system packages and onnxruntime-node
peer_install_tools

# 3. the checkpoint
if [[ ! -f "$MODEL_DIR/model.safetensors" ]]; then
  if [[ ! -x "$LATTE" ]]; then
    log "no checkpoint in $MODEL_DIR and no latte binary at $LATTE: build latte first (README.md)"
    exit 1
  fi
  log "creating $MODEL_DIR with latte init --family gpt2 --preset base"
  "$LATTE" init --family gpt2 --preset base --out "$MODEL_DIR"
fi

# 4. the ONNX model
model=$(peer_model_arg "$MODEL" "$@")
model_dir_abs="$(cd "$MODEL_DIR" && pwd)"
if peer_export_needed "$model" "$model_dir_abs"; then
  log "exporting $model from $model_dir_abs"
  "$PYTHON" "$here/export_gpt2_onnx.py" "$model_dir_abs" "$model"
  check=(--model "$model")
  if [[ -x "$LATTE" ]]; then
    check+=(--latte "$LATTE")
    if [[ -n "${CHECK_SEQ:-}" ]]; then check+=(--seq "$CHECK_SEQ"); fi
  else
    log "warning: no latte binary at $LATTE: checking against torch only"
    check+=(--no-latte)
  fi
  node "$here/check_gpt2_export.js" "${check[@]}" >&2
fi

has_model=0
for a in "$@"; do [[ $a == --model ]] && has_model=1; done
if [[ $has_model -eq 0 ]]; then set -- --model "$model" "$@"; fi

log "load before run: $(uptime)"
node "$here/gpt2_ort_bench.js" "$@"
log "load after run: $(uptime)"
