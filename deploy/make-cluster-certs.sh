#!/usr/bin/env bash
# Makes the certificates of an Eddy cluster's internal TLS (security.ssl.internal.*) with
# openssl: a cluster CA, and a certificate signed by it that every JobManager and
# TaskManager presents (the CA, not a host name, is what makes a peer a cluster member).
#
#   deploy/make-cluster-certs.sh DIR [DAYS]
#
# writes DIR/ca.pem (security.ssl.internal.trust-cert), DIR/ca-key.pem (keep offline: it
# signs members), DIR/member.pem (security.ssl.internal.cert) and DIR/member-key.pem
# (security.ssl.internal.key), DIR/rest.pem and DIR/rest-key.pem (security.ssl.rest.cert
# and .key: the REST endpoint's HTTPS certificate, signed by the same CA, naming the hosts
# clients use: EDDY_REST_NAMES, default "DNS:localhost,IP:127.0.0.1"; clients trust ca.pem
# with `eddy --ca-cert DIR/ca.pem`), keys readable by the owner only. Existing files are
# kept: run it again to add nothing; delete DIR to start a new CA.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 DIR [DAYS (default 365)]" >&2
  exit 2
fi
DIR="$1"
DAYS="${2:-365}"
command -v openssl >/dev/null || { echo "$0: openssl is not installed" >&2; exit 1; }
mkdir -p "$DIR"
umask 077

if [ ! -f "$DIR/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -days "$DAYS" -subj "/CN=eddy cluster CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$DIR/ca-key.pem" -out "$DIR/ca.pem" 2>/dev/null
  echo "made cluster CA $DIR/ca.pem"
fi
if [ ! -f "$DIR/member.pem" ]; then
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -subj "/CN=eddy cluster member" -keyout "$DIR/member-key.pem" -out "$DIR/member.csr" 2>/dev/null
  cat > "$DIR/member.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
EXT
  openssl x509 -req -in "$DIR/member.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca-key.pem" \
    -CAcreateserial -days "$DAYS" -sha256 -extfile "$DIR/member.ext" -out "$DIR/member.pem" 2>/dev/null
  rm -f "$DIR/member.csr" "$DIR/member.ext" "$DIR/ca.srl"
  echo "made member certificate $DIR/member.pem (signed by $DIR/ca.pem)"
fi
if [ ! -f "$DIR/rest.pem" ]; then
  REST_NAMES="${EDDY_REST_NAMES:-DNS:localhost,IP:127.0.0.1}"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -subj "/CN=eddy REST" -keyout "$DIR/rest-key.pem" -out "$DIR/rest.csr" 2>/dev/null
  cat > "$DIR/rest.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$REST_NAMES
EXT
  openssl x509 -req -in "$DIR/rest.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca-key.pem" \
    -CAcreateserial -days "$DAYS" -sha256 -extfile "$DIR/rest.ext" -out "$DIR/rest.pem" 2>/dev/null
  rm -f "$DIR/rest.csr" "$DIR/rest.ext" "$DIR/ca.srl"
  echo "made REST certificate $DIR/rest.pem for $REST_NAMES"
fi
chmod 600 "$DIR"/*-key.pem
chmod 644 "$DIR/ca.pem" "$DIR/member.pem" "$DIR/rest.pem"
