#!/usr/bin/env bash
# The test command: builds (via setup.sh) and runs the unit tests with ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${LATTE_BUILD_DIR:-$root/build}
"$root/scripts/setup.sh"
ctest --test-dir "$build_dir" -L unit --output-on-failure -j "$(nproc)"
