#!/usr/bin/env bash
# The installed package: `cmake --install` of an Eddy build tree into a private prefix, a job
# project of its own (this folder) configured with find_package(Eddy) and built against that
# prefix only, its my_sum.so run by the installed `eddy local`, and the sums it writes
# checked against the same sums computed by awk.
#
#   install_test.sh BUILD_DIR      (an Eddy build tree with eddy, eddy-jobmanager,
#                                   eddy-taskmanager and eddy_connectors built)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
BUILD=$(cd "$1" && pwd)
[ -f "$BUILD/CMakeCache.txt" ] || { echo "FAIL: $BUILD is not a CMake build tree" >&2; exit 1; }

TMP=$(mktemp -d /tmp/eddy-install-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Runs a step with its output in a log that is shown only if the step fails.
step() {
  local name=$1; shift
  "$@" >"$TMP/$name.log" 2>&1 || { cat "$TMP/$name.log" >&2; fail "$name: $*"; }
}
cache() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt"; }

PREFIX=$TMP/prefix
step install cmake --install "$BUILD" --prefix "$PREFIX"
for f in bin/eddy bin/eddy-jobmanager bin/eddy-taskmanager lib/libeddy_api.so \
         lib/libeddy_connectors.so include/api/job.h include/common/proto/job.pb.h \
         lib/cmake/Eddy/EddyConfig.cmake lib/cmake/Eddy/EddyTargets.cmake lib/cmake/Eddy/EddyJob.cmake; do
  [ -e "$PREFIX/$f" ] || fail "cmake --install did not install $f"
done
# The install must not depend on the build tree it came from.
if grep -rlF "$BUILD" "$PREFIX/lib/cmake/Eddy" >/dev/null; then
  fail "the installed CMake package refers to the build tree $BUILD"
fi
for f in "$PREFIX"/bin/* "$PREFIX"/lib/*.so; do
  # (grep reads all of readelf's output: with pipefail, `grep -q` quitting early could fail
  # the pipeline on readelf's SIGPIPE.)
  if readelf -d "$f" | grep -E 'R(UN)?PATH' | grep -F "$BUILD" >/dev/null; then
    fail "$f has an RPATH into the build tree: $(readelf -d "$f" | grep -E 'R(UN)?PATH')"
  fi
done
api=$(ldd "$PREFIX/bin/eddy" | awk '$1 == "libeddy_api.so" { print $3 }')
[ -n "$api" ] && [ "$(realpath "$api")" = "$PREFIX/lib/libeddy_api.so" ] ||
  fail "installed eddy does not load the installed libeddy_api.so: $(ldd "$PREFIX/bin/eddy" | grep eddy)"

# The job project sees only the prefix (and the system), with the build tree's compiler and
# build type; any sanitizer link flags come from the imported targets.
EXT=$TMP/ext-build
step configure cmake -S "$HERE" -B "$EXT" -G Ninja -DCMAKE_PREFIX_PATH="$PREFIX" \
  -DCMAKE_BUILD_TYPE="$(cache CMAKE_BUILD_TYPE)" -DCMAKE_CXX_COMPILER="$(cache CMAKE_CXX_COMPILER)"
step build cmake --build "$EXT"
[ -f "$EXT/my_sum.so" ] || fail "the job project did not produce my_sum.so"
# With GCC, a library that goes into a process whose ASan runtime is libasan.so must link it
# too (the imported targets' link flags); clang links its runtime into the executables only,
# so there is nothing to check in the .so: `eddy local` below loads it.
case "$("$(cache CMAKE_CXX_COMPILER)" --version)" in
  *clang*) ;;
  *) if [ "$(cache EDDY_SANITIZE)" = ON ]; then
       readelf -d "$EXT/my_sum.so" | grep 'NEEDED.*libasan' >/dev/null ||
         fail "Eddy is built with ASan but my_sum.so does not link the ASan runtime"
     fi ;;
esac

# `eddy local` keeps its own copies of the job, named by its SHA-256, in /tmp/eddy-blobs and
# /tmp/eddy-tm-<id>/ (the defaults of blob.storage.directory and taskmanager.tmp.dir, which it
# does not let us override); the temp paths in the job's debug info make that hash unique to
# this run, so exactly these copies, and the TaskManager directories that held them, go on exit.
SHA=$(sha256sum "$EXT/my_sum.so" | cut -d' ' -f1)
cleanup() {
  rm -f "/tmp/eddy-blobs/$SHA.so"
  for f in /tmp/eddy-tm-*/"job-$SHA.so"; do
    if [ -e "$f" ]; then rm -f "$f"; rmdir "$(dirname "$f")" 2>/dev/null || true; fi
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
env -u LD_LIBRARY_PATH timeout 300 "$PREFIX/bin/eddy" local "$EXT/my_sum.so" -p 2 \
  -- --output "$TMP/out" >"$TMP/run.log" 2>&1 || { cat "$TMP/run.log" >&2; fail "eddy local my_sum.so"; }
compgen -G "$TMP/out/part-*" >/dev/null || { cat "$TMP/run.log" >&2; fail "no part files in $TMP/out"; }

cat "$TMP"/out/part-* | sort -n >"$TMP/actual"
awk 'BEGIN { OFS = "\t"; for (x = 1; x <= 1000; x++) { y = 2 * x; sum[y % 10] += y }
             for (k in sum) print k, sum[k] }' | sort -n >"$TMP/expected"
diff "$TMP/expected" "$TMP/actual" >"$TMP/diff" ||
  { cat "$TMP/run.log" "$TMP/diff" >&2; fail "per-digit sums differ (< awk, > eddy)"; }
echo "my_sum.so from an external project, run by the installed eddy: $(tr '\t\n' '= ' <"$TMP/actual")"
echo "1 passed, 0 failed"
