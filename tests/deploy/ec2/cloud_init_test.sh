#!/usr/bin/env bash
# Deploy.CloudInitSchema: deploy/ec2/user-data-{jobmanager,taskmanager}.yaml pass
# `cloud-init schema --config-file`, and check_user_data.py's checks (top-level keys
# cloud-init knows, the eddy.yaml they write uses documented keys only, the bootstrap
# scripts are valid sh); deploy/ec2/eddy.yaml uses documented keys only. Broken copies of
# each file must fail the same checks (a wrong type, an unknown write_files property, a
# file that does not start with #cloud-config, a misspelled top-level key, a misspelled
# Eddy key, a shell syntax error). The Eddy configurations, with the placeholders filled in
# as eddy-bootstrap fills them, must also pass `--print-config` of the binaries in BIN_DIR
# (a misspelled key must not).
#
#   cloud_init_test.sh SOURCE_DIR BIN_DIR
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SOURCE_DIR BIN_DIR" >&2; exit 2; }
SRC=$(cd "$1" && pwd)
BIN=$2
HERE=$(cd "$(dirname "$0")" && pwd)
CONFIG_MD=$SRC/docs/configuration.md
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v cloud-init >/dev/null || fail "cloud-init is not installed (deploy/install-deps.sh)"
for b in eddy-jobmanager eddy-taskmanager; do
  [ -x "$BIN/$b" ] || fail "$BIN/$b is missing: run 'make package' first"
done
# cloud-init's own modules and PyYAML are in the system's python3, not in another on PATH.
PY=/usr/bin/python3
CHECK=("$PY" "$HERE/check_user_data.py")

TMP=$(mktemp -d /tmp/eddy-cloud-init-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# loads BINARY FILE: the binary accepts FILE as its configuration (--print-config).
loads() {
  env -u EDDY_PROPERTIES "$BIN/$1" --config "$2" --print-config >"$TMP/print-config.log" 2>&1 ||
    { cat "$TMP/print-config.log" >&2; return 1; }
}

# accepts FILE: both checks pass.
accepts() {
  cloud-init schema --config-file "$1" >"$TMP/schema.log" 2>&1 ||
    { cat "$TMP/schema.log" >&2; return 1; }
  grep -q '^Valid cloud-config' "$TMP/schema.log" || { cat "$TMP/schema.log" >&2; return 1; }
  "${CHECK[@]}" user-data "$1" "$CONFIG_MD"
}

"${CHECK[@]}" config "$SRC/deploy/ec2/eddy.yaml" "$CONFIG_MD" ||
  fail "deploy/ec2/eddy.yaml (above)"
sed 's/^taskmanager.numberOfTaskSlots:/taskmanager.numberOfTaskslots:/' "$SRC/deploy/ec2/eddy.yaml" >"$TMP/eddy.yaml"
if "${CHECK[@]}" config "$TMP/eddy.yaml" "$CONFIG_MD" 2>/dev/null; then
  fail "the key check accepted a misspelled key in eddy.yaml"
fi
for b in eddy-jobmanager eddy-taskmanager; do
  loads "$b" "$SRC/deploy/ec2/eddy.yaml" || fail "$b --print-config refuses deploy/ec2/eddy.yaml (above)"
  if loads "$b" "$TMP/eddy.yaml" 2>/dev/null; then fail "$b --print-config accepted a misspelled key"; fi
done
echo "ok: deploy/ec2/eddy.yaml uses documented keys only, and both binaries load it"

for role in jobmanager taskmanager; do
  file=$SRC/deploy/ec2/user-data-$role.yaml
  accepts "$file" || fail "user-data-$role.yaml (above)"
  # Its eddy.yaml as eddy-bootstrap leaves it, loaded by the binary of its role.
  "$PY" "$HERE/check_user_data.py" extract "$file" /etc/eddy/eddy.yaml |
    sed -e 's/__LOCAL_IPV4__/10.0.1.20/g' -e 's/__REGION__/eu-west-1/g' -e 's/__SLOTS__/4/g' \
        -e 's/EXAMPLE-JOBMANAGER-ADDRESS/10.0.1.10/g' -e 's/EXAMPLE-BUCKET/example-bucket/g' \
    >"$TMP/$role.yaml"
  if grep -E '__[A-Z0-9_]+__|EXAMPLE-' "$TMP/$role.yaml" >&2; then
    fail "user-data-$role.yaml: placeholders eddy-bootstrap does not fill in (above)"
  fi
  loads "eddy-$role" "$TMP/$role.yaml" ||
    fail "eddy-$role --print-config refuses the eddy.yaml of user-data-$role.yaml (above)"
  echo "ok: user-data-$role.yaml is valid cloud-config, its script is valid sh, and" \
       "eddy-$role loads its eddy.yaml"

  # Negative controls: each broken copy must be refused.
  broken() {  # NAME SED-EXPRESSION
    sed "$2" "$file" >"$TMP/$1.yaml"
    cmp -s "$file" "$TMP/$1.yaml" && fail "could not make the $1 variant of user-data-$role.yaml"
    if accepts "$TMP/$1.yaml" >/dev/null 2>&1; then
      fail "the checks accepted user-data-$role.yaml with $1"
    fi
  }
  broken "a wrong type" 's/^package_update: true$/package_update: "yes"/'
  broken "an unknown write_files property" 's/^    permissions:/    permission:/'
  broken "no #cloud-config line" '1s/^#cloud-config$/# cloud-config/'
  broken "a misspelled top-level key" 's/^runcmd:$/run_cmd:/'
  broken "a misspelled Eddy key" 's/^      jobmanager.rpc.port:/      jobmanager.rpc.prot:/'
  broken "a shell syntax error" 's/^      esac$/      esca/'
  echo "ok: six broken variants of user-data-$role.yaml are refused"
done
echo "2 user-data files checked"
