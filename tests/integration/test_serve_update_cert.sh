#!/usr/bin/env bash
# `clustertls serve`: updating the cluster's named certificates through the Redis Enterprise
# compatible API (PUT /v1/cluster/update_cert, PUT/GET/DELETE /v1/cluster/certificates), judged
# by curl and `openssl s_client` (which certificate the server presents, and when).
#   bash test_serve_update_cert.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=mycluster.example.com
API_HOST=$FQDN
D=$TMP/cluster
F=$TMP/fixtures
mkdir -p "$F"

# --- Fixtures (made once; a failure here ends the script) -----------------------------------
serve_init "$D" "$FQDN"

# A complete chain from another CA (root -> intermediate -> api leaf), made by the offline CLI.
run ctls ca init --out "$F/sep-root" --name "ITest Separate Root"
run ctls ca intermediate --ca-cert "$F/sep-root/ca.crt" --ca-key "$F/sep-root/ca.key" \
  --out "$F/sep-int" --name "ITest Separate Intermediate"
run ctls cert generate -f "$FQDN" -t api --ca-cert "$F/sep-int/chain.crt" \
  --ca-key "$F/sep-int/ca.key" --out "$F/sep"
[ "$(cert_count "$F/sep/api_cert.pem")" = 3 ] ||
  fail "cert generate under an intermediate should write leaf + intermediate + root"
# The same chain in the wrong order (root, intermediate, leaf).
split_pem "$F/sep/api_cert.pem" "$F/sep/c"
cat "$F/sep/c2.pem" "$F/sep/c1.pem" "$F/sep/c0.pem" >"$F/sep/reversed.pem"
# The leaf first, but the root before the intermediate.
cat "$F/sep/c0.pem" "$F/sep/c2.pem" "$F/sep/c1.pem" >"$F/sep/shuffled.pem"
# A leaf without the intermediate that issued it (and no root): the chain cannot be completed.
cp "$F/sep/c0.pem" "$F/sep/leaf-only.pem"

# An expired certificate for the FQDN, with its (valid) root: made with `openssl ca`.
e=$F/expired
mkdir -p "$e"
: >"$e/index.txt"
echo 01 >"$e/serial"
cat >"$e/ca.cnf" <<EOF
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = $e
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:$FQDN,DNS:*.$FQDN
EOF
timeout 20 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -keyout "$e/root.key" -out "$e/root.crt" -subj "/CN=ITest Expiry Root" >/dev/null 2>&1 &&
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$e/leaf.key" -out "$e/leaf.csr" -subj "/CN=$FQDN" >/dev/null 2>&1 &&
  timeout 20 openssl ca -batch -config "$e/ca.cnf" -cert "$e/root.crt" -keyfile "$e/root.key" \
    -in "$e/leaf.csr" -out "$e/leaf.crt" -startdate 20200101000000Z -enddate 20210101000000Z \
    -extensions leaf -notext >/dev/null 2>&1 ||
  fail "could not make the expired certificate with openssl ca"
cat "$e/leaf.crt" "$e/root.crt" >"$e/chain.pem"

# csr_for NAME OUTPREFIX SAN: an EC P-256 key and CSR made by `openssl req`.
csr_for() {
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$2.key" -out "$2.csr" -subj "/CN=$1" -addext "subjectAltName=$3" >/dev/null 2>&1 ||
    fail "openssl req could not make a CSR for $1"
}

# sign_csr CSRFILE PROFILE OUTCRT: POST /v1/ca/sign as admin; OUTCRT = leaf + chain.
sign_csr() {
  # The names of the named certificates are reserved for them: the admin asks explicitly.
  jq -n --rawfile c "$1" --arg p "$2" '{csr:$c,profile:$p,days:30,allow_reserved:true}' >"$TMP/sign.json"
  api POST /v1/ca/sign "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/sign.json"
  expect_status 201 "POST /v1/ca/sign"
  { jbody .certificate; jbody .chain; } | sed '/^$/d' >"$3"
  [ "$(cert_count "$3")" -ge 3 ] || fail "sign: certificate + chain should hold 3 certificates"
}

