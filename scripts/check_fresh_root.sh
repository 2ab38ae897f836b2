#!/usr/bin/env bash
# Proves that scripts/setup.sh installs everything latte needs: builds a clean Debian bookworm
# root holding only apt (mmdebstrap --variant=apt), copies a clean clone of this checkout's
# HEAD into it and runs the README's two commands there (scripts/demo.sh, scripts/test.sh).
# A package that this machine has but setup.sh forgets fails here. Needs root; about 15-25
# minutes on 2 cores, most of it apt, the build and the dataset fetch.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ $(id -u) -ne 0 ]]; then
  echo "check_fresh_root: needs root (mmdebstrap and chroot)" >&2
  exit 1
fi
if ! command -v mmdebstrap >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/latte-fresh-root.XXXXXX")
trap 'rm -rf "$work"' EXIT
git clone -q "$root" "$work/latte"
echo "check_fresh_root: clean clone of $(git -C "$work/latte" rev-parse --short HEAD) in a new bookworm root"

# The hooks run with /proc, /sys and /dev mounted in the root, and with the host's resolv.conf.
# Target /dev/null: the root lives in a temporary folder under $work and is deleted afterwards.
TMPDIR="$work" mmdebstrap --variant=apt --quiet \
  --customize-hook='cp -a "'"$work"'/latte" "$1/root/latte"' \
  --customize-hook='chroot "$1" env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 bash -c "cd /root/latte && scripts/demo.sh && scripts/test.sh"' \
  bookworm /dev/null
echo "check_fresh_root: both README commands passed in a fresh Debian root"
