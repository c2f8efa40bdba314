#!/usr/bin/env bash
# `clustertls serve`: the control-path TLS policy (GET/PUT /v1/cluster/policy and
# `clustertls cluster config`), judged by what `openssl s_client`, curl and GnuTLS' gnutls-cli can
# and cannot negotiate with the running server, without restarting it; policies that enable
# weak suites or lock default clients out are refused, also from the store at start.
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

# gnutls_ok [ARGS...]: a real gnutls-cli (default priority unless ARGS set one), verifying the
# server against $API_CA and $API_HOST, completes a handshake and GET /health; its session
# description "(TLS1.3-X.509)-(ECDHE-...)-(...)-(AES-256-GCM)" is in $OUT.
gnutls_ok() {
  printf 'GET /health HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$API_HOST" |
    timeout 15 gnutls-cli --port "$SERVE_PORT" --x509cafile "$API_CA" --sni-hostname "$API_HOST" \
      --verify-hostname "$API_HOST" "$@" 127.0.0.1 >"$OUT" 2>&1
  if ! grep -q '^HTTP/1.1 200' "$OUT"; then
    echo "FAIL: gnutls-cli $* could not connect and GET /health:" >&2
    grep -Ei 'error|alert|fatal|Description' "$OUT" | head -6 | sed 's/^/      | /' >&2
    exit 1
  fi
  note "gnutls-cli $* -> $(grep -m1 -o '(TLS1\.[23].*' "$OUT")"
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

weak() {
  serve_up weak
  api GET /v1/cluster/policy "${ADMIN[@]}"
  cp "$BODY" "$TMP/weak.before"
  # The attacks: NULL encryption (at security level 0), anonymous suites, and a TLS 1.3 suite
  # default clients do not offer.
  put_policy '{"cipher_suites":"eNULL:@SECLEVEL=0"}'
  expect_error 400 'cipher_suites: enables NULL encryption.*@SECLEVEL=0 is below 2: refused' \
    "PUT policy cipher_suites eNULL:@SECLEVEL=0"
  put_policy '{"cipher_suites":"aNULL"}'
  expect_error 400 'cipher_suites: enables .*anonymous suites, no server authentication \(ADH-' \
    "PUT policy cipher_suites aNULL"
  put_policy '{"tls13_ciphersuites":"TLS_AES_128_CCM_8_SHA256"}'
  expect_error 400 'tls13_ciphersuites: control path: a default OpenSSL client could not connect over TLS 1\.3 .*not TLS_AES_128_CCM_8_SHA256' \
    "PUT policy tls13_ciphersuites TLS_AES_128_CCM_8_SHA256"
  put_policy '{"cipher_suites":"ECDHE-RSA-AES128-GCM-SHA256"}'
  expect_error 400 'cipher_suites: control path: .*TLS 1\.2 to an EC P-256 certificate.*works with this certificate' \
    "PUT policy with an RSA-only TLS 1.2 list for the EC api certificate"
  printf '%s\n' "$ADMIN_PW" >"$TMP/admin.pw"
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" --user admin \
    --password-file "$TMP/admin.pw" --client-config "$TMP/client.json"
  expect_fail 1 'NULL encryption' -- ctls cluster config cipher-suites 'eNULL:@SECLEVEL=0' \
    --client-config "$TMP/client.json"
  api GET /v1/cluster/policy "${ADMIN[@]}"
  assert_eq "$(jq -S . "$BODY")" "$(jq -S . "$TMP/weak.before")" "policy (and version) after refused updates"
  # A client that asks for nothing else still cannot get NULL or anonymous suites.
  s_client_fails "$SERVE_PORT" -tls1_2 -cipher 'eNULL:@SECLEVEL=0'
  s_client_fails "$SERVE_PORT" -tls1_2 -cipher 'aNULL:@SECLEVEL=0'
  # Default clients still connect: curl, s_client, gnutls-cli.
  api GET /health
  expect_status 200 "GET /health with curl"
  s_client_ok "$SERVE_PORT"
  gnutls_ok
  # A restricted policy that default clients can use is accepted, and they negotiate within it.
  put_policy '{"cipher_suites":"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384","tls13_ciphersuites":"TLS_AES_256_GCM_SHA384"}'
  expect_status 200 "PUT a restricted policy"
  gnutls_ok
  grep -q '(TLS1.3-X.509)-.*(AES-256-GCM)' "$OUT" || fail "gnutls-cli negotiated $(grep -m1 -o '(TLS1.*' "$OUT")"
  gnutls_ok --priority 'NORMAL:-VERS-TLS1.3'
  grep -q '(TLS1.2-X.509)-(ECDHE-[A-Z0-9]*)-(ECDSA-SHA256)-(AES-256-GCM)' "$OUT" ||
    fail "gnutls-cli TLS 1.2 negotiated $(grep -m1 -o '(TLS1.*' "$OUT")"
  s_client_ok "$SERVE_PORT" -tls1_3
  grep -q 'TLS_AES_256_GCM_SHA384' "$OUT" || fail "s_client TLS 1.3: $(grep -m1 'Cipher is' "$OUT")"
  s_client_ok "$SERVE_PORT" -tls1_2
  grep -q 'Cipher is ECDHE-ECDSA-AES256-GCM-SHA384' "$OUT" ||
    fail "s_client TLS 1.2: $(grep -m1 'Cipher is' "$OUT")"
  api GET /health
  expect_status 200 "GET /health with curl under the restricted policy"
  same_server weak
  # The stored policy is checked at start: one written by an older version (here straight into
  # the database) stops serve with the reason.
  stop_serve "$SERVE_PID"
  local stored
  for stored in '"cipher_suites":"eNULL:@SECLEVEL=0"' '"tls13_ciphersuites":"TLS_AES_128_CCM_8_SHA256"'; do
    local doc
    doc=$(jq -c "del(.version) + {$stored}" "$TMP/weak.before")
    timeout 20 sqlite3 "$D/clustertls.db" \
      "UPDATE policy SET document = '$doc', version = version + 1" || fail "sqlite3 UPDATE policy failed"
    expect_fail 1 'TLS policy version [0-9]+ in the store: (cipher_suites: enables NULL encryption|tls13_ciphersuites: control path: a default OpenSSL client could not connect)' \
      -- ctls serve --data-dir "$D" --listen 127.0.0.1:0 --public-listen 127.0.0.1:0 \
      --public-url http://127.0.0.1:9080
    err_has '(`clustertls serve --reset-tls-policy` stores the default policy)'
  done
  # The way back: the default policy as the next version, audited.
  start_serve "$D" "$TMP/serve.reset.log" --reset-tls-policy
  assert_grep 'stored the default TLS policy as version' "$TMP/serve.reset.log"
  api GET /v1/cluster/policy "${ADMIN[@]}"
  local defaults='{"min_control_tls_version":"1.2","min_data_tls_version":"1.2",
    "cipher_suites":"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305",
    "tls13_ciphersuites":"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
    "client_auth":"none","sentinel_ssl_policy":"required","min_sentinel_tls_version":"1.2"}'
  assert_eq "$(jq -S 'del(.version)' "$BODY")" "$(jq -S . <<<"$defaults")" \
    "policy after --reset-tls-policy (the defaults)"
  api GET '/v1/audit?limit=1000' "${ADMIN[@]}"
  expect_status 200 "GET /v1/audit"
  assert_eq "$(jq -r '[.entries[] | select(.action == "policy.update" and .actor == "local")] | length' "$BODY")" 1 \
    "policy.update entries by local"
  gnutls_ok
}

