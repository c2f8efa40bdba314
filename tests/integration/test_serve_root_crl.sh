#!/usr/bin/env bash
# The root CA's CRL (issue 4: a CRL for every CA of the chain, so that clients checking the whole
# chain — nginx ssl_crl, openssl verify -crl_check_all — accept a good certificate with the one
# downloaded file):
#   - init signs it (the root key is offline afterwards); serve publishes it at /v1/crl/root(.pem)
#     and after the issuing CA's CRL in /v1/crl.pem; openssl verify -crl_check_all judges;
#   - `clustertls crl show` of the two-CRL file (text and JSON), `clustertls verify --crl`;
#   - a cluster from an older version (no root CRL: removed with sqlite3): serve says so, 404,
#     then `clustertls crl sign-root` (bad inputs first: wrong passphrase, bad --days, missing
#     data dir, all changing nothing) makes one that the running serve publishes.
#   bash test_serve_root_crl.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=rootcrl.example.com
API_HOST=$FQDN
D=$TMP/cluster
printf 'itest-root-passphrase-0815\n' >"$TMP/root.pw"
serve_init "$D" "$FQDN" --ca-passphrase-file "$TMP/root.pw"
SERVE_LOG=$TMP/serve.log

# public_port: the public listener's port from the serve log.
public_port() {
  sed -n 's/^.*public listener http:\/\/127\.0\.0\.1:\([0-9][0-9]*\).*$/\1/p' "$SERVE_LOG" | head -n1
}

# pub_get PATH FILE: GET http://127.0.0.1:PUB PATH into FILE; sets HTTP_STATUS.
pub_get() {
  HTTP_STATUS=$(timeout 30 curl -sS -o "$2" -w '%{http_code}' "http://127.0.0.1:$PUB$1" 2>"$ERR") ||
    fail "curl GET $1 failed: $(head -c 300 "$ERR")"
}

crl_count() { grep -c -- '-----BEGIN X509 CRL-----' "$1"; }

# crl_number FILE [INFORM]: the cRLNumber of the (first) CRL in FILE.
crl_number() {
  timeout 20 openssl crl -in "$1" -inform "${2:-PEM}" -noout -crlnumber | sed 's/^crlNumber=//; s/^0x//'
}

# sign NAME: a client certificate through POST /v1/ca/sign: $TMP/NAME.key/.crt, SERIAL.
sign() { api_sign "$1" client; }

