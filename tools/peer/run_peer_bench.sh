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

# shellcheck source=peer_setup.sh
source "$here/peer_setup.sh"

# 1.-2. system packages and onnxruntime-node
peer_install_tools

# 3. the model
model=$(peer_model_arg "$MODEL" "$@")
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
