#!/usr/bin/env bash
# Runs the word_count example on the local cluster (deploy/local/cluster.sh start) over a
# sample text made from this repository's documentation, then prints the top words.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN_DIR=${EDDY_BIN_DIR:-$ROOT/build/bin}
RUN_DIR=${EDDY_RUN_DIR:-$ROOT/run/local}
REST_PORT=${EDDY_REST_PORT:-8081}
JOB=$ROOT/build/examples/word_count.so

[ -f "$JOB" ] || { echo "run-example.sh: $JOB not found; run 'make build' first" >&2; exit 1; }
mkdir -p "$RUN_DIR"
SAMPLE=$RUN_DIR/sample.txt
OUT=$RUN_DIR/word_count-out
# The sample: every Markdown file of the repository, ten times over (a few hundred KiB).
: >"$SAMPLE"
for _ in $(seq 1 10); do
  find "$ROOT" -name '*.md' -not -path "$ROOT/build/*" -not -path "$ROOT/run/*" -print0 |
    sort -z | xargs -0 cat >>"$SAMPLE"
done
rm -rf "$OUT"

echo "word_count: $(wc -l <"$SAMPLE") lines, $(du -h "$SAMPLE" | cut -f1) -> $OUT"
"$BIN_DIR/eddy" run --jobmanager "http://127.0.0.1:$REST_PORT" "$JOB" -p 4 --wait -- \
  --input "$SAMPLE" --output "$OUT"
echo
echo "Top 10 words:"
cat "$OUT"/part-* | sort -t$'\t' -k2,2nr -k1,1 |
  awk -F'\t' 'NR <= 10 {printf "  %-16s %8d\n", $1, $2}'  # reads all: no SIGPIPE under pipefail
