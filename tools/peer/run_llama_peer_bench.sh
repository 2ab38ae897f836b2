#!/usr/bin/env bash
# Speed side by side, latte vs llama.cpp (node-llama-cpp CPU prebuilt), on one random Llama
# checkpoint: prefill (time to first token) at each prompt length and decode ms/token, in pairs
# of like precision: latte f32 / GGUF F32, latte bf16 / GGUF F16, latte int8 / GGUF Q8_0.
# Prints one line per pair and length with both times and the ratio latte/llama.cpp (< 1: latte
# faster). Run check_llama_gguf.sh first: timings mean nothing until the ids agree.
# Usage: tools/peer/run_llama_peer_bench.sh [--layers 4 --hidden 512 ...] (make_llama_checkpoint.py
#        flags); env: LATTE (build/latte), THREADS (1), LENGTHS ("1024 2048"), NEW_TOKENS (32),
#        REPEATS (3: the fastest run of each counts), SPEEDUP (unset; S: latte also at --speedup S,
#        planned from the FLOPs prior, its time to first token against llama.cpp's dense)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
latte=${LATTE:-$root/build/latte}
PYTHON=${PYTHON:-/usr/bin/python3}
threads=${THREADS:-1}
lengths=${LENGTHS:-1024 2048}
new_tokens=${NEW_TOKENS:-32}
repeats=${REPEATS:-3}
[[ -x $latte ]] || { echo "latte: error: $latte: not built (cmake --build build --target latte)" >&2; exit 1; }
if ! (cd "$here" && node -e 'require.resolve("node-llama-cpp")' 2>/dev/null); then
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" "$here/make_llama_checkpoint.py" "$work/model" "$@"
for type in f32 f16 q8_0; do "$PYTHON" "$here/hf_to_gguf.py" "$work/model" "$work/model-$type.gguf" --type $type; done
vocab=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["vocab_size"])' "$work/model/config.json")

# best (minimum) of REPEATS runs of a command printing JSON; prints "prefill_ms decode_ms"
best_of() {
  local prefill_key=$1; shift
  for _ in $(seq "$repeats"); do "$@"; done | "$PYTHON" -c '
import json, sys
runs = [json.loads(l) for l in sys.stdin if l.startswith("{")]
print(min(r[sys.argv[1]] for r in runs), min(r["decode_ms_per_token"] for r in runs))' "$prefill_key"
}

speedup=${SPEEDUP:-}
printf '%-10s %6s %12s %12s %7s %14s %14s %7s' pair prompt latte_ttft llama_ttft ratio latte_dec_ms llama_dec_ms ratio
[[ -z $speedup ]] || printf ' %14s %7s %12s' "ttft_at_S$speedup" ratio dec_ms_at_S
printf '\n'

for pair in f32:f32 bf16:f16 int8:q8_0; do
  dtype=${pair%%:*} gtype=${pair##*:}
  for n in $lengths; do
    ids=$("$PYTHON" -c 'import sys,random; random.seed(1); v=int(sys.argv[2]); print(",".join(str(random.randrange(2, v)) for _ in range(int(sys.argv[1]))))' "$n" "$vocab")
    read -r lt ld < <(best_of ttft_ms "$latte" generate --model "$work/model" --prompt-ids "$ids" \
      --max-new-tokens "$new_tokens" --dtype "$dtype" --threads "$threads" --json)
    read -r pt pd < <(cd "$here" && best_of prefill_ms node llama_cpp_check.js "$work/model-$gtype.gguf" \
      --prompt-ids "$ids" --max-new-tokens "$new_tokens" --threads "$threads")
    awk -v p="$dtype/$gtype" -v n="$n" -v lt="$lt" -v pt="$pt" -v ld="$ld" -v pd="$pd" \
      'BEGIN { printf "%-10s %6d %12.1f %12.1f %7.2f %14.3f %14.3f %7.2f", p, n, lt, pt, lt/pt, ld, pd, ld/pd }'
    if [[ -n $speedup ]]; then
      read -r st sd < <(best_of ttft_ms "$latte" generate --model "$work/model" --prompt-ids "$ids" \
        --max-new-tokens "$new_tokens" --dtype "$dtype" --threads "$threads" --json --speedup "$speedup" --no-profile)
      awk -v st="$st" -v pt="$pt" -v sd="$sd" 'BEGIN { printf " %14.1f %7.2f %12.3f", st, st/pt, sd }'
    fi
    printf '\n'
  done
done
