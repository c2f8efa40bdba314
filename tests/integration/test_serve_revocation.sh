#!/usr/bin/env bash
# Revocation in `clustertls serve` (issue 4), judged by independent programs: certificates
# signed through POST /v1/ca/sign carry the CRL distribution point and OCSP URL of the plain-HTTP
# public listener; `openssl ocsp` (HTTP and HTTPS, POST and the RFC 6960 GET form, SHA-1 and
# SHA-256 CertIDs, two CertIDs, nonce) and GnuTLS `ocsptool` see good, then revoked with the
# reason; unknown / unauthorized / malformedRequest / 413 for bad requests; the CRL (DER and PEM)
# read by `openssl crl` and GnuTLS `certtool`, used by `openssl verify -crl_check`, its number
# increasing after a revocation and a restart; the revoke API's errors, roles and audit entries;
# revoking by selector with a dry run; `clustertls revoke`.
#   bash test_serve_revocation.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=revoke.example.com
API_HOST=$FQDN
D=$TMP/cluster
serve_init "$D" "$FQDN"

# A CA that has nothing to do with the cluster (offline, made by `clustertls ca init`) and a
# client certificate it issued.
run ctls ca init --out "$TMP/other" --name "ITest Other CA"
run ctls cert issue --ca-cert "$TMP/other/ca.crt" --ca-key "$TMP/other/ca.key" --name stranger \
  --profile client --out "$TMP/other"
OTHER_LEAF=$(ls "$TMP"/other/stranger*.crt 2>/dev/null | head -n1)
[ -n "$OTHER_LEAF" ] || fail "cert issue wrote no stranger*.crt in $TMP/other: $(ls "$TMP/other")"

# ---------------------------------------------------------------------------------------------
# Helpers.

# serve_up TAG [PUBLIC_PORT]: `serve` with the public listener on 127.0.0.1:PUB (a free port
# unless given), waits until the listener answers GET /health, pins the CA (API_CA, the root)
# and sets CHAIN (issuing CA then root, from GET /v1/ca/chain), ISSUING and ROOT. A failing
# section prints the end of the server's log.
serve_up() {
  PUB=${2:-$(free_port)}
  SERVE_LOG=$TMP/serve.$1.log
  trap show_log_on_failure EXIT
  start_serve "$D" "$SERVE_LOG" --public-listen "127.0.0.1:$PUB"
  wait_public
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
  CHAIN=$TMP/chain.pem
  cp "$API_CA.chain" "$CHAIN"
  split_pem "$CHAIN" "$TMP/chain"
  ISSUING=$TMP/chain0.pem
  ROOT=$TMP/chain1.pem
  PUBURL=http://127.0.0.1:$PUB
}

# show_log_on_failure: (EXIT trap of a section) the end of the server's log when it failed.
show_log_on_failure() {
  local rc=$?
  if [ $rc -ne 0 ] && [ -f "${SERVE_LOG:-}" ]; then
    echo "    server log ${SERVE_LOG##*/} (last 40 lines):" >&2
    tail -n 40 "$SERVE_LOG" | sed 's/^/      | /' >&2
  fi
}

# pub METHOD PATH [CURL ARGS...]: a plain-HTTP request to the public listener. Sets HTTP_STATUS
# (also when the server answered early and closed while curl was still uploading); the body is
# in $BODY, the headers in $HDRS.
pub() {
  local m=$1 p=$2
  shift 2
  : >"$HDRS"
  HTTP_STATUS=$(timeout 30 curl -sS -o "$BODY" -D "$HDRS" -w '%{http_code}' -X "$m" "$@" \
    "http://127.0.0.1:$PUB$p" 2>"$ERR")
  if [ "$HTTP_STATUS" = 000 ] && [ -s "$HDRS" ]; then
    HTTP_STATUS=$(sed -n '1s/^HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p' "$HDRS" | tr -d '\r')
  fi
  [ -n "$HTTP_STATUS" ] && [ "$HTTP_STATUS" != 000 ] ||
    fail "curl $m http://127.0.0.1:$PUB$p got no answer: $(head -c 300 "$ERR")"
  return 0
}

# header NAME: the value of response header NAME of the last request (lower-case name match).
header() {
  sed -n "s/^$1: *//Ip" "$HDRS" | tr -d '\r' | tail -n1
}

expect_ctype() {
  local ct
  ct=$(header Content-Type)
  [[ ${ct,,} == "$1"* ]] || fail "${2:-response}: Content-Type '$ct', expected $1"
}

# ensure_users: the users rreader (reader) and roperator (operator) exist.
ensure_users() {
  local u
  for u in rreader:reader roperator:operator; do
    api POST /v1/users "${ADMIN[@]}" -H 'Content-Type: application/json' \
      --data-binary "{\"name\":\"${u%%:*}\",\"role\":\"${u#*:}\",\"password\":\"${u#*:}-password-1\"}"
    [ "$HTTP_STATUS" = 201 ] || [ "$HTTP_STATUS" = 409 ] || expect_status 201 "create user ${u%%:*}"
  done
}

# ocsptool_ask STATUS ARGS...: GnuTLS `ocsptool --ask ARGS` verifies the response and says STATUS.
ocsptool_ask() {
  local want=$1
  shift
  timeout 30 ocsptool "$@" >"$TMP/ocsptool.out" 2>&1
  if ! grep -q 'Verifying OCSP Response: Success' "$TMP/ocsptool.out" ||
    ! grep -Eq "Cert(ificate)? Status: $want\$" "$TMP/ocsptool.out"; then
    echo "FAIL: ocsptool $* should verify the response and say $want:" >&2
    grep -v '^[A-Za-z0-9+/=]*$' "$TMP/ocsptool.out" >"$TMP/ocsptool.txt"
    _show "$TMP/ocsptool.txt" >&2
    exit 1
  fi
  note "ocsptool ${1%%=*}: $want, verified"
}

# sign NAME PROFILE [SAN]: a CSR, then POST /v1/ca/sign as admin; $TMP/NAME.crt is the leaf,
# SERIAL its serial (upper-case hex).
sign() {
  api_sign "$@"
  assert_eq "$(x509 "$TMP/$1.crt" -serial | sed 's/^serial=//' | tr 'a-f' 'A-F')" "$SERIAL" \
    "serial in the sign response vs the certificate"
}

