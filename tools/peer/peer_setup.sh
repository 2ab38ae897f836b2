# Sourced by run_peer_bench.sh, run_gpt2_peer_bench.sh and run_t5_peer_bench.sh: the setup the
# ONNX Runtime peers share, each step skipped when already done.
#   peer_install_tools: nodejs/npm and python3-torch/python3-numpy for $PYTHON (apt), then
#     onnxruntime-node (pinned in package.json/package-lock.json) into tools/peer/node_modules
#     with --ignore-scripts (its install script fetches GPU binaries from an unreachable host;
#     the CPU runtime ships inside the package)
#   peer_model_arg DEFAULT ARGS...: the value of --model in ARGS, or DEFAULT
#   peer_export_needed MODEL MODEL_DIR: true (and logs why) when MODEL or MODEL.ref.json is
#     absent, MODEL_DIR/model.safetensors is newer than MODEL, or the .ref.json names another
#     folder than MODEL_DIR (an absolute path)
# Needs: $here (tools/peer), $PYTHON, and a log function.

peer_sudo=()
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null; then peer_sudo=(sudo); fi
peer_apt_updated=0
peer_apt_install() {
  if [[ $peer_apt_updated -eq 0 ]]; then "${peer_sudo[@]}" apt-get update -qq; peer_apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive "${peer_sudo[@]}" apt-get install -y -qq "$@"
}

peer_install_tools() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "installing nodejs + npm (apt)"
    peer_apt_install nodejs npm
  fi
  if ! "$PYTHON" -c 'import torch, numpy' 2>/dev/null; then
    log "installing python3-torch + python3-numpy (apt) for $PYTHON"
    peer_apt_install python3-torch python3-numpy
  fi
  if ! (cd "$here" && node -e 'require("onnxruntime-node")' 2>/dev/null); then
    log "installing onnxruntime-node (npm, --ignore-scripts)"
    (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund)
  fi
}

peer_model_arg() {
  local model=$1
  shift
  local args=("$@")
  for ((i = 0; i < ${#args[@]}; i++)); do
    if [[ ${args[i]} == --model && $((i + 1)) -lt ${#args[@]} ]]; then model="${args[i+1]}"; fi
  done
  echo "$model"
}

peer_export_needed() {
  local model=$1 model_dir=$2
  if [[ ! -f "$model" || ! -f "$model.ref.json" ]]; then
    return 0
  elif [[ "$model_dir/model.safetensors" -nt "$model" ]]; then
    log "$model_dir/model.safetensors is newer than $model: re-exporting"
    return 0
  elif ! node -e 'const r=require(process.argv[1]); process.exit(r.model_dir===process.argv[2]?0:1)' \
      "$(cd "$(dirname "$model.ref.json")" && pwd)/$(basename "$model.ref.json")" "$model_dir"; then
    log "$model was exported from another folder: re-exporting from $model_dir"
    return 0
  fi
  return 1
}