# api_version: the version of `api` in GET /v1/cluster/certificates (also checks: no key).
api_version() {
  api GET /v1/cluster/certificates "${ADMIN[@]}"
  expect_status 200 "GET /v1/cluster/certificates"
  if grep -q 'PRIVATE KEY' "$BODY"; then
    fail "GET /v1/cluster/certificates contains a private key"
  fi
  jbody '.certificates[] | select(.name == "api") | .version'
}

# wait_presented FP LIMIT_MS: a handshake STARTED more than LIMIT_MS after now must present FP
# (polls with s_client; earlier handshakes may still see the old certificate).
wait_presented() {
  local want=$1 limit=$2 t0 start got
  t0=$(date +%s%N)
  while :; do
    start=$((($(date +%s%N) - t0) / 1000000))
    got=$(presented_fp "$SERVE_PORT" "$FQDN")
    if [ "$got" = "$want" ]; then
      note "s_client sees the new certificate (handshake started ${start} ms after the update)"
      return 0
    fi
    if [ "$start" -gt "$limit" ]; then
      fail "a handshake started ${start} ms after the update still sees $got, expected $want"
    fi
    sleep 0.05
  done
}

# The checks of the Redis command, the refusals and the rladmin-style CLI share one server
# start-up routine: a server on the data dir, its root fetched (pinned by fingerprint).
serve_up() {
  start_serve "$D" "$TMP/serve.$1.log"
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
}

redis_command() {
  serve_up redis
  local before v0
  before=$(presented_fp "$SERVE_PORT" "$FQDN")
  [ -n "$before" ] || fail "s_client got no certificate from the server"
  v0=$(api_version)
  [ -n "$v0" ] || fail "no api certificate in GET /v1/cluster/certificates"
  note "api version $v0 presented ($before)"

  # A new api certificate: key and CSR by openssl req, signed by the cluster CA.
  csr_for "$FQDN" "$F/new" "DNS:$FQDN,DNS:*.$FQDN,DNS:localhost,IP:127.0.0.1"
  sign_csr "$F/new.csr" server "$F/new.crt"
  local want
  want=$(file_fp "$F/new.crt")

  # A connection opened before the update, kept open across it.
  mkfifo "$TMP/ka.in"
  timeout 60 openssl s_client -quiet -connect "127.0.0.1:$SERVE_PORT" -servername "$FQDN" \
    <"$TMP/ka.in" >"$TMP/ka.out" 2>"$TMP/ka.err" &
  register_pid $!
  exec 7>"$TMP/ka.in"
  printf 'GET /health HTTP/1.1\r\nHost: %s\r\n\r\n' "$FQDN" >&7
  wait_for_match "$TMP/ka.out" '^HTTP/1\.1 200' 15

  # The exact command of Redis' "Update certificates" page, PEMs escaped with its sed verbatim:
  # `sed -z 's/\n/\\\n/g'` leaves a backslash before each line break (and, $(...) dropping the
  # last line break, before the closing quote), which the certificate routes read as newlines.
  local status
  status=$(timeout 30 curl -k -X PUT -u "admin:$ADMIN_PW" -H "Content-Type: application/json" \
    -d "{ \"name\": \"api\", \"key\": \"$(sed -z 's/\n/\\\n/g' "$F/new.key")\", \"certificate\": \"$(sed -z 's/\n/\\\n/g' "$F/new.crt")\" }" \
    "https://127.0.0.1:$SERVE_PORT/v1/cluster/update_cert" -s -o "$BODY" -w '%{http_code}')
  HTTP_STATUS=$status
  expect_status 200 "the Redis update_cert command"
  assert_eq "$(jbody .name)" api "update_cert response name"
  assert_eq "$(jbody .version)" "$((v0 + 1))" "update_cert response version"
  wait_presented "$want" 1000

  # The connection opened before the update still works.
  printf 'GET /health HTTP/1.1\r\nHost: %s\r\n\r\n' "$FQDN" >&7
  local deadline=$((SECONDS + 15))
  # (a body has no final newline: count the status lines anywhere)
  while [ "$(grep -o 'HTTP/1\.1 200' "$TMP/ka.out" | wc -l)" -lt 2 ] && [ $SECONDS -le $deadline ]; do
    sleep 0.1
  done
  [ "$(grep -o 'HTTP/1\.1 200' "$TMP/ka.out" | wc -l)" -ge 2 ] ||
    fail "the connection opened before the update was dropped: $(tr -d '\r' <"$TMP/ka.out" | head -c 400)"
  exec 7>&-
  note "a keep-alive connection opened before the update is still served"

  # The inventory shows the new version, its fingerprint and the chain, never a key.
  assert_eq "$(api_version)" "$((v0 + 1))" "api version after the update"
  local fp
  fp=$(jbody '.certificates[] | select(.name == "api") | .fingerprint_sha256' | tr -d ':' | tr 'A-F' 'a-f')
  assert_eq "$fp" "$want" "fingerprint_sha256 of api in GET /v1/cluster/certificates"
  jbody .api_cert >"$TMP/api_cert.pem"
  assert_eq "$(file_fp "$TMP/api_cert.pem")" "$want" "api_cert of GET /v1/cluster/certificates"
  # curl, trusting only the cluster root, accepts the new certificate for the FQDN and for
  # 127.0.0.1.
  timeout 30 curl -sS --cacert "$API_CA" "https://127.0.0.1:$SERVE_PORT/health" -o /dev/null ||
    fail "curl --cacert root https://127.0.0.1 refused the new api certificate"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
  assert_not_grep 'PRIVATE KEY' "$TMP/serve.redis.log"
  assert_not_grep "$ADMIN_PW" "$TMP/serve.redis.log"
}

