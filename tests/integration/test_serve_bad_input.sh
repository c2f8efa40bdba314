#!/usr/bin/env bash
# `clustertls serve` under bad input: oversized bodies and headers, malformed and deeply nested
# JSON, wrong types, unknown routes and methods, request-smuggling shapes (Transfer-Encoding
# with Content-Length, unknown transfer codings, repeated once-only fields), slow clients (TLS
# and plain TCP) and non-TLS garbage on the port. Every case gets its 4xx or 501 (or a closed
# connection) and the server keeps answering other clients; /health is 200 at the end.
#   bash test_serve_bad_input.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=badinput.example.com
API_HOST=$FQDN
D=$TMP/cluster
serve_init "$D" "$FQDN"

serve_up() {
  start_serve "$D" "$TMP/serve.$1.log"
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
}

# alive: the server still answers /health quickly (within 5 s) and has not exited.
alive() {
  kill -0 "$SERVE_PID" 2>/dev/null || fail "the server exited: $(tail -n 5 "$SERVE_LOG")"
  HTTP_STATUS=$(timeout 5 curl -sS -o "$BODY" -w '%{http_code}' --cacert "$API_CA" \
    --resolve "$API_HOST:$SERVE_PORT:127.0.0.1" "https://$API_HOST:$SERVE_PORT/health" 2>"$ERR")
  [ "$HTTP_STATUS" = 200 ] || fail "GET /health did not answer 200 within 5 s (${1:-}): '$HTTP_STATUS' $(cat "$ERR")"
  assert_eq "$(jbody .status)" ok "/health status"
}

# raw_status METHOD PATH CURL_ARGS...: like api, but a connection the server closes after
# answering (413/431 close) is fine as long as the status arrived.
raw_status() {
  local m=$1 p=$2
  shift 2
  : >"$HDRS"
  HTTP_STATUS=$(timeout 30 curl -sS -o "$BODY" -D "$HDRS" -w '%{http_code}' --cacert "$API_CA" \
    --resolve "$API_HOST:$SERVE_PORT:127.0.0.1" -X "$m" "$@" "https://$API_HOST:$SERVE_PORT$p" \
    2>"$ERR")
  # The server answers 413 from Content-Length and closes (RFC 9112 section 9.6) while curl may
  # still be uploading: curl then reports a send error (status 000) although it received the
  # response. The status line it received is the server's answer.
  if [ "$HTTP_STATUS" = 000 ] && [ -s "$HDRS" ]; then
    HTTP_STATUS=$(sed -n '1s/^HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p' "$HDRS" | tr -d '\r')
    [ -n "$HTTP_STATUS" ] || HTTP_STATUS=000
  fi
  return 0
}

sizes() {
  serve_up sizes
  SERVE_LOG=$TMP/serve.sizes.log
  # Body > 1 MiB: 413 (with and without Expect: 100-continue).
  head -c $((1024 * 1024 + 100)) /dev/zero | tr '\0' 'a' >"$TMP/big.body"
  raw_status PUT /v1/cluster/policy "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$TMP/big.body"
  expect_status 413 "PUT with a 1 MiB + 100 B body"
  raw_status PUT /v1/cluster/policy "${ADMIN[@]}" -H 'Content-Type: application/json' -H 'Expect:' \
    --data-binary @"$TMP/big.body"
  expect_status 413 "PUT with a 1 MiB + 100 B body, no Expect"
  # Exactly 1 MiB is not too large (but it is not JSON: 400).
  head -c $((1024 * 1024)) /dev/zero | tr '\0' ' ' >"$TMP/mib.body"
  raw_status PUT /v1/cluster/policy "${ADMIN[@]}" -H 'Content-Type: application/json' -H 'Expect:' \
    --data-binary @"$TMP/mib.body"
  expect_status 400 "PUT with a body of exactly 1 MiB of spaces"
  alive "after 413"
  # Headers > 16 KiB: 431.
  local big
  big=$(head -c 17000 /dev/zero | tr '\0' 'b')
  raw_status GET /health -H "X-Big: $big"
  expect_status 431 "GET with a 17 kB header"
  raw_status GET /v1/cluster/policy "${ADMIN[@]}" -H "X-A: ${big:0:9000}" -H "X-B: ${big:0:9000}"
  expect_status 431 "GET with two 9 kB headers"
  alive "after 431"
  # A Content-Length of 2 MB announced, no body sent: 413 at once (not a timeout).
  local t0=$SECONDS
  raw_status PUT /v1/cluster/policy "${ADMIN[@]}" -H 'Content-Type: application/json' \
    -H 'Content-Length: 2000000' -H 'Expect:' --data-binary '{}' --max-time 20
  expect_status 413 "PUT announcing a 2 MB body"
  [ $((SECONDS - t0)) -le 5 ] || fail "the 413 for an announced 2 MB body took $((SECONDS - t0)) s"
  alive "at the end"
}

