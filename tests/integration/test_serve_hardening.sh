#!/usr/bin/env bash
# `clustertls serve` under the attacks of the security review, each reproduced and shown refused:
# an operator obtaining a certificate for the cluster's own names and a fake control plane with
# such a certificate collecting the admin password (python3's ssl server records what reaches
# it); name policies of users and tokens; cross-site writes a browser could be made to send
# (curl); tokens that outlived a password change.
#   bash test_serve_hardening.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=harden.example.com
API_HOST=$FQDN
D=$TMP/cluster
serve_init "$D" "$FQDN"
printf '%s\n' "$ADMIN_PW" >"$TMP/admin.pw"
OPER_PW=operator-secret-pw-0042
printf '%s\n' "$OPER_PW" >"$TMP/oper.pw"

serve_up() {
  start_serve "$D" "$TMP/serve.$1.log"
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
}

# sign_json CSRFILE [EXTRA]: the body of POST /v1/ca/sign in $TMP/sign.json.
sign_json() {
  local extra=${2:-}
  [ -n "$extra" ] || extra='{}'
  jq -n --rawfile c "$1" --argjson x "$extra" '{csr:$c,profile:"server",days:30} + $x' >"$TMP/sign.json"
}

# fake_api LOG CERT KEY: a TLS server (python3's ssl module) presenting CERT (leaf + issuing CA)
# that answers GET /v1/ca/chain with the real chain and records every request line with whether
# it carried an Authorization header; FAKE_PORT is its port.
fake_api() {
  local log=$1
  : >"$log"
  cat >"$TMP/fake_api.py" <<'PY'
import http.server, ssl, sys
log, cert, key, chain = sys.argv[1:5]
class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def record(self):
        auth = self.headers.get("Authorization")
        with open(log, "a") as f:
            f.write("%s %s authorization=%s\n" % (self.command, self.path, "yes" if auth else "no"))
    def answer(self):
        self.record()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.command == "GET" and self.path == "/v1/ca/chain":
            body = open(chain, "rb").read()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-pem-file")
        else:
            body = b'{"token":"ctls_fake_fake","id":"fake"}'
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_PUT = do_DELETE = answer
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
  timeout 120 python3 "$TMP/fake_api.py" "$log" "$2" "$3" "$API_CA.chain" >"$TMP/fake.port" 2>"$TMP/fake.err" &
  register_pid $!
  wait_for_match "$TMP/fake.port" '^[0-9]+$' 20
  FAKE_PORT=$(head -n1 "$TMP/fake.port")
}

