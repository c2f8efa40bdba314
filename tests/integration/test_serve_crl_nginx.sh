#!/usr/bin/env bash
# nginx from Debian as an independent relying party of clustertls' revocation (issue 4):
# `ssl_verify_client on` with `ssl_crl` pointing at the CRL downloaded from `serve`'s public
# listener refuses the revoked client certificate ("400 The SSL certificate error", error log
# "certificate revoked") and accepts another one; `ssl_ocsp leaf` (nginx asking the OCSP URL in
# the client certificate) does the same.
#
# nginx sets X509_V_FLAG_CRL_CHECK_ALL with ssl_crl: it wants a CRL from every CA of the path,
# the root's too (for the issuing CA's certificate). GET /v1/crl.pem holds both: the issuing CA's
# CRL (kept current by serve) and the root CA's (signed by init, which holds the offline root
# key; re-signed offline by `clustertls crl sign-root`). That one downloaded file is all nginx
# is given here.
#   bash test_serve_crl_nginx.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

command -v nginx >/dev/null || PATH=$PATH:/usr/sbin
command -v nginx >/dev/null || fail "nginx is not installed (scripts/setup installs Debian's nginx)"

FQDN=nginx.example.com
API_HOST=$FQDN
D=$TMP/cluster
printf 'itest-root-passphrase-4711\n' >"$TMP/root.pw"
serve_init "$D" "$FQDN" --ca-passphrase-file "$TMP/root.pw"

PUB=$(free_port)
SERVE_LOG=$TMP/serve.log

# sign NAME PROFILE SAN: $TMP/NAME.key, $TMP/NAME.crt (leaf) and $TMP/NAME.fullchain (leaf +
# issuing CA) through POST /v1/ca/sign; SERIAL its serial.
sign() {
  api_sign "$@"
  { jbody .certificate; jbody .chain | awk '/-----BEGIN CERTIFICATE-----/{n++} n==1'; } >"$TMP/$1.fullchain"
}

# Everything nginx needs is made once, by a running serve: a server certificate for localhost,
# two client certificates, one of them revoked, and the CRL downloaded after the revocation.
setup() {
  start_serve "$D" "$SERVE_LOG" --public-listen "127.0.0.1:$PUB"
  wait_public
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
  cp "$API_CA.chain" "$TMP/chain.pem"
  split_pem "$TMP/chain.pem" "$TMP/chain"
  # localhost and 127.0.0.1 are reserved for the cluster's own certificates: the admin asks.
  sign localhost server "DNS:localhost,IP:127.0.0.1" '{"allow_reserved":true}'
  sign good.client client "DNS:good.client"
  sign bad.client client "DNS:bad.client"
  api POST "/v1/certificates/$SERIAL/revoke" "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"reason":"keyCompromise"}'
  expect_status 200 "revoke bad.client ($SERIAL)"
  timeout 30 curl -sS -f -o "$TMP/crl.pem" "http://127.0.0.1:$PUB/v1/crl.pem" ||
    fail "GET /v1/crl.pem from the public listener failed"
  timeout 20 openssl crl -in "$TMP/crl.pem" -noout -text | grep -qi "Serial Number: $SERIAL\$" ||
    fail "the downloaded CRL does not list $SERIAL"
  # Two CRLs: the issuing CA's first (openssl crl reads it), then the root CA's, each signed by
  # its CA (chain0.pem is the issuing CA, chain1.pem the root).
  [ "$(grep -c -- '-----BEGIN X509 CRL-----' "$TMP/crl.pem")" = 2 ] ||
    fail "GET /v1/crl.pem should hold 2 CRLs (issuing CA, root CA): $(grep -c -- '-----BEGIN X509 CRL-----' "$TMP/crl.pem")"
  awk '/-----BEGIN X509 CRL-----/{n++} n==2' "$TMP/crl.pem" >"$TMP/root.crl.pem"
  timeout 20 openssl crl -in "$TMP/crl.pem" -CAfile "$TMP/chain0.pem" -noout 2>&1 | grep -q 'verify OK' ||
    fail "the first CRL of /v1/crl.pem is not signed by the issuing CA"
  timeout 20 openssl crl -in "$TMP/root.crl.pem" -CAfile "$TMP/chain1.pem" -noout 2>&1 | grep -q 'verify OK' ||
    fail "the second CRL of /v1/crl.pem is not signed by the root CA"
  # A client certificate from a CA nginx does not trust.
  run ctls ca init --out "$TMP/other" --name "ITest Other CA"
  run ctls cert issue --ca-cert "$TMP/other/ca.crt" --ca-key "$TMP/other/ca.key" --name stranger \
    --profile client --out "$TMP/other"
}

