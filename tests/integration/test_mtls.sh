#!/usr/bin/env bash
# Real mutual-TLS handshakes with issued certificates: `openssl s_server -Verify` against
# `openssl s_client` (and GnuTLS' gnutls-cli), including the refusals, and `quickstart`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

REQUEST=$'GET / HTTP/1.0\r\n\r\n'

setup() {
  local a=$TMP/caA
  run ctls ca init --out "$a" --name "ITest mTLS CA A"
  run ctls cert issue --ca-cert "$a/ca.crt" --ca-key "$a/ca.key" --name server --dns localhost \
    --ip 127.0.0.1 --profile server --out "$TMP/server"
  run ctls cert issue --ca-cert "$a/ca.crt" --ca-key "$a/ca.key" --name client --profile client \
    --out "$TMP/client"
  run ctls cert issue --ca-cert "$a/ca.crt" --ca-key "$a/ca.key" --name peer --dns localhost \
    --profile peer --key-type rsa-2048 --out "$TMP/peer"
  run ctls ca init --out "$TMP/caB" --name "ITest mTLS CA B"
  run ctls cert issue --ca-cert "$TMP/caB/ca.crt" --ca-key "$TMP/caB/ca.key" --name client \
    --profile client --out "$TMP/clientB"
  # Under an intermediate: the server sends its chain.
  run ctls ca intermediate --ca-cert "$a/ca.crt" --ca-key "$a/ca.key" --out "$TMP/int"
  run ctls cert issue --ca-cert "$TMP/int/chain.crt" --ca-key "$TMP/int/ca.key" --name iserver \
    --dns localhost --profile server --out "$TMP/iserver"
  run ctls cert issue --ca-cert "$TMP/int/chain.crt" --ca-key "$TMP/int/ca.key" --name iclient \
    --profile client --key-type ed25519 --out "$TMP/iclient"
}

# s_client_run LOG ARGS...: one bounded s_client exchange sending an HTTP request; returns its
# exit status, output in LOG.
s_client_run() {
  local log=$1
  shift
  printf '%s' "$REQUEST" | timeout 15 openssl s_client -connect "127.0.0.1:$S_PORT" -ign_eof "$@" >"$log" 2>&1
}

# expect_handshake_ok LOG: the client verified the server and got the page (so the server
# accepted the client certificate).
expect_handshake_ok() {
  grep -q 'Verify return code: 0 (ok)' "$1" || {
    echo "FAIL: s_client did not verify the server:" >&2
    _show "$1" >&2
    exit 1
  }
  grep -q 'HTTP/1.0 200 ok' "$1" || {
    echo "FAIL: no HTTP response over the mutual-TLS connection:" >&2
    _show "$1" >&2
    echo "    server log:" >&2
    _show "$TMP/server.log" >&2
    exit 1
  }
}

# expect_refused LOG SERVER_REGEX: no page was served and the server logged SERVER_REGEX.
expect_refused() {
  if grep -q 'HTTP/1.0 200 ok' "$1"; then
    echo "FAIL: the server accepted a connection it must refuse:" >&2
    _show "$1" >&2
    exit 1
  fi
  wait_for_match "$TMP/server.log" "$2" 5
  note "refused: $(grep -Eo -- "$2" "$TMP/server.log" | tail -n1); client saw: $(grep -Eio 'alert [a-z ]+|verify error:[^ ]*' "$1" | head -n1)"
}

start_server_a() {
  start_s_server "$TMP/server.log" -cert "$TMP/server/server.crt" -key "$TMP/server/server.key" \
    -CAfile "$TMP/caA/ca.crt" -Verify 2 -verify_return_error -www
}

mtls_accepts() {
  start_server_a
  s_client_run "$TMP/c1.log" -cert "$TMP/client/client.crt" -key "$TMP/client/client.key" \
    -CAfile "$TMP/caA/ca.crt" -verify_return_error -verify_hostname localhost
  expect_handshake_ok "$TMP/c1.log"
  grep -q 'CN *= *client' "$TMP/server.log" "$TMP/c1.log" || note "client subject not printed by s_server"
  # TLS 1.2 too.
  s_client_run "$TMP/c2.log" -tls1_2 -cert "$TMP/client/client.crt" -key "$TMP/client/client.key" \
    -CAfile "$TMP/caA/ca.crt" -verify_return_error -verify_ip 127.0.0.1
  expect_handshake_ok "$TMP/c2.log"
  # The peer certificate (server + client EKU, RSA) works as a client certificate.
  s_client_run "$TMP/c3.log" -cert "$TMP/peer/peer.crt" -key "$TMP/peer/peer.key" \
    -CAfile "$TMP/caA/ca.crt" -verify_return_error -verify_hostname localhost
  expect_handshake_ok "$TMP/c3.log"
  # GnuTLS as the client.
  printf '%s' "$REQUEST" | timeout 15 gnutls-cli --port "$S_PORT" --x509cafile "$TMP/caA/ca.crt" \
    --x509certfile "$TMP/client/client.crt" --x509keyfile "$TMP/client/client.key" \
    --verify-hostname localhost 127.0.0.1 >"$TMP/g1.log" 2>&1
  grep -q 'HTTP/1.0 200 ok' "$TMP/g1.log" || {
    echo "FAIL: gnutls-cli mutual-TLS exchange failed:" >&2
    _show "$TMP/g1.log" >&2
    exit 1
  }
  note "gnutls-cli completed the mutual-TLS exchange"
}

