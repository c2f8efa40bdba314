#!/usr/bin/env bash
# `serve` says at start which named certificates send relying parties to another server for
# revocation: `init --public-url URL1` puts URL1/ocsp and URL1/v1/crl into the five named
# certificates (judged by `openssl x509 -ocsp_uri` and `-text`, and shown by `inspect`); `serve
# --public-url URL2` logs one line per certificate naming its URLs, URL2 and the renew command,
# and keeps serving; `serve` at URL1 (given or from the config) and a cluster whose named
# certificates carry no URLs log none; after `renew api` at URL2 only the four others are named.
#   bash test_serve_named_urls.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=named-urls.example.com
API_HOST=$FQDN
D=$TMP/cluster
NAMES=(cm api proxy syncer metrics)
P1=$(free_port)
P2=$(free_port)
while [ "$P2" = "$P1" ]; do P2=$(free_port); done
URL1=http://127.0.0.1:$P1
URL2=http://127.0.0.1:$P2
serve_init "$D" "$FQDN" --public-url "$URL1"

# The warning's shape; its certificate names are checked one by one.
WARN_RE='named certificate "[a-z0-9_-]+" points at OCSP '

# serve_at TAG PUBLIC_PORT [ARGS...]: `serve` with the public listener on 127.0.0.1:PUBLIC_PORT,
# waits until it answers GET /health; SERVE_LOG is its log (shown when the section fails).
serve_at() {
  SERVE_LOG=$TMP/serve.$1.log
  PUB=$2
  shift 2
  trap show_log_on_failure EXIT
  start_serve "$D" "$SERVE_LOG" --public-listen "127.0.0.1:$PUB" "$@"
  wait_public
}

show_log_on_failure() {
  local rc=$?
  if [ $rc -ne 0 ] && [ -f "${SERVE_LOG:-}" ]; then
    echo "    server log ${SERVE_LOG##*/} (last 30 lines):" >&2
    tail -n 30 "$SERVE_LOG" | sed 's/^/      | /' >&2
  fi
}

# fetch_named: GET /v1/cluster/certificates as admin; $TMP/named/NAME.pem is each named
# certificate's chain (leaf first).
fetch_named() {
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
  api GET /v1/cluster/certificates "${ADMIN[@]}"
  expect_status 200 "GET /v1/cluster/certificates"
  mkdir -p "$TMP/named"
  local n
  for n in "${NAMES[@]}"; do
    jq -er --arg k "${n}_cert" '.[$k]' "$BODY" >"$TMP/named/$n.pem" ||
      fail "GET /v1/cluster/certificates has no ${n}_cert"
  done
}

init_urls() {
  serve_at same "$P1" --public-url "$URL1"
  fetch_named
  local n c
  for n in "${NAMES[@]}"; do
    c=$TMP/named/$n.pem
    assert_eq "$(timeout 20 openssl x509 -in "$c" -noout -ocsp_uri)" "$URL1/ocsp" \
      "openssl x509 -ocsp_uri of named certificate $n"
    assert_eq "$(ext "$c" crlDistributionPoints | sed -n 's/^ *URI://p')" "$URL1/v1/crl" \
      "CRL distribution point of named certificate $n (openssl x509 -text)"
  done
  # inspect shows them as openssl reads them.
  run ctls inspect "$TMP/named/api.pem"
  assert_eq "$(sed -n '/^Certificate 1 of/,/^Certificate 2 of/p' "$OUT" | sed -n 's/^  OCSP: *//p')" \
    "$URL1/ocsp" "inspect's OCSP line of the api certificate"
  assert_eq "$(sed -n '/^Certificate 1 of/,/^Certificate 2 of/p' "$OUT" | sed -n 's/^  CRL: *//p')" \
    "$URL1/v1/crl" "inspect's CRL line of the api certificate"
  run ctls inspect "$TMP/named/api.pem" --json
  assert_eq "$(jq -c '[.certificates[0].crl_urls, .certificates[0].ocsp_urls]' "$OUT")" \
    "[[\"$URL1/v1/crl\"],[\"$URL1/ocsp\"]]" "inspect --json of the api certificate"
  # serve at the URL init used says nothing about them.
  assert_not_grep "$WARN_RE" "$SERVE_LOG"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve's exit status after SIGTERM"
  note "the five named certificates point at $URL1; serve at $URL1 logs no warning"
}

