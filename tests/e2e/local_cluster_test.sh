#!/usr/bin/env bash
# The local cluster script: `start 2` brings up a JobManager and 2 TaskManagers that
# `eddy cluster` reports; `stop` leaves no process behind. Runs on free ports in a
# private run directory so it never touches a developer's cluster.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export EDDY_BIN_DIR=${EDDY_BIN_DIR:-$ROOT/build/bin}
export EDDY_RUN_DIR=$(mktemp -d /tmp/eddy-local-cluster-test.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export EDDY_REST_PORT=$(free_port)
export EDDY_RPC_PORT=$(free_port)
export EDDY_SET="heartbeat.interval=200ms"
fail() { echo "FAIL: $*" >&2; "$ROOT/deploy/local/cluster.sh" stop >/dev/null 2>&1 || true; exit 1; }

"$ROOT/deploy/local/cluster.sh" start 2 || fail "start"
pids=$(cat "$EDDY_RUN_DIR"/*.pid)
[ "$(echo "$pids" | wc -l)" -eq 3 ] || fail "expected 3 pid files, got: $pids"

out=$("$EDDY_BIN_DIR/eddy" cluster --jobmanager "http://127.0.0.1:$EDDY_REST_PORT")
echo "$out"
grep -q "TaskManagers  2" <<<"$out" || fail "eddy cluster does not show 2 TaskManagers"
grep -q "4 total, 4 available" <<<"$out" || fail "eddy cluster does not show 4 slots"

# The example `make run` runs: word_count over the sample text, then the top words.
example=$("$ROOT/deploy/local/run-example.sh") || fail "run-example.sh: $example"
echo "$example"
grep -q "FINISHED" <<<"$example" || fail "the example job did not finish"
grep -A3 "Top 10 words:" <<<"$example" | grep -E '^  the +[0-9]+$' >/dev/null || fail "no top words printed"

# A second start while running is refused.
if "$ROOT/deploy/local/cluster.sh" start 2 2>/dev/null; then fail "second start was accepted"; fi

"$ROOT/deploy/local/cluster.sh" stop || fail "stop"
for p in $pids; do
  if kill -0 "$p" 2>/dev/null; then fail "process $p still alive after stop"; fi
done
curl -fsS --max-time 2 "http://127.0.0.1:$EDDY_REST_PORT/overview" >/dev/null 2>&1 && fail "REST still answers"
rm -rf "$EDDY_RUN_DIR"
echo "1 passed, 0 failed"
