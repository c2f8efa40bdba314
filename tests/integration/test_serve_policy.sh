#!/usr/bin/env bash
# `clustertls serve`: the control-path TLS policy (GET/PUT /v1/cluster/policy and
# `clustertls cluster config`), judged by what `openssl s_client` can and cannot negotiate with
# the running server, without restarting it.
#   bash test_serve_policy.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=policy.example.com
API_HOST=$FQDN
D=$TMP/cluster
serve_init "$D" "$FQDN"

# OpenSSL 3 only speaks TLS 1.0/1.1 at security level 0, so the old-protocol probes lower it
# on the client side; the control below shows that the same s_client command succeeds against a
# server that allows TLS 1.1, so a failure against clustertls is the server's refusal.
OLD=(-tls1_1 -cipher 'DEFAULT@SECLEVEL=0')

serve_up() {
  start_serve "$D" "$TMP/serve.$1.log"
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
}

# put_policy JSON: PUT /v1/cluster/policy as admin.
put_policy() {
  api PUT /v1/cluster/policy "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary "$1"
}

# same_server: the server that answered is still the one started (no restart happened).
same_server() {
  kill -0 "$SERVE_PID" 2>/dev/null || fail "the server exited"
  local n
  n=$(grep -c 'serving https://' "$TMP/serve.$1.log")
  assert_eq "$n" 1 "number of 'serving' lines (the server must not restart)"
}

control() {
  timeout 20 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$TMP/ctl.key" -out "$TMP/ctl.crt" -subj "/CN=$FQDN" >/dev/null 2>&1 ||
    fail "openssl req -x509 failed"
  start_s_server "$TMP/s_server.log" -cert "$TMP/ctl.crt" -key "$TMP/ctl.key" -tls1_1 \
    -cipher 'DEFAULT@SECLEVEL=0' -www
  s_client_ok "$S_PORT" "${OLD[@]}"
}

defaults() {
  serve_up defaults
  api GET /v1/cluster/policy "${ADMIN[@]}"
  expect_status 200 "GET /v1/cluster/policy"
  assert_eq "$(jbody .min_control_tls_version)" 1.2 "default min_control_tls_version"
  assert_eq "$(jbody .min_data_tls_version)" 1.2 "default min_data_tls_version"
  assert_eq "$(jbody .client_auth)" none "default client_auth"
  s_client_fails "$SERVE_PORT" "${OLD[@]}"
  s_client_fails "$SERVE_PORT" -tls1 -cipher 'DEFAULT@SECLEVEL=0'
  s_client_ok "$SERVE_PORT" -tls1_2
  s_client_ok "$SERVE_PORT" -tls1_3
}

min_version() {
  serve_up minversion
  api GET /v1/cluster/policy "${ADMIN[@]}"
  local v0
  v0=$(jbody .version)
  s_client_ok "$SERVE_PORT" -tls1_2
  # curl: 1.3, at once for new connections.
  put_policy '{"min_control_tls_version":"1.3"}'
  expect_status 200 "PUT policy min_control_tls_version 1.3"
  assert_eq "$(jbody .min_control_tls_version)" 1.3 "policy in the PUT response"
  [ "$(jbody .version)" -gt "$v0" ] || fail "policy version did not increase ($v0 -> $(jbody .version))"
  s_client_fails "$SERVE_PORT" -tls1_2
  s_client_ok "$SERVE_PORT" -tls1_3
  s_client_fails "$SERVE_PORT" "${OLD[@]}"
  same_server minversion
  # Back to 1.2 (a number is accepted as well as a string).
  put_policy '{"min_control_tls_version":1.2}'
  expect_status 200 "PUT policy min_control_tls_version 1.2 (a JSON number)"
  s_client_ok "$SERVE_PORT" -tls1_2
  # The client CLI: the same change, same effect.
  printf '%s\n' "$ADMIN_PW" >"$TMP/admin.pw"
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" --user admin \
    --password-file "$TMP/admin.pw" --client-config "$TMP/client.json"
  run ctls cluster config min-control-tls-version 1.3 --client-config "$TMP/client.json"
  s_client_fails "$SERVE_PORT" -tls1_2
  s_client_ok "$SERVE_PORT" -tls1_3
  api GET /v1/cluster/policy "${ADMIN[@]}"
  assert_eq "$(jbody .min_control_tls_version)" 1.3 "policy after clustertls cluster config"
  expect_fail 1 'RFC 8996' -- ctls cluster config min-control-tls-version 1.1 \
    --client-config "$TMP/client.json"
  same_server minversion
  # The policy is stored: a restarted server applies it from the start.
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
  start_serve "$D" "$TMP/serve.restarted.log"
  s_client_fails "$SERVE_PORT" -tls1_2
  s_client_ok "$SERVE_PORT" -tls1_3
  put_policy '{"min_control_tls_version":"1.2"}'
  expect_status 200 "PUT policy back to 1.2"
  s_client_ok "$SERVE_PORT" -tls1_2
}

