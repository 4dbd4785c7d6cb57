#!/usr/bin/env bash
# Builds the Debian package of an Eddy build tree: BUILD_DIR/eddy_<version>_<arch>.deb
# (`make package` runs it on build/release after building what it installs).
#
#   deploy/package/make-deb.sh BUILD_DIR
#
# The package holds `cmake --install BUILD_DIR --prefix /usr` (the binaries in /usr/bin,
# the shared libraries in /usr/lib, found through the binaries' RPATH $ORIGIN/../lib,
# and for building jobs against the install the headers in /usr/include/{api,common,
# connectors} and the CMake package in /usr/lib/cmake/Eddy), the example job
# /usr/share/eddy/examples/word_count.so, the systemd units of deploy/ec2 in
# /lib/systemd/system, the default configuration /etc/eddy/eddy.yaml (a conffile), the docs
# in /usr/share/doc/eddy, and the maintainer scripts of deploy/package/debian (the system
# user `eddy`, /var/lib/eddy). Depends: is computed from the binaries by dpkg-shlibdeps.
# Debug info is stripped (symbols stay, so stack traces keep function names).
#
# Needs dpkg-dev (dpkg-shlibdeps) and binutils (strip). Version: the CMake project version
# of BUILD_DIR (EDDY_VERSION); EDDY_DEB_MAINTAINER overrides the Maintainer field.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "$1" && pwd)
fail() { echo "make-deb: $*" >&2; exit 1; }
[ -f "$BUILD/CMakeCache.txt" ] || fail "$BUILD is not a CMake build tree"
for tool in dpkg-deb dpkg-shlibdeps strip; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (deploy/install-deps.sh)"
done

cache() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt"; }
VERSION=$(cache CMAKE_PROJECT_VERSION)
[[ "$VERSION" =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || fail "no usable project version in $BUILD/CMakeCache.txt ('$VERSION')"
[ "$(cache EDDY_SANITIZE)" = ON ] && fail "$BUILD is a sanitized build; package the release preset (build/release)"
ARCH=$(dpkg --print-architecture)
MAINTAINER=${EDDY_DEB_MAINTAINER:-Eddy maintainers <eddy-maintainers@localhost>}
DEB="$BUILD/eddy_${VERSION}_${ARCH}.deb"
EXAMPLE="$BUILD/examples/word_count.so"
[ -f "$EXAMPLE" ] || fail "$EXAMPLE is missing: build the word_count target"

WORK="$BUILD/deb"
STAGE="$WORK/root"
rm -rf "$WORK"
mkdir -p "$STAGE"
umask 022

# The install tree, in /usr.
cmake --install "$BUILD" --prefix "$STAGE/usr" >"$WORK/install.log" 2>&1 ||
  { cat "$WORK/install.log" >&2; fail "cmake --install $BUILD failed"; }
for f in usr/bin/eddy usr/bin/eddy-jobmanager usr/bin/eddy-taskmanager \
         usr/lib/cmake/Eddy/EddyConfig.cmake usr/include/api/job.h; do
  [ -e "$STAGE/$f" ] || fail "cmake --install did not install /$f"
done
if grep -rlF -e "$STAGE" -e "$BUILD" "$STAGE/usr/lib/cmake" >/dev/null; then
  fail "the installed CMake package names the staging or build directory"
fi
install -D -m 0644 "$EXAMPLE" "$STAGE/usr/share/eddy/examples/word_count.so"

# ELF files: strip debug info, keep the symbol tables.
mapfile -t elf_files < <(find "$STAGE/usr/bin" "$STAGE/usr/lib" "$STAGE/usr/share/eddy" -type f \
                           \( -perm -u+x -o -name '*.so' -o -name '*.so.*' \) -print)
for f in "${elf_files[@]}"; do
  if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ]; then
    strip --strip-debug "$f"
  fi
done

# systemd units, configuration, docs.
install -D -m 0644 "$SRC/deploy/ec2/eddy-jobmanager.service" "$STAGE/lib/systemd/system/eddy-jobmanager.service"
install -D -m 0644 "$SRC/deploy/ec2/eddy-taskmanager.service" "$STAGE/lib/systemd/system/eddy-taskmanager.service"
install -D -m 0644 "$SRC/deploy/ec2/eddy.yaml" "$STAGE/etc/eddy/eddy.yaml"
for doc in configuration.md security.md checkpoints.md deploy-ec2.md; do
  if [ -f "$SRC/docs/$doc" ]; then install -D -m 0644 "$SRC/docs/$doc" "$STAGE/usr/share/doc/eddy/$doc"; fi
done

# Depends: the packages of the shared libraries the ELF files need, with the least versions
# their symbols need (dpkg-shlibdeps; our own libraries are found in the package itself).
mkdir -p "$WORK/shlibs/debian" "$STAGE/DEBIAN"
printf 'Source: eddy\n\nPackage: eddy\nArchitecture: any\n' >"$WORK/shlibs/debian/control"
mapfile -t shlib_inputs < <(for f in "${elf_files[@]}"; do
  if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ]; then echo "$f"; fi; done)
# A system library without dependency information fails it; ours (unversioned sonames,
# found in the package itself with -S) only warn.
(cd "$WORK/shlibs" && dpkg-shlibdeps -O -l"$STAGE/usr/lib" -S"$STAGE" \
   "${shlib_inputs[@]/#/-e}") >"$WORK/shlibs.out" 2>"$WORK/shlibs.err" ||
  { cat "$WORK/shlibs.err" >&2; fail "dpkg-shlibdeps failed"; }
SHLIBS_DEPENDS=$(sed -n 's/^shlibs:Depends=//p' "$WORK/shlibs.out")
[ -n "$SHLIBS_DEPENDS" ] || { cat "$WORK/shlibs.out" "$WORK/shlibs.err" >&2; fail "dpkg-shlibdeps found no dependencies"; }
if grep -v "name and version from library name 'libeddy_" "$WORK/shlibs.err" >&2; then
  fail "dpkg-shlibdeps warned (above)"
fi

# Control files.
for script in postinst prerm postrm; do
  install -m 0755 "$HERE/debian/$script" "$STAGE/DEBIAN/$script"
done
echo /etc/eddy/eddy.yaml >"$STAGE/DEBIAN/conffiles"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
   xargs -0 md5sum) >"$STAGE/DEBIAN/md5sums"
INSTALLED_SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
cat >"$STAGE/DEBIAN/control" <<EOF
Package: eddy
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $INSTALLED_SIZE
Depends: adduser, $SHLIBS_DEPENDS
Recommends: ca-certificates
Suggests: cmake, g++, libboost-dev, libprotobuf-dev, libabsl-dev, nlohmann-json3-dev, libcli11-dev, libssl-dev
Section: net
Priority: optional
Description: Eddy distributed stream and batch processor
 The JobManager (eddy-jobmanager), the TaskManager (eddy-taskmanager) and the
 command line client (eddy), with systemd units for both servers and the default
 configuration /etc/eddy/eddy.yaml. The headers and the CMake package (find_package(Eddy))
 build job libraries against this install; the suggested packages are what that needs.
 The example job /usr/share/eddy/examples/word_count.so counts words.
EOF

rm -f "$DEB"
dpkg-deb --build --root-owner-group "$STAGE" "$DEB" >"$WORK/dpkg-deb.log" 2>&1 ||
  { cat "$WORK/dpkg-deb.log" >&2; fail "dpkg-deb --build failed"; }
echo "make-deb: $DEB ($(du -h "$DEB" | cut -f1)), Depends: adduser, $SHLIBS_DEPENDS"