# refused NAME KEY CERT STATUS REGEX WHAT: PUT update_cert with that body is refused.
refused() {
  json_cert_body "$1" "$2" "$3" >"$TMP/bad.json"
  api PUT /v1/cluster/update_cert "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$TMP/bad.json"
  expect_error "$4" "$5" "update_cert: $6"
  local now
  now=$(presented_fp "$SERVE_PORT" "$FQDN")
  assert_eq "$now" "$PREV" "certificate presented after a refused update ($6)"
}

refusals() {
  serve_up refusals
  PREV=$(presented_fp "$SERVE_PORT" "$FQDN")
  local v0
  v0=$(api_version)
  # Another cluster-signed certificate for the FQDN, whose key is not new.key.
  csr_for "$FQDN" "$F/other" "DNS:$FQDN"
  sign_csr "$F/other.csr" server "$F/other.crt"
  # A cluster-signed certificate for a name that is not the cluster's.
  csr_for "elsewhere.example.org" "$F/wrongname" "DNS:elsewhere.example.org"
  sign_csr "$F/wrongname.csr" server "$F/wrongname.crt"
  printf 'this is not a PEM certificate\n' >"$F/garbage.pem"
  # The previous PEM truncated in the middle of its base64.
  head -c 300 "$F/other.crt" >"$F/truncated.pem"

  refused api "$F/new.key" "$F/other.crt" 400 'key_mismatch|match' "key of another certificate"
  refused api "$e/leaf.key" "$e/chain.pem" 400 'expired' "expired certificate"
  refused api "$F/other.key" "$F/garbage.pem" 400 'parse|pem|certificate' "garbage certificate"
  refused api "$F/garbage.pem" "$F/other.crt" 400 'parse|pem|key' "garbage key"
  refused api "$F/other.key" "$F/truncated.pem" 400 'parse|pem|certificate' "truncated PEM"
  # Root first: the first certificate is not the key's (Redis reads the leaf first as well).
  refused api "$F/sep/api_key.pem" "$F/sep/reversed.pem" 400 'order|chain|match' "chain root first"
  refused api "$F/sep/api_key.pem" "$F/sep/shuffled.pem" 400 'order|chain|issue' \
    "leaf, root, intermediate"
  refused api "$F/sep/api_key.pem" "$F/sep/leaf-only.pem" 400 'chain|issuer|incomplete' \
    "leaf without its intermediate"
  refused api "$F/wrongname.key" "$F/wrongname.crt" 400 "$FQDN|fqdn|name|cover" \
    "names do not cover the cluster FQDN"
  # Not the JSON the route expects.
  api PUT /v1/cluster/update_cert "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"name":"api","key":"x"}'
  expect_error 400 'certificate|invalid|missing' "update_cert without a certificate"
  api PUT /v1/cluster/update_cert "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"name":"api","key":'
  expect_error 400 'json|parse' "update_cert with truncated JSON"
  assert_eq "$(api_version)" "$v0" "api version after refused updates"
  assert_eq "$(presented_fp "$SERVE_PORT" "$FQDN")" "$PREV" "certificate presented at the end"
  assert_not_grep 'PRIVATE KEY' "$TMP/serve.refusals.log"
}