json() {
  serve_up json
  SERVE_LOG=$TMP/serve.json.log
  api GET /v1/cluster/policy "${ADMIN[@]}"
  cp "$BODY" "$TMP/policy.before"
  local body
  # Malformed JSON of several kinds.
  for body in '{"min_control_tls_version":' '{"min_control_tls_version" "1.3"}' '{,}' 'nul' \
    '{"a":1}}' '[]' '"1.3"' '{"min_control_tls_version":"1.3",}' $'{"min_control_tls_version":"1\xff"}'; do
    api PUT /v1/cluster/policy "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary "$body"
    expect_error 400 '.' "PUT policy with body ${body:0:40}"
  done
  # Wrong types.
  for body in '{"min_control_tls_version":[]}' '{"min_control_tls_version":{}}' \
    '{"min_control_tls_version":null}' '{"client_auth":true}' '{"cipher_suites":12}'; do
    api PUT /v1/cluster/policy "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary "$body"
    expect_error 400 'min_control_tls_version|client_auth|cipher_suites' "PUT policy with $body"
  done
  # JSON nested 1000 deep (and 33 deep, just over the documented 32).
  python3 -c 'print("{\"a\":" + "[" * 1000 + "]" * 1000 + "}")' >"$TMP/deep.json"
  api PUT /v1/cluster/policy "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/deep.json"
  expect_error 400 'depth|deep|nest|json|parse' "JSON nested 1000 deep"
  python3 -c 'print("[" * 100000 + "]" * 100000)' >"$TMP/deeper.json"
  api PUT /v1/cluster/policy "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/deeper.json"
  expect_error 400 'depth|deep|nest|json|parse' "JSON nested 100000 deep"
  python3 -c 'print("{\"min_control_tls_version\":\"1.3\",\"x\":" + "[" * 33 + "]" * 33 + "}")' >"$TMP/d33.json"
  api PUT /v1/cluster/policy "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/d33.json"
  expect_error 400 '.' "JSON nested 34 deep"
  # Not JSON at all.
  api PUT /v1/cluster/policy "${ADMIN[@]}" -H 'Content-Type: text/plain' --data-binary 'min=1.3'
  expect_error 415 'unsupported_media_type|json' "PUT policy as text/plain"
  # Nothing changed.
  api GET /v1/cluster/policy "${ADMIN[@]}"
  assert_eq "$(jq -S . "$BODY")" "$(jq -S . "$TMP/policy.before")" "policy after bad JSON"
  # Signing: a CSR that is not one, a huge days, a NUL in a string.
  api POST /v1/ca/sign "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"csr":"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}'
  expect_error 400 'csr|parse' "sign a broken CSR"
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/k.pem" -out "$TMP/r.csr" -subj "/CN=x.$FQDN" >/dev/null 2>&1 || fail "openssl req failed"
  local d
  for d in 100000 0 -1 1e400 '"ten"' 99999999999999999999; do
    jq -n --rawfile c "$TMP/r.csr" --argjson d "$d" '{csr:$c,days:$d}' >"$TMP/s.json" 2>/dev/null ||
      printf '{"csr":%s,"days":%s}' "$(jq -Rs . "$TMP/r.csr")" "$d" >"$TMP/s.json"
    api POST /v1/ca/sign "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/s.json"
    expect_error 400 'days' "sign with days $d"
  done
  jq -n --rawfile c "$TMP/r.csr" '{csr:$c,profile:"intermediate-ca"}' >"$TMP/s.json"
  api POST /v1/ca/sign "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/s.json"
  expect_error 400 'profile' "sign with profile intermediate-ca"
  # A CSR whose DNS name has an "xn--" label that is not an A-label (RFC 5891 5.4), as SAN or CN.
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/k.pem" -out "$TMP/idn.csr" -subj "/CN=ok.$FQDN" \
    -addext "subjectAltName=DNS:xn--zz.$FQDN" >/dev/null 2>&1 || fail "openssl req failed"
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/k.pem" -out "$TMP/idn-cn.csr" -subj "/CN=XN--ZZ.$FQDN" >/dev/null 2>&1 ||
    fail "openssl req failed"
  local c
  for c in idn idn-cn; do
    jq -n --rawfile c "$TMP/$c.csr" '{csr:$c}' >"$TMP/s.json"
    api POST /v1/ca/sign "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/s.json"
    expect_error 400 'invalid_name: .*"xn--zz" is not a valid A-label \(Punycode does not decode\)' \
      "sign a CSR naming xn--zz.$FQDN ($c)"
  done
  api POST /v1/users "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"name":"a\u0000b","role":"reader","password":"long-enough-password"}'
  expect_error 400 'name' "a user name with NUL"
  # Query parameters.
  local q
  for q in 'limit=0' 'limit=1001' 'limit=abc' 'expiring_before=yesterday' 'revoked=maybe' \
    'cursor=%00%ff' 'limit=99999999999999999999999'; do
    api GET "/v1/certificates?$q" "${ADMIN[@]}"
    expect_error 400 "${q%%=*}" "GET /v1/certificates?$q"
  done
  api GET '/v1/audit?after=-5' "${ADMIN[@]}"
  expect_error 400 'after' "GET /v1/audit?after=-5"
  alive "at the end"
  assert_not_grep 'PRIVATE KEY' "$SERVE_LOG"
}

