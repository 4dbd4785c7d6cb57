#!/usr/bin/env bash
# Installs every build and test dependency of Eddy: Debian packages, then the
# Node.js test tools in deploy/npm (DuckDB for the Nexmark reference results, s3rver and
# the AWS SDK's S3 client for the S3 file system tests).
# Idempotent: when everything is already installed it only checks and exits.
#
# EDDY_DEPS=build installs only what building the release and `make package` need (no test
# tools, no Node.js packages): the container image's build stage uses it.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NPM_DIR="$REPO_ROOT/deploy/npm"

PACKAGES=(
  build-essential cmake ninja-build pkg-config git curl procps python3
  libboost-dev libboost-system-dev
  libprotobuf-dev protobuf-compiler
  libabsl-dev
  nlohmann-json3-dev
  libcli11-dev
  libyaml-cpp-dev
  libssl-dev libcurl4-openssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev   # the release preset configures tests and benches
  librocksdb-dev
  dpkg-dev                        # make package (dpkg-shlibdeps)
)
BUILD_ONLY=0
if [ "${EDDY_DEPS:-all}" = build ]; then
  BUILD_ONLY=1
else
  PACKAGES+=(
    clang libclang-rt-14-dev llvm          # make fuzz: clang++, libFuzzer, llvm-symbolizer
    systemd cloud-init mmdebstrap          # the deployment tests (ctest -L deploy)
    buildah python3-yaml                   # make image; the image test
  )
fi
# The Kubernetes manifest test renders with `kubectl kustomize`: any kubectl on PATH will do
# (Debian's kubernetes-client otherwise).
if [ $BUILD_ONLY = 0 ] && ! command -v kubectl >/dev/null 2>&1; then
  PACKAGES+=(kubernetes-client)
fi
# The tests run a Java reference program: any Java runtime on PATH will do.
if [ $BUILD_ONLY = 0 ] && ! command -v java >/dev/null 2>&1; then
  PACKAGES+=(default-jre-headless)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  echo "install-deps: Debian packages done"
fi

if [ $BUILD_ONLY = 1 ]; then
  echo "install-deps: done (build only: EDDY_DEPS=build)"
  exit 0
fi

# Node.js test tools (deploy/npm/package.json, pinned by its package-lock.json): DuckDB for
# the Nexmark reference results, s3rver and the AWS SDK's S3 client for the S3 tests,
# kubernetes-models and yaml for the Kubernetes manifest test.
NPM_TOOLS=(@duckdb/node-api s3rver @aws-sdk/client-s3 kubernetes-models yaml)
npm_missing=()
for tool in "${NPM_TOOLS[@]}"; do
  if [ ! -f "$NPM_DIR/node_modules/$tool/package.json" ]; then npm_missing+=("$tool"); fi
done
if [ ${#npm_missing[@]} -eq 0 ]; then
  echo "install-deps: npm test tools present"
else
  for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "install-deps: '$tool' is not on PATH; Node.js 20 or newer with npm is needed" \
           "to install the test tools in deploy/npm" >&2
      exit 1
    fi
  done
  echo "install-deps: installing npm test tools into deploy/npm/node_modules" \
       "(missing: ${npm_missing[*]})"
  npm ci --prefix "$NPM_DIR" --no-audit --no-fund
  for tool in "${NPM_TOOLS[@]}"; do
    if [ ! -f "$NPM_DIR/node_modules/$tool/package.json" ]; then
      echo "install-deps: npm ci did not install $tool" >&2
      exit 1
    fi
  done
fi
echo "install-deps: done"
