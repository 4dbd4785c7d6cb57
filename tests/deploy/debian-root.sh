#!/usr/bin/env bash
# Makes a minimal Debian bookworm root file system as a tarball, for the deploy tests (the
# base of the container image, the root the .deb is installed into). It takes the package
# mirror from this machine's apt configuration (the Debian entries of /etc/apt/sources.list
# and /etc/apt/sources.list.d), so no mirror host is written here.
#
#   tests/deploy/debian-root.sh OUT.tar [VARIANT (default minbase)] [PACKAGE,...]
#
# Needs mmdebstrap and root. OUT.tar is kept when it exists (delete it to make a new one):
# the tests share one per build tree.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 OUT.tar [VARIANT] [PACKAGE,...]" >&2
  exit 2
fi
OUT="$1"
VARIANT="${2:-minbase}"
INCLUDE="${3:-}"
if [ -s "$OUT" ]; then
  echo "debian-root: $OUT exists"
  exit 0
fi
command -v mmdebstrap >/dev/null || { echo "$0: mmdebstrap is not installed (deploy/install-deps.sh)" >&2; exit 1; }

sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  # Only Debian's own bookworm archives: not third-party repositories.
  if grep -Eq '^[^#]*bookworm' "$f" && ! grep -Eq '^[^#]*(nodistro|cloud-sdk)' "$f"; then
    sources+=("$f")
  fi
done
if [ ${#sources[@]} -eq 0 ]; then
  echo "$0: no Debian bookworm entry in this machine's apt configuration" >&2
  exit 1
fi
args=(--variant="$VARIANT" --format=tar --skip=check/empty)
[ -n "$INCLUDE" ] && args+=(--include="$INCLUDE")
tmp="$OUT.partial.$$"
trap 'rm -f "$tmp"' EXIT
mmdebstrap "${args[@]}" bookworm "$tmp" "${sources[@]}"
mv "$tmp" "$OUT"
trap - EXIT
echo "debian-root: made $OUT ($(du -h "$OUT" | cut -f1))"
