#!/usr/bin/env bash
# `cmake --install BUILD --prefix P`, then examples/cpp configured with -DCMAKE_PREFIX_PATH=P
# (find_package(latte), latte::latte) must build and give the label and kept counts that
# P/bin/latte gives for the same text at the same speedup.
set -euo pipefail
build_dir=$1
source_dir=$2
compiler=$3
scratch=$(mktemp -d "${TMPDIR:-/tmp}/latte-example.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
prefix=$scratch/prefix
cmake --install "$build_dir" --prefix "$prefix" >/dev/null
cmake -S "$source_dir/examples/cpp" -B "$scratch/build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_COMPILER="$compiler" -DCMAKE_BUILD_TYPE=Release >"$scratch/configure.log" 2>&1 ||
  { cat "$scratch/configure.log" >&2; exit 1; }
cmake --build "$scratch/build" >"$scratch/build.log" 2>&1 || { cat "$scratch/build.log" >&2; exit 1; }
model=$prefix/share/latte/models/default
text="Win a FREE prize, click now"
got=$("$scratch/build/classify" "$model" "$text")
# The CLI with the same planner: speedup 2, latency from FLOPs (--no-profile).
json=$(env -u LATTE_DEFAULT_MODEL "$prefix/bin/latte" classify --json --speedup 2 --no-profile \
  --model "$model" "$text")
# {"kept":[7,4,3,2],"label":"spam",...} -> "spam (word-vectors kept per layer: 7 4 3 2)", with sed
# alone: a fresh machine has no Python.
label=$(sed -n 's/.*"label":"\([^"]*\)".*/\1/p' <<<"$json")
kept=$(sed -n 's/.*"kept":\[\([0-9,]*\)\].*/\1/p' <<<"$json" | tr ',' ' ')
expected="$label (word-vectors kept per layer: $kept)"
if [[ $got != "$expected" ]]; then
  echo "install_example_check: examples/cpp printed '$got', latte classify gives '$expected'" >&2
  exit 1
fi
echo "install_example_check: examples/cpp built against $prefix prints: $got"
