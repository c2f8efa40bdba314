#!/usr/bin/env bash
# The data-path TLS proxy (issue 15): a real `serve`, a real `clustertls agent run` keeping the
# proxy's directory current, Debian's redis-server (plain, loopback) as the backend, and
# `clustertls proxy` in front of it. Judged by redis-cli --tls, openssl s_client, sslscan and the
# proxy's /metrics and /status. Measures the time from a revoke call's return to the close of
# the revoked client's open connection.
#   bash test_proxy.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=cluster.proxy.test
D=$TMP/data
N=$TMP/node1
CFG=$TMP/client.json
export CLUSTERTLS_CLIENT_CONFIG=$CFG
PORT=$(free_port)
PUB=$(free_port)
URL=https://127.0.0.1:$PORT

# serve, the agent, redis and the proxy live across sections: kept here, stopped on exit.
KEPT=$TMP/.kept
: >"$KEPT"
keep_pid() { echo "$1" >>"$KEPT"; }
stop_kept() {
  local pid
  while read -r pid; do [ -n "$pid" ] && kill "$pid" 2>/dev/null; done <"$KEPT"
  sleep 0.2
}
trap 'stop_kept; _cleanup' EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# client_cert NAME: a client key and certificate (CN=NAME) signed through POST /v1/ca/sign.
client_cert() {
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/$1.key" -out "$TMP/$1.csr" -subj "/CN=$1" >/dev/null 2>&1 ||
    fail "openssl req failed"
  jq -n --rawfile c "$TMP/$1.csr" '{csr:$c,profile:"client",days:30}' >"$TMP/sign.json"
  api POST /v1/ca/sign "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/sign.json"
  expect_status 201 "POST /v1/ca/sign $1"
  jbody .certificate >"$TMP/$1.crt"
}

# rcli NAME ARGS...: redis-cli over TLS through the proxy as client NAME ("" for none).
rcli() {
  local who=$1
  shift
  local cert=()
  [ -n "$who" ] && cert=(--cert "$TMP/$who.crt" --key "$TMP/$who.key")
  timeout 10 redis-cli --tls --cacert "$N/ca.pem" "${cert[@]}" -h 127.0.0.1 -p "$PPORT" "$@" 2>&1
}

# sc ARGS...: openssl s_client to the proxy with app1's certificate; exit status kept.
sc() {
  timeout 10 openssl s_client -connect "127.0.0.1:$PPORT" -cert "$TMP/app1.crt" \
    -key "$TMP/app1.key" -CAfile "$N/ca.pem" "$@" </dev/null >"$TMP/sc.out" 2>&1
}

