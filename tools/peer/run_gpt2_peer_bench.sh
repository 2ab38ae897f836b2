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

sudo_=()
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null; then sudo_=(sudo); fi
apt_updated=0
apt_install() {
  if [[ $apt_updated -eq 0 ]]; then "${sudo_[@]}" apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive "${sudo_[@]}" apt-get install -y -qq "$@"
}

# 1. system packages
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "installing nodejs + npm (apt)"
  apt_install nodejs npm
fi
if ! "$PYTHON" -c 'import torch, numpy' 2>/dev/null; then
  log "installing python3-torch + python3-numpy (apt) for $PYTHON"
  apt_install python3-torch python3-numpy
fi

# 2. onnxruntime-node
if ! (cd "$here" && node -e 'require("onnxruntime-node")' 2>/dev/null); then
  log "installing onnxruntime-node (npm, --ignore-scripts)"
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund)
fi

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
model="$MODEL"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [[ ${args[i]} == --model && $((i + 1)) -lt ${#args[@]} ]]; then model="${args[i+1]}"; fi
done
model_dir_abs="$(cd "$MODEL_DIR" && pwd)"
export_needed=0
if [[ ! -f "$model" || ! -f "$model.ref.json" ]]; then
  export_needed=1
elif [[ "$MODEL_DIR/model.safetensors" -nt "$model" ]]; then
  log "$MODEL_DIR/model.safetensors is newer than $model: re-exporting"
  export_needed=1
elif ! node -e 'const r=require(process.argv[1]); process.exit(r.model_dir===process.argv[2]?0:1)' \
    "$(cd "$(dirname "$model.ref.json")" && pwd)/$(basename "$model.ref.json")" "$model_dir_abs"; then
  log "$model was exported from another folder: re-exporting from $model_dir_abs"
  export_needed=1
fi
if [[ $export_needed -eq 1 ]]; then
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