routes() {
  serve_up routes
  SERVE_LOG=$TMP/serve.routes.log
  local p
  for p in /nosuch /v1 /v1/ /v1/nosuch /v1/cluster/policy/extra /v1/certificates/00DEADBEEF \
    '/v1/certificates/../../../etc/passwd' '/v1/tokens/x/y' '/%00'; do
    api GET "$p" "${ADMIN[@]}" --path-as-is
    expect_error 404 'not_found|not found' "GET $p"
  done
  api DELETE /health
  expect_error 405 'method' "DELETE /health"
  grep -qi '^Allow: *.*GET' "$HDRS" || fail "405 without an Allow header listing GET"
  api POST /v1/cluster/policy "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary '{}'
  expect_error 405 'method' "POST /v1/cluster/policy"
  grep -qi '^Allow: *.*PUT' "$HDRS" || fail "405 without an Allow header listing PUT"
  api PATCH /v1/cluster/certificates "${ADMIN[@]}"
  expect_error 405 'method' "PATCH /v1/cluster/certificates"
  # Malformed HTTP inside TLS: a 4xx, not a crash.
  printf 'THIS IS NOT HTTP\r\n\r\n' | timeout 15 openssl s_client -quiet -connect "127.0.0.1:$SERVE_PORT" \
    -servername "$FQDN" >"$TMP/nothttp.out" 2>/dev/null
  grep -Eq '^HTTP/1\.[01] 4[0-9][0-9]' "$TMP/nothttp.out" ||
    fail "a request line that is not HTTP got no 4xx: $(head -c 200 "$TMP/nothttp.out")"
  printf 'GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n' |
    timeout 15 openssl s_client -quiet -connect "127.0.0.1:$SERVE_PORT" -servername "$FQDN" \
      >"$TMP/negcl.out" 2>/dev/null
  grep -Eq '^HTTP/1\.[01] 400' "$TMP/negcl.out" ||
    fail "Content-Length: -5 got no 400: $(head -c 200 "$TMP/negcl.out")"
  printf 'GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n' |
    timeout 15 openssl s_client -quiet -connect "127.0.0.1:$SERVE_PORT" -servername "$FQDN" \
      >"$TMP/chunk.out" 2>/dev/null
  grep -Eq '^HTTP/1\.[01] 400' "$TMP/chunk.out" ||
    fail "a broken chunked body got no 400: $(head -c 200 "$TMP/chunk.out")"
  alive "at the end"
}