metric() { # metric NAME{labels}: its value from /metrics
  timeout 5 curl -s "http://127.0.0.1:$APORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

put_policy() {
  api PUT /v1/cluster/policy "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary "$1"
  expect_status 200 "PUT /v1/cluster/policy $1"
}

setup() {
  serve_init "$D" "$FQDN"
  : >"$TMP/serve.log"
  timeout 600 "$CTLS" serve --data-dir "$D" --listen "127.0.0.1:$PORT" \
    --public-listen "127.0.0.1:$PUB" --agent-long-poll 5s >"$TMP/serve.log" 2>&1 </dev/null &
  keep_pid $!
  wait_for_match "$TMP/serve.log" 'serving https://' 60
  SERVE_PORT=$PORT
  API_HOST=$FQDN
  API_CA=$TMP/root.pem
  fetch_ca_root "$PORT" "$FQDN" "$API_CA"
  printf '%s\n' "$ADMIN_PW" >"$TMP/admin.pw"
  run ctls login --server "$URL" --ca-fingerprint "$CA_FP" --user admin --password-file "$TMP/admin.pw"
  # The data path asks for client certificates.
  put_policy '{"client_auth":"required"}'
  run ctls -q nodes token create node1 --assign proxy --dns "node1.$FQDN" --ip 127.0.0.1
  cp "$OUT" "$TMP/node1.token"
  run ctls agent enroll --server "$URL" --ca-fingerprint "$CA_FP" --token-file "$TMP/node1.token" \
    --dir "$N"
  timeout 900 "$CTLS" agent run --dir "$N" >"$TMP/agent.log" 2>&1 </dev/null &
  keep_pid $!
  wait_for_match "$TMP/agent.log" 'applied version [0-9]+:' 20
  assert_file "$N/proxy_cert.pem"
  assert_file "$N/crl.pem"
  assert_eq "$(jq -r .client_auth "$N/policy.json")" required "policy.json client_auth"

  RPORT=$(free_port)
  timeout 600 redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
    >"$TMP/redis.log" 2>&1 &
  keep_pid $!
  wait_for_match "$TMP/redis.log" 'Ready to accept connections' 20

  PPORT=$(free_port)
  APORT=$(free_port)
  timeout 600 "$CTLS" proxy --listen "127.0.0.1:$PPORT" --backend "127.0.0.1:$RPORT" --dir "$N" \
    --admin-listen "127.0.0.1:$APORT" --threads 2 >"$TMP/proxy.log" 2>&1 </dev/null &
  PROXY_PID=$!
  keep_pid $PROXY_PID
  wait_for_match "$TMP/proxy.log" 'listening on' 20
  client_cert app1
  client_cert app2
  declare -p ADMIN ADMIN_PW CA_FP API_HOST API_CA SERVE_PORT RPORT PPORT APORT PROXY_PID >"$TMP/env.sh"
}

usage_errors() {
  expect_fail 2 'listen' -- ctls proxy --listen 6380 --backend 127.0.0.1:1 --dir "$N"
  expect_fail 1 "--dir $TMP/empty: proxy_cert.pem: no such file" -- \
    ctls proxy --listen 127.0.0.1:0 --backend 127.0.0.1:1 --dir "$TMP/empty"
  run ctls proxy --help
  out_has '--allow-san'
  out_has '--policy-path'
}

redis_through_proxy() {
  source "$TMP/env.sh"
  assert_eq "$(rcli app1 PING)" PONG "PING through the proxy"
  assert_eq "$(rcli app1 SET greeting hello)" OK "SET"
  assert_eq "$(rcli app1 GET greeting)" hello "GET"
  # No client certificate: refused (client_auth required).
  local out
  out=$(rcli "" PING)
  [[ "$out" != *PONG* ]] || fail "a client without certificate got PONG"
  note "no client certificate: $(echo "$out" | head -n1)"
  # TLS 1.1 and a cipher outside the policy: refused; the policy's own: accepted.
  # The client offers TLS 1.1 for real (its own security level lowered): the refusal is the proxy's.
  sc -tls1_1 -cipher "DEFAULT:@SECLEVEL=0" && fail "s_client -tls1_1 connected"
  note "s_client -tls1_1: $(grep -Eim1 "alert|error" "$TMP/sc.out")"
  sc -tls1_2 -cipher AES128-SHA256 && fail "s_client -tls1_2 -cipher AES128-SHA256 (not in the policy) connected"
  sc -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 || fail "s_client -tls1_2 with a policy cipher failed: $(tail -5 "$TMP/sc.out")"
  sc -tls1_3 || fail "s_client -tls1_3 failed: $(tail -5 "$TMP/sc.out")"
  assert_grep "CN = app1|CN=app1" "$TMP/proxy.log"
  assert_not_grep 'PRIVATE KEY' "$TMP/proxy.log"
}

sslscan_sees_the_policy() {
  source "$TMP/env.sh"
  timeout 60 sslscan --no-colour --certs="$TMP/app1.crt" --pk="$TMP/app1.key" \
    "127.0.0.1:$PPORT" >"$TMP/sslscan.out" 2>&1 || fail "sslscan failed: $(tail -5 "$TMP/sslscan.out")"
  assert_grep 'TLSv1.0 +disabled' "$TMP/sslscan.out"
  assert_grep 'TLSv1.1 +disabled' "$TMP/sslscan.out"
  assert_grep 'TLSv1.2 +enabled' "$TMP/sslscan.out"
  assert_grep 'TLSv1.3 +enabled' "$TMP/sslscan.out"
  # Every TLS 1.2 cipher accepted is in the policy's list (Mozilla intermediate: ECDHE/DHE AEAD).
  local policy accepted c
  policy=$(jq -r .cipher_suites "$N/policy.json" | tr ':' '\n')
  accepted=$(grep -E '^(Preferred|Accepted) +TLSv1\.2' "$TMP/sslscan.out" | awk '{print $5}')
  [ -n "$accepted" ] || fail "sslscan lists no TLS 1.2 cipher: $(_show "$TMP/sslscan.out")"
  for c in $accepted; do
    grep -qx -- "$c" <<<"$policy" || fail "sslscan: TLS 1.2 cipher $c accepted but not in the policy"
  done
  note "sslscan: TLS 1.2 ciphers accepted: $(echo $accepted)"
}

policy_follows_the_api() {
  source "$TMP/env.sh"
  sc -tls1_2 || fail "TLS 1.2 refused before the change"
  put_policy '{"min_data_tls_version":"1.3"}'
  local t0 took
  t0=$(now_ms)
  while sc -tls1_2; do
    [ $(($(now_ms) - t0)) -lt 2000 ] || fail "TLS 1.2 still accepted 2 s after the policy change"
    sleep 0.05
  done
  took=$(($(now_ms) - t0))
  note "the proxy refuses TLS 1.2 ${took} ms after PUT /v1/cluster/policy returned"
  sc -tls1_3 || fail "TLS 1.3 refused after the change"
  assert_grep 'reloaded \(inotify\)' "$TMP/proxy.log"
  put_policy '{"min_data_tls_version":"1.2"}'
  t0=$(now_ms)
  until sc -tls1_2; do
    [ $(($(now_ms) - t0)) -lt 2000 ] || fail "TLS 1.2 still refused 2 s after the policy went back"
    sleep 0.05
  done
}

revocation_closes_the_connection() {
  source "$TMP/env.sh"
  # app2 holds a SUBSCRIBE open; app1 an interactive session.
  timeout 60 redis-cli --tls --cacert "$N/ca.pem" --cert "$TMP/app2.crt" --key "$TMP/app2.key" \
    -h 127.0.0.1 -p "$PPORT" SUBSCRIBE news >"$TMP/sub.out" 2>&1 &
  local sub=$!
  register_pid $sub
  mkfifo "$TMP/a1.in"
  timeout 60 redis-cli --tls --cacert "$N/ca.pem" --cert "$TMP/app1.crt" --key "$TMP/app1.key" \
    -h 127.0.0.1 -p "$PPORT" <"$TMP/a1.in" >"$TMP/a1.out" 2>&1 &
  register_pid $!
  exec 7>"$TMP/a1.in"
  wait_for_match "$TMP/sub.out" '^1$' 10
  echo "PUBLISH news first" >&7
  wait_for_match "$TMP/sub.out" first 10
  local before serial t0 took
  before=$(metric clustertls_proxy_refused_revoked_total)
  serial=$(serial_hex "$TMP/app2.crt")
  api POST "/v1/certificates/$serial/revoke" "${ADMIN[@]}"
  expect_status 200 "revoke app2"
  t0=$(now_ms)
  while kill -0 "$sub" 2>/dev/null; do
    [ $(($(now_ms) - t0)) -lt 3000 ] || fail "app2's SUBSCRIBE still open 3 s after the revoke"
    sleep 0.01
  done
  took=$(($(now_ms) - t0))
  note "revoked client's connection closed ${took} ms after the revoke call returned"
  [ "$took" -lt 1000 ] || fail "closing took ${took} ms (more than 1 s)"
  assert_eq "$(metric clustertls_proxy_refused_revoked_total)" $((before + 1)) "refused_revoked"
  assert_grep "client certificate revoked" "$TMP/proxy.log"
  # Its reconnect is refused by the CRL check; app1's open session is unaffected.
  local out
  out=$(rcli app2 PING)
  [[ "$out" != *PONG* ]] || fail "the revoked client got PONG on reconnect"
  [ "$(metric 'clustertls_proxy_handshakes_total{result="revoked"}')" -ge 1 ] ||
    fail "no handshake counted as revoked"
  echo "PUBLISH news second" >&7
  echo "PING" >&7
  wait_for_match "$TMP/a1.out" PONG 10
  exec 7>&-
}

update_cert_and_reloads() {
  source "$TMP/env.sh"
  # An open session across the change.
  mkfifo "$TMP/a3.in"
  timeout 60 redis-cli --tls --cacert "$N/ca.pem" --cert "$TMP/app1.crt" --key "$TMP/app1.key" \
    -h 127.0.0.1 -p "$PPORT" <"$TMP/a3.in" >"$TMP/a3.out" 2>&1 &
  register_pid $!
  exec 7>"$TMP/a3.in"
  echo "SET k before" >&7
  wait_for_match "$TMP/a3.out" OK 10
  local old new
  old=$(serial_hex "$N/proxy_cert.pem")
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/p2.key" -out "$TMP/p2.csr" -subj "/CN=$FQDN" \
    -addext "subjectAltName=DNS:$FQDN,DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1 || fail "openssl req"
  jq -n --rawfile c "$TMP/p2.csr" '{csr:$c,profile:"peer",days:30,allow_reserved:true}' >"$TMP/sign.json"
  api POST /v1/ca/sign "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/sign.json"
  expect_status 201 "POST /v1/ca/sign proxy"
  { jbody .certificate; jbody .chain; } | sed '/^$/d' >"$TMP/p2.crt"
  new=$(serial_hex "$TMP/p2.crt")
  jq -n --rawfile k "$TMP/p2.key" --rawfile c "$TMP/p2.crt" '{name:"proxy",key:$k,certificate:$c}' >"$TMP/upd.json"
  api PUT /v1/cluster/update_cert "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/upd.json"
  expect_status 200 "update_cert proxy"
  local t0
  t0=$(now_ms)
  while :; do
    sc && [ "$(openssl x509 -in "$TMP/sc.out" -noout -serial 2>/dev/null | sed 's/serial=//')" = "$new" ] && break
    [ $(($(now_ms) - t0)) -lt 3000 ] || fail "new handshakes still show serial $old, not $new"
    sleep 0.05
  done
  note "new handshakes show the new proxy serial $new after $(($(now_ms) - t0)) ms"
  echo "GET k" >&7
  wait_for_match "$TMP/a3.out" before 10
  exec 7>&-
  assert_eq "$(curl -s "http://127.0.0.1:$APORT/status" | jq -r .certificate.serial)" "$new" "/status serial"

  # SIGHUP reloads.
  local ok
  ok=$(metric 'clustertls_proxy_reloads_total{result="ok"}')
  kill -HUP "$PROXY_PID"
  wait_for_match "$TMP/proxy.log" 'reloaded \(SIGHUP\)' 5
  [ "$(metric 'clustertls_proxy_reloads_total{result="ok"}')" -gt "$ok" ] || fail "SIGHUP not counted"

  # A broken file keeps the old configuration (counted, named in the log and /status).
  rm -f "$N/proxy_key.pem"
  echo "-----BEGIN PRIVATE KEY-----" >"$N/proxy_key.pem"
  wait_for_match "$TMP/proxy.log" 'failed, keeping the previous configuration: .*proxy_key.pem' 5
  [ "$(metric 'clustertls_proxy_reloads_total{result="failed"}')" -ge 1 ] || fail "failed reload not counted"
  assert_eq "$(curl -s "http://127.0.0.1:$APORT/status" | jq -r .last_reload.result)" failed "/status last reload"
  assert_eq "$(rcli app1 PING)" PONG "PING with the previous configuration"
  ln -sfn ..data/proxy_key.pem "$N/proxy_key.pem"
}

drain_on_sigterm() {
  source "$TMP/env.sh"
  kill -TERM "$PROXY_PID"
  wait_for_match "$TMP/proxy.log" 'SIGTERM: draining' 5
  local t0=$SECONDS
  while kill -0 "$PROXY_PID" 2>/dev/null && [ $((SECONDS - t0)) -lt 10 ]; do sleep 0.1; done
  kill -0 "$PROXY_PID" 2>/dev/null && fail "the proxy did not exit after SIGTERM with no open connection"
  return 0
}

section "setup: serve, agent, redis, proxy" setup
[ -f "$TMP/env.sh" ] || finish
section "usage errors and --help" usage_errors
section "redis-cli through the proxy, refusals" redis_through_proxy
section "sslscan sees only the policy" sslscan_sees_the_policy
section "policy changed through the API reaches the proxy" policy_follows_the_api
section "a revoked client's open connection is closed" revocation_closes_the_connection
section "update_cert, SIGHUP, a broken file" update_cert_and_reloads
section "SIGTERM drains and exits" drain_on_sigterm
finish
