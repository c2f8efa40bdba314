#!/usr/bin/env bash
# An offline CA's revocation (easy-rsa's `revoke` / `gen-crl`), judged by openssl, GnuTLS and a
# real consumer of the CRL, Debian's nginx: a `quickstart` CA issues two more client
# certificates, `ca revoke` records one, `ca crl` signs the CRL, and nginx with
# `ssl_verify_client on; ssl_crl <that CRL>` refuses the revoked client (400, error log
# "certificate revoked") and accepts the other. Also: the CRL number increases, DER output,
# idempotent revocation, refusals that leave nothing half-written.
#   bash test_offline_crl.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

command -v nginx >/dev/null || PATH=$PATH:/usr/sbin
command -v nginx >/dev/null || fail "nginx is not installed (scripts/setup installs Debian's nginx)"

Q=$TMP/demo
CA=$Q/ca
# Sections run in subshells: the revoked serial is read from the file where needed.
bad_serial() { serial_hex "$Q/bad/bad.client.crt"; }

# crl_text FILE [DER]: `openssl crl -text` of FILE.
crl_text() { timeout 20 openssl crl -in "$1" -inform "${2:-PEM}" -noout -text; }

setup() {
  run ctls quickstart --out "$Q"
  run ctls cert issue --ca-cert "$CA/ca.crt" --ca-key "$CA/ca.key" --name good.client \
    --profile client --out "$Q/good"
  run ctls cert issue --ca-cert "$CA/ca.crt" --ca-key "$CA/ca.key" --name bad.client \
    --profile client --out "$Q/bad"
  BAD=$(serial_hex "$Q/bad/bad.client.crt")
  # Every certificate the CA signed is recorded beside it, with its serial as openssl prints it.
  timeout 10 python3 -m json.tool "$CA/issued.json" >/dev/null || fail "issued.json is not JSON"
  assert_mode 644 "$CA/issued.json"
  local f
  for f in server/server.crt client/client.crt good/good.client.crt bad/bad.client.crt; do
    assert_grep "\"serial\":\"$(serial_hex "$Q/$f")\"" "$CA/issued.json"
  done
  run ctls ca revoke --ca-dir "$CA" "$Q/bad/bad.client.crt" --reason keyCompromise
  out_has "^revoked $BAD \(keyCompromise\) at "
  assert_mode 644 "$CA/revoked.json"
  timeout 10 python3 -m json.tool "$CA/revoked.json" >/dev/null || fail "revoked.json is not JSON"
  assert_grep "\"serial\": \"$BAD\"" "$CA/revoked.json"
  # Twice: nothing changes, the first reason is kept.
  local before
  before=$(sha "$CA/revoked.json")
  run ctls ca revoke --ca-dir "$CA" "serial=$BAD" --reason superseded
  out_has "^already revoked $BAD \(keyCompromise\).*nothing changed"
  assert_eq "$(sha "$CA/revoked.json")" "$before" "revoked.json after revoking twice"

  run ctls ca crl --ca-dir "$CA" --out "$Q/ca.crl"
  out_has "^CRL 1 of CN=clustertls CA: 1 revoked, next update "
  assert_mode 644 "$Q/ca.crl"
  note "$(head -n1 "$OUT")"
}