# A certificate that cannot serve TLS (finding 3). One whose extendedKeyUsage is clientAuth only,
# made the ways an operator makes one (openssl req -x509, openssl x509 -req under a CA), is
# refused for api, cm and proxy, and the server keeps presenting the previous api certificate.
# proxy and syncer also connect out as TLS clients: serverAuth alone is refused for them,
# serverAuth,clientAuth accepted.
key_usages() {
  serve_up usages
  PREV=$(presented_fp "$SERVE_PORT" "$FQDN")
  local u=$F/usages v0 vproxy eku n
  mkdir -p "$u"
  v0=$(api_version)
  # Self-signed by openssl req -x509. Its default config adds basicConstraints CA:TRUE (v3_ca),
  # which is refused as a CA; with CA:FALSE it is a leaf that only a client may present.
  timeout 20 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -keyout "$u/self.key" -out "$u/self.crt" -subj "/CN=$FQDN" \
    -addext "subjectAltName=DNS:$FQDN,DNS:*.$FQDN" -addext "basicConstraints=critical,CA:FALSE" \
    -addext extendedKeyUsage=clientAuth >/dev/null 2>&1 || fail "openssl req -x509 (clientAuth) failed"
  timeout 20 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -keyout "$u/selfca.key" -out "$u/selfca.crt" -subj "/CN=$FQDN" \
    -addext "subjectAltName=DNS:$FQDN,DNS:*.$FQDN" -addext extendedKeyUsage=clientAuth \
    >/dev/null 2>&1 || fail "openssl req -x509 (clientAuth, default extensions) failed"
  # A CA made by openssl, and leaves it signs with openssl x509 -req for each purpose list.
  timeout 20 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -keyout "$u/ca.key" -out "$u/ca.crt" -subj "/CN=ITest Usage Root" >/dev/null 2>&1 ||
    fail "openssl req -x509 (CA) failed"
  for eku in clientAuth serverAuth serverAuth,clientAuth; do
    timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout "$u/$eku.key" -out "$u/$eku.csr" -subj "/CN=$FQDN" >/dev/null 2>&1 ||
      fail "openssl req -new ($eku) failed"
    printf '%s\n' 'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature' \
      "extendedKeyUsage=$eku" "subjectAltName=DNS:$FQDN,DNS:*.$FQDN" >"$u/$eku.ext"
    timeout 20 openssl x509 -req -in "$u/$eku.csr" -CA "$u/ca.crt" -CAkey "$u/ca.key" \
      -set_serial "0x$(openssl rand -hex 16)" -days 30 -extfile "$u/$eku.ext" \
      -out "$u/$eku.crt" >/dev/null 2>&1 || fail "openssl x509 -req ($eku) failed"
    cat "$u/$eku.crt" "$u/ca.crt" >"$u/$eku.chain.pem"
  done
  # The independent judge: OpenSSL refuses the clientAuth-only leaf as a TLS server's.
  if timeout 20 openssl verify -purpose sslserver -CAfile "$u/ca.crt" "$u/clientAuth.crt" \
    >"$OUT" 2>&1; then
    fail "openssl verify -purpose sslserver accepted a clientAuth-only certificate"
  fi
  grep -q 'unsuitable certificate purpose' "$OUT" ||
    fail "openssl verify -purpose sslserver: $(tr '\n' ' ' <"$OUT")"
  timeout 20 openssl verify -purpose sslserver -CAfile "$u/ca.crt" "$u/serverAuth.crt" \
    >/dev/null 2>&1 || fail "openssl verify -purpose sslserver refused the serverAuth certificate"

  # clientonly NAME: the refusal of a clientAuth-only certificate for NAME (a regex).
  clientonly() {
    echo "invalid_argument: certificate: the $1 certificate \\(CN=$FQDN\\) has extendedKeyUsage clientAuth; serverAuth( and clientAuth)? is required"
  }
  for n in api cm proxy; do
    refused "$n" "$u/self.key" "$u/self.crt" 400 "$(clientonly "$n")" \
      "clientAuth-only self-signed certificate for $n"
    refused "$n" "$u/clientAuth.key" "$u/clientAuth.chain.pem" 400 "$(clientonly "$n")" \
      "clientAuth-only certificate signed by a CA for $n"
  done
  refused api "$u/selfca.key" "$u/selfca.crt" 400 'CA certificate' \
    "openssl req -x509 default (CA:TRUE, clientAuth)"
  for n in proxy syncer; do
    refused "$n" "$u/serverAuth.key" "$u/serverAuth.chain.pem" 400 \
      "has extendedKeyUsage serverAuth; serverAuth and clientAuth is required: $n is presented by a TLS server and also when it connects out as a TLS client" \
      "serverAuth-only certificate for $n"
  done
  # The Redis command itself (PEMs escaped with its sed), for api with the clientAuth-only one.
  HTTP_STATUS=$(timeout 30 curl -k -X PUT -u "admin:$ADMIN_PW" -H "Content-Type: application/json" \
    -d "{ \"name\": \"api\", \"key\": \"$(sed -z 's/\n/\\n/g' "$u/self.key")\", \"certificate\": \"$(sed -z 's/\n/\\n/g' "$u/self.crt")\" }" \
    "https://127.0.0.1:$SERVE_PORT/v1/cluster/update_cert" -s -o "$BODY" -w '%{http_code}')
  expect_error 400 "$(clientonly api)" "the Redis update_cert command, clientAuth only"
  assert_eq "$(presented_fp "$SERVE_PORT" "$FQDN")" "$PREV" "certificate presented after it"

  # serverAuth and clientAuth: accepted for proxy; serverAuth alone for cm.
  api GET /v1/cluster/certificates "${ADMIN[@]}"
  vproxy=$(jbody '.certificates[] | select(.name == "proxy") | .version')
  json_cert_body proxy "$u/serverAuth,clientAuth.key" "$u/serverAuth,clientAuth.chain.pem" \
    >"$TMP/both.json"
  api PUT /v1/cluster/update_cert "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$TMP/both.json"
  expect_status 200 "update_cert proxy with serverAuth,clientAuth"
  assert_eq "$(jbody .version)" "$((vproxy + 1))" "proxy version after the update"
  json_cert_body cm "$u/serverAuth.key" "$u/serverAuth.chain.pem" >"$TMP/cm.json"
  api PUT /v1/cluster/update_cert "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$TMP/cm.json"
  expect_status 200 "update_cert cm with serverAuth only"
  assert_eq "$(api_version)" "$v0" "api version after the refused updates"
  assert_eq "$(presented_fp "$SERVE_PORT" "$FQDN")" "$PREV" "certificate presented at the end"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

several_and_delete() {
  serve_up several
  api GET /v1/cluster/certificates "${ADMIN[@]}"
  expect_status 200
  local vproxy vcm
  vproxy=$(jbody '.certificates[] | select(.name == "proxy") | .version')
  vcm=$(jbody '.certificates[] | select(.name == "cm") | .version')
  [ -n "$vproxy" ] && [ -n "$vcm" ] || fail "GET /v1/cluster/certificates lacks proxy or cm"
  # Peer certificates for proxy and cm, signed by the cluster.
  csr_for "$FQDN" "$F/proxy" "DNS:$FQDN,DNS:*.$FQDN"
  sign_csr "$F/proxy.csr" peer "$F/proxy.crt"
  csr_for "$FQDN" "$F/cm" "DNS:$FQDN,DNS:*.$FQDN"
  sign_csr "$F/cm.csr" peer "$F/cm.crt"
  # Several at once, one of them expired: nothing is stored.
  jq -n --rawfile pk "$F/proxy.key" --rawfile pc "$F/proxy.crt" --rawfile ck "$e/leaf.key" \
    --rawfile cc "$e/chain.pem" \
    '{certificates:[{name:"proxy",key:$pk,certificate:$pc},{name:"cm",key:$ck,certificate:$cc}]}' \
    >"$TMP/several.json"
  api PUT /v1/cluster/certificates "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$TMP/several.json"
  expect_error 400 'expired' "PUT /v1/cluster/certificates with one expired certificate"
  api GET /v1/cluster/certificates "${ADMIN[@]}"
  assert_eq "$(jbody '.certificates[] | select(.name == "proxy") | .version')" "$vproxy" \
    "proxy version after a refused batch"
  # Both valid: both stored, each a new version.
  jq -n --rawfile pk "$F/proxy.key" --rawfile pc "$F/proxy.crt" --rawfile ck "$F/cm.key" \
    --rawfile cc "$F/cm.crt" \
    '{certificates:[{name:"proxy",key:$pk,certificate:$pc},{name:"cm",key:$ck,certificate:$cc}]}' \
    >"$TMP/several.json"
  api PUT /v1/cluster/certificates "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$TMP/several.json"
  expect_status 200 "PUT /v1/cluster/certificates"
  assert_eq "$(jbody '.certificates[] | select(.name == "proxy") | .version')" "$((vproxy + 1))" \
    "proxy version in the batch response"
  assert_eq "$(jbody '.certificates[] | select(.name == "cm") | .version')" "$((vcm + 1))" \
    "cm version in the batch response"
  api GET /v1/cluster/certificates "${ADMIN[@]}"
  jbody .cm_cert >"$TMP/cm_cert.pem"
  assert_eq "$(file_fp "$TMP/cm_cert.pem")" "$(file_fp "$F/cm.crt")" "cm_cert after the batch"
  if grep -q 'PRIVATE KEY' "$BODY"; then
    fail "GET /v1/cluster/certificates contains a private key"
  fi
  # Deleting: api is refused (the server presents it), unknown is 404, syncer goes away.
  api DELETE /v1/cluster/certificates/api "${ADMIN[@]}"
  expect_error 409 'api|conflict' "DELETE api"
  api DELETE /v1/cluster/certificates/nosuch "${ADMIN[@]}"
  expect_error 404 'nosuch|not_found|not found' "DELETE an unknown name"
  api DELETE /v1/cluster/certificates/syncer "${ADMIN[@]}"
  expect_status 200 "DELETE syncer"
  assert_eq "$(jbody .deleted)" syncer "DELETE response"
  api GET /v1/cluster/certificates "${ADMIN[@]}"
  [ -z "$(jbody '.certificates[] | select(.name == "syncer") | .name')" ] ||
    fail "syncer is still listed after DELETE"
}

# The rladmin form through the client CLI (login pins the CA by fingerprint).
cli_set() {
  serve_up cli
  printf '%s\n' "$ADMIN_PW" >"$TMP/admin.pw"
  local cfg=$TMP/client.json
  # The api certificate an earlier section set came from POST /v1/ca/sign, so it lacks the
  # control-plane identity URI and login refuses it; a renewal from the cluster CA restores it.
  api POST /v1/cluster/certificates/api/renew "${ADMIN[@]}"
  expect_status 200 "renew api"
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" --user admin \
    --password-file "$TMP/admin.pw" --client-config "$cfg"
  api GET /v1/cluster/certificates "${ADMIN[@]}"
  local v0
  v0=$(jbody '.certificates[] | select(.name == "metrics") | .version')
  csr_for "$FQDN" "$F/metrics" "DNS:$FQDN,DNS:*.$FQDN"
  sign_csr "$F/metrics.csr" peer "$F/metrics.crt"
  run ctls cluster certificate set metrics --certificate-file "$F/metrics.crt" \
    --key-file "$F/metrics.key" --client-config "$cfg"
  api GET /v1/cluster/certificates "${ADMIN[@]}"
  assert_eq "$(jbody '.certificates[] | select(.name == "metrics") | .version')" "$((v0 + 1))" \
    "metrics version after clustertls cluster certificate set"
  # rladmin's own spelling: `cluster certificate set <name> certificate_file <F> key_file <K>`.
  run ctls cluster certificate set metrics certificate_file "$F/metrics.crt" \
    key_file "$F/metrics.key" --client-config "$cfg"
  api GET /v1/cluster/certificates "${ADMIN[@]}"
  assert_eq "$(jbody '.certificates[] | select(.name == "metrics") | .version')" "$((v0 + 2))" \
    "metrics version after rladmin's certificate_file/key_file form"
  expect_fail 2 "rladmin's form is" -- ctls cluster certificate set metrics cert_file "$F/metrics.crt" \
    key_file "$F/metrics.key" --client-config "$cfg"
  expect_fail 2 'give the certificate and the key' -- ctls cluster certificate set metrics \
    --client-config "$cfg"
  run ctls cluster certificate list --client-config "$cfg" --json
  grep -q 'PRIVATE KEY' "$OUT" && fail "cluster certificate list prints a private key"
  jq -e '.' "$OUT" >/dev/null || fail "cluster certificate list --json is not JSON"
  grep -q metrics "$OUT" || fail "cluster certificate list does not list metrics"
  # A refused update through the CLI: exit 1, one line naming the cause, nothing stored.
  expect_fail 1 'match' -- ctls cluster certificate set metrics --certificate-file "$F/metrics.crt" \
    --key-file "$F/proxy.key" --client-config "$cfg"
  # serverAuth alone for proxy (made by key_usages): refused, naming what proxy needs.
  expect_fail 1 'proxy certificate .*has extendedKeyUsage serverAuth; serverAuth and clientAuth is required' \
    -- ctls cluster certificate set proxy --certificate-file "$F/usages/serverAuth.chain.pem" \
    --key-file "$F/usages/serverAuth.key" --client-config "$cfg"
}

# A complete chain from another CA (leaf -> intermediate -> root), as an external PKI makes it.
separate_chain() {
  serve_up separate
  local v0
  v0=$(api_version)
  json_cert_body api "$F/sep/api_key.pem" "$F/sep/api_cert.pem" >"$TMP/sep.json"
  api PUT /v1/cluster/update_cert "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$TMP/sep.json"
  expect_status 200 "update_cert with a complete chain from another CA"
  wait_presented "$(file_fp "$F/sep/api_cert.pem")" 1000
  # From now on curl trusts the other root (and only it) for the FQDN.
  API_CA=$F/sep-root/ca.crt
  assert_eq "$(api_version)" "$((v0 + 1))" "api version after the separate-chain update"
  # What the server sends verifies with openssl against the other root.
  timeout 15 openssl s_client -connect "127.0.0.1:$SERVE_PORT" -servername "$FQDN" \
    -CAfile "$F/sep-root/ca.crt" -verify_hostname "$FQDN" -verify_return_error </dev/null \
    >"$OUT" 2>&1 || fail "s_client -verify_return_error against the other root failed: $(grep -i error "$OUT" | head -3)"
  grep -q 'Verify return code: 0 (ok)' "$OUT" || fail "s_client did not verify the new chain"
  note "s_client verifies the presented chain against the other root"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
  # A restarted server presents the stored version.
  start_serve "$D" "$TMP/serve.restart.log"
  assert_eq "$(presented_fp "$SERVE_PORT" "$FQDN")" "$(file_fp "$F/sep/api_cert.pem")" \
    "certificate presented after a restart"
}

# Redis' page replaces `api` with its self-signed certificate (names the FQDN only): accepted with
# warnings; login pinning the cluster root then fails, as it must (the server no longer chains to
# it); one renewal from the cluster CA brings back the names the server is reached by and its
# identity, and login pinning the root works again. A self-signed api that does name the address
# is accepted by login pinning that very leaf (Elastic's ca_trusted_fingerprint does the same).
lockout() {
  serve_up lockout
  # Whichever api an earlier section left (the cluster CA's or the separate chain's), curl trusts it.
  cat "$TMP/root.pem" "$F/sep-root/ca.crt" >"$TMP/either-root.pem"
  API_CA=$TMP/either-root.pem
  printf '%s\n' "$ADMIN_PW" >"$TMP/admin.pw"
  run ctls cert generate -f "$FQDN" -t api --out "$F/selfsigned"
  jq -n --rawfile k "$F/selfsigned/api_key.pem" --rawfile c "$F/selfsigned/api_cert.pem" \
    '{name:"api",key:$k,certificate:$c}' >"$TMP/ss.json"
  api PUT /v1/cluster/update_cert "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$TMP/ss.json"
  expect_status 200 "update_cert with the page's self-signed api certificate"
  jbody '.warnings[]' >"$TMP/warnings"
  assert_grep 'cluster CA' "$TMP/warnings"
  assert_grep '127\.0\.0\.1' "$TMP/warnings"
  note "warnings: $(tr '\n' ' ' <"$TMP/warnings" | head -c 300)"
  wait_presented "$(file_fp "$F/selfsigned/api_cert.pem")" 1000
  expect_fail 1 'verif|certificate' -- ctls login --server "https://127.0.0.1:$SERVE_PORT" \
    --ca-fingerprint "$CA_FP" --user admin --password-file "$TMP/admin.pw" \
    --client-config "$TMP/lockout.json"
  # The way back: renew api (curl trusting the self-signed certificate the server presents now).
  API_CA=$F/selfsigned/api_cert.pem
  api POST /v1/cluster/certificates/api/renew "${ADMIN[@]}"
  expect_status 200 "renew api"
  jbody .certificate >"$TMP/renewed.pem"
  local sans
  sans=$(timeout 10 openssl x509 -in "$TMP/renewed.pem" -noout -ext subjectAltName | tail -n +2)
  for want in "DNS:$FQDN" "DNS:\*.$FQDN" "DNS:localhost" "IP Address:127.0.0.1" "URI:urn:uuid:"; do
    grep -q "$want" <<<"$sans" || fail "the renewed api certificate lacks $want: $sans"
  done
  wait_presented "$(file_fp "$TMP/renewed.pem")" 1000
  API_CA=$TMP/root.pem
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" --user admin \
    --password-file "$TMP/admin.pw" --client-config "$TMP/lockout.json"
  note "after one renewal: $(head -n1 "$OUT")"
  # A self-signed api that names the address: login pins the leaf itself.
  timeout 20 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -keyout "$F/ssip.key" -out "$F/ssip.crt" -subj "/CN=$FQDN" \
    -addext "subjectAltName=DNS:$FQDN,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" \
    -addext "extendedKeyUsage=serverAuth,clientAuth" -addext "keyUsage=critical,digitalSignature" \
    >/dev/null 2>&1 || fail "openssl req -x509 failed"
  jq -n --rawfile k "$F/ssip.key" --rawfile c "$F/ssip.crt" '{name:"api",key:$k,certificate:$c}' \
    >"$TMP/ssip.json"
  api PUT /v1/cluster/update_cert "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$TMP/ssip.json"
  expect_status 200 "update_cert with a self-signed api naming 127.0.0.1"
  wait_presented "$(file_fp "$F/ssip.crt")" 1000
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$(file_fp "$F/ssip.crt")" \
    --user admin --password-file "$TMP/admin.pw" --client-config "$TMP/leafpin.json"
  note "login pinning the self-signed leaf: $(head -n1 "$OUT")"
  # Leave the server as the other sections expect it: an api from the cluster CA.
  API_CA=$F/ssip.crt
  api POST /v1/cluster/certificates/api/renew "${ADMIN[@]}"
  expect_status 200 "renew api again"
  API_CA=$TMP/root.pem
}

section "the Redis update_cert command: s_client sees the new api certificate within a second" redis_command
section "refused updates (key mismatch, expired, garbage, order, chain, FQDN) change nothing" refusals
section "key usages: clientAuth-only refused for api/cm/proxy, proxy/syncer need both" key_usages
section "PUT /v1/cluster/certificates (all or nothing), DELETE rules" several_and_delete
section "clustertls login + cluster certificate set/list (the rladmin form)" cli_set
section "a complete chain from another CA; a restart presents it" separate_chain
section "the page's self-signed api: warnings, login refused, one renewal repairs it; a leaf pin" lockout
finish
