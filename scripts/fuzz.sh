#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz in build-fuzz (clang-14, ASan + UBSan) and runs
# each for SECONDS (default 60). Fails on any crash, leak, timeout (10 s per input) or RSS over
# 2 GiB; prints the executions per harness. Findings go to build-fuzz/findings/<harness>/, new
# corpus inputs to build-fuzz/corpus/<harness>/ (the seeds in tests/fuzz/corpus stay as they are).
#
#   scripts/fuzz.sh [SECONDS]          every harness
#   LATTE_FUZZ_ONLY="config jsonl" scripts/fuzz.sh 600
#
# Inputs are capped at LATTE_FUZZ_MAX_LEN bytes (default 64 KiB): room for JSON nested far past
# the reader's 64-level bound and for long vocabulary tokens.
set -euo pipefail
seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${LATTE_FUZZ_BUILD_DIR:-$root/build-fuzz}
max_len=${LATTE_FUZZ_MAX_LEN:-65536}
harnesses=(${LATTE_FUZZ_ONLY:-safetensors config sidecar tokenizer jsonl bpe records sentencepiece t5_tokenizer_json serve_requests})

CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLATTE_FUZZ=ON >/dev/null
cmake --build "$build"

failed=()
summary=()
for name in "${harnesses[@]}"; do
  corpus="$build/corpus/$name"
  findings="$build/findings/$name"
  log="$build/fuzz_$name.log"
  mkdir -p "$corpus" "$findings"
  echo "== fuzz_$name for ${seconds}s (log: $log)"
  status=0
  # libFuzzer stops at the first crash, leak (ASan's leak check is on), timeout or UBSan report.
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/tests/fuzz/fuzz_$name" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -max_len="$max_len" -dict="$root/tests/fuzz/latte.dict" -artifact_prefix="$findings/" \
    -print_final_stats=1 "$corpus" "$root/tests/fuzz/corpus/$name" >"$log" 2>&1 || status=$?
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  summary+=("$(printf '%-12s %10s executions  %-10s %s' "$name" "${executions:-?}" "${coverage:-}" \
    "$([[ $status -eq 0 ]] && echo clean || echo "FAILED (exit $status)")")")
  if [[ $status -ne 0 ]]; then
    failed+=("$name")
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|ALARM|.*-timeout|.*out-of-memory)' "$log" | head -5 || true
    tail -5 "$log"
  fi
done

echo "== fuzz summary (${seconds}s each, -max_len=$max_len)"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: findings in ${failed[*]} (inputs under $build/findings/)" >&2
  exit 1
fi