judged_by_openssl() {
  local BAD
  BAD=$(bad_serial)
  # Signed by the CA, v2, the number, the serial and its reason.
  timeout 20 openssl crl -in "$Q/ca.crl" -CAfile "$CA/ca.crt" -noout 2>&1 | grep -q 'verify OK' ||
    fail "openssl crl -CAfile does not verify the CRL against ca.crt"
  crl_text "$Q/ca.crl" >"$TMP/crl.txt"
  assert_grep 'Version 2' "$TMP/crl.txt"
  grep -A1 'X509v3 CRL Number' "$TMP/crl.txt" | tail -n1 | grep -Eq '^ *1$' ||
    fail "CRL Number should be 1: $(grep -A1 'CRL Number' "$TMP/crl.txt" | tr '\n' ' ')"
  grep -qi "Serial Number: $BAD\$" "$TMP/crl.txt" || fail "the CRL does not list $BAD"
  grep -A4 -i "Serial Number: $BAD\$" "$TMP/crl.txt" | grep -q 'Key Compromise' ||
    fail "the entry of $BAD does not say Key Compromise"
  # nextUpdate 180 days after lastUpdate (easy-rsa's default).
  local last next
  last=$(epoch_of "$(sed -n 's/^ *Last Update: //p' "$TMP/crl.txt")")
  next=$(epoch_of "$(sed -n 's/^ *Next Update: //p' "$TMP/crl.txt")")
  assert_eq "$((next - last))" "$((180 * 86400))" "nextUpdate - lastUpdate (seconds)"
  note "openssl: $(grep -c 'Serial Number' "$TMP/crl.txt") revoked, $(grep -A1 'Reason' "$TMP/crl.txt" | tail -n1 | tr -s ' ')"

  # openssl verify with the CRL: the revoked one refused, the other accepted.
  ossl_verify_crl() {
    timeout 20 openssl verify -crl_check -CAfile "$CA/ca.crt" -CRLfile "$Q/ca.crl" "$1" 2>&1
  }
  # The output is captured first: openssl verify exits 2 on the revoked one (pipefail).
  local verdict
  verdict=$(ossl_verify_crl "$Q/good/good.client.crt")
  grep -q ': OK$' <<<"$verdict" || fail "openssl verify -crl_check refuses good.client: $verdict"
  verdict=$(ossl_verify_crl "$Q/bad/bad.client.crt")
  grep -q 'error 23 at 0 depth lookup: certificate revoked' <<<"$verdict" ||
    fail "openssl verify -crl_check accepts bad.client: $verdict"
  # GnuTLS checks the CRL's signature too.
  timeout 20 certtool --verify-crl --load-ca-certificate "$CA/ca.crt" --infile "$Q/ca.crl" \
    >"$TMP/certtool.txt" 2>&1 || fail "certtool --verify-crl: $(tail -n3 "$TMP/certtool.txt")"
  grep -qi 'Verified' "$TMP/certtool.txt" || fail "certtool --verify-crl: $(tail -n3 "$TMP/certtool.txt")"
}

numbers_increase() {
  run ctls ca crl --ca-dir "$CA" --out "$Q/ca2.crl" --days 7
  out_has "^CRL 2 of "
  run ctls ca crl --ca-dir "$CA" --out "$Q/ca3.der" --der
  out_has "^CRL 3 of .*\(DER\)"
  local n2 n3
  n2=$(crl_text "$Q/ca2.crl" | grep -A1 'CRL Number' | tail -n1 | tr -d ' ')
  n3=$(crl_text "$Q/ca3.der" DER | grep -A1 'CRL Number' | tail -n1 | tr -d ' ')
  [ "$n2" = 2 ] && [ "$n3" = 3 ] || fail "CRL numbers should be 2 then 3, got '$n2' and '$n3'"
  timeout 20 openssl crl -in "$Q/ca3.der" -inform DER -CAfile "$CA/ca.crt" -noout 2>&1 |
    grep -q 'verify OK' || fail "the DER CRL does not verify"
  assert_eq "$(cat "$CA/crlnumber")" "04" "crlnumber after three CRLs"
  # Without --force an existing CRL stays, and no number is used up.
  expect_fail 1 'already exists' -- ctls ca crl --ca-dir "$CA" --out "$Q/ca2.crl"
  assert_eq "$(cat "$CA/crlnumber")" "04" "crlnumber after a refused CRL"
  run ctls ca crl --ca-dir "$CA" --out "$Q/ca2.crl" --force
  out_has "^CRL 4 of "
}

