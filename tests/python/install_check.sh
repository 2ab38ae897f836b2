#!/usr/bin/env bash
# The Python package installed both ways, each imported from another folder with no
# LATTE_DEFAULT_MODEL: `pip install --no-build-isolation` into a fresh `python3 -m venv
# --system-site-packages` (reusing BUILD, so nothing is compiled again), then `cmake --install`
# into a prefix; each must find its own copy of the bundled model and classify with it.
set -euo pipefail
build_dir=$1
source_dir=$2
python=$3
scratch=$(mktemp -d "${TMPDIR:-/tmp}/latte-python-install.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
unset LATTE_DEFAULT_MODEL PYTHONPATH

check() {  # PYTHON EXPECTED_MODEL_FOLDER
  cd "$scratch"
  local said
  said=$("$1" -c 'import latte; m = latte.Model(); print(m.path, m.classify(["Win a FREE prize, click now"])[0].label)')
  [[ $said == "$2 "* ]] || { echo "python_install: expected the model $2, got: $said" >&2; exit 1; }
  echo "python_install: $said"
}

"$python" -m venv --system-site-packages "$scratch/venv"
LATTE_BUILD_DIR=$build_dir "$scratch/venv/bin/pip" install --quiet --no-build-isolation --no-deps --no-index \
  "$source_dir" >"$scratch/pip.log" 2>&1 || { cat "$scratch/pip.log" >&2; exit 1; }
site=$("$scratch/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
check "$scratch/venv/bin/python" "$site/latte/models/default"

cmake --install "$build_dir" --prefix "$scratch/prefix" >/dev/null
package_dir=$(find "$scratch/prefix" -path '*site-packages/latte' -type d)
PYTHONPATH=$(dirname "$package_dir") check "$python" "$scratch/prefix/share/latte/models/default"
