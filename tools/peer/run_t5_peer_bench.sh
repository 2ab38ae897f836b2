#!/usr/bin/env bash
# One command for the ONNX Runtime peer on a T5 encoder, on the same weights latte runs:
#   tools/peer/run_t5_peer_bench.sh [t5_ort_bench.js options...]
# e.g.
#   MODEL_DIR=/tmp/peer_t5 tools/peer/run_t5_peer_bench.sh --seq 128,512 --threads 2 --repeats 10 --json
#
# Idempotent setup, each step skipped when already done:
#   1. apt: nodejs/npm and python3-torch/python3-numpy for /usr/bin/python3
#   2. npm: onnxruntime-node (pinned in package.json/package-lock.json) into tools/peer/node_modules,
#      with --ignore-scripts (its install script fetches GPU binaries from an unreachable host)
#   3. the checkpoint MODEL_DIR: if absent, make_t5_checkpoint.py MODEL_DIR $MAKE_ARGS (random
#      weights; Flan-T5-base shape by default, 990 MB)
#   4. the ONNX graphs MODEL (encoder, with the decoder's cross-attention keys and values as
#      latte's encoder_ms has them) and its .first-step.onnx: exported from MODEL_DIR with
#      export_t5_onnx.py if absent, or if exported from another folder or before the graph had
#      those keys and values, or if MODEL_DIR/model.safetensors is newer; then checked with check_t5_export.js against torch
#      and the float64 reference (1e-4) and against latte's first_logits (1e-4 of the largest logit)
# then runs t5_ort_bench.js with all arguments passed through (--model MODEL added unless given).
# Environment: MODEL_DIR (default /tmp/peer_t5), MODEL (default tools/peer/t5-encoder.onnx),
# LATTE (default build/latte), PYTHON (default /usr/bin/python3), MAKE_ARGS (flags for
# make_t5_checkpoint.py, e.g. "--layers 2"), CHECK_SEQ (extra lengths for the ORT vs latte check
# on the benchmark's own inputs, e.g. CHECK_SEQ=128,512).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
PYTHON="${PYTHON:-/usr/bin/python3}"
MODEL_DIR="${MODEL_DIR:-/tmp/peer_t5}"
MODEL="${MODEL:-$here/t5-encoder.onnx}"
LATTE="${LATTE:-$root/build/latte}"

log() { echo "[run_t5_peer_bench] $*" >&2; }

# shellcheck source=peer_setup.sh
source "$here/peer_setup.sh"

# 1.-2. system packages and onnxruntime-node
peer_install_tools

# 3. the checkpoint
if [[ ! -f "$MODEL_DIR/model.safetensors" ]]; then
  log "creating $MODEL_DIR with make_t5_checkpoint.py ${MAKE_ARGS:-}"
  # shellcheck disable=SC2086  # MAKE_ARGS is a list of flags
  "$PYTHON" "$here/make_t5_checkpoint.py" "$MODEL_DIR" ${MAKE_ARGS:-}
fi

# 4. the ONNX graphs
model=$(peer_model_arg "$MODEL" "$@")
model_dir_abs="$(cd "$MODEL_DIR" && pwd)"
# A graph exported before the encoder also projected the decoder's cross-attention keys and
# values does less than latte's encoder_ms: export again.
stale_graph() {
  ! node -e 'process.exit(require(process.argv[1]).config.cross_kv === undefined ? 1 : 0)' \
    "$(cd "$(dirname "$model.ref.json")" && pwd)/$(basename "$model.ref.json")" 2>/dev/null
}
if peer_export_needed "$model" "$model_dir_abs" || stale_graph; then
  log "exporting $model from $model_dir_abs"
  "$PYTHON" "$here/export_t5_onnx.py" "$model_dir_abs" "$model"
  check=(--model "$model")
  if [[ -x "$LATTE" ]]; then
    check+=(--latte "$LATTE")
    if [[ -n "${CHECK_SEQ:-}" ]]; then check+=(--seq "$CHECK_SEQ"); fi
  else
    log "warning: no latte binary at $LATTE: checking against torch only"
    check+=(--no-latte)
  fi
  node "$here/check_t5_export.js" "${check[@]}" >&2
fi

has_model=0
for a in "$@"; do [[ $a == --model ]] && has_model=1; done
if [[ $has_model -eq 0 ]]; then set -- --model "$model" "$@"; fi

log "load before run: $(uptime)"
node "$here/t5_ort_bench.js" "$@"
log "load after run: $(uptime)"
