#!/usr/bin/env bash
# Deploy.SystemdUnitsVerify: `systemd-analyze verify` of deploy/ec2/eddy-*.service inside a
# root file system that holds the eddy .deb's files (so the ExecStart= binaries exist and
# are checked) and this machine's systemd units (the targets the units name). Any message
# systemd-analyze prints about a unit fails the test: it reports unknown directives and bad
# values only as warnings, with exit code 0. Also checks that the .deb carries exactly these
# units, that the settings deploy/ec2 promises are there, and that `systemd-analyze
# security` rates each unit's exposure at most 3.5 (and a copy without the hardening not).
#
#   systemd_units_test.sh SOURCE_DIR DEB
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SOURCE_DIR DEB" >&2; exit 2; }
SRC=$(cd "$1" && pwd)
DEB=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v systemd-analyze >/dev/null || fail "systemd-analyze is not installed (deploy/install-deps.sh)"
[ -f "$DEB" ] || fail "no package at $DEB: run 'make package' first"

TMP=$(mktemp -d /tmp/eddy-units-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
ROOT=$TMP/root
dpkg-deb -x "$DEB" "$ROOT"
# The systemd units of this machine (sysinit.target, network-online.target, ...), under the
# package's files: the verify root must resolve the dependencies the units name.
mkdir -p "$ROOT/usr/lib/systemd/system" "$ROOT/etc/systemd/system"
cp -a /usr/lib/systemd/system/. "$ROOT/usr/lib/systemd/system/"
for unit in eddy-jobmanager.service eddy-taskmanager.service; do
  [ -f "$ROOT/lib/systemd/system/$unit" ] || fail "the package has no /lib/systemd/system/$unit"
  cmp -s "$SRC/deploy/ec2/$unit" "$ROOT/lib/systemd/system/$unit" ||
    fail "/lib/systemd/system/$unit in $DEB differs from deploy/ec2/$unit: run 'make package'"
done

# verify_unit NAME FILE: verifies FILE installed as NAME in the root; prints the messages.
verify_unit() {
  local name=$1 file=$2
  rm -f "$ROOT/etc/systemd/system/"eddy-*.service
  cp "$file" "$ROOT/etc/systemd/system/$name"
  local rc=0
  SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no --root="$ROOT" "$name" >"$TMP/verify.log" 2>&1 || rc=$?
  # Messages about other units of this machine's systemd (none expected) are not ours.
  if [ $rc -ne 0 ] || grep -F -e "$name" -e /usr/bin/eddy "$TMP/verify.log" >/dev/null; then
    cat "$TMP/verify.log"
    return 1
  fi
  return 0
}

for unit in eddy-jobmanager.service eddy-taskmanager.service; do
  file=$SRC/deploy/ec2/$unit
  verify_unit "$unit" "$file" || fail "systemd-analyze verify $unit (above)"
  binary=/usr/bin/${unit%.service}
  for setting in "User=eddy" "ExecStart=$binary --config /etc/eddy/eddy.yaml" \
                 "EnvironmentFile=-/etc/default/eddy" "ProtectSystem=strict" \
                 "ReadWritePaths=/var/lib/eddy" "StateDirectory=eddy" "PrivateTmp=yes" \
                 "NoNewPrivileges=yes" "ProtectHome=yes" "Restart=on-failure" \
                 "LimitNOFILE=1048576" "KillSignal=SIGTERM" "TimeoutStopSec=30" \
                 "After=network-online.target"; do
    grep -qxF "$setting" "$file" || fail "$unit lacks the line '$setting'"
  done
  [ -x "$ROOT$binary" ] || fail "the package has no executable $binary"
  echo "ok: $unit verifies in a root with the package's files"
  # Hardening: systemd's exposure score (0 to 10, lower is safer) at most 3.5 ("OK").
  if ! SYSTEMD_LOG_COLOR=0 systemd-analyze security --offline=yes --threshold=35 --root="$ROOT" \
       "$unit" >"$TMP/security.log" 2>&1; then
    cat "$TMP/security.log"
    fail "systemd-analyze security: $unit is exposed more than 3.5 (above)"
  fi
  echo "ok: $unit: systemd-analyze security rates its exposure" \
       "$(sed -n 's/.*exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$TMP/security.log")"

  # Negative controls: the same check must fail on a misspelled directive, on a bad value
  # and on an ExecStart= binary that is not there.
  sed 's/^ProtectSystem=strict$/ProtectSystm=strict/' "$file" >"$TMP/misspelled"
  sed 's/^Restart=on-failure$/Restart=sometimes/' "$file" >"$TMP/badvalue"
  sed "s#^ExecStart=$binary #ExecStart=${binary}-missing #" "$file" >"$TMP/nobinary"
  for broken in misspelled badvalue nobinary; do
    cmp -s "$file" "$TMP/$broken" && fail "could not make the $broken variant of $unit"
    if verify_unit "$unit" "$TMP/$broken" >/dev/null; then
      fail "systemd-analyze verify accepted a $broken $unit: the check does not check"
    fi
  done
  echo "ok: a misspelled directive, a bad value and a missing binary in $unit fail the check"
  grep -vE '^(Protect|Private|Restrict|NoNewPrivileges|CapabilityBoundingSet|LockPersonality|SystemCallArchitectures|RemoveIPC|UMask)' \
    "$file" >"$ROOT/etc/systemd/system/$unit"
  if systemd-analyze security --offline=yes --threshold=35 --root="$ROOT" "$unit" >/dev/null 2>&1; then
    fail "systemd-analyze security accepted $unit without its hardening: the check does not check"
  fi
  echo "ok: $unit without its hardening directives fails the exposure check"
done
echo "2 units verified"