published() {
  start_serve "$D" "$SERVE_LOG"
  PUB=$(public_port)
  [ -n "$PUB" ] || fail "serve printed no public listener line: $(head -c 400 "$SERVE_LOG")"
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
  split_pem "$API_CA.chain" "$TMP/chain"  # chain0.pem: issuing CA, chain1.pem: root
  pub_get /v1/crl/root "$TMP/root.crl.der"
  assert_eq "$HTTP_STATUS" 200 "GET /v1/crl/root"
  timeout 20 openssl crl -inform DER -in "$TMP/root.crl.der" -CAfile "$TMP/chain1.pem" -noout \
    2>&1 | grep -q 'verify OK' || fail "GET /v1/crl/root is not a CRL signed by the root CA"
  assert_eq "$(crl_number "$TMP/root.crl.der" DER)" 01 "the root CRL's number after init"
  local next root_end
  next=$(epoch_of "$(timeout 20 openssl crl -inform DER -in "$TMP/root.crl.der" -noout -nextupdate | sed 's/^nextUpdate=//')")
  cache_cert "$TMP/chain1.pem"
  root_end=$(not_after "$TMP/chain1.pem")
  assert_eq "$next" "$root_end" "the root CRL's nextUpdate (= the root's notAfter)"
  note "root CRL 1, next update $(date -u -d "@$next" +%FT%TZ) = the root's notAfter"
  pub_get /v1/crl/root.pem "$TMP/root.crl.pem"
  assert_eq "$HTTP_STATUS" 200 "GET /v1/crl/root.pem"
  cmp -s <(timeout 20 openssl crl -in "$TMP/root.crl.pem" -outform DER) "$TMP/root.crl.der" ||
    fail "/v1/crl/root.pem and /v1/crl/root differ"

  sign good.client
  sign bad.client
  api POST "/v1/certificates/$SERIAL/revoke" "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"reason":"keyCompromise"}'
  expect_status 200 "revoke bad.client"
  # Sections run in subshells: what later ones need goes to files.
  echo "$SERIAL" >"$TMP/revoked.serial"
  echo "$SERVE_PID" >"$TMP/serve.pid"
  pub_get /v1/crl.pem "$TMP/crls.pem"
  assert_eq "$HTTP_STATUS" 200 "GET /v1/crl.pem"
  assert_eq "$(crl_count "$TMP/crls.pem")" 2 "CRLs in /v1/crl.pem"
  # openssl as nginx does it (CRL_CHECK_ALL): the downloaded file alone.
  local at=(-CAfile "$TMP/chain1.pem" -untrusted "$TMP/chain0.pem" -crl_check_all -CRLfile "$TMP/crls.pem")
  run timeout 20 openssl verify "${at[@]}" "$TMP/good.client.crt"
  out_has ': OK'
  timeout 20 openssl verify "${at[@]}" "$TMP/bad.client.crt" >"$OUT" 2>&1 &&
    fail "openssl verify -crl_check_all accepted the revoked certificate"
  grep -q 'certificate revoked' "$OUT" || fail "openssl verify did not say 'certificate revoked': $(cat "$OUT")"
  # Without the root's CRL the same good certificate is refused: the reason for all this.
  awk '/-----BEGIN X509 CRL-----/{n++} n==1' "$TMP/crls.pem" >"$TMP/issuing.crl.pem"
  timeout 20 openssl verify -CAfile "$TMP/chain1.pem" -untrusted "$TMP/chain0.pem" -crl_check_all \
    -CRLfile "$TMP/issuing.crl.pem" "$TMP/good.client.crt" >"$OUT" 2>&1 &&
    fail "openssl verify -crl_check_all accepted a chain without the root's CRL"
  grep -q 'unable to get certificate CRL' "$OUT" || fail "unexpected openssl verify output: $(cat "$OUT")"
  note "openssl verify -crl_check_all with /v1/crl.pem: good OK, revoked refused; without the root CRL: refused"
  # The expiry gauge of the root's CRL.
  api GET /metrics "${ADMIN[@]}"
  expect_status 200 "GET /metrics"
  grep -q "clustertls_certificate_expiry_timestamp_seconds{kind=\"crl\",name=\"root\"} $root_end" "$BODY" ||
    fail "metrics lack the root CRL's expiry: $(grep crl "$BODY")"
}

cli_reads_both() {
  SERIAL=$(cat "$TMP/revoked.serial")
  API_CA=$TMP/root.pem
  run ctls crl show "$TMP/crls.pem"
  out_has "Certificate revocation list .*crls.pem \(1 of 2\)"
  out_has "Certificate revocation list .*crls.pem \(2 of 2\)"
  out_has "Issuer: +CN=clustertls Root CA"
  run ctls crl show "$TMP/crls.pem" --json
  assert_eq "$(jq '.crls | length' "$OUT")" 2 "crl show --json: crls"
  assert_eq "$(jq '.crls[1].count' "$OUT")" 0 "crl show --json: the root CRL's count"
  assert_eq "$(jq '.crls[0].count' "$OUT")" 1 "crl show --json: the issuing CRL's count"
  assert_eq "$(jq -r '.crls[0].entries[0].serial' "$OUT" | tr a-f A-F)" "$(echo "$SERIAL" | tr a-f A-F)" \
    "crl show --json: the revoked serial"
  # One CRL still prints its fields at the top level.
  run ctls crl show "$TMP/root.crl.der" --json
  assert_eq "$(jq '.crl_number' "$OUT")" 1 "crl show --json of one CRL"
  # clustertls verify with the downloaded file.
  run ctls verify "$TMP/good.client.crt" --ca "$API_CA.chain" --crl "$TMP/crls.pem"
  ctls verify "$TMP/bad.client.crt" --ca "$API_CA.chain" --crl "$TMP/crls.pem" >"$OUT" 2>"$ERR" &&
    fail "clustertls verify accepted the revoked certificate"
  out_has 'depth 0: revoked'
  note "clustertls verify --crl with the two-CRL file: good OK, revoked: $(grep -m1 'revoked' "$OUT")"
}

