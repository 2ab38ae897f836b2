#!/usr/bin/env bash
# latte vs llama.cpp (node-llama-cpp, CPU prebuilt) on the same random Llama-3.1-8B-shape weights:
# 512 random prompt ids, 16 new tokens, 2 threads; each run a fresh process under /usr/bin/time
# (peak RSS, wall). docs/benchmarks.md, "Llama-3.1-8B shape on this 24 GiB machine".
# Usage: tools/peer/llama8b_side_by_side.sh WORK [latte-bf16 latte-bf16-2.9 peer-f16 latte-int8 latte-int8-2.9 peer-q8 ...]
#   WORK holds llama8b/ (latte init --family llama --preset 8b --vocab-size 128256 --dtype bf16
#   --out WORK/llama8b), llama8b-f16.gguf and llama8b-q8_0.gguf (tools/peer/hf_to_gguf.py).
#   env: LATTE (build/latte)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
latte=${LATTE:-$root/build/latte}
work=$(cd "${1:?usage: $0 WORK [runs...]}" && pwd)
shift
if ! (cd "$here" && node -e 'require.resolve("node-llama-cpp")' 2>/dev/null); then
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund)
fi
ids=$(/usr/bin/python3 -c 'import random; random.seed(1); print(",".join(str(random.randrange(2, 128256)) for _ in range(512)))')
pick() {
  /usr/bin/python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin if l.startswith("{")][-1]; print(" ".join(f"{k}={r[k]}" for k in sys.argv[1:] if k in r))' "$@"
}
run_latte() {  # dtype [flags]
  local dtype=$1
  shift
  /usr/bin/time -f "rss_kb=%M wall_s=%e" -o "$work/time.txt" "$latte" generate --model "$work/llama8b" \
    --dtype "$dtype" --prompt-ids "$ids" --max-new-tokens 16 --threads 2 --json "$@" 2>/dev/null |
    pick ttft_ms decode_ms_per_token predicted_speedup
  cat "$work/time.txt"
}
run_peer() {  # gguf
  (cd "$here" && /usr/bin/time -f "rss_kb=%M wall_s=%e" -o "$work/time.txt" node llama_cpp_check.js "$work/$1" \
    --prompt-ids "$ids" --max-new-tokens 16 --threads 2 2>/dev/null) | pick prefill_ms decode_ms_per_token
  cat "$work/time.txt"
}
for what in "$@"; do
  case $what in
    latte-bf16) echo "latte bf16 dense: $(run_latte bf16 | tr '\n' ' ')" ;;
    latte-bf16-2.9) echo "latte bf16 speedup 2.9: $(run_latte bf16 --speedup 2.9 --no-profile | tr '\n' ' ')" ;;
    latte-int8) echo "latte int8 dense: $(run_latte int8 | tr '\n' ' ')" ;;
    latte-int8-2.9) echo "latte int8 speedup 2.9: $(run_latte int8 --speedup 2.9 --no-profile | tr '\n' ' ')" ;;
    peer-f16) echo "llama.cpp F16: $(run_peer llama8b-f16.gguf | tr '\n' ' ')" ;;
    peer-q8) echo "llama.cpp Q8_0: $(run_peer llama8b-q8_0.gguf | tr '\n' ' ')" ;;
    *) echo "$0: unknown run '$what'" >&2; exit 2 ;;
  esac
done
