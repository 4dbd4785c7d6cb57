#!/usr/bin/env bash
# Starts or stops a local Eddy cluster on 127.0.0.1: one JobManager and N TaskManagers,
# with logs and pid files under the run directory ($EDDY_RUN_DIR, default ./run/local).
#
#   deploy/local/cluster.sh start [N]   start (N TaskManagers, default 2)
#   deploy/local/cluster.sh stop        stop everything this script started
#   deploy/local/cluster.sh status      show what runs
#
# Extra settings for every process: EDDY_CONF=path/to/eddy.yaml, EDDY_SET="k=v k2=v2".
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN_DIR=${EDDY_BIN_DIR:-$ROOT/build/bin}
RUN_DIR=${EDDY_RUN_DIR:-$ROOT/run/local}
REST_PORT=${EDDY_REST_PORT:-8081}
RPC_PORT=${EDDY_RPC_PORT:-6123}
START_TIMEOUT_S=${EDDY_START_TIMEOUT:-30}

common_args() {
  # Job library caches and blobs live with the logs, so `rm -rf $RUN_DIR` cleans up all.
  local args=(--set "jobmanager.rpc.address=127.0.0.1" --set "jobmanager.rpc.port=$RPC_PORT"
              --set "taskmanager.tmp.dir=$RUN_DIR/tmp" --set "blob.storage.directory=$RUN_DIR/blobs")
  if [ -n "${EDDY_CONF:-}" ]; then args+=(--config "$EDDY_CONF"); fi
  for kv in ${EDDY_SET:-}; do args+=(--set "$kv"); done
  printf '%s\n' "${args[@]}"
}

is_running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

overview() { curl -fsS --max-time 2 "http://127.0.0.1:$REST_PORT/overview" 2>/dev/null; }

start() {
  local n=${1:-2}
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "cluster.sh: start expects a number of TaskManagers; got '$n'" >&2; exit 2; }
  for b in eddy-jobmanager eddy-taskmanager; do
    [ -x "$BIN_DIR/$b" ] || { echo "cluster.sh: $BIN_DIR/$b not found; run 'make build' first" >&2; exit 1; }
  done
  mkdir -p "$RUN_DIR"
  if is_running "$RUN_DIR/jobmanager.pid"; then
    echo "cluster.sh: a local cluster is already running (pid $(cat "$RUN_DIR/jobmanager.pid")); 'stop' it first" >&2
    exit 1
  fi
  mapfile -t args < <(common_args)
  "$BIN_DIR/eddy-jobmanager" "${args[@]}" --set "rest.address=127.0.0.1" --set "rest.port=$REST_PORT" \
    >"$RUN_DIR/jobmanager.log" 2>&1 &
  echo $! >"$RUN_DIR/jobmanager.pid"
  for i in $(seq 1 "$n"); do
    "$BIN_DIR/eddy-taskmanager" "${args[@]}" >"$RUN_DIR/taskmanager-$i.log" 2>&1 &
    echo $! >"$RUN_DIR/taskmanager-$i.pid"
  done
  # Wait (bounded) until every TaskManager has registered.
  local deadline=$((SECONDS + START_TIMEOUT_S))
  while [ $SECONDS -lt $deadline ]; do
    if ! is_running "$RUN_DIR/jobmanager.pid"; then
      echo "cluster.sh: the JobManager exited; its log:" >&2
      tail -n 20 "$RUN_DIR/jobmanager.log" >&2
      stop >/dev/null
      exit 1
    fi
    if overview | grep -q "\"taskmanagers\":$n[,}]"; then
      echo "cluster.sh: JobManager + $n TaskManagers up; REST http://127.0.0.1:$REST_PORT; logs in $RUN_DIR"
      return 0
    fi
    sleep 0.2
  done
  echo "cluster.sh: cluster not up within ${START_TIMEOUT_S}s; see logs in $RUN_DIR" >&2
  exit 1
}

stop() {
  [ -d "$RUN_DIR" ] || { echo "cluster.sh: nothing to stop"; return 0; }
  local pids=()
  for f in "$RUN_DIR"/*.pid; do
    [ -e "$f" ] || continue
    if is_running "$f"; then pids+=("$(cat "$f")"); kill -TERM "$(cat "$f")" 2>/dev/null || true; fi
  done
  # Wait (bounded) for a clean exit, then make sure.
  local deadline=$((SECONDS + 10))
  for p in "${pids[@]}"; do
    while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
  done
  rm -f "$RUN_DIR"/*.pid
  echo "cluster.sh: stopped ${#pids[@]} processes"
}

status() {
  for f in "$RUN_DIR"/*.pid; do
    [ -e "$f" ] || { echo "no local cluster"; return 0; }
    if is_running "$f"; then echo "$(basename "$f" .pid): running (pid $(cat "$f"))"; else echo "$(basename "$f" .pid): not running"; fi
  done
}

case "${1:-}" in
  start) start "${2:-2}" ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start [N] | stop | status" >&2; exit 2 ;;
esac