refusals() {
  local before
  before=$(sha "$CA/revoked.json")
  expect_fail 1 'is the CA certificate itself' -- ctls ca revoke --ca-dir "$CA" "$CA/ca.crt"
  expect_fail 1 "serial $(serial_hex "$CA/ca.crt") is the CA certificate's own" -- \
    ctls ca revoke --ca-dir "$CA" "$(serial_hex "$CA/ca.crt")"
  run ctls ca init --out "$TMP/other" --name "ITest Other CA"
  run ctls cert issue --ca-cert "$TMP/other/ca.crt" --ca-key "$TMP/other/ca.key" --name stranger \
    --profile client --out "$TMP/other"
  expect_fail 1 'stranger.crt: issued by "CN=ITest Other CA", not by this CA' -- \
    ctls ca revoke --ca-dir "$CA" "$TMP/other/stranger.crt"
  expect_fail 2 'not a serial' -- ctls ca revoke --ca-dir "$CA" "12:zz:34"
  expect_fail 2 'unknown revocation reason' -- ctls ca revoke --ca-dir "$CA" 0A --reason nope
  expect_fail 1 'no such file' -- ctls ca revoke --ca-dir "$TMP/nowhere" 0A
  # A serial this CA never issued (a typo): refused, naming the list of what it issued.
  expect_fail 1 "serial 0A1B: not a certificate of this CA: $CA/issued.json lists the 4 it issued" -- \
    ctls ca revoke --ca-dir "$CA" 0A1B
  expect_fail 2 '--unrecorded is for a SERIAL' -- \
    ctls ca revoke --ca-dir "$CA" "$Q/good/good.client.crt" --unrecorded
  assert_eq "$(sha "$CA/revoked.json")" "$before" "revoked.json after the refusals"
  # A recorded serial (quickstart's client) is revoked by its serial alone.
  local client
  client=$(serial_hex "$Q/client/client.crt")
  run ctls ca revoke --ca-dir "$CA" "$client" --reason affiliationChanged
  out_has "^revoked $client \(affiliationChanged\) at .*, issued to client\$"

  # An encrypted CA key: no passphrase, a wrong one.
  printf 'the ca passphrase\n' >"$TMP/ca.pw"
  printf 'wrong\n' >"$TMP/wrong.pw"
  run ctls ca init --out "$TMP/enc" --passphrase-file "$TMP/ca.pw"
  # One issued elsewhere (no record here): --unrecorded.
  run ctls ca revoke --ca-dir "$TMP/enc" 0A1B --reason cessationOfOperation --unrecorded
  out_has '^revoked 0A1B \(cessationOfOperation\) at .* \(unrecorded\)$'
  expect_fail 1 'ca.key.*--ca-passphrase-file' -- ctls ca crl --ca-dir "$TMP/enc" --out "$TMP/enc.crl"
  expect_fail 1 'ca.key' -- ctls ca crl --ca-dir "$TMP/enc" --ca-passphrase-file "$TMP/wrong.pw" \
    --out "$TMP/enc.crl"
  assert_no_file "$TMP/enc.crl"
  assert_no_file "$TMP/enc/crlnumber"
  # A directory without a CA.
  mkdir -p "$TMP/empty"
  expect_fail 1 'empty/ca.crt: no such file' -- ctls ca crl --ca-dir "$TMP/empty" --out "$TMP/u.crl"
  assert_no_file "$TMP/u.crl"
  # Bad --days: usage errors naming the flag.
  local days
  for days in 0 36501 -3 ten; do
    expect_fail 2 '--days' -- ctls ca crl --ca-dir "$TMP/enc" --ca-passphrase-file "$TMP/ca.pw" \
      --out "$TMP/enc.crl" --days "$days"
  done
  # A damaged revocation list or counter: exit 1 naming the file and what is wrong.
  local list
  list=$(sha "$TMP/enc/revoked.json")
  cp "$TMP/enc/revoked.json" "$TMP/revoked.json.good"
  head -c 40 "$TMP/revoked.json.good" >"$TMP/enc/revoked.json"
  expect_fail 1 'enc/revoked.json: not a JSON object' -- \
    ctls ca crl --ca-dir "$TMP/enc" --ca-passphrase-file "$TMP/ca.pw" --out "$TMP/enc.crl"
  expect_fail 1 'enc/revoked.json: not a JSON object' -- ctls ca revoke --ca-dir "$TMP/enc" 0C
  sed 's/"reason": "cessationOfOperation"/"reason": "stolen"/' "$TMP/revoked.json.good" \
    >"$TMP/enc/revoked.json"
  expect_fail 1 'enc/revoked.json: revoked\[0\].reason: "stolen" is not a reason' -- \
    ctls ca crl --ca-dir "$TMP/enc" --ca-passphrase-file "$TMP/ca.pw" --out "$TMP/enc.crl"
  cp "$TMP/revoked.json.good" "$TMP/enc/revoked.json"
  assert_eq "$(sha "$TMP/enc/revoked.json")" "$list" "revoked.json restored"
  printf 'twelve\n' >"$TMP/enc/crlnumber"
  expect_fail 1 'enc/crlnumber: expected the next CRL number in hex' -- \
    ctls ca crl --ca-dir "$TMP/enc" --ca-passphrase-file "$TMP/ca.pw" --out "$TMP/enc.crl"
  rm "$TMP/enc/crlnumber"
  assert_no_file "$TMP/enc.crl"
  local key_before
  key_before=$(sha "$TMP/enc/ca.key")
  run ctls ca crl --ca-dir "$TMP/enc" --ca-passphrase-file "$TMP/ca.pw" --out "$TMP/enc.crl"
  crl_text "$TMP/enc.crl" | grep -A4 'Serial Number: 0A1B' | grep -q 'Cessation Of Operation' ||
    fail "the encrypted CA's CRL does not list 0A1B (cessationOfOperation)"
  # Signing read the CA key and wrote nothing of it: still the same encrypted PKCS#8, and no
  # other file in the CA's directory holds a key.
  assert_eq "$(sha "$TMP/enc/ca.key")" "$key_before" "ca.key after ca crl"
  assert_grep 'BEGIN ENCRYPTED PRIVATE KEY' "$TMP/enc/ca.key"
  [ -z "$(grep -l 'PRIVATE KEY' "$TMP/enc"/* | grep -v '/ca.key$')" ] ||
    fail "a file other than ca.key in the CA's directory holds a private key"
  # Nothing but the files of the commands that succeeded: no temporaries anywhere.
  local leftovers
  leftovers=$(find "$TMP" -name '.*.tmp.*' -o -name '*.tmp.*' | head -n3)
  [ -z "$leftovers" ] || fail "temporary files left behind: $leftovers"
}

