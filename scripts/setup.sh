#!/usr/bin/env bash
# Installs every build and test dependency of latte from Debian packages, then
# configures and builds it in ./build. Idempotent: installed packages are skipped.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  ccache                 # rebuilds (and CI's second build of a commit, in the fresh root) from cache
  libdnnl-dev            # GEMM (oneDNN)
  ocl-icd-opencl-dev     # oneDNN's CMake config requires OpenCL (only recommended by libdnnl-dev)
  nlohmann-json3-dev     # config.json, safetensors headers
  libcli11-dev           # command line
  libutf8proc-dev        # Unicode normalisation for tokenizers
  libcsv-dev             # CSV and TSV data files (RFC 4180)
  libcpp-httplib-dev     # latte serve (HTTP)
  curl                   # latte serve's tests are curl clients (tests/serve_check.mjs)
  libgtest-dev           # unit tests
  python3-dev python3-numpy pybind11-dev  # the Python module (python/)
  python3-pytest python3-venv python3-pip python3-setuptools python3-wheel  # its tests, pip install
  python3-matplotlib     # examples/python's plot
  libtorch-dev           # the trainer (latte train)
  libopenblas0-openmp    # torch's BLAS: without it Debian's torch uses the reference BLAS (~10x slower)
  clang-format
  clang-14 libclang-rt-14-dev libomp-14-dev  # libFuzzer harnesses (scripts/fuzz.sh, run by CI)
)

# `latte data fetch` (and so the demo) installs the corpora with npm: take Debian's Node.js
# where the machine has none.
if ! command -v npm >/dev/null 2>&1; then packages+=(nodejs npm); fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${LATTE_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release ${LATTE_CMAKE_ARGS:-}
cmake --build "$build_dir"
echo "setup: built $build_dir/latte"
