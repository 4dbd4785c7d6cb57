#!/usr/bin/env bash
# Deploy.DebInstallsAndRunsInAFreshDebianRoot: the eddy .deb of BUILD_DIR installed with apt
# into a fresh Debian bookworm minbase root (tests/deploy/debian-root.sh; apt fetches the
# Depends from this machine's Debian mirror), its maintainer scripts' user `eddy` and
# /var/lib/eddy checked, and a cluster started from the installed units' own ExecStart=
# lines, as their User=, in their WorkingDirectory=, with systemd's empty environment and
# the installed /etc/eddy/eddy.yaml: one JobManager and two TaskManagers on 127.0.0.1, with
# `--set` overrides for ports only (two TaskManagers share this machine). The installed
# `eddy` runs the installed example word_count.so on it at parallelism 4 (both
# TaskManagers, records shuffled between them), and its output is compared with word
# counts made by tr, sort and uniq. SIGTERM must stop each process with exit code 0
# within the units' TimeoutStopSec; then `dpkg --purge` must remove the package cleanly.
#
#   deb_chroot_test.sh SOURCE_DIR BUILD_DIR
#
# Needs root (chroot, mount), mmdebstrap (first run only: the root's tarball is kept in
# BUILD_DIR/tests/deploy), curl and python3.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SOURCE_DIR BUILD_DIR" >&2; exit 2; }
SRC=$(cd "$1" && pwd)
BUILD=$(cd "$2" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (chroot and mount)"
for tool in chroot mount umount findmnt curl python3; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done

VERSION=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
DEB=$BUILD/eddy_${VERSION}_$(dpkg --print-architecture).deb
[ -f "$DEB" ] || fail "no package at $DEB: run 'make package' first"

ROOT_TAR=$BUILD/tests/deploy/debian-bookworm-minbase.tar
mkdir -p "$(dirname "$ROOT_TAR")"
"$SRC/tests/deploy/debian-root.sh" "$ROOT_TAR" >"$BUILD/tests/deploy/debian-root.log" 2>&1 ||
  { cat "$BUILD/tests/deploy/debian-root.log" >&2; fail "tests/deploy/debian-root.sh $ROOT_TAR"; }

TMP=$(mktemp -d /tmp/eddy-deb-test.XXXXXX)
ROOT=$TMP/root
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Unmount everything under the root, deepest first; remove the tree only when nothing
  # is mounted there any more (never delete through a bind mount).
  local mounts
  mounts=$(findmnt -rn -o TARGET | grep -F "$ROOT/" | sort -r || true)
  for m in $mounts; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  if findmnt -rn -o TARGET | grep -qF "$ROOT/"; then
    echo "cleanup: still mounted under $ROOT; left $TMP in place" >&2
  else
    rm -rf "$TMP"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# logs NAME...: the last lines of the named logs in $TMP, for a failure message.
logs() { for f in "$@"; do echo "--- $f" >&2; tail -n 30 "$TMP/$f" >&2 || true; done; }

mkdir -p "$ROOT"
tar -xf "$ROOT_TAR" -C "$ROOT"
mount -t proc proc "$ROOT/proc"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp "$DEB" "$ROOT/tmp/"
# This machine's apt may accept a mirror snapshot's old Release files; the root's apt must too.
APT_OPTS=()
eval "$(apt-config shell VALID_UNTIL Acquire::Check-Valid-Until CHECK_DATE Acquire::Check-Date)"
[ -n "${VALID_UNTIL:-}" ] && APT_OPTS+=(-o "Acquire::Check-Valid-Until=$VALID_UNTIL")
[ -n "${CHECK_DATE:-}" ] && APT_OPTS+=(-o "Acquire::Check-Date=$CHECK_DATE")
CLEAN_ENV=(/usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8)

start=$SECONDS
chroot "$ROOT" "${CLEAN_ENV[@]}" apt-get "${APT_OPTS[@]}" update >"$TMP/apt-update.log" 2>&1 ||
  { logs apt-update.log; fail "apt-get update in the fresh root"; }
chroot "$ROOT" "${CLEAN_ENV[@]}" DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y \
  --no-install-recommends "/tmp/$(basename "$DEB")" >"$TMP/apt-install.log" 2>&1 ||
  { logs apt-install.log; fail "apt-get install $(basename "$DEB") in the fresh root"; }
echo "ok: apt-get installed $(basename "$DEB") and its Depends into a fresh bookworm root" \
     "($((SECONDS - start)) s)"

# What the package and its postinst made.
pw=$(chroot "$ROOT" getent passwd eddy) || fail "postinst made no user eddy"
uid=$(echo "$pw" | cut -d: -f3)
[ "$uid" -lt 1000 ] || fail "user eddy is not a system user (uid $uid)"
chroot "$ROOT" getent group eddy >/dev/null || fail "postinst made no group eddy"
[ "$(chroot "$ROOT" stat -c %U:%G /var/lib/eddy)" = eddy:eddy ] ||
  fail "/var/lib/eddy is not owned by eddy:eddy: $(chroot "$ROOT" stat -c %U:%G /var/lib/eddy)"
chroot "$ROOT" dpkg-query -W -f='${Conffiles}\n' eddy | grep -q '^ /etc/eddy/eddy.yaml ' ||
  fail "/etc/eddy/eddy.yaml is not a conffile of the package"
unit_file() {
  local d
  for d in /lib/systemd/system /usr/lib/systemd/system; do
    if [ -f "$ROOT$d/$1" ]; then echo "$ROOT$d/$1"; return 0; fi
  done
  fail "the package installed no $1 in /lib/systemd/system or /usr/lib/systemd/system"
}
JM_UNIT=$(unit_file eddy-jobmanager.service)
TM_UNIT=$(unit_file eddy-taskmanager.service)
[ -f "$ROOT/usr/share/eddy/examples/word_count.so" ] || fail "no /usr/share/eddy/examples/word_count.so"
echo "ok: user eddy (uid $uid), /var/lib/eddy, the conffile, both units and the example are there"

# unit_value FILE KEY: the one KEY= line of a unit file.
unit_value() {
  local values
  values=$(sed -n "s/^$2=//p" "$1")
  [ "$(printf '%s\n' "$values" | grep -c .)" -eq 1 ] || fail "$1 has not exactly one non-empty $2="
  printf '%s\n' "$values"
}

# Free ports on 127.0.0.1: REST, JobManager RPC, and RPC + data of each TaskManager.
read -r REST_PORT JM_RPC_PORT TM1_RPC TM1_DATA TM2_RPC TM2_DATA < <(python3 -c '
import socket
socks = []
for _ in range(6):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))')

