#!/usr/bin/env bash
# Runs the libFuzzer targets built by the fuzz preset (`make fuzz` builds them first):
#   1. every saved regression input (tests/fuzz/regressions/<target>/*) once;
#   2. each target for FUZZ_SECONDS (default 60) on a copy of its seed corpus
#      (tests/fuzz/corpus/<target>/, plus tests/fuzz/<target>.dict if there is one),
#      FUZZ_JOBS (default 2) targets at a time.
# Fails if any input crashes, leaks, times out (10 s) or exceeds 2 GB, printing the
# reproducer and the command that replays it. Logs and crash inputs stay in
# $FUZZ_BUILD_DIR/fuzz-run/<target>/ (default build/fuzz/fuzz-run/).
# Options: FUZZ_SECONDS, FUZZ_JOBS, FUZZ_TARGETS="rpc_frame_fuzz serde_fuzz", FUZZ_BUILD_DIR.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${FUZZ_BUILD_DIR:-$ROOT/build/fuzz}"
BIN_DIR="$BUILD_DIR/fuzz"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
FUZZ_JOBS="${FUZZ_JOBS:-2}"
read -r -a TARGETS <<<"${FUZZ_TARGETS:-rpc_frame_fuzz data_frame_fuzz rest_request_fuzz job_graph_json_fuzz serde_fuzz}"
WORK="$BUILD_DIR/fuzz-run"
COMMON_FLAGS=(-timeout=10 -rss_limit_mb=2048)
# Stack traces with file:line, and UBSan reports that name the check.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && command -v llvm-symbolizer >/dev/null 2>&1; then
  export ASAN_SYMBOLIZER_PATH="$(command -v llvm-symbolizer)"
fi

for t in "${TARGETS[@]}"; do
  if [ ! -x "$BIN_DIR/$t" ]; then
    echo "fuzz: $BIN_DIR/$t is missing; build it: cmake --preset fuzz && cmake --build --preset fuzz" >&2
    exit 2
  fi
done
rm -rf "$WORK"
mkdir -p "$WORK"

# Prints what reproduces a failure of target $1: its crash inputs (base64 too, so that a CI
# log alone is enough) and the end of its log, which holds the sanitizer's report.
report_failure() {
  local t=$1 log=$2
  echo "==== fuzz: $t FAILED; the end of $log:"
  tail -n 80 "$log" | sed "s/^/  $t| /"
  local found=0
  for a in "$WORK/$t/artifacts/"*; do
    [ -f "$a" ] || continue
    found=1
    echo "==== fuzz: reproducer $a ($(stat -c %s "$a") bytes); replay with:"
    echo "       $BIN_DIR/$t $a"
    echo "     and save it as a regression: cp $a $ROOT/tests/fuzz/regressions/$t/"
    if [ "$(stat -c %s "$a")" -le 65536 ]; then
      echo "     base64 (decode with: base64 -d > crash):"
      base64 -w 100 "$a" | sed 's/^/       /'
    fi
  done
  [ "$found" = 1 ] || echo "==== fuzz: $t left no reproducer (see the log above)"
}

failed=()

# 1. Regression inputs: each once.
for t in "${TARGETS[@]}"; do
  dir="$ROOT/tests/fuzz/regressions/$t"
  files=()
  if [ -d "$dir" ]; then
    while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$dir" -type f ! -name '*.md' -print0 | sort -z)
  fi
  [ ${#files[@]} -gt 0 ] || continue
  mkdir -p "$WORK/$t/artifacts"
  log="$WORK/$t/regressions.log"
  if "$BIN_DIR/$t" "${COMMON_FLAGS[@]}" -artifact_prefix="$WORK/$t/artifacts/" "${files[@]}" \
      >"$log" 2>&1; then
    echo "fuzz: $t: ${#files[@]} regression inputs pass"
  else
    cp "${files[@]}" "$WORK/$t/artifacts/" 2>/dev/null || true
    report_failure "$t" "$log"
    failed+=("$t (regressions)")
  fi
done

# 2. Fuzzing, FUZZ_JOBS targets at a time.
fuzz_one() {
  local t=$1 dir="$WORK/$1"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  if [ -d "$ROOT/tests/fuzz/corpus/$t" ]; then cp -r "$ROOT/tests/fuzz/corpus/$t/." "$dir/corpus/"; fi
  local args=("$dir/corpus" "${COMMON_FLAGS[@]}" -max_total_time="$FUZZ_SECONDS"
              -print_final_stats=1 -artifact_prefix="$dir/artifacts/")
  if [ -f "$ROOT/tests/fuzz/$t.dict" ]; then args+=(-dict="$ROOT/tests/fuzz/$t.dict"); fi
  if "$BIN_DIR/$t" "${args[@]}" >"$dir/fuzz.log" 2>&1; then
    echo ok >"$dir/result"
  else
    echo failed >"$dir/result"
  fi
}

echo "fuzz: ${#TARGETS[@]} targets, ${FUZZ_SECONDS}s each, $FUZZ_JOBS at a time"
running=0
for t in "${TARGETS[@]}"; do
  if [ "$running" -ge "$FUZZ_JOBS" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$t" &
  running=$((running + 1))
done
wait

for t in "${TARGETS[@]}"; do
  log="$WORK/$t/fuzz.log"
  # The last status line ("#N DONE cov: ... exec/s: ...") and the final stats.
  done_line="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
  stats="$(grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" \
             | sed -E 's/^stat::([a-z_]+): +/\1=/' | tr '\n' ' ' || true)"
  if [ "$(cat "$WORK/$t/result" 2>/dev/null)" = ok ]; then
    echo "fuzz: $t ok: ${done_line}"
    echo "      $stats"
  else
    report_failure "$t" "$log"
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all ${#TARGETS[@]} targets ran ${FUZZ_SECONDS}s without a crash"