# revoke SERIAL REASON [CURL ARGS...]: POST /v1/certificates/SERIAL/revoke (admin unless curl
# arguments with other credentials are given).
revoke() {
  local s=$1 reason=$2
  shift 2
  [ $# -gt 0 ] || set -- "${ADMIN[@]}"
  api POST "/v1/certificates/$s/revoke" "$@" -H 'Content-Type: application/json' \
    --data-binary "{\"reason\":\"$reason\"}"
}

# ocsp_query URL ARGS...: `openssl ocsp -issuer ISSUING ARGS -url URL -CAfile CHAIN` (a nonce is
# sent: openssl's default); output (stdout and stderr) in $OUT, exit status in OCSP_RC.
ocsp_query() {
  local url=$1
  shift
  timeout 30 openssl ocsp -issuer "$ISSUING" "$@" -url "$url" -CAfile "$CHAIN" >"$OUT" 2>&1
  OCSP_RC=$?
}

# expect_ocsp NAME STATUS [REASON]: the last openssl ocsp run verified the signed response
# (exit 0, "Response verify OK", no warning: the nonce was echoed) and printed "NAME: STATUS"
# (and "Reason: REASON" when given).
expect_ocsp() {
  if [ "$OCSP_RC" -ne 0 ] || ! grep -q '^Response verify OK' "$OUT"; then
    echo "FAIL: openssl ocsp did not verify the response (exit $OCSP_RC):" >&2
    _show "$OUT" >&2
    exit 1
  fi
  if grep -qi 'warning' "$OUT"; then
    echo "FAIL: openssl ocsp warns (the nonce must be echoed, the times valid):" >&2
    _show "$OUT" >&2
    exit 1
  fi
  grep -qxF "$1: $2" "$OUT" || {
    echo "FAIL: openssl ocsp should say '$1: $2':" >&2
    _show "$OUT" >&2
    exit 1
  }
  grep -q 'Next Update:' "$OUT" || fail "OCSP response for $1 has no nextUpdate: $(cat "$OUT")"
  if [ -n "${3:-}" ]; then
    grep -qx $'\tReason: '"$3" "$OUT" || fail "OCSP response for $1 should give reason $3: $(cat "$OUT")"
  fi
  note "openssl ocsp: $1: $2${3:+ ($3)}"
}

# expect_ocsp_error FILE STATUS: FILE is a DER OCSPResponse whose responseStatus is STATUS
# (malformedrequest, unauthorized, ...), as openssl ocsp -respin prints it.
expect_ocsp_error() {
  timeout 20 openssl ocsp -respin "$1" -resp_text >"$OUT" 2>&1
  grep -Eq "^Responder Error: $2 \([0-9]+\)$" "$OUT" || {
    echo "FAIL: ${1##*/} should be an OCSPResponse with status $2:" >&2
    _show "$OUT" >&2
    exit 1
  }
  note "$(head -n1 "$OUT")"
}

# ocsp_post FILE [URL]: POST FILE as application/ocsp-request to the public /ocsp (or URL's);
# the response (which must be 200 application/ocsp-response) is in $BODY.
ocsp_post() {
  pub POST /ocsp -H 'Content-Type: application/ocsp-request' --data-binary @"$1"
  expect_status 200 "POST /ocsp with ${1##*/}"
  expect_ctype application/ocsp-response "POST /ocsp with ${1##*/}"
}

# nonce_of FILE req|resp: the hex of the OCSP nonce extension of a DER request or response.
nonce_of() {
  local t
  if [ "$2" = req ]; then
    t=$(timeout 20 openssl ocsp -reqin "$1" -req_text 2>/dev/null)
  else
    t=$(timeout 20 openssl ocsp -respin "$1" -resp_text -noverify 2>/dev/null)
  fi
  awk '/OCSP Nonce:/{getline; gsub(/[ \t]/, ""); print; exit}' <<<"$t"
}

# with_nonce IN OUT N: the DER OCSPRequest IN (made with -no_nonce) with a nonce extension of N
# random octets added, encoded as `openssl ocsp` encodes its own: the extnValue is the DER
# OCTET STRING of the nonce (RFC 9654 section 2.1). Python standard library only.
with_nonce() {
  python3 - "$1" "$2" "$3" <<'PY' || fail "could not add a $3-octet nonce to ${1##*/}"
import os, sys

def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        head = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + head + body

def split(der):  # -> tag, contents, what follows
    n, i = der[1], 2
    if n & 0x80:
        k = n & 0x7F
        n, i = int.from_bytes(der[2:2 + k], "big"), 2 + k
    return der[0], der[i:i + n], der[i + n:]

tag, request, rest = split(open(sys.argv[1], "rb").read())
assert tag == 0x30 and not rest
tag, tbs, signature = split(request)  # TBSRequest, then the optional signature
assert tag == 0x30
nonce_oid = bytes.fromhex("06092b0601050507300102")  # id-pkix-ocsp-nonce
extension = tlv(0x30, nonce_oid + tlv(0x04, tlv(0x04, os.urandom(int(sys.argv[3])))))
tbs = tlv(0x30, tbs + tlv(0xA2, tlv(0x30, extension)))  # requestExtensions [2] EXPLICIT
open(sys.argv[2], "wb").write(tlv(0x30, tbs + signature))
PY
}

# ocsp_metric STATUS: clustertls_ocsp_responses_total{status=STATUS} of GET /metrics (0 if none).
ocsp_metric() {
  api GET /metrics "${ADMIN[@]}"
  expect_status 200 "GET /metrics"
  awk -v s="clustertls_ocsp_responses_total{status=\"$1\"}" '$1 == s {print $2; found=1}
    END {if (!found) print 0}' "$BODY"
}

# crl_number FILE [DER]: the cRLNumber of a CRL, decimal.
crl_number() {
  local n
  if [ "${2:-}" = DER ]; then
    n=$(timeout 20 openssl crl -inform DER -in "$1" -noout -crlnumber 2>/dev/null)
  else
    n=$(timeout 20 openssl crl -in "$1" -noout -crlnumber 2>/dev/null)
  fi
  n=${n#crlNumber=}
  n=${n#0x}
  [[ $n =~ ^[0-9A-Fa-f]+$ ]] || fail "no cRLNumber in ${1##*/}: '$n'"
  echo $((16#$n))
}

# get_crl NAME: GET /v1/crl and /v1/crl.pem from the public listener into $TMP/NAME.der and
# $TMP/NAME.pem; checks the content types and that both are the same CRL; CRLNUM its number.
get_crl() {
  pub GET /v1/crl
  expect_status 200 "GET /v1/crl"
  expect_ctype application/pkix-crl "GET /v1/crl"
  cp "$BODY" "$TMP/$1.der"
  pub GET /v1/crl.pem
  expect_status 200 "GET /v1/crl.pem"
  expect_ctype application/x-pem-file "GET /v1/crl.pem"
  cp "$BODY" "$TMP/$1.pem"
  head -n1 "$TMP/$1.pem" | grep -qx -- '-----BEGIN X509 CRL-----' ||
    fail "GET /v1/crl.pem is not a PEM CRL: $(head -c 100 "$TMP/$1.pem")"
  CRLNUM=$(crl_number "$TMP/$1.der" DER)
  assert_eq "$(crl_number "$TMP/$1.pem")" "$CRLNUM" "cRLNumber of /v1/crl.pem vs /v1/crl"
}

# crl_lists FILE SERIAL: the PEM CRL lists SERIAL (as openssl crl -text prints serials).
crl_lists() {
  timeout 20 openssl crl -in "$1" -noout -text | grep -qi "Serial Number: $2\$"
}

# ---------------------------------------------------------------------------------------------
# Sections.

urls() {
  serve_up urls
  sign "web.$FQDN" server
  local e
  e=$(x509 "$TMP/web.$FQDN.crt" -ext crlDistributionPoints,authorityInfoAccess)
  grep -q "URI:$PUBURL/v1/crl\$" <<<"$e" ||
    fail "no CRL distribution point $PUBURL/v1/crl in the issued certificate: $e"
  grep -q "OCSP - URI:$PUBURL/ocsp\$" <<<"$e" ||
    fail "no OCSP URL $PUBURL/ocsp in the issued certificate: $e"
  note "issued certificate: $(tr -s ' \n' ' ' <<<"$e")"
  # The public listener serves exactly the public routes, without authentication.
  pub GET /v1/ca/chain
  expect_status 200 "GET /v1/ca/chain on the public listener"
  cmp -s "$BODY" "$CHAIN" || fail "the public listener's /v1/ca/chain differs from the HTTPS one"
  local p
  for p in /v1/certificates /v1/audit /v1/cluster/certificates /v1/users /metrics; do
    pub GET "$p" "${ADMIN[@]}"
    expect_status 404 "GET $p on the public listener"
  done
  pub POST /v1/ca/sign "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/sign.json"
  expect_status 404 "POST /v1/ca/sign on the public listener"
  pub POST "/v1/certificates/$SERIAL/revoke" "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"reason":"keyCompromise"}'
  expect_status 404 "revoke on the public listener"
  # The CRL and OCSP are public on the HTTPS port too.
  api GET /v1/crl
  expect_status 200 "GET /v1/crl over HTTPS without credentials"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

ocsp() {
  serve_up ocsp
  sign "srv.$FQDN" server
  local srv=$TMP/srv.$FQDN.crt
  sign "cli.$FQDN" client
  local cli=$TMP/cli.$FQDN.crt cli_serial=$SERIAL
  # Good before: openssl over HTTP (SHA-1 CertID, nonce), over HTTPS, SHA-256, GnuTLS.
  ocsp_query "$PUBURL/ocsp" -cert "$cli"
  expect_ocsp "$cli" good
  ocsp_query "https://127.0.0.1:$SERVE_PORT/ocsp" -cert "$cli"
  expect_ocsp "$cli" good
  ocsp_query "$PUBURL/ocsp" -sha256 -cert "$srv" -resp_text
  expect_ocsp "$srv" good
  grep -Eiq 'Hash Algorithm: sha256' "$OUT" || fail "the response to a SHA-256 CertID does not echo it"
  # The response is signed by a delegated responder (id-kp-OCSPSigning, issued by the issuing
  # CA, at most 2 days), not by the CA key itself.
  awk '/-----BEGIN CERTIFICATE-----/{p=1} p{print} /-----END CERTIFICATE-----/{exit}' "$OUT" >"$TMP/signer.pem"
  assert_eq "$(cert_count "$TMP/signer.pem")" 1 "responder certificate in the OCSP response"
  ext "$TMP/signer.pem" extendedKeyUsage | grep -q 'OCSP Signing' ||
    fail "the responder certificate has no OCSP Signing EKU: $(ext "$TMP/signer.pem" extendedKeyUsage)"
  [ "$(file_fp "$TMP/signer.pem")" != "$(file_fp "$ISSUING")" ] || fail "responses signed by the CA certificate itself"
  ossl_verify -CAfile "$ROOT" -untrusted "$ISSUING" "$TMP/signer.pem"
  local life
  life=$(($(not_after "$TMP/signer.pem") - $(not_before "$TMP/signer.pem")))
  [ "$life" -le $((2 * 86400 + 3600)) ] || fail "the responder certificate lives $life s (more than 2 days)"
  # GnuTLS asks the URL of the certificate's AIA.
  ocsptool_ask good --ask --nonce --load-issuer "$ISSUING" --load-cert "$cli"

  # Revoke the client certificate as keyCompromise.
  revoke "$cli_serial" keyCompromise
  expect_status 200 "revoke $cli_serial"
  local revoked_at
  revoked_at=$(jbody .revoked_at)
  # At once (the cache is dropped before the answer): revoked with the reason and time.
  ocsp_query "$PUBURL/ocsp" -cert "$cli"
  expect_ocsp "$cli" revoked keyCompromise
  local rt
  rt=$(sed -n 's/^\tRevocation Time: //p' "$OUT")
  assert_eq "$(epoch_of "$rt")" "$(date -u -d "$revoked_at" +%s)" "OCSP revocation time vs revoked_at"
  ocsp_query "https://127.0.0.1:$SERVE_PORT/ocsp" -cert "$cli"
  expect_ocsp "$cli" revoked keyCompromise
  ocsp_query "$PUBURL/ocsp" -sha256 -cert "$cli"
  expect_ocsp "$cli" revoked keyCompromise
  ocsptool_ask revoked --ask --nonce --load-issuer "$ISSUING" --load-cert "$cli"
  ocsptool_ask revoked --ask="$PUBURL/ocsp" --load-issuer "$ISSUING" --load-cert "$cli"
  ocsptool_ask good --ask="$PUBURL/ocsp" --load-issuer "$ISSUING" --load-cert "$srv"
  # Two CertIDs in one request: one answer each.
  ocsp_query "$PUBURL/ocsp" -cert "$srv" -cert "$cli"
  expect_ocsp "$srv" good
  expect_ocsp "$cli" revoked keyCompromise
  ocsp_query "$PUBURL/ocsp" -sha256 -cert "$cli" -cert "$srv"
  expect_ocsp "$cli" revoked keyCompromise
  expect_ocsp "$srv" good

  # The nonce is echoed (compared byte for byte), and the GET form works (RFC 6960 A.1).
  timeout 20 openssl ocsp -issuer "$ISSUING" -cert "$cli" -reqout "$TMP/req.der" >/dev/null 2>&1 ||
    fail "openssl ocsp -reqout failed"
  local n_req n_resp b64 enc
  n_req=$(nonce_of "$TMP/req.der" req)
  [ -n "$n_req" ] || fail "openssl ocsp made a request without a nonce"
  ocsp_post "$TMP/req.der"
  cp "$BODY" "$TMP/resp.post.der"
  n_resp=$(nonce_of "$TMP/resp.post.der" resp)
  assert_eq "$n_resp" "$n_req" "nonce in the POST response vs the request"
  b64=$(base64 -w0 "$TMP/req.der")
  enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$b64")
  pub GET "/ocsp/$enc"
  expect_status 200 "GET /ocsp/<url-encoded base64>"
  expect_ctype application/ocsp-response "GET /ocsp/..."
  cp "$BODY" "$TMP/resp.get.der"
  timeout 20 openssl ocsp -respin "$TMP/resp.get.der" -issuer "$ISSUING" -cert "$cli" -no_nonce \
    -CAfile "$CHAIN" >"$OUT" 2>&1
  OCSP_RC=$?
  expect_ocsp "$cli" revoked keyCompromise
  assert_eq "$(nonce_of "$TMP/resp.get.der" resp)" "$n_req" "nonce in the GET response vs the request"
  # GET on the HTTPS port, verified by curl against the pinned root.
  api GET "/ocsp/$enc"
  expect_status 200 "GET /ocsp/... over HTTPS"
  cp "$BODY" "$TMP/resp.https.der"
  timeout 20 openssl ocsp -respin "$TMP/resp.https.der" -issuer "$ISSUING" -cert "$cli" -no_nonce \
    -CAfile "$CHAIN" >"$OUT" 2>&1
  OCSP_RC=$?
  expect_ocsp "$cli" revoked keyCompromise
  # A request without a nonce gets a response without one (and still verifies).
  ocsp_query "$PUBURL/ocsp" -no_nonce -cert "$srv" -respout "$TMP/resp.nononce.der"
  expect_ocsp "$srv" good
  assert_eq "$(nonce_of "$TMP/resp.nononce.der" resp)" "" "nonce in a response to a request without one"
  # Revoked stays revoked: still so after another certificate is signed (cache rebuilt).
  sign "later.$FQDN" client
  ocsp_query "$PUBURL/ocsp" -cert "$cli" -cert "$TMP/later.$FQDN.crt"
  expect_ocsp "$cli" revoked keyCompromise
  expect_ocsp "$TMP/later.$FQDN.crt" good
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

ocsp_bad() {
  serve_up ocspbad
  sign "good.$FQDN" client
  local good=$TMP/good.$FQDN.crt
  # A serial this issuer never issued: unknown (a signed, successful response).
  ocsp_query "$PUBURL/ocsp" -serial 0x1234
  expect_ocsp 0x1234 unknown
  ocsp_query "$PUBURL/ocsp" -sha256 -serial 0x0123456789ABCDEF0123456789ABCDEF
  expect_ocsp 0x0123456789ABCDEF0123456789ABCDEF unknown
  # A certificate of another CA: unauthorized (RFC 6960 section 2.3).
  timeout 30 openssl ocsp -issuer "$TMP/other/ca.crt" -cert "$OTHER_LEAF" -url "$PUBURL/ocsp" \
    -respout "$TMP/resp.other.der" >"$OUT" 2>&1
  grep -Eq '^Responder Error: unauthorized \(6\)$' "$OUT" || {
    echo "FAIL: a CertID of another CA should get unauthorized:" >&2
    _show "$OUT" >&2
    exit 1
  }
  note "another CA's certificate: $(head -n1 "$OUT")"
  # The same for a request saved with -reqout and POSTed by curl (a serial only).
  timeout 20 openssl ocsp -issuer "$TMP/other/ca.crt" -serial 0x1234 -reqout "$TMP/req.other.der" \
    >/dev/null 2>&1 || fail "openssl ocsp -reqout failed"
  ocsp_post "$TMP/req.other.der"
  expect_ocsp_error "$BODY" unauthorized
  # Garbage, truncated, empty: malformedRequest (HTTP 200), never a 500.
  timeout 20 openssl ocsp -issuer "$ISSUING" -cert "$good" -reqout "$TMP/req.good.der" >/dev/null 2>&1 ||
    fail "openssl ocsp -reqout failed"
  printf 'this is not an OCSP request\n' >"$TMP/garbage.bin"
  head -c $(($(stat -c %s "$TMP/req.good.der") / 2)) "$TMP/req.good.der" >"$TMP/truncated.der"
  head -c $(($(stat -c %s "$TMP/req.good.der") - 1)) "$TMP/req.good.der" >"$TMP/short1.der"
  head -c 2000 /dev/urandom >"$TMP/random.bin"
  # A valid DER SEQUENCE that is not an OCSPRequest, and a request with trailing bytes.
  printf '\x30\x03\x02\x01\x05' >"$TMP/seq.der"
  { cat "$TMP/req.good.der"; printf 'xx'; } >"$TMP/trailing.der"
  : >"$TMP/empty.bin"
  local f
  for f in garbage.bin truncated.der short1.der random.bin seq.der trailing.der empty.bin; do
    ocsp_post "$TMP/$f"
    expect_ocsp_error "$BODY" malformedrequest
  done
  # The same over HTTPS.
  api POST /ocsp -H 'Content-Type: application/ocsp-request' --data-binary @"$TMP/truncated.der"
  expect_status 200 "POST /ocsp over HTTPS with a truncated request"
  expect_ocsp_error "$BODY" malformedrequest
  # The GET form with garbage: not base64, base64 of garbage, empty.
  for f in '!!!' "$(base64 -w0 "$TMP/garbage.bin" | sed 's/=/%3D/g; s/+/%2B/g; s/\//%2F/g')" \
    "$(base64 -w0 "$TMP/truncated.der" | sed 's/=/%3D/g; s/+/%2B/g; s/\//%2F/g')"; do
    pub GET "/ocsp/$f"
    expect_status 200 "GET /ocsp/${f:0:30}"
    expect_ocsp_error "$BODY" malformedrequest
  done
  # Nonces (RFC 9654 section 2.1): 1 to 128 octets are echoed byte for byte, 0 or more than 128
  # (the finding sent 33, which RFC 9654 allows since it replaced RFC 8954) get
  # malformedRequest, counted in the metrics.
  timeout 20 openssl ocsp -issuer "$ISSUING" -cert "$good" -no_nonce -reqout "$TMP/req.nn.der" \
    >/dev/null 2>&1 || fail "openssl ocsp -no_nonce -reqout failed"
  local m0 n
  m0=$(ocsp_metric malformedRequest)
  for n in 0 129 1000; do
    with_nonce "$TMP/req.nn.der" "$TMP/req.n$n.der" "$n"
    ocsp_post "$TMP/req.n$n.der"
    expect_ocsp_error "$BODY" malformedrequest
  done
  assert_eq "$(ocsp_metric malformedRequest)" "$((m0 + 3))" \
    "clustertls_ocsp_responses_total{status=\"malformedRequest\"} after 3 bad nonces"
  for n in 1 32 33 128; do
    with_nonce "$TMP/req.nn.der" "$TMP/req.n$n.der" "$n"
    ocsp_post "$TMP/req.n$n.der"
    cp "$BODY" "$TMP/resp.n$n.der"
    # -reqin: openssl compares the response's nonce with the request's, byte for byte.
    timeout 20 openssl ocsp -reqin "$TMP/req.n$n.der" -respin "$TMP/resp.n$n.der" \
      -CAfile "$CHAIN" -resp_text >"$OUT" 2>&1 || fail "openssl ocsp on the $n-octet nonce answer: $(tail -3 "$OUT")"
    grep -q 'Response verify OK' "$OUT" || fail "$n-octet nonce: the response does not verify"
    grep -q 'Cert Status: good' "$OUT" || fail "$n-octet nonce: not good: $(grep -i status "$OUT")"
    if grep -Eq 'Nonce Verify error|no nonce in response' "$OUT"; then
      fail "$n-octet nonce: $(grep -E 'Nonce' "$OUT")"
    fi
    note "a $n-octet nonce is echoed (openssl ocsp -reqin checks it)"
  done
  # openssl ocsp -nonce (its default 16 octets) still works.
  ocsp_query "$PUBURL/ocsp" -nonce -cert "$good"
  expect_ocsp "$good" good
  # Over 64 KiB: 413 (with and without Expect: 100-continue); 64 KiB of garbage is no 413.
  head -c $((100 * 1024)) /dev/urandom >"$TMP/big.bin"
  pub POST /ocsp -H 'Content-Type: application/ocsp-request' --data-binary @"$TMP/big.bin"
  expect_status 413 "POST /ocsp with a 100 KiB body"
  pub POST /ocsp -H 'Content-Type: application/ocsp-request' -H 'Expect:' --data-binary @"$TMP/big.bin"
  expect_status 413 "POST /ocsp with a 100 KiB body, no Expect"
  head -c $((64 * 1024)) /dev/zero >"$TMP/64k.bin"
  ocsp_post "$TMP/64k.bin"
  expect_ocsp_error "$BODY" malformedrequest
  # A very long GET URL is refused without a crash (414/431/400/413 all acceptable; not 5xx).
  pub GET "/ocsp/$(head -c 30000 /dev/zero | tr '\0' 'A')"
  case $HTTP_STATUS in
    4??) note "GET /ocsp/<30000 characters>: HTTP $HTTP_STATUS" ;;
    200) expect_ocsp_error "$BODY" malformedrequest ;;
    *) fail "GET /ocsp/<30000 characters> answered HTTP $HTTP_STATUS" ;;
  esac
  # Still answering, on both listeners.
  ocsp_query "$PUBURL/ocsp" -cert "$good"
  expect_ocsp "$good" good
  ocsp_query "https://127.0.0.1:$SERVE_PORT/ocsp" -cert "$good"
  expect_ocsp "$good" good
  kill -0 "$SERVE_PID" 2>/dev/null || fail "serve is gone after the bad requests"
  assert_not_grep 'internalError|Segmentation|AddressSanitizer|terminate called' "$SERVE_LOG"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

crl() {
  serve_up crl
  sign "keep.$FQDN" client
  local keep=$TMP/keep.$FQDN.crt
  sign "gone.$FQDN" server
  local gone=$TMP/gone.$FQDN.crt gone_serial=$SERIAL
  get_crl crl0
  local n0=$CRLNUM
  crl_lists "$TMP/crl0.pem" "$gone_serial" && fail "the CRL lists $gone_serial before its revocation"
  revoke "$gone_serial" keyCompromise
  expect_status 200 "revoke $gone_serial"
  # At once: the next download lists it.
  get_crl crl1
  local n1=$CRLNUM
  [ "$n1" -gt "$n0" ] || fail "cRLNumber did not increase after a revocation: $n0 then $n1"
  note "cRLNumber $n0 -> $n1 after a revocation"
  local t
  t=$(timeout 20 openssl crl -inform DER -in "$TMP/crl1.der" -noout -text)
  grep -q 'Version 2 (0x1)' <<<"$t" || fail "the CRL is not v2: $(head -n3 <<<"$t")"
  grep -q 'X509v3 CRL Number:' <<<"$t" || fail "the CRL has no CRL Number"
  grep -q 'X509v3 Authority Key Identifier:' <<<"$t" || fail "the CRL has no Authority Key Identifier"
  grep -A4 -i "Serial Number: $gone_serial\$" <<<"$t" | grep -q 'Key Compromise' ||
    fail "the CRL does not list $gone_serial with reason keyCompromise: $(grep -A4 -i "$gone_serial" <<<"$t")"
  # Signed by the issuing CA (openssl crl and GnuTLS certtool check the signature).
  timeout 20 openssl crl -inform DER -in "$TMP/crl1.der" -CAfile "$CHAIN" -noout >"$OUT" 2>&1
  grep -q 'verify OK' "$OUT" || fail "openssl crl -CAfile does not verify the CRL: $(cat "$OUT")"
  timeout 20 certtool --verify-crl --load-ca-certificate "$ISSUING" --infile "$TMP/crl1.pem" >"$OUT" 2>&1
  grep -q 'Verification output: Verified' "$OUT" || {
    echo "FAIL: certtool --verify-crl does not verify the CRL against the issuing CA:" >&2
    _show "$OUT" >&2
    exit 1
  }
  note "CRL signature verified by openssl crl and certtool"
  assert_eq "$(timeout 20 openssl crl -in "$TMP/crl1.pem" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')" \
    "$(subject_of "$ISSUING")" "CRL issuer vs the issuing CA"
  # thisUpdate / nextUpdate 7 days apart, thisUpdate not in the future.
  local lu nu
  lu=$(epoch_of "$(timeout 20 openssl crl -in "$TMP/crl1.pem" -noout -lastupdate | sed 's/^lastUpdate=//')")
  nu=$(epoch_of "$(timeout 20 openssl crl -in "$TMP/crl1.pem" -noout -nextupdate | sed 's/^nextUpdate=//')")
  assert_eq "$((nu - lu))" $((7 * 86400)) "nextUpdate - thisUpdate (seconds)"
  [ "$lu" -le $(($(date +%s) + 5)) ] || fail "thisUpdate is in the future"
  grep -qi '^Cache-Control:.*max-age=60' "$HDRS" || fail "GET /v1/crl.pem: no Cache-Control max-age=60: $(cat "$HDRS")"
  # openssl verify with the downloaded CRL: the revoked one is refused, the other accepted.
  ossl_verify_refuses 'certificate revoked' -crl_check -CAfile "$CHAIN" -CRLfile "$TMP/crl1.pem" "$gone"
  ossl_verify -crl_check -CAfile "$CHAIN" -CRLfile "$TMP/crl1.pem" "$keep"
  # The DER CRL is the same object.
  timeout 20 openssl crl -in "$TMP/crl1.pem" -outform DER -out "$TMP/crl1.conv.der" 2>/dev/null
  cmp -s "$TMP/crl1.conv.der" "$TMP/crl1.der" || fail "/v1/crl and /v1/crl.pem are not the same CRL"
  # The HTTPS port serves the same CRL.
  api GET /v1/crl
  expect_status 200 "GET /v1/crl over HTTPS"
  cmp -s "$BODY" "$TMP/crl1.der" || fail "the HTTPS port's /v1/crl differs from the public listener's"
  # Another revocation: a higher number, both listed.
  revoke "$(serial_hex "$keep")" superseded
  expect_status 200 "revoke keep"
  get_crl crl2
  local n2=$CRLNUM
  [ "$n2" -gt "$n1" ] || fail "cRLNumber did not increase after the second revocation: $n1 then $n2"
  crl_lists "$TMP/crl2.pem" "$gone_serial" || fail "the second CRL lost $gone_serial"
  crl_lists "$TMP/crl2.pem" "$(serial_hex "$keep")" || fail "the second CRL does not list keep"
  ossl_verify_refuses 'certificate revoked' -crl_check -CAfile "$CHAIN" -CRLfile "$TMP/crl2.pem" "$keep"
  # A restart: the number still increases, the entries stay.
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
  serve_up crl2 "$PUB"
  get_crl crl3
  local n3=$CRLNUM
  [ "$n3" -gt "$n2" ] || fail "cRLNumber did not increase across a restart: $n2 then $n3"
  crl_lists "$TMP/crl3.pem" "$gone_serial" || fail "the CRL after the restart lost $gone_serial"
  note "cRLNumber $n1 -> $n2 (revocation) -> $n3 (restart)"
  ocsp_query "$PUBURL/ocsp" -cert "$gone"
  expect_ocsp "$gone" revoked keyCompromise
  # Downloading again without a change serves the same CRL (no new number per request).
  get_crl crl4
  assert_eq "$CRLNUM" "$n3" "cRLNumber of a second download without a revocation"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

api_errors() {
  serve_up api
  sign "node1.$FQDN" peer
  local s1=$SERIAL
  ensure_users
  # No credentials: 401; a reader: 403; a wrong password: 401. Nothing revoked.
  revoke "$s1" keyCompromise -H 'X-None: 1'
  expect_error 401 'unauthori' "revoke without credentials"
  revoke "$s1" keyCompromise -u rreader:reader-password-1
  expect_error 403 'forbidden' "revoke as a reader"
  revoke "$s1" keyCompromise -u roperator:wrong-password-1
  expect_error 401 'unauthori' "revoke with a wrong password"
  api GET "/v1/certificates/$s1" "${ADMIN[@]}"
  assert_eq "$(jbody .revoked)" false "revoked after refused attempts"
  # Bad input: 400, nothing revoked.
  local r
  for r in bogus keycompromised 'key Compromise' 99; do
    revoke "$s1" "$r"
    expect_error 400 'reason' "revoke with reason '$r'"
  done
  api POST "/v1/certificates/$s1/revoke" "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"reason":"keyCompromise","extra":1}'
  expect_error 400 'extra|unknown|field' "revoke with an unknown field"
  api POST "/v1/certificates/$s1/revoke" "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"reason":'
  expect_error 400 '.' "revoke with malformed JSON"
  api POST "/v1/certificates/$s1/revoke" "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"reason":7}'
  expect_error 400 'reason' "revoke with a numeric reason"
  for r in XYZ 12G4 -1 %20; do
    revoke "$r" keyCompromise
    expect_error 400 'serial' "revoke serial '$r'"
  done
  # 100 octets: more than RFC 5280 allows (20), so never issued: 400 or 404, nothing else.
  revoke "$(head -c 200 /dev/zero | tr '\0' 'A')" keyCompromise
  [[ $HTTP_STATUS == 400 || $HTTP_STATUS == 404 ]] || expect_status 400 "revoke a 100-octet serial"
  api GET "/v1/certificates/$s1" "${ADMIN[@]}"
  assert_eq "$(jbody .revoked)" false "revoked after bad requests"
  # Unknown serial (well-formed): 404; another CA's certificate: 404 (never issued here).
  revoke 0123456789ABCDEF0123456789ABCDEF keyCompromise
  expect_error 404 'not_found|not found|unknown' "revoke an unknown serial"
  revoke "$(serial_hex "$OTHER_LEAF")" keyCompromise
  expect_error 404 'not_found|not found|unknown' "revoke another CA's certificate"
  # The CAs' own serials: 400 (this endpoint revokes leaf certificates).
  revoke "$(serial_hex "$ISSUING")" keyCompromise
  expect_error 400 'CA|leaf' "revoke the issuing CA's serial"
  revoke "$(serial_hex "$ROOT")" keyCompromise
  expect_error 400 'CA|leaf' "revoke the root CA's serial"
  # GET on the revoke route: 405.
  api GET "/v1/certificates/$s1/revoke" "${ADMIN[@]}"
  expect_status 405 "GET /v1/certificates/<serial>/revoke"
  # An operator revokes (lower-case serial, reason in another case): 200, newly revoked.
  revoke "$(tr 'A-F' 'a-f' <<<"$s1")" KEYCOMPROMISE -u roperator:operator-password-1
  expect_status 200 "revoke as an operator"
  assert_eq "$(jbody .revoked)" true "revoked"
  assert_eq "$(jbody .newly_revoked)" true "newly_revoked"
  assert_eq "$(jbody .serial | tr 'a-f' 'A-F')" "$s1" "serial in the answer"
  assert_eq "$(jbody .reason)" keyCompromise "reason in the answer"
  assert_eq "$(jbody .subject_cn)" "node1.$FQDN" "subject_cn in the answer"
  local at1
  at1=$(jbody .revoked_at)
  [[ $at1 =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$ ]] ||
    fail "revoked_at is not RFC 3339 UTC: $at1"
  # Twice: 200, newly_revoked false, the first time and reason kept.
  sleep 1
  revoke "$s1" superseded
  expect_status 200 "revoke again"
  assert_eq "$(jbody .newly_revoked)" false "newly_revoked of a second revocation"
  assert_eq "$(jbody .reason)" keyCompromise "reason after a second revocation (the first kept)"
  assert_eq "$(jbody .revoked_at)" "$at1" "revoked_at after a second revocation (the first kept)"
  # The record shows it; the inventory filters by it.
  api GET "/v1/certificates/$s1" -u rreader:reader-password-1
  expect_status 200 "GET the revoked record"
  assert_eq "$(jbody .revoked)" true "record revoked"
  assert_eq "$(jbody .revocation_reason)" keyCompromise "record revocation_reason"
  assert_eq "$(jbody .revoked_at)" "$at1" "record revoked_at"
  api GET "/v1/certificates?revoked=true&limit=1000" "${ADMIN[@]}"
  assert_eq "$(jbody '[.certificates[].serial | ascii_upcase] | index("'"$s1"'") != null')" true \
    "revoked=true lists $s1"
  api GET "/v1/certificates?revoked=false&limit=1000" "${ADMIN[@]}"
  assert_eq "$(jbody '[.certificates[].serial | ascii_upcase] | index("'"$s1"'") != null')" false \
    "revoked=false does not list $s1"
  # No reason: unspecified.
  sign "node2.$FQDN" server
  api POST "/v1/certificates/$SERIAL/revoke" "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary '{}'
  expect_status 200 "revoke without a reason"
  assert_eq "$(jbody .reason)" unspecified "default reason"
  local s2=$SERIAL
  # The audit log: one cert.revoke per revocation (none for the idempotent one nor the refused
  # ones), with the actor and the serial as target.
  api GET "/v1/audit?limit=1000" "${ADMIN[@]}"
  expect_status 200 "GET /v1/audit"
  local mine="[.entries[] | select(.action == \"cert.revoke\") | select((.target | ascii_upcase) == \"$s1\" or (.target | ascii_upcase) == \"$s2\")]"
  assert_eq "$(jbody "$mine | length")" 2 "cert.revoke entries for $s1 and $s2"
  assert_eq "$(jbody "[${mine}[] | .target | ascii_upcase] | join(\",\")")" "$s1,$s2" "cert.revoke targets"
  assert_eq "$(jbody "[${mine}[] | .actor] | join(\",\")")" "roperator,admin" "cert.revoke actors"
  run ctls audit verify --data-dir "$D"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

selector() {
  serve_up selector
  ensure_users
  # Three certificates named alpha (one also with an extra SAN), one named beta.
  local a1 a2 a3 b1
  sign "alpha.$FQDN" server "DNS:alpha.$FQDN"
  a1=$SERIAL
  sign "alpha.$FQDN" server "DNS:alpha.$FQDN,DNS:shared.$FQDN"
  a2=$SERIAL
  sign "beta.$FQDN" client "DNS:beta.$FQDN,DNS:shared.$FQDN"
  b1=$SERIAL
  local cut
  sleep 1
  cut=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  sleep 1
  sign "alpha.$FQDN" client "DNS:alpha.$FQDN"
  a3=$SERIAL
  sel() {
    api POST /v1/certificates/revoke "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary "$1"
  }
  serials() { jbody '[.certificates[].serial | ascii_upcase] | sort | join(",")'; }
  sorted() { printf '%s\n' "$@" | sort | paste -sd, -; }
  # Bad selectors: 400.
  sel '{"dry_run":true}'
  expect_error 400 '.' "a selector without name, san or issued_before"
  sel '{"name":"x","issued_before":"yesterday","dry_run":true}'
  expect_error 400 'issued_before' "issued_before not RFC 3339"
  sel '{"name":"x","reason":"bogus","dry_run":true}'
  expect_error 400 'reason' "selector with a bad reason"
  sel '{"name":"x","colour":"red"}'
  expect_error 400 'colour|unknown|field' "selector with an unknown field"
  api POST /v1/certificates/revoke -u rreader:reader-password-1 -H 'Content-Type: application/json' \
    --data-binary "{\"name\":\"alpha.$FQDN\",\"dry_run\":true}"
  expect_error 403 'forbidden' "selector as a reader"
  # Dry runs list and change nothing.
  sel "{\"name\":\"alpha.$FQDN\",\"dry_run\":true}"
  expect_status 200 "dry run by name"
  assert_eq "$(jbody .dry_run)" true "dry_run"
  assert_eq "$(jbody .count)" 3 "count of the dry run by name"
  assert_eq "$(serials)" "$(sorted "$a1" "$a2" "$a3")" "dry run by name"
  sel "{\"san\":\"DNS:shared.$FQDN\",\"dry_run\":true}"
  assert_eq "$(serials)" "$(sorted "$a2" "$b1")" "dry run by SAN"
  sel "{\"san\":\"shared.$FQDN\",\"dry_run\":true}"
  assert_eq "$(serials)" "$(sorted "$a2" "$b1")" "dry run by a bare SAN"
  sel "{\"name\":\"alpha.$FQDN\",\"issued_before\":\"$cut\",\"dry_run\":true}"
  assert_eq "$(serials)" "$(sorted "$a1" "$a2")" "dry run by name and issued_before"
  sel '{"name":"nobody.example.com","dry_run":true}'
  assert_eq "$(jbody .count)" 0 "dry run matching nothing"
  local s
  for s in "$a1" "$a2" "$a3" "$b1"; do
    api GET "/v1/certificates/$s" "${ADMIN[@]}"
    assert_eq "$(jbody .revoked)" false "$s revoked after dry runs"
  done
  get_crl sel0
  local n0=$CRLNUM
  # The real run: name + issued_before revokes a1 and a2 only.
  sel "{\"name\":\"alpha.$FQDN\",\"issued_before\":\"$cut\",\"reason\":\"cessationOfOperation\"}"
  expect_status 200 "revoke by selector"
  assert_eq "$(jbody .dry_run)" false "dry_run of the real run"
  assert_eq "$(jbody .count)" 2 "count revoked"
  assert_eq "$(serials)" "$(sorted "$a1" "$a2")" "revoked by selector"
  assert_eq "$(jbody '[.certificates[].newly_revoked] | all')" true "newly_revoked of each"
  for s in "$a1" "$a2"; do
    ocsp_query "$PUBURL/ocsp" -serial "0x$s"
    expect_ocsp "0x$s" revoked cessationOfOperation
  done
  for s in "$a3" "$b1"; do
    ocsp_query "$PUBURL/ocsp" -serial "0x$s"
    expect_ocsp "0x$s" good
  done
  get_crl sel1
  [ "$CRLNUM" -gt "$n0" ] || fail "cRLNumber did not increase after a selector revocation"
  crl_lists "$TMP/sel1.pem" "$a1" && crl_lists "$TMP/sel1.pem" "$a2" ||
    fail "the CRL does not list both certificates revoked by selector"
  crl_lists "$TMP/sel1.pem" "$a3" && fail "the CRL lists $a3, which was not selected"
  # Already revoked certificates are not selected again.
  sel "{\"name\":\"alpha.$FQDN\",\"dry_run\":true}"
  assert_eq "$(serials)" "$a3" "dry run after the revocation"
  # By SAN, as an operator-level call: b1 (a2 is already revoked).
  sel "{\"san\":\"DNS:shared.$FQDN\"}"
  expect_status 200 "revoke by SAN"
  assert_eq "$(serials)" "$b1" "revoked by SAN"
  api GET "/v1/audit?limit=1000" "${ADMIN[@]}"
  local n
  n=$(jbody "[.entries[] | select(.action == \"cert.revoke\") | .target | ascii_upcase | select(. == \"$a1\" or . == \"$a2\" or . == \"$b1\")] | length")
  assert_eq "$n" 3 "one cert.revoke audit entry per certificate revoked by selector"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

# The cluster's own certificates: the named certificates init issued are recorded (OCSP knows
# them, the inventory lists them), carry the CRL and OCSP URLs of init's public listener, and are
# revoked by serial only: a broad selector skips them and the OCSP signer.
named() {
  serve_up named
  # The `api` certificate serve presents, as a TLS client sees it.
  timeout 20 openssl s_client -connect "127.0.0.1:$SERVE_PORT" -servername "$FQDN" </dev/null \
    2>/dev/null | openssl x509 >"$TMP/api.pem" || fail "s_client got no certificate from serve"
  local api_serial proxy_serial
  api_serial=$(x509 "$TMP/api.pem" -serial | sed 's/^serial=//' | tr 'a-f' 'A-F')
  assert_eq "$(openssl x509 -in "$TMP/api.pem" -noout -ocsp_uri)" "http://127.0.0.1:9080/ocsp" \
    "OCSP URL of the api certificate (init's default public listener)"
  openssl x509 -in "$TMP/api.pem" -noout -ext crlDistributionPoints | grep -qF \
    "URI:http://127.0.0.1:9080/v1/crl" || fail "the api certificate has no CRL distribution point"
  ocsp_query "$PUBURL/ocsp" -cert "$TMP/api.pem"
  expect_ocsp "$TMP/api.pem" good
  api GET "/v1/certificates/$api_serial" "${ADMIN[@]}"
  expect_status 200 "inventory record of the api certificate"
  assert_eq "$(jbody .issued_by)" init "issued_by of the api certificate"
  # The proxy certificate and every named certificate's serial, from the cluster's list; the
  # OCSP signer's from the inventory.
  api GET /v1/cluster/certificates "${ADMIN[@]}"
  expect_status 200 "GET /v1/cluster/certificates"
  jbody .proxy_cert >"$TMP/proxy-chain.pem"
  openssl x509 -in "$TMP/proxy-chain.pem" >"$TMP/proxy.pem" || fail "no proxy certificate listed"
  proxy_serial=$(x509 "$TMP/proxy.pem" -serial | sed 's/^serial=//' | tr 'a-f' 'A-F')
  local own
  own=$(jbody '[.certificates[].serial | ascii_upcase]')
  assert_eq "$(jq length <<<"$own")" 5 "named certificates listed"
  assert_eq "$(jq --arg s "$api_serial" 'index($s) != null' <<<"$own")" true \
    "the api certificate served is the listed one"
  api GET "/v1/certificates?profile=ocsp-signer" "${ADMIN[@]}"
  expect_status 200 "GET /v1/certificates?profile=ocsp-signer"
  own=$(jq -c --argjson s "$(jbody '[.certificates[].serial | ascii_upcase]')" '. + $s' <<<"$own")
  # One signer per serve start so far (the sections share the data directory).
  [ "$(jq length <<<"$own")" -ge 6 ] || fail "named certificates and OCSP signers: $own"
  # Selectors that match them by time and by name select none of them.
  local later
  later=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
  sign "node.$FQDN" server "DNS:node.$FQDN"
  local node=$SERIAL
  api POST /v1/certificates/revoke "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary "{\"issued_before\":\"$later\",\"dry_run\":true}"
  expect_status 200 "dry run by issued_before"
  assert_eq "$(jbody '[.certificates[].serial | ascii_upcase] | index("'"$node"'") != null')" true \
    "the node certificate is selected"
  assert_eq "$(jq --argjson own "$own" '[.certificates[].serial | ascii_upcase | select(. as $s | $own | index($s) != null)] | length' "$BODY")" \
    0 "the OCSP signer and the named certificates are not selected"
  api POST /v1/certificates/revoke "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary "{\"name\":\"$FQDN\",\"dry_run\":true}"
  assert_eq "$(jbody .count)" 0 "dry run by the cluster's name"
  # By serial, on purpose: the proxy certificate is revoked; OCSP and the CRL say so.
  revoke "$proxy_serial" keyCompromise
  expect_status 200 "revoke the proxy certificate by serial"
  assert_eq "$(jbody .named)" proxy "the response names the named certificate still in use"
  # The CLI says it must be replaced (again: idempotent).
  printf '%s\n' "$ADMIN_PW" >"$TMP/admin.pw"
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" --user admin \
    --password-file "$TMP/admin.pw" --client-config "$TMP/named-client.json"
  run ctls revoke "$proxy_serial" --reason keyCompromise --client-config "$TMP/named-client.json"
  grep -q 'named certificate "proxy", still in use until it is replaced: clustertls cluster certificate renew proxy' \
    "$ERR" || fail "clustertls revoke did not warn about the proxy certificate: $(cat "$OUT" "$ERR")"
  ocsp_query "$PUBURL/ocsp" -cert "$TMP/proxy.pem"
  expect_ocsp "$TMP/proxy.pem" revoked keyCompromise
  get_crl named
  crl_lists "$TMP/named.pem" "$proxy_serial" || fail "the CRL does not list the revoked proxy certificate"
  ocsp_query "$PUBURL/ocsp" -cert "$TMP/api.pem"
  expect_ocsp "$TMP/api.pem" good

  # What an operator does when the api key leaked: renew it and revoke the old one, one call.
  local api_fp new_serial
  api_fp=$(file_fp "$TMP/api.pem")
  run ctls cluster certificate renew api --revoke-previous keyCompromise --days 30 \
    --client-config "$TMP/named-client.json"
  grep -Eq '^certificate api renewed: version [0-9]+, serial [0-9A-F]+, valid until ' "$OUT" ||
    fail "renew printed: $(cat "$OUT")"
  grep -qxF "revoked the previous certificate $api_serial (keyCompromise)" "$OUT" ||
    fail "renew did not report the revocation: $(cat "$OUT")"
  new_serial=$(sed -En 's/^certificate api renewed: version [0-9]+, serial ([0-9A-F]+),.*/\1/p' "$OUT")
  # The server presents the new certificate to new connections (within a second or two).
  local deadline=$((SECONDS + 10))
  while :; do
    timeout 20 openssl s_client -connect "127.0.0.1:$SERVE_PORT" -servername "$FQDN" </dev/null \
      2>/dev/null | openssl x509 >"$TMP/api2.pem" || fail "s_client got no certificate"
    [ "$(file_fp "$TMP/api2.pem")" != "$api_fp" ] && break
    [ $SECONDS -lt $deadline ] || fail "the server still presents the old api certificate"
    sleep 0.2
  done
  assert_eq "$(x509 "$TMP/api2.pem" -serial | sed 's/^serial=//' | tr 'a-f' 'A-F')" "$new_serial" \
    "serial of the certificate served after the renewal"
  # Same names, a new key, this server's URLs (init's certificate had 127.0.0.1:9080's).
  assert_eq "$(x509 "$TMP/api2.pem" -ext subjectAltName)" "$(x509 "$TMP/api.pem" -ext subjectAltName)" \
    "SANs of the renewed api certificate"
  [ "$(pubkey_of_cert "$TMP/api2.pem")" != "$(pubkey_of_cert "$TMP/api.pem")" ] ||
    fail "the renewed api certificate has the old key"
  assert_eq "$(x509 "$TMP/api2.pem" -ocsp_uri)" "$PUBURL/ocsp" "OCSP URL of the renewed certificate"
  timeout 20 openssl verify -purpose sslserver -verify_hostname "$FQDN" -CAfile "$CHAIN" \
    "$TMP/api2.pem" >"$OUT" 2>&1 || fail "openssl verify refuses the renewed api certificate: $(cat "$OUT")"
  ocsp_query "$PUBURL/ocsp" -cert "$TMP/api.pem"
  expect_ocsp "$TMP/api.pem" revoked keyCompromise
  ocsp_query "$PUBURL/ocsp" -cert "$TMP/api2.pem"
  expect_ocsp "$TMP/api2.pem" good
  api GET "/v1/audit?limit=1000" "${ADMIN[@]}"
  assert_eq "$(jbody '[.entries[] | select(.action == "named_cert.renew" and .target == "api")] | length')" \
    1 "named_cert.renew audit entries for api"
  # Refused, nothing renewed: an unknown reason names the flag's field.
  expect_fail 1 'revoke_previous' -- ctls cluster certificate renew api --revoke-previous oops \
    --client-config "$TMP/named-client.json"
  # The renewal stands when the revocation after it fails (here: the metrics certificate's
  # record deleted behind the server's back, so there is nothing to revoke): the error says what
  # was renewed and which serial is still to revoke.
  api GET /v1/cluster/certificates "${ADMIN[@]}"
  jbody .metrics_cert | openssl x509 >"$TMP/metrics.pem" || fail "no metrics certificate listed"
  local metrics_serial
  metrics_serial=$(x509 "$TMP/metrics.pem" -serial | sed 's/^serial=//' | tr 'a-f' 'A-F')
  assert_eq "$(timeout 20 sqlite3 "$D/clustertls.db" \
    "DELETE FROM issued_certs WHERE serial = '$metrics_serial'; SELECT changes();")" 1 \
    "records of the metrics certificate deleted with sqlite3"
  expect_fail 1 "certificate \"metrics\" was renewed \(version [0-9]+, serial [0-9A-F]+\) but revoking the previous certificate $metrics_serial failed" \
    -- ctls cluster certificate renew metrics --revoke-previous superseded \
    --client-config "$TMP/named-client.json"
  api GET /v1/cluster/certificates "${ADMIN[@]}"
  jbody .metrics_cert | openssl x509 >"$TMP/metrics2.pem" || fail "no metrics certificate listed"
  [ "$(file_fp "$TMP/metrics2.pem")" != "$(file_fp "$TMP/metrics.pem")" ] ||
    fail "the metrics certificate was not renewed"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

# A data directory made before init recorded its named certificates (simulated: their records
# deleted with sqlite3): serve records them at start, and OCSP then answers good for them.
upgrade() {
  D=$TMP/old-cluster
  serve_init "$D" "$FQDN"
  timeout 20 sqlite3 "$D/clustertls.db" "DELETE FROM issued_certs WHERE issued_by = 'init'" ||
    fail "sqlite3 could not delete init's records"
  assert_eq "$(timeout 20 sqlite3 "$D/clustertls.db" "SELECT count(*) FROM issued_certs")" 0 \
    "records left before serve"
  serve_up upgrade
  grep -q "recorded the issuance of named certificates made before records were kept: api, cm, metrics, proxy, syncer" \
    "$SERVE_LOG" || fail "serve did not log the late records: $(cat "$SERVE_LOG")"
  assert_eq "$(timeout 20 sqlite3 "$D/clustertls.db" "SELECT count(*) FROM issued_certs WHERE issued_by = 'serve'")" \
    5 "named certificates recorded by serve"
  timeout 20 openssl s_client -connect "127.0.0.1:$SERVE_PORT" -servername "$FQDN" </dev/null \
    2>/dev/null | openssl x509 >"$TMP/old-api.pem" || fail "s_client got no certificate from serve"
  ocsp_query "$PUBURL/ocsp" -cert "$TMP/old-api.pem"
  expect_ocsp "$TMP/old-api.pem" good
  # A restart records nothing more.
  stop_serve "$SERVE_PID"
  serve_up upgrade2
  grep -q "recorded the issuance" "$SERVE_LOG" && fail "the second start recorded again"
  assert_eq "$(timeout 20 sqlite3 "$D/clustertls.db" "SELECT count(*) FROM issued_certs WHERE profile = 'peer'")" \
    5 "named certificate records after a restart"
  run ctls audit verify --data-dir "$D"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

cli() {
  serve_up cli
  run ctls revoke --help
  sign "cli1.$FQDN" client
  local c1=$SERIAL
  sign "cli2.$FQDN" client
  local c2=$SERIAL
  sign "cli2.$FQDN" server
  local c3=$SERIAL
  printf '%s\n' "$ADMIN_PW" >"$TMP/admin.pw"
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" --user admin \
    --password-file "$TMP/admin.pw" --client-config "$TMP/client.json"
  local cc=(--client-config "$TMP/client.json")
  run ctls revoke "$c1" --reason keyCompromise "${cc[@]}"
  grep -qi "$c1" "$OUT" || fail "clustertls revoke does not name the serial: $(cat "$OUT")"
  ocsp_query "$PUBURL/ocsp" -serial "0x$c1"
  expect_ocsp "0x$c1" revoked keyCompromise
  # Again: succeeds (idempotent), says it was already revoked.
  run ctls revoke "$c1" --reason superseded "${cc[@]}"
  grep -Eqi 'already' "$OUT" || fail "a second clustertls revoke should say 'already revoked': $(cat "$OUT")"
  # Errors: exit 1 with one line.
  expect_fail 1 'not.found|unknown|404' -- ctls revoke 0123456789ABCDEF0123456789ABCDEF --reason keyCompromise "${cc[@]}"
  expect_fail 1,2 'reason' -- ctls revoke "$c2" --reason bogus "${cc[@]}"
  expect_fail 1 'CA|leaf' -- ctls revoke "$(serial_hex "$ISSUING")" "${cc[@]}"
  # Selector with --dry-run: lists, changes nothing.
  run ctls revoke --name "cli2.$FQDN" --dry-run "${cc[@]}"
  grep -qi "$c2" "$OUT" && grep -qi "$c3" "$OUT" ||
    fail "revoke --name --dry-run should list $c2 and $c3: $(cat "$OUT")"
  ocsp_query "$PUBURL/ocsp" -serial "0x$c2" -serial "0x$c3"
  expect_ocsp "0x$c2" good
  expect_ocsp "0x$c3" good
  run ctls revoke --name "cli2.$FQDN" --reason superseded --yes "${cc[@]}"
  ocsp_query "$PUBURL/ocsp" -serial "0x$c2" -serial "0x$c3"
  expect_ocsp "0x$c2" revoked superseded
  expect_ocsp "0x$c3" revoked superseded
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

section "issued certificates carry the public listener's CRL and OCSP URLs; public routes only" urls
section "OCSP: good -> revoked (openssl ocsp HTTP/HTTPS, GET, SHA-256, two CertIDs, nonce; ocsptool)" ocsp
section "OCSP bad input: unknown, unauthorized, malformedRequest, 413; still answering" ocsp_bad
section "CRL: DER/PEM, signed, reason, verify -crl_check, number up after revocation and restart" crl
section "revoke API: 401/403/400/404, idempotent, CA serials refused, inventory, audit" api_errors
section "revoke by selector: dry run lists and changes nothing, the real run revokes" selector
section "the cluster's own certificates: recorded, OCSP good, revoked by serial only, renewed" named
section "a data directory without records of its named certificates: serve records them once" upgrade
section "clustertls revoke (serial, idempotent, errors, --name --dry-run)" cli
finish
