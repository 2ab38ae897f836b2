#!/usr/bin/env bash
# Correctness before timing: converts the Llama test checkpoints to GGUF (F32, F16, Q8_0) with
# hf_to_gguf.py, greedy-decodes the golden prompt with latte and with llama.cpp
# (node-llama-cpp) and compares the token ids. F32 must agree exactly (exit 1 otherwise);
# F16 and Q8_0 round the weights, so their agreement is printed, not required.
# Usage: tools/peer/check_llama_gguf.sh [LATTE_BINARY]   (default build/latte)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
latte=${1:-$root/build/latte}
PYTHON=${PYTHON:-/usr/bin/python3}
new_tokens=8
[[ -x $latte ]] || { echo "latte: error: $latte: not built (cmake --build build --target latte)" >&2; exit 1; }
if ! (cd "$here" && node -e 'require.resolve("node-llama-cpp")' 2>/dev/null); then
  # --ignore-scripts: the postinstall would try to download or build llama.cpp; the CPU
  # prebuilt comes from @node-llama-cpp/linux-x64, pinned in package.json
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=0
for model in tiny tiny_bf16; do
  dir=$root/tests/data/llama/$model
  ids=$("$PYTHON" -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['prompt_ids'])))" "$dir/golden.json")
  want=$("$latte" generate --model "$dir" --prompt-ids "$ids" --max-new-tokens $new_tokens --json |
    "$PYTHON" -c 'import json,sys; print(",".join(map(str, json.load(sys.stdin)["ids"])))')
  echo "$model latte:            $want"
  for type in f32 f16 q8_0; do
    "$PYTHON" "$here/hf_to_gguf.py" "$dir" "$work/$model-$type.gguf" --type $type
    got=$(cd "$here" && node llama_cpp_check.js "$work/$model-$type.gguf" --prompt-ids "$ids" \
      --max-new-tokens $new_tokens --threads 1 |
      "$PYTHON" -c 'import json,sys; print(",".join(map(str, json.load(sys.stdin)["ids"])))')
    # latte stops at an eos id; llama.cpp's side decodes on, so compare latte's length
    n=$(awk -F, '{print NF}' <<<"$want")
    got=$(cut -d, -f1-"$n" <<<"$got")
    if [[ $got == "$want" ]]; then verdict=agree; else verdict=DIFFER; fi
    printf '%s llama.cpp %-5s %s  %s\n' "$model" "$type:" "$got" "$verdict"
    if [[ $type == f32 && $verdict != agree ]]; then failed=1; fi
  done
done
if [[ $failed -ne 0 ]]; then echo "latte: error: F32 GGUF greedy ids differ from latte" >&2; exit 1; fi
echo "F32: llama.cpp and latte agree on every checkpoint"
