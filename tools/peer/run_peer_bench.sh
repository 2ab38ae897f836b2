#!/usr/bin/env bash
# One command for the ONNX Runtime peer benchmark:
#   tools/peer/run_peer_bench.sh [ort_bench.js options...]
# e.g.
#   tools/peer/run_peer_bench.sh --seq 128,512 --batch 1 --threads 2 --repeats 20 --json
#
# Idempotent setup, each step skipped when already done:
#   1. apt: nodejs/npm and python3-torch/python3-numpy for /usr/bin/python3
#   2. npm: onnxruntime-node (pinned in package.json/package-lock.json) into tools/peer/node_modules,
#      with --ignore-scripts (its install script fetches GPU binaries from an unreachable host;
#      the CPU runtime ships inside the package)
#   3. export tools/peer/bert-base.onnx with export_bert_onnx.py if it is absent, then
#      check it against torch with check_export.js
# then runs ort_bench.js with all arguments passed through.
# Environment: PYTHON (default /usr/bin/python3), MODEL (default tools/peer/bert-base.onnx,
# used when no --model argument is given), EXPORT_ARGS (extra export_bert_onnx.py options used
# when the model is exported, e.g. EXPORT_ARGS="--layers 2"; the shape is recorded in
# <model>.ref.json and ort_bench.js takes its FLOP count from there).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-/usr/bin/python3}"
MODEL="${MODEL:-$here/bert-base.onnx}"

log() { echo "[run_peer_bench] $*" >&2; }

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
  if [[ -f "$here/package-lock.json" ]]; then
    (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund)
  else
    (cd "$here" && npm install --ignore-scripts --no-audit --no-fund)
  fi
fi

# 3. the model
model="$MODEL"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [[ ${args[i]} == --model && $((i + 1)) -lt ${#args[@]} ]]; then model="${args[i+1]}"; fi
done
if [[ ! -f "$model" ]]; then
  log "exporting $model"
  # shellcheck disable=SC2086
  "$PYTHON" "$here/export_bert_onnx.py" --out "$model" ${EXPORT_ARGS:-}
  node "$here/check_export.js" --model "$model" >&2
fi

has_model=0
for a in "$@"; do [[ $a == --model ]] && has_model=1; done
if [[ $has_model -eq 0 ]]; then set -- --model "$model" "$@"; fi

log "load before run: $(uptime)"
exec node "$here/ort_bench.js" "$@"
