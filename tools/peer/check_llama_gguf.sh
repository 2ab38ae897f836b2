#!/usr/bin/env bash
# Correctness before timing: converts the Llama test checkpoints to GGUF (F32, F16, Q8_0) with
# hf_to_gguf.py, greedy-decodes the golden prompt with latte and with llama.cpp
# (node-llama-cpp) and compares the token ids. F32 must agree with latte on the checkpoint.
# F16 and Q8_0 round the weights, so a near tie may flip a token: for them the reference is
# latte (f32) on an F32 copy of the weights rounded exactly as the GGUF stores them
# (hf_to_gguf.py --rounded-hf), which must agree for F16; for Q8_0 (whose products also round
# the activations) it is printed. Exit 1 on any required disagreement.
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

# latte's greedy ids for folder $1 and prompt $2, comma-separated
latte_ids() {
  "$latte" generate --model "$1" --prompt-ids "$2" --max-new-tokens $new_tokens --json |
    "$PYTHON" -c 'import json,sys; print(",".join(map(str, json.load(sys.stdin)["ids"])))'
}

failed=0
for model in tiny tiny_bf16; do
  dir=$root/tests/data/llama/$model
  ids=$("$PYTHON" -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['prompt_ids'])))" "$dir/golden.json")
  want=$(latte_ids "$dir" "$ids")
  echo "$model latte:            $want"
  for type in f32 f16 q8_0; do
    "$PYTHON" "$here/hf_to_gguf.py" "$dir" "$work/$model-$type.gguf" --type $type --rounded-hf "$work/$model-$type"
    rounded=$(latte_ids "$work/$model-$type" "$ids")
    got=$(cd "$here" && node llama_cpp_check.js "$work/$model-$type.gguf" --prompt-ids "$ids" \
      --max-new-tokens $new_tokens --threads 1 |
      "$PYTHON" -c 'import json,sys; print(",".join(map(str, json.load(sys.stdin)["ids"])))')
    # latte stops at an eos id; llama.cpp's side decodes on, so compare latte's length
    n=$(awk -F, '{print NF}' <<<"$want")
    got_all=$got
    got=$(cut -d, -f1-"$n" <<<"$got_all")
    n=$(awk -F, '{print NF}' <<<"$rounded")
    got_rounded=$(cut -d, -f1-"$n" <<<"$got_all")
    if [[ $got == "$want" ]]; then verdict=agree; else verdict=DIFFER; fi
    if [[ $got_rounded == "$rounded" ]]; then
      verdict_r=agree
    else
      verdict_r=DIFFER
      # ggml's Q8_0 product also rounds the activations to Q8_0 blocks, which latte's f32 run
      # on rounded weights does not: a near tie may still flip there, so Q8_0 is reported only
      if [[ $type != q8_0 ]]; then failed=1; fi
    fi
    printf '%s llama.cpp %-5s %s  %s with latte; latte on the %s-rounded weights %s: %s\n' \
      "$model" "$type:" "$got" "$verdict" "$type" "$rounded" "$verdict_r"
    if [[ $type == f32 && $verdict != agree ]]; then failed=1; fi
  done
done
if [[ $failed -ne 0 ]]; then echo "latte: error: llama.cpp's greedy ids differ from latte's (see above)" >&2; exit 1; fi
echo "PASS: llama.cpp agrees with latte on F32 and with latte on the F16-rounded weights"