# start NAME UNIT_FILE SET...: runs the unit's ExecStart= in the root as the unit's User=
# and Group=, from its WorkingDirectory=, in the background, with `--set` SET... appended.
start() {
  local name=$1 unit=$2; shift 2
  local exec user group dir sets=""
  exec=$(unit_value "$unit" ExecStart)
  user=$(unit_value "$unit" User)
  group=$(unit_value "$unit" Group)
  dir=$(unit_value "$unit" WorkingDirectory)
  for kv in "$@"; do sets+=" --set $kv"; done
  chroot --userspec="$user:$group" "$ROOT" "${CLEAN_ENV[@]}" HOME="$dir" \
    sh -c "cd $dir && exec $exec$sets" >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
  echo "$name: $exec$sets (pid $!)" >>"$TMP/commands.log"
}
start jobmanager "$JM_UNIT" "rest.port=$REST_PORT" "jobmanager.rpc.port=$JM_RPC_PORT"
JM_PID=${PIDS[-1]}
start taskmanager-1 "$TM_UNIT" "jobmanager.rpc.port=$JM_RPC_PORT" \
  "taskmanager.rpc.port=$TM1_RPC" "taskmanager.data.port=$TM1_DATA"
start taskmanager-2 "$TM_UNIT" "jobmanager.rpc.port=$JM_RPC_PORT" \
  "taskmanager.rpc.port=$TM2_RPC" "taskmanager.data.port=$TM2_DATA"

# Wait (bounded) until both TaskManagers have registered.
deadline=$((SECONDS + 60))
while :; do
  for pid in "${PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null ||
      { logs commands.log jobmanager.log taskmanager-1.log taskmanager-2.log; fail "a process exited during startup"; }
  done
  tms=$(curl -sf --max-time 2 "http://127.0.0.1:$REST_PORT/overview" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["taskmanagers"])' 2>/dev/null || true)
  [ "$tms" = 2 ] && break
  [ $SECONDS -lt $deadline ] ||
    { logs commands.log jobmanager.log taskmanager-1.log taskmanager-2.log; fail "2 TaskManagers not registered within 60 s (last: '$tms')"; }
  sleep 0.2
done
for pid in "${PIDS[@]}"; do
  [ "$(stat -c %u "/proc/$pid")" = "$uid" ] || fail "process $pid does not run as user eddy (uid $uid)"
done
echo "ok: JobManager and 2 TaskManagers up from the installed units' ExecStart= lines as user eddy"