# raw_tls NAME REQUEST: sends REQUEST (printf format) over TLS with `openssl s_client -quiet`
# (which waits for the server to close) in the background; the answer goes to $TMP/NAME.out and
# s_client's exit status to $TMP/NAME.rc (124: the server did not close the connection within
# 15 s). The server lingers up to 2 s for the client's close_notify after an error answer, so
# the cases run at once: `wait "${RAW_PIDS[@]}"` for them (not a bare `wait`: serve is a job).
RAW_PIDS=()
raw_tls() {
  # shellcheck disable=SC2059
  (printf "$2" | timeout 15 openssl s_client -quiet -connect "127.0.0.1:$SERVE_PORT" \
    -servername "$FQDN" >"$TMP/$1.out" 2>/dev/null
  echo $? >"$TMP/$1.rc") &
  RAW_PIDS+=($!)
}

# expect_raw NAME STATUS CODE WHAT: raw_tls's answer NAME is STATUS with the JSON error CODE,
# and the server closed the connection after it.
expect_raw() {
  grep -Eq "^HTTP/1\.1 $2 " "$TMP/$1.out" ||
    fail "$4: expected HTTP $2, got: $(head -c 300 "$TMP/$1.out")"
  grep -q "\"code\":\"$3\"" "$TMP/$1.out" || fail "$4: no error code $3: $(head -c 300 "$TMP/$1.out")"
  grep -qi '^Connection: close' "$TMP/$1.out" || fail "$4: the answer does not say Connection: close"
  [ "$(cat "$TMP/$1.rc")" != 124 ] || fail "$4: the server did not close the connection after its $2"
  note "$4: HTTP $2 $3, connection closed"
}

# Request smuggling shapes (finding 6 of the attack on serve): framing a proxy in front could
# read differently, and once-only fields given twice. Each is refused from its header and the
# connection closed; the server keeps answering.
smuggling() {
  serve_up smuggling
  SERVE_LOG=$TMP/serve.smuggling.log
  local auth
  auth=$(printf 'admin:%s' "$ADMIN_PW" | base64 -w0)
  local p='POST /v1/cluster/policy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
  local codings=(xchunked 'gzip, chunked' 'chunked, chunked' identity) i
  raw_tls te_cl "${p}Transfer-Encoding: xchunked\r\nContent-Length: 2\r\n\r\n{}"
  raw_tls cl_te "${p}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}"
  for i in "${!codings[@]}"; do
    raw_tls "te$i" "${p}Transfer-Encoding: ${codings[$i]}\r\n\r\n0\r\n\r\n"
  done
  raw_tls te_two "${p}Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
  # Two Authorization fields: the first (admin) used to win over the second.
  raw_tls auth2 "GET /v1/cluster/policy HTTP/1.1\r\nHost: x\r\nAuthorization: Basic $auth\r\nAuthorization: Bearer nothing\r\n\r\n"
  raw_tls host2 'GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'
  raw_tls ct2 "${p}Authorization: Basic $auth\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}"
  raw_tls origin2 'GET /health HTTP/1.1\r\nHost: x\r\nOrigin: https://a\r\nOrigin: https://b\r\n\r\n'
  raw_tls cl2 "${p}Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}"
  raw_tls cl3 "${p}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x"
  # A chunked request alone is still fine (an empty JSON object changes nothing: 200).
  raw_tls chunked "PUT /v1/cluster/policy HTTP/1.1\r\nHost: x\r\nAuthorization: Basic $auth\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
  wait "${RAW_PIDS[@]}"
  expect_raw te_cl 400 bad_request "Transfer-Encoding: xchunked with Content-Length"
  expect_raw cl_te 400 bad_request "Content-Length with Transfer-Encoding: chunked"
  for i in "${!codings[@]}"; do
    expect_raw "te$i" 501 not_implemented "Transfer-Encoding: ${codings[$i]}"
  done
  expect_raw te_two 501 not_implemented "Transfer-Encoding: gzip and Transfer-Encoding: chunked"
  expect_raw auth2 400 bad_request "two Authorization fields"
  expect_raw host2 400 bad_request "two Host fields"
  expect_raw ct2 400 bad_request "two Content-Type fields"
  expect_raw origin2 400 bad_request "two Origin fields"
  expect_raw cl2 400 bad_request "two equal Content-Length fields"
  expect_raw cl3 400 bad_request "two different Content-Length fields"
  grep -Eq '^HTTP/1\.1 200 ' "$TMP/chunked.out" ||
    fail "a chunked PUT got no 200: $(head -c 300 "$TMP/chunked.out")"
  alive "after the smuggling shapes"
  assert_not_grep 'PRIVATE KEY' "$SERVE_LOG"
}