mtls_refuses_other_ca() {
  start_server_a
  s_client_run "$TMP/r1.log" -cert "$TMP/clientB/client.crt" -key "$TMP/clientB/client.key" \
    -CAfile "$TMP/caA/ca.crt" -verify_return_error -verify_hostname localhost
  expect_refused "$TMP/r1.log" 'verify error:num=(20|21|2):|unable to get (local )?issuer'
}

mtls_refuses_server_cert_as_client() {
  start_server_a
  # The server profile has no clientAuth: the server must refuse it as a client certificate.
  s_client_run "$TMP/r2.log" -cert "$TMP/server/server.crt" -key "$TMP/server/server.key" \
    -CAfile "$TMP/caA/ca.crt" -verify_return_error -verify_hostname localhost
  expect_refused "$TMP/r2.log" 'verify error:num=26:|(unsuitable|unsupported) certificate purpose'
}

mtls_refuses_no_client_cert() {
  start_server_a
  s_client_run "$TMP/r3.log" -CAfile "$TMP/caA/ca.crt" -verify_return_error -verify_hostname localhost
  expect_refused "$TMP/r3.log" 'peer did not return a certificate|certificate required|no certificate'
}

client_checks_server() {
  start_server_a
  # Wrong host name: the client refuses the server.
  s_client_run "$TMP/h1.log" -cert "$TMP/client/client.crt" -key "$TMP/client/client.key" \
    -CAfile "$TMP/caA/ca.crt" -verify_return_error -verify_hostname db.example.com
  grep -q 'HTTP/1.0 200 ok' "$TMP/h1.log" && fail "s_client accepted a server certificate for the wrong host"
  grep -Eq 'hostname mismatch|Verify return code: 62' "$TMP/h1.log" || fail "no hostname mismatch reported: $(tail -c 600 "$TMP/h1.log")"
  note "wrong host refused by s_client"
  # Trusting only CA B: the client refuses the server.
  s_client_run "$TMP/h2.log" -cert "$TMP/client/client.crt" -key "$TMP/client/client.key" \
    -CAfile "$TMP/caB/ca.crt" -verify_return_error -verify_hostname localhost
  grep -q 'HTTP/1.0 200 ok' "$TMP/h2.log" && fail "s_client accepted a server from an untrusted CA"
  note "untrusted server refused by s_client"
  _kill_registered
  # A client-profile certificate used by a server: s_client (purpose sslserver) refuses it.
  start_s_server "$TMP/server.log" -cert "$TMP/client/client.crt" -key "$TMP/client/client.key" -www
  s_client_run "$TMP/h3.log" -CAfile "$TMP/caA/ca.crt" -verify_return_error
  grep -q 'HTTP/1.0 200 ok' "$TMP/h3.log" && fail "s_client accepted a client-only certificate as server certificate"
  grep -Eq '(unsuitable|unsupported) certificate purpose|Verify return code: 26' "$TMP/h3.log" ||
    fail "no purpose error for a client certificate used by a server: $(tail -c 600 "$TMP/h3.log")"
  note "client-only certificate refused as a server certificate"
}

mtls_intermediate() {
  split_pem "$TMP/iserver/iserver.crt" "$TMP/iserver/p"
  cat "$TMP"/iserver/p[1-9].pem >"$TMP/iserver/chain-only.pem"
  start_s_server "$TMP/server.log" -cert "$TMP/iserver/p0.pem" -cert_chain "$TMP/iserver/chain-only.pem" \
    -key "$TMP/iserver/iserver.key" -CAfile "$TMP/caA/ca.crt" -chainCAfile "$TMP/int/chain.crt" \
    -Verify 3 -verify_return_error -www
  # The client sends its chain too (iclient.crt holds leaf, intermediate, root).
  split_pem "$TMP/iclient/iclient.crt" "$TMP/iclient/p"
  cat "$TMP"/iclient/p[1-9].pem >"$TMP/iclient/chain-only.pem"
  s_client_run "$TMP/i1.log" -cert "$TMP/iclient/p0.pem" -cert_chain "$TMP/iclient/chain-only.pem" \
    -key "$TMP/iclient/iclient.key" -CAfile "$TMP/caA/ca.crt" -verify_return_error -verify_hostname localhost
  expect_handshake_ok "$TMP/i1.log"
  note "mutual TLS through an intermediate (Ed25519 client) works"
}

