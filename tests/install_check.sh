#!/usr/bin/env bash
# `cmake --install BUILD --prefix P`, then P/bin/latte must run its own copy of the bundled
# model (P/share/latte/models/default), with no LATTE_DEFAULT_MODEL and from another folder.
set -euo pipefail
build_dir=$1
prefix=$(mktemp -d "${TMPDIR:-/tmp}/latte-install.XXXXXX")
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build_dir" --prefix "$prefix" >/dev/null
cd "$prefix"
info=$(env -u LATTE_DEFAULT_MODEL "$prefix/bin/latte" info --json)
expected="\"model\":\"$prefix/share/latte/models/default\""
if [[ $info != *"$expected"* ]]; then
  echo "install_check: expected $expected in: $info" >&2
  exit 1
fi
label=$(env -u LATTE_DEFAULT_MODEL "$prefix/bin/latte" classify "Win a FREE prize, click now")
[[ -n $label ]] || { echo "install_check: classify printed nothing" >&2; exit 1; }
echo "install_check: $prefix/bin/latte uses $prefix/share/latte/models/default ($label)"