older_cluster() {
  API_CA=$TMP/root.pem
  stop_serve "$(cat "$TMP/serve.pid")"
  timeout 20 sqlite3 "$D/clustertls.db" "DELETE FROM config WHERE key = 'ca.root_crl'" ||
    fail "sqlite3 could not remove the root CRL"
  start_serve "$D" "$SERVE_LOG"
  PUB=$(public_port)
  grep -q 'no root CA CRL' "$SERVE_LOG" || fail "serve does not say the cluster has no root CRL: $(cat "$SERVE_LOG")"
  pub_get /v1/crl/root "$TMP/none"
  assert_eq "$HTTP_STATUS" 404 "GET /v1/crl/root without a root CRL"
  grep -q 'crl sign-root' "$TMP/none" || fail "the 404 does not name crl sign-root: $(cat "$TMP/none")"
  pub_get /v1/crl.pem "$TMP/crls1.pem"
  assert_eq "$(crl_count "$TMP/crls1.pem")" 1 "CRLs in /v1/crl.pem without a root CRL"

  # Bad input: each refused with one line, nothing stored.
  printf 'wrong-passphrase\n' >"$TMP/wrong.pw"
  expect_fail 1 'passphrase does not open the root CA key' -- \
    ctls crl sign-root --data-dir "$D" --ca-passphrase-file "$TMP/wrong.pw"
  [[ "$(cat "$ERR")" != *wrong-passphrase* ]] || fail "the error shows the passphrase"
  expect_fail 2 'ca-passphrase-file' -- ctls crl sign-root --data-dir "$D"
  expect_fail 1 'days.*outlive the root' -- \
    ctls crl sign-root --data-dir "$D" --ca-passphrase-file "$TMP/root.pw" --days 40000
  expect_fail 1 'days' -- ctls crl sign-root --data-dir "$D" --ca-passphrase-file "$TMP/root.pw" --days -3
  expect_fail 1 "$TMP/nowhere" -- ctls crl sign-root --data-dir "$TMP/nowhere" --ca-passphrase-file "$TMP/root.pw"
  : >"$TMP/exists.pem"
  expect_fail 1 'exists' -- ctls crl sign-root --data-dir "$D" --ca-passphrase-file "$TMP/root.pw" --out "$TMP/exists.pem"
  assert_eq "$(timeout 20 sqlite3 "$D/clustertls.db" "SELECT count(*) FROM config WHERE key = 'ca.root_crl'")" 0 \
    "root CRLs stored after the refused attempts"

  # The real thing, while serve runs: published within the poll interval.
  run ctls crl sign-root --data-dir "$D" --ca-passphrase-file "$TMP/root.pw" --days 90 --out "$TMP/signed.pem"
  out_has '^root CA CRL 2 signed, next update '
  assert_mode 644 "$TMP/signed.pem"
  local deadline=$((SECONDS + 15))
  while :; do
    pub_get /v1/crl/root.pem "$TMP/root2.pem"
    [ "$HTTP_STATUS" = 200 ] && break
    [ $SECONDS -le $deadline ] || fail "serve did not publish the new root CRL within 15 s (last HTTP $HTTP_STATUS)"
    sleep 0.2
  done
  cmp -s "$TMP/root2.pem" "$TMP/signed.pem" || fail "serve publishes another root CRL than the one signed"
  assert_eq "$(crl_number "$TMP/root2.pem")" 02 "the re-signed root CRL's number (the counter survived)"
  local next
  next=$(epoch_of "$(timeout 20 openssl crl -in "$TMP/root2.pem" -noout -nextupdate | sed 's/^nextUpdate=//')")
  local want=$(( $(date +%s) + 90 * 86400 ))
  [ $(( next - want )) -le 60 ] && [ $(( want - next )) -le 60 ] ||
    fail "--days 90: nextUpdate $next, expected about $want"
  pub_get /v1/crl.pem "$TMP/crls2.pem"
  assert_eq "$(crl_count "$TMP/crls2.pem")" 2 "CRLs in /v1/crl.pem after crl sign-root"
  grep -q 'now serving root CA CRL number 2' "$SERVE_LOG" || fail "serve did not log the new root CRL"
  api GET "/v1/audit?limit=1000" "${ADMIN[@]}"
  expect_status 200 "GET /v1/audit"
  assert_eq "$(jq '[.entries[] | select(.action == "crl.root.sign")] | length' "$BODY")" 1 "crl.root.sign audit entries"
  run ctls audit verify --data-dir "$D"
  stop_serve "$SERVE_PID"
}

section "init signs the root CRL; serve publishes it alone and in /v1/crl.pem; openssl -crl_check_all" published
section "crl show and verify read the two-CRL file" cli_reads_both
section "a cluster without a root CRL: 404, then crl sign-root (bad input refused first)" older_cluster
finish
