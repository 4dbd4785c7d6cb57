#!/usr/bin/env bash
# Installs every build and test dependency of Eddy: Debian packages, then the
# Node.js test tools in deploy/npm (DuckDB for the Nexmark reference results).
# Idempotent: when everything is already installed it only checks and exits.
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
  libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  librocksdb-dev
)
# The tests run a Java reference program: any Java runtime on PATH will do.
if ! command -v java >/dev/null 2>&1; then
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

# Node.js test tools (deploy/npm/package.json, pinned by its package-lock.json).
if [ -d "$NPM_DIR/node_modules/@duckdb/node-api" ]; then
  echo "install-deps: npm test tools present"
else
  for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "install-deps: '$tool' is not on PATH; Node.js 20 or newer with npm is needed" \
           "to install the test tools in deploy/npm" >&2
      exit 1
    fi
  done
  echo "install-deps: installing npm test tools into deploy/npm/node_modules"
  npm ci --prefix "$NPM_DIR" --no-audit --no-fund
  if [ ! -d "$NPM_DIR/node_modules/@duckdb/node-api" ]; then
    echo "install-deps: npm ci did not install @duckdb/node-api" >&2
    exit 1
  fi
fi
echo "install-deps: done"
