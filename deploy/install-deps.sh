#!/usr/bin/env bash
# Installs every build and test dependency of Eddy from Debian packages.
# Idempotent: when everything is already installed it only checks and exits.
set -euo pipefail

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

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