refusals() {
  serve_up refusals
  api GET /v1/cluster/policy "${ADMIN[@]}"
  cp "$BODY" "$TMP/policy.before"
  local body
  for body in '{"min_control_tls_version":"1.1"}' '{"min_control_tls_version":"1"}' \
    '{"min_control_tls_version":1.1}' '{"min_data_tls_version":"1.0"}' \
    '{"min_data_tls_version":"1.1"}'; do
    put_policy "$body"
    expect_error 400 'RFC 8996' "PUT policy $body"
  done
  put_policy '{"min_control_tls_version":"1.4"}'
  expect_error 400 'min_control_tls_version' "PUT policy 1.4"
  put_policy '{"cipher_suites":"NO-SUCH-CIPHER:ALSO-NOT-ONE"}'
  expect_error 400 'cipher' "PUT policy with a cipher list OpenSSL accepts nothing from"
  put_policy '{"tls13_ciphersuites":"TLS_NO_SUCH_SUITE"}'
  expect_error 400 'tls13_ciphersuites|cipher' "PUT policy with an unknown TLS 1.3 suite"
  put_policy '{"client_auth":"sometimes"}'
  expect_error 400 'client_auth' "PUT policy client_auth sometimes"
  put_policy '{"min_control_tls_versoin":"1.3"}'
  expect_error 400 'versoin|unknown' "PUT policy with a misspelt field"
  put_policy '{"version":7}'
  expect_error 400 'version' "PUT policy setting version"
  put_policy '{"min_control_tls_version":"1.3","cipher_suites":"NO-SUCH-CIPHER"}'
  expect_error 400 'cipher' "PUT policy with one good and one bad field"
  api GET /v1/cluster/policy "${ADMIN[@]}"
  assert_eq "$(jq -S . "$BODY")" "$(jq -S . "$TMP/policy.before")" "policy after refused updates"
  s_client_ok "$SERVE_PORT" -tls1_2
  # A reader may read the policy but not change it.
  api POST /v1/users "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"name":"policyreader","role":"reader","password":"reader-password-1234"}'
  expect_status 201 "POST /v1/users (reader)"
  api GET /v1/cluster/policy -u policyreader:reader-password-1234
  expect_status 200 "GET policy as reader"
  api PUT /v1/cluster/policy -u policyreader:reader-password-1234 \
    -H 'Content-Type: application/json' --data-binary '{"min_control_tls_version":"1.3"}'
  expect_error 403 'forbidden|admin|role' "PUT policy as reader"
  s_client_ok "$SERVE_PORT" -tls1_2
}

ciphers() {
  serve_up ciphers
  put_policy '{"min_control_tls_version":"1.2","cipher_suites":"ECDHE-ECDSA-AES256-GCM-SHA384"}'
  expect_status 200 "PUT policy cipher_suites ECDHE-ECDSA-AES256-GCM-SHA384"
  s_client_ok "$SERVE_PORT" -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384
  grep -q 'Cipher is ECDHE-ECDSA-AES256-GCM-SHA384' "$OUT" || fail "negotiated another cipher"
  s_client_fails "$SERVE_PORT" -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256
  s_client_fails "$SERVE_PORT" -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305
  # Whatever the client offers, TLS 1.2 ends on the one allowed cipher.
  s_client_ok "$SERVE_PORT" -tls1_2
  grep -q 'Cipher is ECDHE-ECDSA-AES256-GCM-SHA384' "$OUT" ||
    fail "TLS 1.2 negotiated a cipher outside the policy: $(grep -m1 'Cipher is' "$OUT")"
  # curl (the API still works under the restricted list).
  api GET /health
  expect_status 200 "GET /health under the restricted cipher list"
  # TLS 1.3 suites are their own list.
  put_policy '{"tls13_ciphersuites":"TLS_CHACHA20_POLY1305_SHA256"}'
  expect_status 200 "PUT policy tls13_ciphersuites"
  s_client_ok "$SERVE_PORT" -tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256
  s_client_fails "$SERVE_PORT" -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256
  # The client CLI sets the TLS <= 1.2 list too.
  printf '%s\n' "$ADMIN_PW" >"$TMP/admin.pw"
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" --user admin \
    --password-file "$TMP/admin.pw" --client-config "$TMP/client.json"
  run ctls cluster config cipher-suites 'ECDHE-ECDSA-AES128-GCM-SHA256' --client-config "$TMP/client.json"
  s_client_ok "$SERVE_PORT" -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256
  s_client_fails "$SERVE_PORT" -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384
  expect_fail 1 'cipher' -- ctls cluster config cipher-suites 'NO-SUCH-CIPHER' \
    --client-config "$TMP/client.json"
  same_server ciphers
}

section "control: s_client's TLS 1.1 probe works against a server that allows TLS 1.1" control
section "defaults: TLS 1.1 and 1.0 refused, 1.2 and 1.3 accepted" defaults
section "min_control_tls_version 1.3 via curl and clustertls cluster config, no restart" min_version
section "refused policies (RFC 8996, unknown ciphers, fields) change nothing" refusals
section "cipher_suites / tls13_ciphersuites are what s_client can negotiate" ciphers
finish