impersonation() {
  serve_up impersonation
  api POST /v1/users "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary "{\"name\":\"op\",\"role\":\"operator\",\"password\":\"$OPER_PW\"}"
  expect_status 201 "POST /v1/users op"

  # The attack: an operator asks for the names the API is reached by.
  make_csr evil "DNS:$FQDN,DNS:localhost,IP:127.0.0.1"
  sign_json "$TMP/evil.csr"
  api POST /v1/ca/sign -u "op:$OPER_PW" -H 'Content-Type: application/json' --data-binary @"$TMP/sign.json"
  expect_error 403 "reserved for the cluster's own certificates: DNS:$FQDN, DNS:localhost, IP:127.0.0.1" \
    "operator signing the cluster's names"
  make_csr wild "DNS:*.example.com"
  sign_json "$TMP/wild.csr"
  api POST /v1/ca/sign -u "op:$OPER_PW" -H 'Content-Type: application/json' --data-binary @"$TMP/sign.json"
  expect_error 403 "DNS:\*\.example\.com \(covers $FQDN\)" "a wildcard covering the FQDN"
  sign_json "$TMP/evil.csr" '{"allow_reserved":true}'
  api POST /v1/ca/sign -u "op:$OPER_PW" -H 'Content-Type: application/json' --data-binary @"$TMP/sign.json"
  expect_error 403 'allow_reserved: only an admin' "an operator asking for allow_reserved"
  # The same through the CLI as the operator.
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" --user op \
    --password-file "$TMP/oper.pw" --client-config "$TMP/op.json"
  expect_fail 1 'reserved for the cluster' -- ctls sign --csr "$TMP/evil.csr" --out "$TMP/evil.crt" \
    --client-config "$TMP/op.json"
  assert_no_file "$TMP/evil.crt"

  # Had they got one (an admin can, asking explicitly): the fake control plane serves it.
  sign_json "$TMP/evil.csr" '{"allow_reserved":true}'
  api POST /v1/ca/sign "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/sign.json"
  expect_status 201 "admin signing reserved names with allow_reserved"
  { jbody .certificate; jbody .chain | awk '/-----BEGIN CERTIFICATE-----/{n++} n==1'; } >"$TMP/evil.fullchain"
  fake_api "$TMP/fake.log" "$TMP/evil.fullchain" "$TMP/evil.key"
  # curl trusting the root accepts the fake: chaining to the root proves nothing more.
  timeout 20 curl -sS -o /dev/null --cacert "$API_CA" "https://127.0.0.1:$FAKE_PORT/v1/ca/chain" ||
    fail "curl --cacert root did not accept the fake server (the test's premise)"
  # login verifies the chain, then refuses: no password sent.
  expect_fail 1 "not the cluster's api certificate.*nothing was sent" -- ctls login \
    --server "https://127.0.0.1:$FAKE_PORT" --ca-fingerprint "$CA_FP" --user admin \
    --password-file "$TMP/admin.pw" --client-config "$TMP/fake.json"
  assert_no_file "$TMP/fake.json"
  # A saved login pointed at the fake: the token is not sent either.
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" --user admin \
    --password-file "$TMP/admin.pw" --client-config "$TMP/admin.json"
  jq --arg s "https://127.0.0.1:$FAKE_PORT" '.server = $s' "$TMP/admin.json" >"$TMP/redirected.json"
  chmod 600 "$TMP/redirected.json"
  expect_fail 1 "not the cluster's api certificate" -- ctls cluster certificate list \
    --client-config "$TMP/redirected.json"
  expect_fail 1 "not the cluster's api certificate" -- ctls users list --user admin \
    --password-file "$TMP/admin.pw" --client-config "$TMP/redirected.json"
  if grep -q 'authorization=yes' "$TMP/fake.log" || grep -qv '^GET /v1/ca/chain ' "$TMP/fake.log"; then
    fail "a credential or a request other than GET /v1/ca/chain reached the fake server: $(cat "$TMP/fake.log")"
  fi
  note "the fake server saw only: $(sort -u "$TMP/fake.log" | tr '\n' ';')"

  # The real api certificate carries the control-plane identity (as openssl reads it), also
  # after a renewal, and login accepts it; GnuTLS accepts it for the FQDN.
  local eku
  eku=$(timeout 15 openssl s_client -connect "127.0.0.1:$SERVE_PORT" -servername "$FQDN" </dev/null 2>/dev/null |
    timeout 15 openssl x509 -noout -ext subjectAltName 2>/dev/null)
  [[ $eku == *URI:urn:uuid:6449b34e-5fdd-4eb6-b921-3d6c90300bed* ]] ||
    fail "the api certificate's subjectAltName lacks the control-plane identity: $eku"
  timeout 20 gnutls-cli --x509cafile "$API_CA" --port "$SERVE_PORT" --verify-hostname "$FQDN" \
    127.0.0.1 </dev/null >"$OUT" 2>&1 ||
    fail "gnutls-cli refused the api certificate: $(grep -i 'error\|status' "$OUT" | head -3)"
  run ctls cluster certificate renew api --client-config "$TMP/admin.json"
  local deadline=$((SECONDS + 10)) renewed=""
  while [ $SECONDS -le $deadline ]; do
    renewed=$(timeout 15 openssl s_client -connect "127.0.0.1:$SERVE_PORT" -servername "$FQDN" </dev/null 2>/dev/null |
      timeout 15 openssl x509 -noout -ext subjectAltName 2>/dev/null)
    [[ $renewed == *URI:urn:uuid:6449b34e-5fdd-4eb6-b921-3d6c90300bed* ]] && break
    sleep 0.2
  done
  [[ $renewed == *URI:urn:uuid:6449b34e-5fdd-4eb6-b921-3d6c90300bed* ]] ||
    fail "the renewed api certificate lacks the control-plane identity: $renewed"
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" --user admin \
    --password-file "$TMP/admin.pw" --client-config "$TMP/admin2.json"

  # An api certificate replaced by hand (self-signed, as Redis' page makes one): the root's
  # fingerprint no longer vouches for it, its own does; serve says so in its log.
  timeout 20 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -keyout "$TMP/self.key" -out "$TMP/self.crt" -subj "/CN=$FQDN" \
    -addext "subjectAltName=DNS:$FQDN,IP:127.0.0.1" -addext "extendedKeyUsage=serverAuth,clientAuth" \
    -addext "basicConstraints=critical,CA:FALSE" \
    >/dev/null 2>&1 || fail "openssl req -x509 failed"
  json_cert_body api "$TMP/self.key" "$TMP/self.crt" >"$TMP/self.json"
  api PUT /v1/cluster/update_cert "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/self.json"
  expect_status 200 "update_cert api with a self-signed certificate"
  local self_fp
  self_fp=$(file_fp "$TMP/self.crt")
  deadline=$((SECONDS + 10))
  while [ "$(presented_fp "$SERVE_PORT" "$FQDN")" != "$self_fp" ] && [ $SECONDS -le $deadline ]; do
    sleep 0.1
  done
  assert_eq "$(presented_fp "$SERVE_PORT" "$FQDN")" "$self_fp" "presented api certificate"
  expect_fail 1 "does not verify|not the cluster's api certificate" -- ctls login \
    --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" --user admin \
    --password-file "$TMP/admin.pw" --client-config "$TMP/self-root.json"
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$self_fp" --user admin \
    --password-file "$TMP/admin.pw" --client-config "$TMP/self.json.cfg"
  run ctls cluster certificate list --client-config "$TMP/self.json.cfg"
  assert_grep 'lacks the control-plane identity' "$TMP/serve.impersonation.log"
  # Back to an api certificate from the cluster CA for the next sections.
  API_CA=$TMP/self.crt
  api POST /v1/cluster/certificates/api/renew "${ADMIN[@]}"
  expect_status 200 "renew api"
}

name_policies() {
  serve_up policies
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" --user admin \
    --password-file "$TMP/admin.pw" --client-config "$TMP/admin.json"
  printf 'db-ops-password-0001\n' >"$TMP/dbops.pw"
  run ctls users add db-ops --role operator --password-file "$TMP/dbops.pw" --allow-dns db.example.com --deny-dns vault.db.example.com \
    --allow-ip 10.1.0.0/16 --client-config "$TMP/admin.json"
  out_has 'name policy allowed DNS: db.example.com; denied DNS: vault.db.example.com; allowed IP: 10.1.0.0/16'
  run ctls users list --client-config "$TMP/admin.json"
  grep -q '^db-ops .*allowed DNS: db.example.com; denied DNS: vault.db.example.com' "$OUT" ||
    fail "users list does not show db-ops's name policy: $(cat "$OUT")"
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" --user db-ops \
    --password-file "$TMP/dbops.pw" --client-config "$TMP/dbops.json"
  make_csr a.db.example.com "DNS:a.db.example.com,IP:10.1.2.3"
  run ctls sign --csr "$TMP/a.db.example.com.csr" --out "$TMP/a.crt" --client-config "$TMP/dbops.json"
  ossl_verify -CAfile "$API_CA" -untrusted "$API_CA.chain" -purpose sslserver \
    -verify_hostname a.db.example.com "$TMP/a.crt"
  make_csr web.example.com
  expect_fail 1 'name policy of user "db-ops": DNS:web.example.com \(not within the allowed DNS entries \(db.example.com\)\)' -- \
    ctls sign --csr "$TMP/web.example.com.csr" --out "$TMP/web.crt" --client-config "$TMP/dbops.json"
  make_csr x.vault.db.example.com
  expect_fail 1 'DNS:x.vault.db.example.com \(denied DNS entry vault.db.example.com\)' -- \
    ctls sign --csr "$TMP/x.vault.db.example.com.csr" --out "$TMP/v.crt" --client-config "$TMP/dbops.json"
  make_csr b.db.example.com "DNS:b.db.example.com,IP:192.0.2.9"
  expect_fail 1 'IP:192.0.2.9 \(not within the allowed IP entries' -- \
    ctls sign --csr "$TMP/b.db.example.com.csr" --out "$TMP/b.crt" --client-config "$TMP/dbops.json"
  assert_no_file "$TMP/web.crt"

  # A token narrows its user's policy.
  run ctls tokens create --allow-dns cache.db.example.com --client-config "$TMP/dbops.json"
  out_has 'name policy: allowed DNS: cache.db.example.com'
  local tok
  tok=$(sed -n 's/^token: *//p' "$OUT")
  make_csr n1.cache.db.example.com
  jq -n --rawfile c "$TMP/n1.cache.db.example.com.csr" '{csr:$c}' >"$TMP/n1.json"
  api POST /v1/ca/sign -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' --data-binary @"$TMP/n1.json"
  expect_status 201 "sign within the token's policy"
  sign_json "$TMP/a.db.example.com.csr"
  api POST /v1/ca/sign -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' --data-binary @"$TMP/sign.json"
  expect_error 403 'name policy of token' "sign outside the token's policy"

  # Audited; removing the user's policy lets the user sign the rest, not the token.
  api GET '/v1/audit?limit=1000' "${ADMIN[@]}"
  [ "$(jbody '[.entries[] | select(.action == "user.create" and .target == "db-ops") | .details.name_policy.allowed_dns[0]] | first')" = db.example.com ] ||
    fail "the user.create entry of db-ops does not record its name policy"
  [ "$(jbody '[.entries[] | select(.action == "token.create") | .details.name_policy.allowed_dns[0]] | last')" = cache.db.example.com ] ||
    fail "the token.create entry does not record the token's name policy"
  run ctls users set-name-policy db-ops --clear --client-config "$TMP/admin.json"
  out_has 'name policy of db-ops: -'
  run ctls sign --csr "$TMP/web.example.com.csr" --out "$TMP/web.crt" --client-config "$TMP/dbops.json"
  jq -n --rawfile c "$TMP/web.example.com.csr" '{csr:$c}' >"$TMP/web.json"
  api POST /v1/ca/sign -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' --data-binary @"$TMP/web.json"
  expect_error 403 'name policy of token' "the token keeps its own policy"
  expect_fail 2 'give --allow' -- ctls users set-name-policy db-ops --client-config "$TMP/admin.json"
  expect_fail 1 'allowed_dns\[0\]' -- ctls users set-name-policy db-ops --allow-dns 'bad name' \
    --client-config "$TMP/admin.json"

  # A new password set by an admin ends the user's tokens (the saved login of db-ops too).
  printf 'db-ops-password-0002\n' >"$TMP/dbops2.pw"
  run ctls users set-password db-ops --password-file "$TMP/dbops2.pw" --client-config "$TMP/admin.json"
  out_has 'API tokens deleted'
  expect_fail 1 '401' -- ctls users list --client-config "$TMP/dbops.json"
  api GET /v1/cluster/policy -H "Authorization: Bearer $tok"
  expect_status 401 "a token of db-ops after the password change"
}

cross_site() {
  serve_up csrf
  local body='{"name":"csrf-admin","role":"admin","password":"csrf-password-00001"}'
  local type
  for type in text/plain application/x-www-form-urlencoded 'multipart/form-data; boundary=x'; do
    api POST /v1/users "${ADMIN[@]}" -H "Content-Type: $type" --data-binary "$body"
    expect_error 415 'application/json' "POST /v1/users as $type"
  done
  # curl -d without a type sends a form: refused too.
  api POST /v1/users "${ADMIN[@]}" -d "$body"
  expect_error 415 'application/json' "POST /v1/users with curl -d"
  api POST /v1/users "${ADMIN[@]}" -H 'Content-Type: application/json' \
    -H 'Origin: https://evil.example' --data-binary "$body"
  expect_error 403 'Origin https://evil.example' "a cross-origin POST"
  api DELETE /v1/users/admin "${ADMIN[@]}" -H 'Sec-Fetch-Site: cross-site'
  expect_error 403 'cross-origin' "a cross-site DELETE"
  api OPTIONS /v1/users -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: POST' \
    -H 'Access-Control-Request-Headers: authorization,content-type'
  expect_error 403 'cross-origin' "a CORS preflight"
  if grep -qi '^access-control-allow' "$HDRS"; then
    fail "the preflight answer allows something: $(grep -i '^access-control' "$HDRS")"
  fi
  api POST /v1/users "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"name":"dup","role":"reader","password":"dup-password-000001","role":"admin"}'
  expect_error 400 'the key "role" appears twice' "duplicate JSON keys"
  api GET /v1/users "${ADMIN[@]}"
  expect_status 200 "GET /v1/users"
  [ "$(jbody '[.users[].name] | map(select(. == "csrf-admin" or . == "dup")) | length')" = 0 ] ||
    fail "a refused request created a user: $(jbody '[.users[].name] | join(",")')"
  # The same-origin request with a charset passes.
  api POST /v1/users "${ADMIN[@]}" -H 'Content-Type: application/json; charset=utf-8' \
    -H "Origin: https://$FQDN:$SERVE_PORT" --data-binary "$body"
  expect_status 201 "a same-origin POST"
  # Long selectors are refused, and the server keeps serving.
  jq -n --arg n "$(head -c 50001 /dev/zero | tr '\0' a)" '{name:$n,dry_run:true}' >"$TMP/long.json"
  api POST /v1/certificates/revoke "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/long.json"
  expect_error 400 'name: 50001 characters; at most 1024' "a 50,001-character selector"
  api GET /health
  expect_status 200 "GET /health"
}

section "operators cannot sign the cluster's names; login refuses a fake control plane" impersonation
section "name policies of users and tokens; a new password ends the tokens" name_policies
section "cross-site writes, preflights, duplicate keys and long selectors are refused" cross_site
finish