# start_nginx NAME DIRECTIVES...: lib.sh's start_nginx_mtls with the localhost certificate, client
# certificates from the cluster's chain (depth 2: leaf, issuing CA, root), and nginx's log shown
# if the section fails.
start_nginx() {
  start_nginx_mtls "$1" "$TMP/localhost.fullchain" "$TMP/localhost.key" "$TMP/chain.pem" \
    "ssl_verify_depth 2;" "${@:2}"
  trap show_nginx_log_on_failure EXIT
}

# show_nginx_log_on_failure: (EXIT trap of a section) the end of nginx's log when it failed.
show_nginx_log_on_failure() {
  local rc=$?
  if [ $rc -ne 0 ] && [ -f "${NGX_LOG:-}" ]; then
    echo "    nginx error log (last 20 lines):" >&2
    tail -n 20 "$NGX_LOG" | sed 's/^/      | /' >&2
  fi
}

# get_as CLIENT: GET https://localhost:NGX_PORT/ with CLIENT's certificate ("none": without),
# the server checked against the cluster's root; sets HTTP_STATUS, body in $BODY.
get_as() {
  local auth=()
  case $1 in
    none) ;;
    stranger) auth=(--cert "$TMP/other/stranger.crt" --key "$TMP/other/stranger.key") ;;
    *) auth=(--cert "$TMP/$1.crt" --key "$TMP/$1.key") ;;
  esac
  HTTP_STATUS=$(timeout 30 curl -sS -o "$BODY" -w '%{http_code}' --cacert "$TMP/root.pem" \
    --resolve "localhost:$NGX_PORT:127.0.0.1" "${auth[@]}" "https://localhost:$NGX_PORT/" 2>"$ERR")
  [ $? -eq 0 ] || fail "curl to nginx as $1 failed: $(head -c 400 "$ERR")"
}

expect_accepted() {
  get_as "$1"
  [ "$HTTP_STATUS" = 200 ] && grep -q "CN=$1" "$BODY" || {
    echo "FAIL: nginx should accept $1 (200 'hello CN=$1'), got HTTP $HTTP_STATUS:" >&2
    _show "$BODY" >&2
    echo "    nginx error log:" >&2
    tail -n 5 "$NGX_LOG" | sed 's/^/      | /' >&2
    exit 1
  }
  note "nginx accepts $1: $(head -n1 "$BODY")"
}

# expect_refused CLIENT PAGE_REGEX LOG_REGEX: HTTP 400 with nginx's page, and the error log says why.
expect_refused() {
  local before
  before=$(wc -l <"$NGX_LOG")
  get_as "$1"
  [ "$HTTP_STATUS" = 400 ] && grep -Eq "$2" "$BODY" || {
    echo "FAIL: nginx should refuse $1 with 400 /$2/, got HTTP $HTTP_STATUS:" >&2
    _show "$BODY" >&2
    exit 1
  }
  local deadline=$((SECONDS + 5))
  until tail -n +"$((before + 1))" "$NGX_LOG" | grep -Eq "$3"; do
    [ $SECONDS -le $deadline ] || {
      echo "FAIL: nginx's error log does not say /$3/ for $1:" >&2
      tail -n +"$((before + 1))" "$NGX_LOG" >"$TMP/ngx.tail"
      _show "$TMP/ngx.tail" >&2
      exit 1
    }
    sleep 0.1
  done
  note "nginx refuses $1: $(tail -n +"$((before + 1))" "$NGX_LOG" | grep -Eo "$3" | head -n1)"
}

downloaded_crl() {
  start_nginx nginx-crl "ssl_crl $TMP/crl.pem;"
  expect_accepted good.client
  expect_refused bad.client 'The SSL certificate error' 'certificate revoked'
  expect_refused none 'No required SSL certificate was sent' 'client sent no required SSL certificate'
  # Another CA's client: nginx's verify callback goes on after the unknown issuer, so the error
  # it logs is the last one found (no CRL for that CA): any verify error will do.
  expect_refused stranger 'The SSL certificate error' 'client SSL certificate verify error'
  # The good one again (the refusals did not break anything).
  expect_accepted good.client
}

ocsp_leaf() {
  # nginx asks the OCSP URL in the client certificate's AIA (the public listener of serve).
  start_serve "$D" "$TMP/serve.ocsp.log" --public-listen "127.0.0.1:$PUB"
  SERVE_LOG=$TMP/serve.ocsp.log
  wait_public
  start_nginx nginx-ocsp "ssl_ocsp leaf;"
  expect_accepted good.client
  expect_refused bad.client 'The SSL certificate error' 'revoked'
  expect_accepted good.client
  stop_serve "$SERVE_PID"
}

section "serve issues a server and two client certificates, revokes one; /v1/crl.pem downloaded" setup
section "nginx ssl_crl = the downloaded /v1/crl.pem alone: revoked refused, other accepted" downloaded_crl
section "nginx ssl_ocsp leaf against serve's OCSP responder: revoked refused, other accepted" ocsp_leaf
finish
