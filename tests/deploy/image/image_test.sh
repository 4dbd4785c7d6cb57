#!/usr/bin/env bash
# Deploy.ImageRunsAClusterAsTheManifestsDo (tests/CMakeLists.txt, label deploy): builds the
# container image of deploy/container/Containerfile from this build tree's .deb
# (EDDY_BUILD=prebuilt) and runs a cluster from it as the Kubernetes manifests do:
#
#   tests/deploy/image/image_test.sh BUILD_DIR        (after `make package`: BUILD_DIR/eddy_*.deb)
#
# 1. The base image: no registry is reachable, so debian:bookworm-slim is made here from a
#    bookworm minbase root file system (tests/deploy/debian-root.sh, cached in the build
#    tree) in a private container storage under BUILD_DIR/tests/deploy/image (nothing of
#    this machine's own images or containers is touched).
# 2. `buildah bud --build-arg EDDY_BUILD=prebuilt` of the Containerfile; the image's config
#    (user 9999, workdir, ports, command, labels) and packages (the .deb's Depends, no
#    compilers or -dev packages) are checked, and its default command starts a JobManager.
# 3. `kubectl kustomize deploy/kubernetes/overlays/local` is rendered and manifests.py turns
#    it into `buildah run` arguments: each container's command, env (POD_IP = 127.0.0.1),
#    the ConfigMap eddy-config and the Secrets eddy-tls (deploy/make-cluster-certs.sh) and
#    eddy-rest-tokens (a token made here) mounted where the pods mount them, emptyDir and
#    PVC volumes as host directories. A JobManager and two TaskManagers run from the image,
#    each in its own working container (chroot isolation, so they share this host's
#    network: the Service name eddy-jobmanager is an /etc/hosts entry for 127.0.0.1). The
#    only changes to the manifests' commands are `--set` lines that keep every port on
#    127.0.0.1 and give the second TaskManager ports of its own (manifests.py, printed).
# 4. Checks: the processes run as uid/gid 9999; word_count (/usr/share/eddy/examples in the
#    image) submitted with the image's own `eddy` CLI runs on both TaskManagers and its
#    counts equal a reference computed here; SIGTERM to a TaskManager makes the JobManager
#    log it as lost at once (its control connection closed, not a heartbeat timeout) and
#    the TaskManager exit 0; the JobManager and the other TaskManager stop with exit 0 on
#    SIGTERM; with readOnlyRootFilesystem (the manifests' securityContext) nothing was
#    written into a container's own file system outside its volumes.
# Every exit path stops the processes, removes the working containers and the image
# eddy:test, and removes the temporary directory. Logs: BUILD_DIR/tests/deploy/image/logs.
#
# Needs root, buildah (1.28 or newer), kubectl (kustomize), mmdebstrap, python3 with
# PyYAML, openssl and curl; exits 77 (skipped) without them. The image build installs the
# .deb's dependencies with apt from the package mirror of this machine's apt configuration.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../../.." && pwd)
if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD=$(cd "$1" && pwd)