quickstart() {
  run ctls quickstart --out "$TMP/qs"
  cp "$OUT" "$TMP/qs.summary"
  local q=$TMP/qs f
  for f in ca/ca.crt server/server.crt client/client.crt; do
    assert_mode 644 "$q/$f"
  done
  for f in ca/ca.key server/server.key client/client.key; do
    assert_key_file "$q/$f"
  done
  assert_leaf "$q/server/server.crt" server "$q/ca/ca.crt"
  assert_leaf "$q/client/client.crt" client "$q/ca/ca.crt"
  assert_key_matches "$q/server/server.crt" "$q/server/server.key"
  assert_key_matches "$q/client/client.crt" "$q/client/client.key"
  # 5 years by default (Sensu's generate).
  local now days
  now=$(date +%s)
  days=$((($(not_after "$q/server/server.crt") - now) / 86400))
  [ "$days" -ge $((5 * 365 - 1)) ] && [ "$days" -le $((5 * 366 + 1)) ] || fail "quickstart server certificate lives $days days, expected 5 years"
  days=$((($(not_after "$q/client/client.crt") - now) / 86400))
  [ "$days" -ge $((5 * 365 - 1)) ] || fail "quickstart client certificate lives $days days, expected 5 years"
  # The summary prints the paths and the CA fingerprint.
  local fp hex
  fp=$(fp_colon "$q/ca/ca.crt")
  hex=$(tr -d ':' <<<"$fp")
  grep -Fiq "$fp" "$TMP/qs.summary" || grep -Fiq "$hex" "$TMP/qs.summary" ||
    fail "quickstart summary lacks the CA SHA-256 fingerprint $hex: $(head -c 800 "$TMP/qs.summary")"
  grep -q 'ca.crt' "$TMP/qs.summary" && grep -q 'server.crt' "$TMP/qs.summary" && grep -q 'client.crt' "$TMP/qs.summary" ||
    fail "quickstart summary does not list the files: $(head -c 800 "$TMP/qs.summary")"
  # Its certificates work for mutual TLS.
  local host
  host=$(san_list "$q/server/server.crt" | sed -n 's/^DNS://p' | grep -x localhost || san_list "$q/server/server.crt" | sed -n 's/^DNS://p' | head -n1)
  [ -n "$host" ] || fail "quickstart server certificate has no DNS name"
  [ "$host" = localhost ] || note "quickstart server certificate does not cover localhost; using $host"
  ossl_verify -purpose sslserver -verify_hostname "$host" -CAfile "$q/ca/ca.crt" "$q/server/server.crt"
  ossl_verify -purpose sslclient -CAfile "$q/ca/ca.crt" "$q/client/client.crt"
  # Our own verifier agrees (single-label names such as "localhost" are valid SANs).
  run ctls verify "$q/server/server.crt" --ca "$q/ca/ca.crt" --host "$host" --purpose server
  run ctls verify "$q/client/client.crt" --ca "$q/ca/ca.crt" --purpose client
  start_s_server "$TMP/server.log" -cert "$q/server/server.crt" -key "$q/server/server.key" \
    -CAfile "$q/ca/ca.crt" -Verify 2 -verify_return_error -www
  s_client_run "$TMP/q1.log" -cert "$q/client/client.crt" -key "$q/client/client.key" \
    -CAfile "$q/ca/ca.crt" -verify_return_error -verify_hostname "$host"
  expect_handshake_ok "$TMP/q1.log"
  # Running it again does not overwrite anything.
  local before
  before=$(cat "$q"/*/* | sha256sum)
  expect_fail 1 'exist|--force' -- ctls quickstart --out "$q"
  assert_eq "$(cat "$q"/*/* | sha256sum)" "$before" "quickstart files after a refused second run"
}

section "issue CA A, CA B, server, client, peer, intermediate certificates" setup
section "mutual TLS accepted (s_client TLS 1.3/1.2, peer cert, gnutls-cli)" mtls_accepts
section "client certificate from another CA refused" mtls_refuses_other_ca
section "server certificate used as client certificate refused" mtls_refuses_server_cert_as_client
section "no client certificate refused (control)" mtls_refuses_no_client_cert
section "client refuses wrong host, untrusted CA, client-only server cert" client_checks_server
section "mutual TLS through an intermediate" mtls_intermediate
section "quickstart: files, summary, mutual TLS" quickstart
finish