# Input: a text with a skewed vocabulary, mixed case and punctuation (as
# tests/support/word_count.h writes), readable by the TaskManagers.
mkdir -p "$ROOT/tmp/wc"
python3 - "$ROOT/tmp/wc/input.txt" <<'EOF'
import random, sys
rng = random.Random(2026)
vocabulary = ["w%d" % (i * 7919 % 100003) for i in range(5000)]
separators = [" ", ", ", "; ", " -- ", ". "]
with open(sys.argv[1], "w") as out:
    written = 0
    while written < 2_000_000:
        words = []
        for _ in range(rng.randint(1, 14)):
            r = rng.randrange(5000)
            w = vocabulary[r * r // 5000]
            if rng.randrange(10) == 0:
                w = "W" + w[1:]
            words.append(w + rng.choice(separators))
        line = "".join(words) + "\n"
        written += len(line)
        out.write(line)
EOF
chmod -R a+rX "$ROOT/tmp/wc"
chmod 1777 "$ROOT/tmp/wc"

start=$SECONDS
timeout 240 chroot "$ROOT" "${CLEAN_ENV[@]}" eddy --jobmanager "http://127.0.0.1:$REST_PORT" \
  run --wait -p 4 /usr/share/eddy/examples/word_count.so -- --input /tmp/wc/input.txt \
  --output /tmp/wc/out >"$TMP/run.log" 2>&1 ||
  { logs run.log jobmanager.log taskmanager-1.log taskmanager-2.log; fail "eddy run --wait word_count.so"; }
compgen -G "$ROOT/tmp/wc/out/part-*" >/dev/null || { logs run.log; fail "no part files in /tmp/wc/out"; }
cat "$ROOT"/tmp/wc/out/part-* | LC_ALL=C sort >"$TMP/actual"
# The reference: words are runs of [A-Za-z0-9] (isalnum in the C locale), lower-cased.
LC_ALL=C tr -cs 'A-Za-z0-9' '\n' <"$ROOT/tmp/wc/input.txt" | LC_ALL=C tr 'A-Z' 'a-z' | grep -v '^$' |
  LC_ALL=C sort | uniq -c | awk '{ print $2 "\t" $1 }' | LC_ALL=C sort >"$TMP/expected"
diff "$TMP/expected" "$TMP/actual" >"$TMP/diff" ||
  { head -n 20 "$TMP/diff" >&2; fail "word counts differ (< tr/sort/uniq, > eddy)"; }
for tm in taskmanager-1 taskmanager-2; do
  grep -q "deploying .* tasks of job" "$TMP/$tm.log" || { logs "$tm.log"; fail "$tm ran no task of the job"; }
done
# The installed eddy.yaml was in force: the job library went to its blob and TaskManager
# directories under /var/lib/eddy.
compgen -G "$ROOT/var/lib/eddy/blobs/*.so" >/dev/null ||
  fail "no job library in /var/lib/eddy/blobs (blob.storage.directory of /etc/eddy/eddy.yaml)"
[ "$(compgen -G "$ROOT/var/lib/eddy/taskmanager/eddy-tm-*" | wc -l)" -eq 2 ] ||
  fail "not 2 TaskManager directories in /var/lib/eddy/taskmanager (taskmanager.tmp.dir)"
echo "ok: word_count.so on the cluster ($((SECONDS - start)) s): $(wc -l <"$TMP/actual") words," \
     "$(awk -F'\t' '{ s += $2 } END { print s }' "$TMP/actual") in all, as tr/sort/uniq count them," \
     "on both TaskManagers"

# stop PID NAME: SIGTERM, then exit code 0 within the unit's TimeoutStopSec.
stop() {
  local pid=$1 name=$2 timeout rc=0
  timeout=$(unit_value "$3" TimeoutStopSec)
  kill -TERM "$pid"
  local deadline=$((SECONDS + ${timeout%s}))
  while kill -0 "$pid" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { logs "$name.log"; fail "$name still runs ${timeout} after SIGTERM"; }
    sleep 0.1
  done
  wait "$pid" || rc=$?
  [ $rc -eq 0 ] || { logs "$name.log"; fail "$name exited with $rc after SIGTERM"; }
}
stop "${PIDS[1]}" taskmanager-1 "$TM_UNIT"
stop "${PIDS[2]}" taskmanager-2 "$TM_UNIT"
stop "$JM_PID" jobmanager "$JM_UNIT"
PIDS=()
echo "ok: SIGTERM stopped the JobManager and both TaskManagers with exit code 0"

chroot "$ROOT" "${CLEAN_ENV[@]}" dpkg --purge eddy >"$TMP/purge.log" 2>&1 ||
  { logs purge.log; fail "dpkg --purge eddy"; }
for f in /usr/bin/eddy-jobmanager /etc/eddy/eddy.yaml "${JM_UNIT#"$ROOT"}"; do
  [ ! -e "$ROOT$f" ] || fail "dpkg --purge left $f"
done
echo "ok: dpkg --purge eddy removed the package"
echo "1 passed, 0 failed"
