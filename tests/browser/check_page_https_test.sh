#!/usr/bin/env bash
# check_page.sh on HTTPS: a local server (openssl s_server) with a certificate from a throw-away
# CA. The page loads with --ca-cert naming that CA, and fails to load without it or with another
# CA (certificate errors are never ignored). Registered with ctest (label integration).
set -u -o pipefail

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/fedge-check-page-https.XXXXXX")"
server_pid=""
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v openssl > /dev/null || fail "openssl not found; run scripts/setup"

make_ca() {  # make_ca NAME
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -keyout "$work/$1.key" -out "$work/$1.pem" -subj "/CN=fedge check_page test $1" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2> "$work/openssl.log" ||
    fail "openssl could not make a CA: $(cat "$work/openssl.log")"
}
make_ca ca
make_ca other_ca
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$work/ext"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/server.key" \
  -out "$work/server.csr" -subj "/CN=127.0.0.1" 2> "$work/openssl.log" &&
  openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -CAcreateserial -days 1 -extfile "$work/ext" -out "$work/server.pem" 2> "$work/openssl.log" ||
  fail "openssl could not sign the server certificate: $(cat "$work/openssl.log")"

# A free port: the server binds port 0 and prints the one it got.
openssl s_server -accept 127.0.0.1:0 -cert "$work/server.pem" -key "$work/server.key" -www \
  > "$work/server.log" 2>&1 < /dev/null &
server_pid=$!
port=""
for _ in $(seq 100); do
  port="$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$work/server.log")"
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2> /dev/null || fail "openssl s_server exited: $(cat "$work/server.log")"
  sleep 0.1
done
[ -n "$port" ] || fail "openssl s_server did not report its port: $(cat "$work/server.log")"
url="https://127.0.0.1:$port/"
page_text="Ciphers supported in s_server"  # what s_server -www serves

"$here/check_page.sh" "$url" --ca-cert "$work/ca.pem" --text "$page_text" ||
  fail "the page did not load with --ca-cert naming the server's CA"

for ca_args in "" "--ca-cert $work/other_ca.pem"; do
  # shellcheck disable=SC2086 # ca_args is two words or none
  out="$("$here/check_page.sh" "$url" $ca_args --text "$page_text" 2>&1)"
  rc=$?
  [ $rc -eq 1 ] || fail "check_page.sh ${ca_args:-without a CA} exited $rc, not 1: $out"
  case "$out" in
    *ERR_CERT_AUTHORITY_INVALID*) ;;
    *) fail "check_page.sh ${ca_args:-without a CA} did not report the untrusted certificate: $out" ;;
  esac
done
echo "check_page_https_test: trusted with its CA, refused without it and with another CA"