log() { printf '[image_test %4ds] %s\n' "$SECONDS" "$*"; }
fail() { log "FAIL: $*"; exit 1; }
skip() { echo "image_test: SKIPPED: $*"; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "needs root (buildah with a private storage, mmdebstrap)"
for tool in buildah kubectl mmdebstrap python3 openssl curl; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
python3 -c 'import yaml' 2>/dev/null || skip "python3 has no PyYAML (Debian: python3-yaml)"

shopt -s nullglob
debs=("$BUILD"/eddy_*.deb)
shopt -u nullglob
[ ${#debs[@]} -eq 1 ] || fail "expected one $BUILD/eddy_*.deb (make package), found ${#debs[@]}: ${debs[*]:-}"
DEB=${debs[0]}

CACHE=$BUILD/tests/deploy/image
ROOTFS_TAR=$BUILD/tests/deploy/debian-bookworm-minbase.tar
STORE=$CACHE/storage
LOGS=$CACHE/logs
IMAGE=eddy:test
POD_IP=127.0.0.1
TASKMANAGERS=2
mkdir -p "$STORE" "$LOGS"
rm -f "$LOGS"/*
TMP=$(mktemp -d /tmp/eddy-image-test.XXXXXX)

# A private container storage: every buildah call of this test uses it, nothing else.
cat >"$TMP/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$STORE/root"
runroot = "$STORE/run"
EOF
export CONTAINERS_STORAGE_CONF=$TMP/storage.conf
export BUILDAH_ISOLATION=chroot  # crun cannot set rlimits here; chroot isolation works
BAH=(buildah --root "$STORE/root" --runroot "$STORE/run" --storage-driver overlay)
bah() { "${BAH[@]}" "$@"; }

# What runs, for the cleanup: working containers, `buildah run` processes, the servers.
declare -a CONTAINERS=()
declare -A RUN_PID=() SERVER_PID=() CONTAINER_OF=()
PIDS_FILE=$CACHE/running.pids
IMAGE_BUILT=0

alive() { kill -0 "$1" 2>/dev/null; }
# Waits until pid $1 is gone or $2 seconds passed; true if it is gone.
wait_gone() {
  local deadline=$((SECONDS + $2))
  while alive "$1"; do
    [ $SECONDS -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  for name in "${!SERVER_PID[@]}"; do kill -TERM "${SERVER_PID[$name]}" 2>/dev/null; done
  for name in "${!RUN_PID[@]}"; do
    if ! wait_gone "${RUN_PID[$name]}" 10; then
      log "cleanup: $name did not stop within 10 s of SIGTERM; SIGKILL"
      kill -KILL "${SERVER_PID[$name]:-}" "${RUN_PID[$name]}" 2>/dev/null
      wait_gone "${RUN_PID[$name]}" 5
    fi
  done
  for c in "${CONTAINERS[@]}"; do bah rm "$c" >/dev/null 2>&1; done
  bah rm --all >/dev/null 2>&1  # the storage is this test's own: anything a build left too
  if [ "$IMAGE_BUILT" = 1 ]; then bah rmi -f "$IMAGE" >/dev/null 2>&1; fi
  bah rmi --prune >/dev/null 2>&1
  rm -f "$PIDS_FILE"
  if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
    for f in "$LOGS"/*.log; do
      [ -s "$f" ] || continue
      echo "---- last lines of $f"
      tail -n 25 "$f"
    done
  fi
  rm -rf "$TMP"
  log "done (exit $rc); logs in $LOGS"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A run killed before its cleanup (ctest's timeout) leaves processes and containers: end them.
if [ -f "$PIDS_FILE" ]; then
  while read -r pid; do
    if grep -qaE 'eddy-(jobmanager|taskmanager)|buildah-chroot|eddy-image-test' "/proc/$pid/cmdline" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done <"$PIDS_FILE"
  rm -f "$PIDS_FILE"
fi
bah rm --all >/dev/null 2>&1 || true

# The process of the command a `buildah run` (pid $1) started: its descendant whose argv[0]
# is $2 (chroot isolation: buildah -> buildah-chroot-runtime -> buildah-chroot-exec -> it).
descendants() {
  local child
  for child in $(pgrep -P "$1" 2>/dev/null); do
    echo "$child"
    descendants "$child"
  done
}
server_pid() {
  local deadline=$((SECONDS + 30)) p argv0
  while [ $SECONDS -lt $deadline ] && alive "$1"; do
    for p in $(descendants "$1"); do
      argv0=$( (tr '\0' '\n' <"/proc/$p/cmdline") 2>/dev/null | head -n 1)
      if [ "${argv0##*/}" = "$2" ]; then
        echo "$p"
        return 0
      fi
    done
    sleep 0.1
  done
  return 1
}

# Starts instance $1 (a directory of the plan) in a new working container of the image.
start_instance() {
  local name=$1 c
  c=$(bah from --pull=never --name "eddy-test-$name" --add-host "$SERVICE:$POD_IP" "$IMAGE") ||
    fail "buildah from $IMAGE for $name"
  CONTAINERS+=("$c")
  CONTAINER_OF[$name]=$c
  local -a run_args command
  mapfile -d '' -t run_args <"$PLAN/$name/run-args"
  mapfile -d '' -t command <"$PLAN/$name/command"
  log "$name: ${command[*]}"
  "${BAH[@]}" run --isolation chroot "${run_args[@]}" "$c" -- "${command[@]}" >"$LOGS/$name.log" 2>&1 &
  RUN_PID[$name]=$!
  echo "${RUN_PID[$name]}" >>"$PIDS_FILE"
  local pid
  pid=$(server_pid "${RUN_PID[$name]}" "${command[0]}") ||
    fail "$name: no ${command[0]} process started (log: $LOGS/$name.log)"
  SERVER_PID[$name]=$pid
  echo "$pid" >>"$PIDS_FILE"
}

# Fails when a started instance has exited (called while waiting).
check_running() {
  local name
  for name in "${!RUN_PID[@]}"; do
    if [ -n "${SERVER_PID[$name]:-}" ] && ! alive "${RUN_PID[$name]}"; then
      fail "$name exited (log: $LOGS/$name.log)"
    fi
  done
}

# Polls `$@` until it succeeds; fails after $2 seconds with "$1".
wait_until() {
  local what=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    check_running
    [ $SECONDS -lt $deadline ] || fail "$what: not within ${secs}s"
    sleep 0.2
  done
}

# ---- 1. The base image ---------------------------------------------------------------
log "base image debian:bookworm-slim from $ROOTFS_TAR"
"$SRC/tests/deploy/debian-root.sh" "$ROOTFS_TAR" >"$LOGS/debian-root.log" 2>&1 ||
  fail "tests/deploy/debian-root.sh failed (log: $LOGS/debian-root.log)"
stamp="$(stat -c '%s %Y' "$ROOTFS_TAR")"
if [ "$(cat "$STORE/base.stamp" 2>/dev/null)" != "$stamp" ] ||
   ! bah inspect --type image debian:bookworm-slim >/dev/null 2>&1; then
  c=$(bah from scratch)
  CONTAINERS+=("$c")
  bah add "$c" "$ROOTFS_TAR" / >/dev/null
  bah config --cmd bash "$c"
  bah commit -q "$c" debian:bookworm-slim >/dev/null
  echo "$stamp" >"$STORE/base.stamp"
  log "imported the root file system as debian:bookworm-slim (private storage $STORE)"
fi

# ---- 2. The image ------------------------------------------------------------------------
mkdir -p "$TMP/context"
cp "$DEB" "$TMP/context/"
deb_version=$(dpkg-deb -f "$DEB" Version)
log "building $IMAGE from $(basename "$DEB") (log: $LOGS/build.log)"
IMAGE_BUILT=1
build_start=$SECONDS
timeout 600 "${BAH[@]}" bud --isolation chroot --pull=never --layers=false \
  --build-arg EDDY_BUILD=prebuilt --build-arg EDDY_VERSION="$deb_version" \
  -f "$SRC/deploy/container/Containerfile" -t "$IMAGE" "$TMP/context" >"$LOGS/build.log" 2>&1 ||
  fail "the image did not build (log: $LOGS/build.log)"
log "built $IMAGE in $((SECONDS - build_start))s"

bah inspect --type image "$IMAGE" >"$TMP/image.json"
python3 - "$TMP/image.json" "$deb_version" <<'EOF' || fail "the image's configuration is not as expected (above)"
import json, sys
c = json.load(open(sys.argv[1]))["OCIv1"]["config"]
problems = []
def expect(what, got, want):
    if got != want:
        problems.append(f"{what}: {got!r}, expected {want!r}")
expect("User", c.get("User"), "9999:9999")
expect("WorkingDir", c.get("WorkingDir"), "/var/lib/eddy")
expect("Cmd", c.get("Cmd"), ["eddy-jobmanager", "--config", "/etc/eddy/eddy.yaml"])
expect("Entrypoint", c.get("Entrypoint") or [], [])
expect("ExposedPorts", sorted(c.get("ExposedPorts", {})), sorted(f"{p}/tcp" for p in (6123, 8081, 6122, 6121)))
labels = c.get("Labels", {})
expect("label version", labels.get("org.opencontainers.image.version"), sys.argv[2])
expect("label title", labels.get("org.opencontainers.image.title"), "eddy")
for p in problems:
    print("  " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
log "image config: user 9999:9999, workdir /var/lib/eddy, ports 6123 8081 6122 6121, CMD eddy-jobmanager"

c=$(bah from --pull=never --name eddy-test-inspect "$IMAGE")
CONTAINERS+=("$c")
bah run --isolation chroot "$c" -- sh -c 'id; stat -c "%U:%G %u:%g %a %n" /var/lib/eddy /etc/eddy; dpkg-query -W -f "\${Package} \${Version}\n"' \
  >"$LOGS/inspect.log" 2>&1 || fail "cannot run in the image (log: $LOGS/inspect.log)"
grep -q '^uid=9999(eddy) gid=9999(eddy)' "$LOGS/inspect.log" || fail "the image's user is not eddy 9999:9999: $(head -n 1 "$LOGS/inspect.log")"
grep -q '^eddy:eddy 9999:9999 750 /var/lib/eddy$' "$LOGS/inspect.log" || fail "/var/lib/eddy is not eddy's (postinst): $(grep /var/lib/eddy "$LOGS/inspect.log")"
grep -qx "eddy $deb_version" "$LOGS/inspect.log" || fail "package eddy $deb_version is not installed in the image"
grep -q '^ca-certificates ' "$LOGS/inspect.log" || fail "no ca-certificates in the image: HTTPS to S3 would not verify"
if grep -E '^(gcc|g\+\+|cpp|clang|cmake|make|ninja-build|build-essential|nodejs|npm|git|[^ ]+-dev) ' "$LOGS/inspect.log"; then
  fail "the image has build tools or -dev packages (above): it should hold only the .deb's Depends"
fi
log "image packages: eddy $deb_version, ca-certificates and $(($(tail -n +4 "$LOGS/inspect.log" | wc -l) - 2)) others, no build tools"

# The image's default command (a JobManager with the package's /etc/eddy/eddy.yaml), moved
# to free ports with EDDY_PROPERTIES, as `docker run -e EDDY_PROPERTIES=... eddy` would.
mapfile -t default_cmd < <(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["OCIv1"]["config"]["Cmd"]))' "$TMP/image.json")
read -r p_rest p_rpc < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
c=$(bah from --pull=never --name eddy-test-default "$IMAGE")
CONTAINERS+=("$c")
"${BAH[@]}" run --isolation chroot --env "EDDY_PROPERTIES=rest.port: $p_rest
jobmanager.rpc.port: $p_rpc" "$c" -- "${default_cmd[@]}" >"$LOGS/default-cmd.log" 2>&1 &
RUN_PID[default]=$!
echo "${RUN_PID[default]}" >>"$PIDS_FILE"
SERVER_PID[default]=$(server_pid "${RUN_PID[default]}" eddy-jobmanager) ||
  fail "the image's default command started no eddy-jobmanager (log: $LOGS/default-cmd.log)"
wait_until "the default command's JobManager answering /healthz on 127.0.0.1:$p_rest" 30 \
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$p_rest/healthz"
kill -TERM "${SERVER_PID[default]}"
wait_gone "${RUN_PID[default]}" 15 || fail "the default command's JobManager did not stop within 15 s of SIGTERM"
rc=0; wait "${RUN_PID[default]}" || rc=$?
[ $rc -eq 0 ] || fail "the default command's JobManager exited $rc after SIGTERM"
unset 'RUN_PID[default]' 'SERVER_PID[default]'
log "default command: JobManager up on 127.0.0.1:$p_rest with EDDY_PROPERTIES, stopped with exit 0"

# ---- 3. The cluster, as deploy/kubernetes/overlays/local runs it -------------------------
OVERLAY=$SRC/deploy/kubernetes/overlays/local
[ -f "$OVERLAY/kustomization.yaml" ] || fail "$OVERLAY/kustomization.yaml is missing"
kubectl kustomize "$OVERLAY" >"$LOGS/rendered.yaml" 2>"$LOGS/kustomize.log" ||
  fail "kubectl kustomize $OVERLAY failed (log: $LOGS/kustomize.log)"

SECRETS=$TMP/secrets
"$SRC/deploy/make-cluster-certs.sh" "$SECRETS/eddy-tls" >/dev/null
mkdir -p "$SECRETS/eddy-rest-tokens"
TOKEN=$(openssl rand -hex 32)
echo "$TOKEN admin image-test" >"$SECRETS/eddy-rest-tokens/tokens"
DATA=$TMP/data
mkdir -p "$DATA"
PLAN=$TMP/plan
python3 "$HERE/manifests.py" plan "$LOGS/rendered.yaml" --secrets "$SECRETS" --work "$PLAN" \
  --pod-ip "$POD_IP" --taskmanagers "$TASKMANAGERS" --extra-volume "$DATA:/data" ||
  fail "cannot run the rendered manifests (above)"
cp "$PLAN/plan.json" "$LOGS/plan.json"
plan() { python3 -c "import json,sys; p=json.load(open('$PLAN/plan.json')); print($1)"; }
SERVICE=$(plan 'p["service"]["name"]')
REST_PORT=$(plan 'p["instances"][0]["config"].get("rest.port", "8081")')
REST_TLS=$(plan 'int(p["rest"]["tls"])')
[ -n "$(plan 'p["rest"]["tokens_file"]')" ] || fail "the JobManager's rest.auth.tokens-file is empty: REST tokens are off"
log "changes to the manifests' commands for one shared host (manifests.py):"
python3 - "$PLAN/plan.json" <<'EOF' || fail "the manifests' securityContext does not match the image's user (above)"
import json, sys
ok = True
for i in json.load(open(sys.argv[1]))["instances"]:
    for o in i["overrides"]:
        print(f"  {i['name']}: --set {o['key']}={o['value']} ({o['why']})")
    for key in ("runAsUser", "runAsGroup"):
        if i[key] not in (None, 9999):
            print(f"  {i['name']}: {key} {i[key]}, the image runs as 9999", file=sys.stderr)
            ok = False
sys.exit(0 if ok else 1)
EOF

if [ "$REST_TLS" = 1 ]; then
  REST_URL=https://$POD_IP:$REST_PORT
  CURL_TLS=(--cacert "$SECRETS/eddy-tls/ca.pem")
else
  REST_URL=http://$POD_IP:$REST_PORT
  CURL_TLS=()
fi
rest() { curl -fsS --max-time 5 "${CURL_TLS[@]}" -H "Authorization: Bearer $TOKEN" "$REST_URL$1" "${@:2}"; }
taskmanagers_are() { rest /overview 2>/dev/null | grep -q "\"taskmanagers\":$1[,}]"; }

start_instance jobmanager
wait_until "the JobManager answering $REST_URL/overview" 30 rest /overview -o /dev/null --stderr /dev/null
for i in $(seq 1 $TASKMANAGERS); do start_instance "taskmanager-$i"; done
wait_until "$TASKMANAGERS TaskManagers registered" 60 taskmanagers_are $TASKMANAGERS
INTERNAL_TLS=$(plan 'p["instances"][0]["config"].get("security.ssl.internal.enabled", "false")')
log "cluster up: JobManager and $TASKMANAGERS TaskManagers registered (internal TLS: $INTERNAL_TLS); REST $REST_URL"

# ---- 4. Checks ---------------------------------------------------------------------------
for name in jobmanager $(seq -f 'taskmanager-%g' 1 $TASKMANAGERS); do
  pid=${SERVER_PID[$name]}
  uid=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")
  gid=$(awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")
  [ "$uid" = "9999 9999 9999 9999" ] || fail "$name (pid $pid) runs as uid $uid, not 9999"
  [ "$gid" = "9999 9999 9999 9999" ] || fail "$name (pid $pid) runs as gid $gid, not 9999"
  mapfile -d '' -t want <"$PLAN/$name/command"
  mapfile -d '' -t got <"/proc/$pid/cmdline"
  [ "${got[0]##*/}" = "${want[0]}" ] && [ "${got[*]:1}" = "${want[*]:1}" ] ||
    fail "$name runs '${got[*]}', not the manifest's '${want[*]}'"
done
log "the JobManager and TaskManagers run as uid 9999 gid 9999, with the manifests' commands"

python3 "$HERE/manifests.py" words "$DATA/input.txt" 3000000
chown -R 9999:9999 "$DATA"
c=$(bah from --pull=never --name eddy-test-client "$IMAGE")
CONTAINERS+=("$c")
cli=(eddy --jobmanager "$REST_URL" --token "$TOKEN")
client_volumes=()
if [ "$REST_TLS" = 1 ]; then
  client_volumes=(--volume "$SECRETS/eddy-tls/ca.pem:/etc/eddy-client/ca.pem:ro")
  cli+=(--ca-cert /etc/eddy-client/ca.pem)
fi
log "word_count on $(du -h "$DATA/input.txt" | cut -f1) of text: ${cli[*]/$TOKEN/TOKEN} run --wait -p 4 /usr/share/eddy/examples/word_count.so"
job_start=$SECONDS
timeout 300 "${BAH[@]}" run --isolation chroot "${client_volumes[@]}" "$c" -- "${cli[@]}" run --wait -p 4 \
  /usr/share/eddy/examples/word_count.so -- --input /data/input.txt --output /data/out \
  >"$LOGS/client.log" 2>&1 || fail "eddy run --wait did not succeed (log: $LOGS/client.log)"
log "word_count FINISHED in $((SECONDS - job_start))s"
python3 "$HERE/manifests.py" compare "$DATA/input.txt" "$DATA/out" || fail "word_count's counts are wrong"
for i in $(seq 1 $TASKMANAGERS); do
  grep -q 'deploying [0-9]* tasks of job' "$LOGS/taskmanager-$i.log" ||
    fail "taskmanager-$i ran no task of the job: the job did not use every TaskManager"
done
log "both TaskManagers ran tasks of the job"

# SIGTERM to a TaskManager: the JobManager logs it leaving at once.
victim=taskmanager-$TASKMANAGERS
tm_id=$(sed -n 's/.*TaskManager \([A-Za-z0-9._-]*\) [0-9][^ ]*: .*slots.*/\1/p' "$LOGS/$victim.log" | head -n 1)
[ -n "$tm_id" ] || fail "no TaskManager id in $LOGS/$victim.log"
left_log() { grep -q "TaskManager $tm_id at .* lost: its control connection closed" "$LOGS/jobmanager.log"; }
victim_pid=${SERVER_PID[$victim]}
unset "SERVER_PID[$victim]"  # its exit is expected from now on (check_running)
kill -TERM "$victim_pid"
term_at=$SECONDS
wait_until "the JobManager logging $victim ($tm_id) as lost after SIGTERM" 5 left_log
if grep -q "TaskManager $tm_id .*no heartbeat" "$LOGS/jobmanager.log"; then
  fail "the JobManager noticed $victim by its heartbeat timeout, not at once"
fi
wait_gone "${RUN_PID[$victim]}" 15 || fail "$victim did not exit within 15 s of SIGTERM"
rc=0; wait "${RUN_PID[$victim]}" || rc=$?
unset "RUN_PID[$victim]"
[ $rc -eq 0 ] || fail "$victim exited $rc after SIGTERM"
wait_until "the cluster showing $((TASKMANAGERS - 1)) TaskManagers" 10 taskmanagers_are $((TASKMANAGERS - 1))
log "SIGTERM to $victim: the JobManager logged it lost (control connection closed) within $((SECONDS - term_at))s; it exited 0"

# Stop the rest as Kubernetes would: SIGTERM, exit 0.
for name in $(seq -f 'taskmanager-%g' 1 $((TASKMANAGERS - 1))) jobmanager; do
  kill -TERM "${SERVER_PID[$name]}"
  wait_gone "${RUN_PID[$name]}" 15 || fail "$name did not exit within 15 s of SIGTERM"
  rc=0; wait "${RUN_PID[$name]}" || rc=$?
  unset "RUN_PID[$name]" "SERVER_PID[$name]"
  [ $rc -eq 0 ] || fail "$name exited $rc after SIGTERM"
done
log "the other TaskManager and the JobManager stopped on SIGTERM with exit 0"

# readOnlyRootFilesystem: what a container wrote into its own layer (overlay's upper
# directory), besides what buildah itself puts there (/etc/hosts, /etc/resolv.conf,
# /etc/hostname, /run/.containerenv) and the mount points of its volumes and their parents.
for name in jobmanager $(seq -f 'taskmanager-%g' 1 $TASKMANAGERS); do
  ro=$(plan "int([i for i in p['instances'] if i['name'] == '$name'][0]['readOnlyRootFilesystem'])")
  [ "$ro" = 1 ] || continue
  merged=$(bah mount "${CONTAINER_OF[$name]}")
  upper=${merged%/merged}/diff
  [ -d "$upper" ] || fail "no overlay upper directory $upper for $name"
  written=$(cd "$upper" && find . -mindepth 1 | sed 's|^\./|/|' | python3 -c '
import json, os, sys
plan = json.load(open(sys.argv[1]))
inst = [i for i in plan["instances"] if i["name"] == sys.argv[2]][0]
allowed = {"/etc", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/run", "/run/.containerenv"}
for m in inst["mounts"]:
    path = m["path"]
    while path not in ("/", ""):
        allowed.add(path)
        path = os.path.dirname(path)
for line in sys.stdin:
    path = line.rstrip("\n")
    if path not in allowed and not path.startswith(tuple(m["path"] + "/" for m in inst["mounts"])):
        print(path)
' "$PLAN/plan.json" "$name")
  bah umount "${CONTAINER_OF[$name]}" >/dev/null
  [ -z "$written" ] || fail "$name wrote outside its volumes (readOnlyRootFilesystem in the manifests): $written"
done
log "no container wrote into its root file system outside its volumes (readOnlyRootFilesystem)"
log "PASS"