other_url() {
  serve_at other "$P2" --public-url "$URL2"
  assert_grep "certificates point at $URL2/v1/crl" "$SERVE_LOG"
  local n line count ocsp crl
  count=$(grep -Ec "$WARN_RE" "$SERVE_LOG")
  assert_eq "$count" "${#NAMES[@]}" "warning lines in the server log"
  fetch_named
  for n in "${NAMES[@]}"; do
    line=$(grep -F "named certificate \"$n\" points at" "$SERVE_LOG") ||
      fail "no warning for named certificate $n"
    # The URLs named in the line are the certificate's, as openssl reads them.
    ocsp=$(timeout 20 openssl x509 -in "$TMP/named/$n.pem" -noout -ocsp_uri)
    crl=$(ext "$TMP/named/$n.pem" crlDistributionPoints | sed -n 's/^ *URI://p')
    assert_eq "$ocsp" "$URL1/ocsp" "openssl x509 -ocsp_uri of named certificate $n"
    assert_eq "$line" "clustertls: named certificate \"$n\" points at OCSP $ocsp and CRL $crl, \
not at this server's $URL2 (renew it: clustertls cluster certificate renew $n)" "warning line for $n"
  done
  # Not fatal: both listeners answer, and a newly signed certificate points at URL2.
  api GET /v1/cluster/certificates "${ADMIN[@]}"
  expect_status 200 "GET /v1/cluster/certificates after the warnings"
  api_sign fresh.example.com server
  assert_eq "$(timeout 20 openssl x509 -in "$TMP/fresh.example.com.crt" -noout -ocsp_uri)" \
    "$URL2/ocsp" "OCSP URL of a certificate signed by serve at $URL2"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve's exit status after SIGTERM"
  note "one line per named certificate, matching openssl x509 -ocsp_uri / -text"
}

config_url() {
  # No --public-url: the config's (init's) URL, on another listen port than the URL names (a
  # proxy in front of it): nothing to say.
  serve_at config "$(free_port)"
  assert_grep "certificates point at $URL1/v1/crl" "$SERVE_LOG"
  assert_not_grep "$WARN_RE" "$SERVE_LOG"
  stop_serve "$SERVE_PID"
  note "serve with the config's public URL logs no warning"
}

no_urls() {
  # A cluster whose named certificates carry no URLs (public listener off at init).
  D=$TMP/nourls
  serve_init "$D" "$FQDN" --public-listen off
  serve_at nourls "$P2" --public-url "$URL2"
  fetch_named
  [ -z "$(timeout 20 openssl x509 -in "$TMP/named/api.pem" -noout -ocsp_uri)" ] ||
    fail "init with the public listener off put an OCSP URL into the api certificate"
  [ -z "$(ext "$TMP/named/api.pem" crlDistributionPoints)" ] ||
    fail "init with the public listener off put a CRL distribution point into the api certificate"
  assert_not_grep "$WARN_RE" "$SERVE_LOG"
  stop_serve "$SERVE_PID"
  note "named certificates without URLs: no warning"
}

renewed() {
  # What the warning says to do: renewing api (the API call the CLI makes) moves it to URL2,
  # and the next start names only the four others.
  D=$TMP/renew
  serve_init "$D" "$FQDN" --public-url "$URL1"
  serve_at renew "$P2" --public-url "$URL2"
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
  api POST /v1/cluster/certificates/api/renew "${ADMIN[@]}"
  expect_status 200 "POST /v1/cluster/certificates/api/renew"
  jbody .certificate >"$TMP/api-renewed.pem"
  assert_eq "$(timeout 20 openssl x509 -in "$TMP/api-renewed.pem" -noout -ocsp_uri)" "$URL2/ocsp" \
    "openssl x509 -ocsp_uri of the renewed api certificate"
  assert_eq "$(ext "$TMP/api-renewed.pem" crlDistributionPoints | sed -n 's/^ *URI://p')" \
    "$URL2/v1/crl" "CRL distribution point of the renewed api certificate"
  stop_serve "$SERVE_PID"
  serve_at renewed "$P2" --public-url "$URL2"
  assert_eq "$(grep -Ec "$WARN_RE" "$SERVE_LOG")" 4 "warning lines after renewing api"
  assert_not_grep 'named certificate "api" points at' "$SERVE_LOG"
  stop_serve "$SERVE_PID"
  note "after renewing api at $URL2, the warning names only cm, proxy, syncer and metrics"
}

section "init --public-url URL1: the named certificates point at URL1; serve at URL1 is quiet" init_urls
section "serve --public-url URL2: one line per named certificate, with its URLs; still serving" other_url
section "serve with the config's public URL: no warning" config_url
section "named certificates without URLs: no warning" no_urls
section "renewing a named certificate points it at this server (the warning's advice)" renewed
finish