# The Redis page's rladmin commands, typed as rladmin takes them, and its REST calls.
redis_forms() {
  start_serve "$D" "$TMP/serve.redis.log"
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
  printf '%s\n' "$ADMIN_PW" >"$TMP/admin.pw"
  local cfg=$TMP/redis.json
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" --user admin \
    --password-file "$TMP/admin.pw" --client-config "$cfg"
  run ctls cluster config min_control_TLS_version 1.2 --client-config "$cfg"
  out_has '^min_control_tls_version: 1.2$'
  run ctls cluster config min_data_TLS_version 1.2 --client-config "$cfg"
  out_has '^min_data_tls_version: 1.2$'
  # The page's Mozilla intermediate list, verbatim.
  run ctls cluster config cipher_suites 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384' --client-config "$cfg"
  out_has '^cipher_suites: ECDHE-ECDSA-AES128-GCM-SHA256:.*:DHE-RSA-AES256-GCM-SHA384$'
  s_client_ok "$SERVE_PORT" -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384
  run ctls cluster config sentinel_ssl_policy required min_data_TLS_version 1.2 --client-config "$cfg"
  out_has '^sentinel_ssl_policy: required$'
  out_has '^min_sentinel_tls_version: 1.2$'
  run ctls cluster config sentinel_ssl_policy allowed --client-config "$cfg"
  out_has '^sentinel_ssl_policy: allowed$'
  expect_fail 1 'RFC 8996' -- ctls cluster config min_data_TLS_version 1.1 --client-config "$cfg"
  expect_fail 1 'RFC 8996' -- ctls cluster config sentinel_ssl_policy required min_data_TLS_version 1 \
    --client-config "$cfg"
  expect_fail 1 'expected allowed' -- ctls cluster config sentinel_ssl_policy sometimes --client-config "$cfg"
  expect_fail 2 'min_data_TLS_version needs a version' -- ctls cluster config sentinel_ssl_policy required \
    min_data_TLS_version --client-config "$cfg"
  # The REST side: the knowledge-base's GET, verbatim but for the address, then a PUT of Redis'
  # fields.
  timeout 30 curl -k -v -L -u "admin:$ADMIN_PW" --location-trusted -H "Content-type: application/json" \
    -X GET "https://127.0.0.1:$SERVE_PORT/v1/cluster" -o "$BODY" 2>"$ERR" || fail "curl GET /v1/cluster failed"
  assert_eq "$(jq -r '[.min_data_TLS_version, .min_control_TLS_version, .sentinel_ssl_policy] | join(" ")' "$BODY")" \
    "1.2 1.2 allowed" "GET /v1/cluster"
  api PUT /v1/cluster "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"min_control_TLS_version":"1.3","sentinel_ssl_policy":"disabled"}'
  expect_status 200 "PUT /v1/cluster with Redis' field names"
  s_client_fails "$SERVE_PORT" -tls1_2
  s_client_ok "$SERVE_PORT" -tls1_3
  api PUT /v1/cluster "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"min_control_TLS_version":"1"}'
  expect_error 400 'min_control_TLS_version: .*RFC 8996' "TLS 1.0 under Redis' name"
  api PUT /v1/cluster "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"data_cipher_list":"HIGH"}'
  expect_error 400 'data_cipher_list: clustertls has one cipher list for every path: set cipher_suites' \
    "Redis' data-path list"
  api PUT /v1/cluster "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"min_control_TLS_version":"1.2","sentinel_ssl_policy":"required"}'
  expect_status 200 "PUT /v1/cluster back"
  stop_serve "$SERVE_PID"
}

section "control: s_client's TLS 1.1 probe works against a server that allows TLS 1.1" control
section "defaults: TLS 1.1 and 1.0 refused, 1.2 and 1.3 accepted" defaults
section "min_control_tls_version 1.3 via curl and clustertls cluster config, no restart" min_version
section "refused policies (RFC 8996, unknown ciphers, fields) change nothing" refusals
section "cipher_suites / tls13_ciphersuites are what s_client can negotiate" ciphers
section "weak suites and policies that lock default clients out are refused, also at start" weak
section "the Redis page's rladmin commands and cluster object fields" redis_forms
finish