# start_nginx NAME DIRECTIVES...: lib.sh's start_nginx_mtls with quickstart's server certificate,
# client certificates required from quickstart's CA.
start_nginx() {
  start_nginx_mtls "$1" "$Q/server/server.crt" "$Q/server/server.key" "$CA/ca.crt" "${@:2}"
}

# get_as NAME: GET / as the client certificate $Q/NAME/NAME.crt ("none": without one).
get_as() {
  local auth=()
  case $1 in
    none) ;;
    good.client) auth=(--cert "$Q/good/good.client.crt" --key "$Q/good/good.client.key") ;;
    bad.client) auth=(--cert "$Q/bad/bad.client.crt" --key "$Q/bad/bad.client.key") ;;
  esac
  HTTP_STATUS=$(timeout 30 curl -sS -o "$TMP/body" -w '%{http_code}' --cacert "$CA/ca.crt" \
    --resolve "localhost:$NGX_PORT:127.0.0.1" "${auth[@]}" "https://localhost:$NGX_PORT/" 2>"$ERR")
  [ $? -eq 0 ] || fail "curl to nginx as $1 failed: $(head -c 400 "$ERR")"
}

nginx_ssl_crl() {
  start_nginx nginx-crl "ssl_crl $Q/ca.crl;"
  get_as good.client
  [ "$HTTP_STATUS" = 200 ] && grep -q 'CN=good.client' "$TMP/body" ||
    fail "nginx should accept good.client, got HTTP $HTTP_STATUS: $(head -c 300 "$TMP/body"); log: $(tail -n3 "$NGX_LOG")"
  note "nginx accepts good.client: $(head -n1 "$TMP/body")"
  local before
  before=$(wc -l <"$NGX_LOG")
  get_as bad.client
  [ "$HTTP_STATUS" = 400 ] && grep -q 'The SSL certificate error' "$TMP/body" ||
    fail "nginx should refuse bad.client with 400, got HTTP $HTTP_STATUS: $(head -c 300 "$TMP/body")"
  wait_for_match_after "$NGX_LOG" "$before" 'certificate revoked' ||
    fail "nginx's error log does not say 'certificate revoked': $(tail -n3 "$NGX_LOG")"
  note "nginx refuses bad.client: $(tail -n +"$((before + 1))" "$NGX_LOG" | grep -o 'client SSL certificate verify error: .*revoked[^,]*' | head -n1)"
  get_as good.client
  [ "$HTTP_STATUS" = 200 ] || fail "nginx should still accept good.client, got HTTP $HTTP_STATUS"
  # The same nginx without ssl_crl accepts the revoked client: the CRL is what refuses it.
  start_nginx nginx-nocrl ""
  get_as bad.client
  [ "$HTTP_STATUS" = 200 ] || fail "nginx without ssl_crl should accept bad.client, got $HTTP_STATUS"
  note "without ssl_crl nginx accepts bad.client (HTTP 200): the CRL made the difference"
}

# wait_for_match_after FILE LINE REGEX: REGEX appears in FILE after line LINE within 5 s.
wait_for_match_after() {
  local deadline=$((SECONDS + 5))
  until tail -n +"$(($2 + 1))" "$1" | grep -Eq "$3"; do
    [ $SECONDS -le $deadline ] || return 1
    sleep 0.1
  done
}

section "quickstart, two client certificates, ca revoke one (twice), ca crl" setup
section "openssl crl -CAfile, -text (serial, Key Compromise, 180 days), verify -crl_check, certtool" judged_by_openssl
section "CRL numbers increase (PEM and DER), --force, crlnumber" numbers_increase
section "refusals write nothing: the CA itself, another CA, bad serial/reason/dir, passphrases" refusals
section "nginx ssl_verify_client on + ssl_crl: revoked refused (certificate revoked), other accepted" nginx_ssl_crl
finish
