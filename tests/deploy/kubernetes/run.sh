#!/usr/bin/env bash
# ctest Deploy.KubernetesManifests: validates deploy/kubernetes (tests/deploy/kubernetes/
# validate.mjs), then proves that its checks fail on broken manifests (--mutations).
#   tests/deploy/kubernetes/run.sh [validate.mjs options]
# Needs Node.js 20+, kubectl (kustomize v5) and deploy/npm/node_modules (deploy/install-deps.sh);
# EDDY_BIN_DIR names the build's bin directory (default build/bin).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)

command -v node >/dev/null || { echo "run.sh: node is not on PATH (Node.js 20 or newer)" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || { echo "run.sh: Node.js $major is too old: 20 or newer" >&2; exit 1; }
command -v kubectl >/dev/null || { echo "run.sh: kubectl is not on PATH (kubectl kustomize renders the manifests)" >&2; exit 1; }
for pkg in kubernetes-models yaml; do
  if [ ! -f "$ROOT/deploy/npm/node_modules/$pkg/package.json" ]; then
    echo "run.sh: deploy/npm/node_modules/$pkg is missing: run deploy/install-deps.sh" >&2
    exit 1
  fi
done
export EDDY_BIN_DIR=${EDDY_BIN_DIR:-$ROOT/build/bin}
exec node "$HERE/validate.mjs" --mutations "$@"