# Slow and non-TLS clients hold connections; others are served meanwhile, and the server
# answers the partial header with 408 after its header timeout (10 s by default).
slow_clients() {
  serve_up slow
  SERVE_LOG=$TMP/serve.slow.log
  local i p=$SERVE_PORT
  # 10 TLS connections that complete the handshake and send nothing (stdin held open).
  for i in $(seq 1 10); do
    spawn_group bash -c "sleep 40 | timeout 45 openssl s_client -quiet -connect 127.0.0.1:$p \
      -servername $FQDN >'$TMP/idle.$i.out' 2>&1"
  done
  # 10 that send a partial header and stop.
  for i in $(seq 1 10); do
    spawn_group bash -c "(printf 'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: '; sleep 40) |
      timeout 45 openssl s_client -quiet -connect 127.0.0.1:$p -servername $FQDN \
        >'$TMP/partial.$i.out' 2>&1"
  done
  # 10 plain TCP connections that never start TLS, 5 that send non-TLS garbage.
  for i in $(seq 1 10); do
    spawn_group bash -c "exec 3<>/dev/tcp/127.0.0.1/$p && sleep 40"
  done
  for i in $(seq 1 5); do
    spawn_group bash -c "exec 3<>/dev/tcp/127.0.0.1/$p && head -c 4096 /dev/urandom >&3 &&
      printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' >&3 && timeout 10 cat <&3 >/dev/null"
  done
  # Plain HTTP on the HTTPS port is not answered as HTTP.
  timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p; printf 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n' >&3;
    timeout 5 cat <&3" >"$TMP/plain.out" 2>/dev/null
  if grep -q '"status"' "$TMP/plain.out"; then
    fail "the server answered plain HTTP on its HTTPS port"
  fi
  sleep 1
  # Others are served meanwhile, several times.
  for i in 1 2 3; do
    alive "with 35 slow or broken connections open ($i)"
    api GET /v1/cluster/policy "${ADMIN[@]}"
    expect_status 200 "GET /v1/cluster/policy with slow clients open"
  done
  # The partial headers are answered 408 (header timeout) within 20 s.
  local deadline=$((SECONDS + 20)) n=0
  while [ $SECONDS -le $deadline ]; do
    n=$(cat "$TMP"/partial.*.out 2>/dev/null | grep -c '^HTTP/1\.1 408')
    [ "$n" -ge 10 ] && break
    sleep 0.5
  done
  kill_groups
  [ "$n" -ge 10 ] || fail "only $n of 10 partial headers got 408 within 20 s"
  note "10 partial headers answered 408"
  alive "after the slow clients"
  assert_not_grep 'PRIVATE KEY' "$SERVE_LOG"
}

# Many concurrent connections and requests, then /health and a clean SIGTERM.
storm_and_exit() {
  serve_up storm
  SERVE_LOG=$TMP/serve.storm.log
  local i p=$SERVE_PORT
  for i in $(seq 1 8); do
    spawn_group bash -c "for j in \$(seq 1 10); do
      timeout 20 curl -sS -o /dev/null --cacert '$API_CA' --resolve '$API_HOST:$p:127.0.0.1' \
        -X PUT -H 'Content-Type: application/json' -u 'admin:$ADMIN_PW' \
        --data-binary '{\"min_control_tls_version\":[\$j' 'https://$API_HOST:$p/v1/cluster/policy'
      head -c 2000 /dev/urandom | timeout 5 openssl s_client -quiet -connect 127.0.0.1:$p \
        -servername $FQDN
    done >/dev/null 2>&1"
  done
  local limit=$((SECONDS + 120))
  while group_running && [ $SECONDS -le $limit ]; do
    alive "during the storm"
    sleep 1
  done
  group_running && fail "the storm clients did not finish within 120 s"
  kill_groups
  alive "after the storm"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

section "sizes: body > 1 MiB -> 413, headers > 16 KiB -> 431" sizes
section "JSON: malformed, wrong types, nested 1000 deep, not JSON; bad query parameters" json
section "unknown routes 404, wrong methods 405 with Allow, malformed HTTP inside TLS" routes
section "request smuggling shapes: TE with CL 400, unknown transfer codings 501, repeated once-only fields 400, each closed" smuggling
section "slow TLS and TCP clients, non-TLS garbage: others are served, partial headers get 408" slow_clients
section "a storm of bad requests and garbage: /health still 200, clean exit" storm_and_exit
finish
