#!/usr/bin/env bash
# `clustertls serve`: signing CSRs made by `openssl req` (judged by `openssl verify`), the
# certificate inventory, the hash-chained audit log (GET /v1/audit, `clustertls audit verify`,
# tampering with the SQLite file through the `sqlite3` CLI), a SIGTERM while signing requests
# are in flight (every certificate a client received is in the database), and the data
# directory's file modes and contents; a copied data directory using its own database;
# `clustertls certificates list|show` and the soonest-expiry gauge of /metrics.
#   bash test_serve_sign_audit.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=sign.example.com
API_HOST=$FQDN
D=$TMP/cluster
DB=$D/clustertls.db
serve_init "$D" "$FQDN"

serve_up() {
  start_serve "$D" "$TMP/serve.$1.log"
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
  # The issuing CA: the first certificate of the chain.
  split_pem "$API_CA.chain" "$TMP/chain"
  ISSUING=$TMP/chain0.pem
}

# sign NAME PROFILE [DAYS]: POST /v1/ca/sign; writes $TMP/NAME.crt (leaf) and NAME.chain.
sign() {
  jq -n --rawfile c "$TMP/$1.csr" --arg p "$2" --argjson d "${3:-30}" '{csr:$c,profile:$p,days:$d}' \
    >"$TMP/sign.json"
  api POST /v1/ca/sign "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/sign.json"
  expect_status 201 "POST /v1/ca/sign $1 ($2)"
  jbody .certificate >"$TMP/$1.crt"
  jbody .chain >"$TMP/$1.chain"
  assert_eq "$(cert_count "$TMP/$1.crt")" 1 "certificates in .certificate"
  assert_eq "$(cert_count "$TMP/$1.chain")" 2 "certificates in .chain (issuing + root)"
  SERIAL=$(jbody .serial)
}

audit_verify_ok() {
  run ctls audit verify --data-dir "$D"
  note "audit verify: $(head -n1 "$OUT")"
}

signing() {
  serve_up sign
  local p
  # One certificate of each profile; openssl verifies each with its purpose.
  make_csr "web.$FQDN" "DNS:web.$FQDN,DNS:www.$FQDN,IP:192.0.2.10"
  sign "web.$FQDN" server 90
  ossl_verify -CAfile "$API_CA" -untrusted "$ISSUING" -purpose sslserver \
    -verify_hostname "www.$FQDN" "$TMP/web.$FQDN.crt"
  ossl_verify -CAfile "$API_CA" -untrusted "$TMP/web.$FQDN.chain" -purpose sslserver \
    -verify_ip 192.0.2.10 "$TMP/web.$FQDN.crt"
  assert_leaf "$TMP/web.$FQDN.crt" server "$ISSUING"
  assert_key_matches "$TMP/web.$FQDN.crt" "$TMP/web.$FQDN.key"
  # The serial in the response is the certificate's, as openssl prints it.
  assert_eq "$(serial_hex "$TMP/web.$FQDN.crt" | tr 'a-f' 'A-F')" "$(tr 'a-f' 'A-F' <<<"$SERIAL")" \
    "serial in the response"
  local days
  days=$((($(not_after "$TMP/web.$FQDN.crt") - $(not_before "$TMP/web.$FQDN.crt")) / 86400))
  [ "$days" -ge 89 ] && [ "$days" -le 91 ] || fail "days 90 gave a validity of $days days"
  make_csr "client1.$FQDN"
  sign "client1.$FQDN" client
  ossl_verify -CAfile "$API_CA" -untrusted "$ISSUING" -purpose sslclient "$TMP/client1.$FQDN.crt"
  assert_leaf "$TMP/client1.$FQDN.crt" client "$ISSUING"
  make_csr "peer1.$FQDN"
  sign "peer1.$FQDN" peer
  assert_leaf "$TMP/peer1.$FQDN.crt" peer "$ISSUING"
  # The inventory: by serial (upper and lower case), by name, by profile.
  local web_serial
  web_serial=$(serial_hex "$TMP/web.$FQDN.crt")
  for p in "$web_serial" "$(tr 'A-F' 'a-f' <<<"$web_serial")"; do
    api GET "/v1/certificates/$p" "${ADMIN[@]}"
    expect_status 200 "GET /v1/certificates/$p"
    assert_eq "$(jbody .serial | tr 'a-f' 'A-F')" "$web_serial" "serial of the record"
    jbody .certificate >"$TMP/rec.pem"
    assert_eq "$(file_fp "$TMP/rec.pem")" "$(file_fp "$TMP/web.$FQDN.crt")" "certificate of the record"
    assert_eq "$(jbody .profile)" server "profile of the record"
    assert_eq "$(jbody .issued_by)" admin "issued_by of the record"
  done
  api GET "/v1/certificates?name=web.$FQDN" "${ADMIN[@]}"
  expect_status 200 "GET /v1/certificates?name="
  assert_eq "$(jbody '[.certificates[].serial] | join(",")' | tr 'a-f' 'A-F')" "$web_serial" \
    "certificates named web.$FQDN"
  api GET "/v1/certificates?profile=client" "${ADMIN[@]}"
  assert_eq "$(jbody '[.certificates[].subject_cn] | join(",")')" "client1.$FQDN" "client certificates"
  # Paging: limit 1 walks all three with cursors, each once.
  local cursor="" seen="" n=0
  while :; do
    api GET "/v1/certificates?limit=1${cursor:+&cursor=$cursor}" "${ADMIN[@]}"
    expect_status 200 "GET /v1/certificates?limit=1"
    seen+="$(jbody '.certificates[].serial'),"
    n=$((n + 1))
    cursor=$(jbody '.next_cursor // ""')
    [ -z "$cursor" ] && break
    [ $n -le 20 ] || fail "paging did not end after 20 pages"
  done
  # The three issued here, the OCSP responder's and the audit head's signer certificates, which
  # serve issues from the same CA at start-up, and the five named certificates init issued: all
  # recorded like any other.
  assert_eq "$(tr ',' '\n' <<<"$seen" | sed '/^$/d' | sort -u | wc -l)" 10 "distinct serials seen by paging"
  assert_eq "$n" 10 "pages of one"
  # The database holds exactly these records (sqlite3 reads the file while the server runs).
  local rows
  rows=$(timeout 20 sqlite3 "$DB" "SELECT count(*) FROM issued_certs WHERE profile NOT IN ('ocsp-signer', 'audit-signer') AND issued_by <> 'init'")
  assert_eq "$rows" 3 "rows in issued_certs (besides the OCSP and audit signers and init's named certificates)"
  rows=$(timeout 20 sqlite3 "$DB" "SELECT count(*) FROM issued_certs WHERE issued_by = 'init'")
  assert_eq "$rows" 5 "rows of init's named certificates"
  rows=$(timeout 20 sqlite3 "$DB" "SELECT count(*) FROM issued_certs WHERE profile = 'ocsp-signer'")
  assert_eq "$rows" 1 "OCSP signer rows in issued_certs"
  rows=$(timeout 20 sqlite3 "$DB" "SELECT count(*) FROM issued_certs WHERE profile = 'audit-signer'")
  assert_eq "$rows" 1 "audit signer rows in issued_certs"
  timeout 20 sqlite3 "$DB" "SELECT upper(serial) FROM issued_certs" | grep -qx "$web_serial" ||
    fail "serial $web_serial is not in issued_certs"
  # The metrics count what was issued.
  api GET /metrics "${ADMIN[@]}"
  grep -Eq '^clustertls_certificates_issued_total\{[^}]*profile="server"[^}]*\} 1(\.0)?$' "$BODY" ||
    fail "metrics: $(grep issued_total "$BODY" | head -3)"
  grep -Eq '^clustertls_certificate_expiry_timestamp_seconds\{[^}]*kind="named"[^}]*name="api"' "$BODY" ||
    fail "metrics: no expiry of the api certificate"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

# POST /v1/ca/sign keeps the CSR's C, ST, L, O and OU (RabbitMQ's EXTERNAL mechanism maps the
# DN to a user name), on the fast EC path and the RSA path alike; a bad one is a 400 naming it.
subject_dn() {
  serve_up dn
  local subj="/C=US/ST=California/L=San Francisco/O=Example/OU=ops/CN=rabbit1.$FQDN"
  local want="CN=rabbit1.$FQDN,OU=ops,O=Example,L=San Francisco,ST=California,C=US" name
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/dn-ec.key" -subj "$subj" -out "$TMP/dn-ec.csr" 2>/dev/null || fail "openssl req failed"
  timeout 60 openssl req -new -newkey rsa:2048 -nodes -keyout "$TMP/dn-rsa.key" -subj "$subj" \
    -out "$TMP/dn-rsa.csr" 2>/dev/null || fail "openssl req (RSA) failed"
  for name in dn-ec dn-rsa; do
    sign "$name" client
    assert_eq "$(timeout 20 openssl x509 -in "$TMP/$name.crt" -noout -subject -nameopt RFC2253)" \
      "subject=$want" "subject of the certificate signed for $name"
    ossl_verify -CAfile "$API_CA" -untrusted "$ISSUING" -purpose sslclient "$TMP/$name.crt"
    assert_key_matches "$TMP/$name.crt" "$TMP/$name.key"
  done
  # The inventory names the certificate by its CN.
  api GET "/v1/certificates?name=rabbit1.$FQDN" "${ADMIN[@]}"
  expect_status 200 "GET /v1/certificates?name=rabbit1.$FQDN"
  assert_eq "$(jbody '.certificates | length')" 2 "certificates named rabbit1.$FQDN"
  # A lower-case country: 400 naming the attribute.
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/dn-bad.key" -subj "/C=us/CN=bad.$FQDN" -out "$TMP/dn-bad.csr" 2>/dev/null ||
    fail "openssl req failed"
  jq -n --rawfile c "$TMP/dn-bad.csr" '{csr:$c,profile:"client"}' >"$TMP/sign.json"
  api POST /v1/ca/sign "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/sign.json"
  expect_error 400 'subject attribute C "us": a country must be 2 letters' "POST /v1/ca/sign with C=us"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

audit() {
  serve_up audit
  api GET '/v1/audit?limit=1000' "${ADMIN[@]}"
  expect_status 200 "GET /v1/audit"
  local last
  last=$(jbody '.entries[-1].seq')
  assert_eq "$(jbody '.entries[0].action')" cluster.init "first audit entry"
  # Each change adds its entry: who, what, from where.
  make_csr "audited.$FQDN"
  sign "audited.$FQDN" server
  api PUT /v1/cluster/policy "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"min_data_tls_version":"1.3"}'
  expect_status 200 "PUT policy"
  api POST /v1/users "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"name":"auditor","role":"reader","password":"auditor-password-1"}'
  expect_status 201 "POST /v1/users"
  api POST /v1/tokens -u auditor:auditor-password-1 -H 'Content-Type: application/json' --data-binary '{}'
  expect_status 201 "POST /v1/tokens"
  local tok tid
  tok=$(jbody .token)
  tid=$(jbody .id)
  api DELETE "/v1/tokens/$tid" -H "Authorization: Bearer $tok"
  expect_status 200 "DELETE token"
  api DELETE /v1/users/auditor "${ADMIN[@]}"
  expect_status 200 "DELETE user"
  # A refused change is not an entry.
  api PUT /v1/cluster/policy "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"min_data_tls_version":"1.1"}'
  expect_status 400 "refused policy"
  api GET "/v1/audit?after=$last" "${ADMIN[@]}"
  expect_status 200 "GET /v1/audit?after=$last"
  assert_eq "$(jbody '[.entries[].action] | join(" ")')" \
    "cert.sign policy.update user.create token.create token.delete user.delete" "new audit actions"
  assert_eq "$(jbody '[.entries[].actor] | join(" ")' | sed 's/ (token [^)]*)//g')" \
    "admin admin admin auditor auditor admin" "audit actors"
  assert_eq "$(jbody '[.entries[].source] | unique | join(",")')" 127.0.0.1 "audit sources"
  assert_eq "$(jbody '.entries[0].target' | tr 'a-f' 'A-F')" "$(tr 'a-f' 'A-F' <<<"$SERIAL")" \
    "target of cert.sign"
  # Each entry's prev_hash is the previous entry's hash; times are RFC 3339.
  api GET '/v1/audit?limit=1000' "${ADMIN[@]}"
  jq -e '[.entries as $e | range(1; $e | length) | $e[.].prev_hash == $e[. - 1].hash] | all' "$BODY" \
    >/dev/null || fail "prev_hash does not chain the entries"
  jq -e '[.entries[].time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(\\.[0-9]+)?Z$")] | all' "$BODY" \
    >/dev/null || fail "audit times are not RFC 3339 UTC: $(jbody '.entries[0].time')"
  # No secret in the audit details.
  grep -qF 'auditor-password-1' "$BODY" && fail "GET /v1/audit shows a password"
  # The secret is everything after "ctls_<id>_" (base64url: it may itself contain "_").
  grep -qF "${tok#ctls_*_}" "$BODY" && fail "GET /v1/audit shows a token secret"
  # Paging: after/limit.
  api GET '/v1/audit?after=0&limit=2' "${ADMIN[@]}"
  assert_eq "$(jbody '[.entries[].seq] | length')" 2 "entries with limit=2"
  assert_eq "$(jbody .next_after)" "$(jbody '.entries[-1].seq')" "next_after"
  # audit verify passes, with the server running and after it stopped.
  audit_verify_ok
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
  audit_verify_ok
}

# audit_verify_fails REGEX: `audit verify --data-dir` exits 1 with one line (on stdout, as
# `verify` prints its findings, or stderr) matching REGEX, naming the entry.
audit_verify_fails() {
  ctls audit verify --data-dir "$D" >"$OUT" 2>"$ERR"
  local rc=$? msg
  msg=$(cat "$OUT" "$ERR" | sed '/^$/d')
  assert_eq "$rc" 1 "audit verify exit status after tampering (output: $msg)"
  [ "$(wc -l <<<"$msg")" = 1 ] || fail "audit verify should print one line: $msg"
  grep -Eiq -- "$1" <<<"$msg" || fail "audit verify: '$msg' does not match /$1/"
  note "audit verify detects it: $msg"
}

# The server is stopped; the SQLite file is edited with the sqlite3 CLI, then restored.
tamper() {
  cp -a "$D" "$TMP/pristine"
  (tamper_checks)
  local rc=$?
  rm -rf "$D" && cp -a "$TMP/pristine" "$D"
  return $rc
}

tamper_checks() {
  local schema
  schema=$(timeout 20 sqlite3 "$DB" '.schema audit_log')
  [[ $schema == *actor* && $schema == *hash* ]] || fail "unexpected audit_log schema: $schema"
  note "audit_log: $(tr -s ' \n' ' ' <<<"$schema" | cut -c1-150)"
  local seq n
  n=$(timeout 20 sqlite3 "$DB" 'SELECT count(*) FROM audit_log')
  [ "$n" -ge 4 ] || fail "only $n audit entries"
  seq=$(timeout 20 sqlite3 "$DB" 'SELECT seq FROM audit_log ORDER BY seq LIMIT 1 OFFSET 2')
  # 1. An edited actor.
  timeout 20 sqlite3 "$DB" "UPDATE audit_log SET actor = 'mallory' WHERE seq = $seq" ||
    fail "sqlite3 UPDATE failed"
  audit_verify_fails "entry $seq([^0-9]|\$)"
  # 2. A deleted entry (the one in the middle), on a fresh copy.
  rm -rf "$D" && cp -a "$TMP/pristine" "$D"
  audit_verify_ok
  timeout 20 sqlite3 "$DB" "DELETE FROM audit_log WHERE seq = $seq" || fail "sqlite3 DELETE failed"
  audit_verify_fails "entry ($seq|$((seq + 1)))([^0-9]|\$)"
  # 3. Changed details of the last entry.
  rm -rf "$D" && cp -a "$TMP/pristine" "$D"
  local lastseq
  lastseq=$(timeout 20 sqlite3 "$DB" 'SELECT max(seq) FROM audit_log')
  timeout 20 sqlite3 "$DB" "UPDATE audit_log SET details = details || ' ' WHERE seq = $lastseq" ||
    fail "sqlite3 UPDATE failed"
  audit_verify_fails "entry $lastseq([^0-9]|\$)"
  # Restored: passes again.
  rm -rf "$D" && cp -a "$TMP/pristine" "$D"
  audit_verify_ok
}

sigterm_in_flight() {
  serve_up sigterm
  make_csr "burst.$FQDN"
  jq -n --rawfile c "$TMP/burst.$FQDN.csr" '{csr:$c,profile:"server",days:7}' >"$TMP/burst.json"
  mkdir -p "$TMP/burst"
  local before w
  before=$(timeout 20 sqlite3 "$DB" 'SELECT count(*) FROM issued_certs')
  # 4 clients, each signing in a loop (a new connection per request) until the server stops.
  for w in 1 2 3 4; do
    spawn_group bash -c "for i in \$(seq 1 400); do
      code=\$(timeout 20 curl -s -o '$TMP/burst/$w.'\$i.json -w '%{http_code}' --cacert '$API_CA' \
        --resolve '$API_HOST:$SERVE_PORT:127.0.0.1' -u 'admin:$ADMIN_PW' \
        -H 'Content-Type: application/json' --data-binary @'$TMP/burst.json' \
        'https://$API_HOST:$SERVE_PORT/v1/ca/sign')
      [ \"\$code\" = 000 ] && break
      echo \"\$code\" >>'$TMP/burst/$w.codes'
    done"
  done
  # Let some requests complete, then SIGTERM in the middle of the burst.
  local deadline=$((SECONDS + 60))
  while [ "$(cat "$TMP"/burst/*.codes 2>/dev/null | grep -c 201)" -lt 20 ] && [ $SECONDS -le $deadline ]; do
    sleep 0.1
  done
  stop_serve "$SERVE_PID" 30
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM during a signing burst"
  deadline=$((SECONDS + 30))
  while group_running && [ $SECONDS -le $deadline ]; do
    sleep 0.2
  done
  kill_groups
  # Every certificate a client received is in the database, exactly once.
  local f s got=0 missing=0
  timeout 20 sqlite3 "$DB" 'SELECT upper(serial) FROM issued_certs' | sort >"$TMP/db.serials"
  for f in "$TMP"/burst/*.json; do
    s=$(jq -r '.serial // empty' "$f" 2>/dev/null) || continue
    [ -n "$s" ] || continue
    got=$((got + 1))
    s=$(tr 'a-f' 'A-F' <<<"$s")
    if [ "$(grep -cx "$s" "$TMP/db.serials")" != 1 ]; then
      missing=$((missing + 1))
      echo "  serial $s returned to a client but not in the database exactly once" >&2
    fi
  done
  [ $got -ge 20 ] || fail "only $got certificates were returned before SIGTERM"
  [ $missing = 0 ] || fail "$missing of $got returned certificates are not in the database"
  local after
  after=$(timeout 20 sqlite3 "$DB" 'SELECT count(*) FROM issued_certs')
  [ "$after" -ge $((before + got)) ] || fail "database has $after rows, expected at least $before + $got"
  local sig
  sig=$(timeout 20 sqlite3 "$DB" "SELECT count(*) FROM audit_log WHERE action = 'cert.sign'")
  assert_eq "$sig" "$after" "cert.sign audit entries vs issued certificates"
  note "$got certificates returned before the SIGTERM; all in the database ($after rows)"
  audit_verify_ok
  assert_not_grep 'PRIVATE KEY' "$TMP/serve.sigterm.log"
}

files() {
  # Modes and contents of the data directory (the server is stopped).
  assert_mode 600 "$D/sealing.key"
  assert_mode 600 "$D/clustertls.json"
  assert_mode 600 "$DB"
  # The signed audit head holds nothing secret (seq, hash, signature, certificates); the
  # directory itself is 0700.
  assert_mode 644 "$D/audit-head.json"
  assert_eq "$(stat -c %a "$D")" 700 "mode of the data directory $D"
  local world
  world=$(find "$D" -type f -perm /o=r ! -name audit-head.json 2>/dev/null)
  [ -z "$world" ] || fail "data dir files readable by others: $world"
  world=$(find "$D" -type f -perm /g=r ! -name audit-head.json 2>/dev/null)
  [ -z "$world" ] || fail "data dir files readable by the group: $world"
  local f
  for f in "$D"/*; do
    if grep -aEq 'BEGIN (EC |RSA |)PRIVATE KEY' "$f"; then
      fail "$(basename "$f") holds an unencrypted private key"
    fi
    if grep -aqF -- "$ADMIN_PW" "$f"; then
      fail "$(basename "$f") holds the admin password in clear"
    fi
  done
  note "no unencrypted key or password in $(ls "$D" | tr '\n' ' ')"
  # A sealing key readable by others is refused by serve (one line naming the file).
  chmod 644 "$D/sealing.key"
  expect_fail 1 'sealing.key' -- timeout 30 "$CTLS" serve --data-dir "$D" --listen 127.0.0.1:0
  chmod 600 "$D/sealing.key"
}

# A copied data directory (cp -a) opens its own copy of the database: init names it relative to
# the directory. A data directory naming its database by absolute path (as before) keeps using
# that file.
copied_data_dir() {
  local d=$TMP/orig e=$TMP/copy f=$TMP/old-style fqdn=copy.example.com
  serve_init "$d" "$fqdn"
  assert_eq "$(jq -r .store_url "$d/clustertls.json")" "sqlite://clustertls.db" "store_url init wrote"
  API_HOST=$fqdn
  API_CA=$TMP/copy-root.pem
  start_serve "$d" "$TMP/serve.orig.log"
  fetch_ca_root "$SERVE_PORT" "$fqdn" "$API_CA"
  make_csr "kept.$fqdn"
  sign "kept.$fqdn" server
  local kept=$SERIAL
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
  cp -a "$d" "$e"
  # Serve the copy while the original still exists: a change in the copy stays in the copy.
  start_serve "$e" "$TMP/serve.copy1.log"
  api GET "/v1/certificates/$kept" "${ADMIN[@]}"
  expect_status 200 "GET /v1/certificates/$kept from the copy"
  make_csr "new.$fqdn"
  sign "new.$fqdn" server
  local new=$SERIAL
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
  assert_eq "$(timeout 20 sqlite3 "$e/clustertls.db" "SELECT count(*) FROM issued_certs WHERE upper(serial) = upper('$new')")" \
    1 "the copy's database holds the certificate signed through the copy"
  assert_eq "$(timeout 20 sqlite3 "$d/clustertls.db" "SELECT count(*) FROM issued_certs WHERE upper(serial) = upper('$new')")" \
    0 "the original's database does not"
  # The original removed: the copy starts and lists both certificates.
  rm -rf "$d"
  start_serve "$e" "$TMP/serve.copy2.log"
  api GET "/v1/certificates?profile=server&limit=1000" "${ADMIN[@]}"
  expect_status 200 "GET /v1/certificates from the copy"
  assert_eq "$(jbody '[.certificates[].serial | ascii_upcase] | join(" ")')" \
    "$(printf '%s %s' "$kept" "$new" | tr 'a-f' 'A-F')" "server certificates the copy lists"
  stop_serve "$SERVE_PID"
  run ctls audit verify --data-dir "$e"
  # An absolute path (data directories made before) is used as written, wherever the
  # directory is: this copy opens $e's database.
  cp -a "$e" "$f"
  jq --arg u "sqlite://$e/clustertls.db" '.store_url = $u' "$f/clustertls.json" >"$TMP/old.json" &&
    cat "$TMP/old.json" >"$f/clustertls.json" || fail "cannot edit $f/clustertls.json"
  start_serve "$f" "$TMP/serve.old.log"
  make_csr "old.$fqdn"
  sign "old.$fqdn" server
  stop_serve "$SERVE_PID"
  assert_eq "$(timeout 20 sqlite3 "$e/clustertls.db" "SELECT count(*) FROM issued_certs WHERE upper(serial) = upper('$SERIAL')")" \
    1 "a config with an absolute path writes to that database"
  assert_eq "$(timeout 20 sqlite3 "$f/clustertls.db" "SELECT count(*) FROM issued_certs WHERE upper(serial) = upper('$SERIAL')")" \
    0 "and not to the copy's own file"
}

# ser_of FILE: the serial of a certificate file, upper-case hex.
ser_of() { serial_hex "$1" | tr 'a-f' 'A-F'; }

# The issued-certificate gauge of /metrics: "SERIAL UNIXTIME".
issued_gauge() {
  api GET /metrics "${ADMIN[@]}"
  expect_status 200 "GET /metrics"
  local lines
  lines=$(grep -E '^clustertls_certificate_expiry_timestamp_seconds\{kind="issued",' "$BODY")
  assert_eq "$(wc -l <<<"$lines")" 1 "issued-certificate gauge lines"
  sed -E 's/^.*name="([0-9A-Fa-f]+)"\} ([0-9]+)$/\1 \2/' <<<"$lines"
}

# The inventory from the command line (`clustertls certificates list|show`) and the soonest
# expiry on /metrics, judged by the API's JSON (jq) and by openssl x509 -enddate.
inventory_cli() {
  local d=$TMP/inventory fqdn=inv.example.com cc=$TMP/inv-client.json
  serve_init "$d" "$fqdn"
  API_HOST=$fqdn
  API_CA=$TMP/inv-root.pem
  start_serve "$d" "$TMP/serve.inventory.log"
  fetch_ca_root "$SERVE_PORT" "$fqdn" "$API_CA"
  printf '%s\n' "$ADMIN_PW" >"$TMP/inv-admin.pw"
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" --user admin \
    --password-file "$TMP/inv-admin.pw" --client-config "$cc"
  # Three certificates of 1, 8 and 20 days.
  local n
  for n in soon mid late; do
    make_csr "$n.$fqdn"
  done
  sign "soon.$fqdn" server 1
  sign "mid.$fqdn" server 8
  sign "late.$fqdn" server 20
  local soon mid late
  soon=$(ser_of "$TMP/soon.$fqdn.crt")
  mid=$(ser_of "$TMP/mid.$fqdn.crt")
  late=$(ser_of "$TMP/late.$fqdn.crt")

  # /metrics: the 1-day certificate expires first (before the OCSP signer's 2 days).
  local g
  g=$(issued_gauge)
  assert_eq "${g% *}" "$soon" "serial of the soonest-expiry gauge"
  assert_eq "${g#* }" "$(not_after "$TMP/soon.$fqdn.crt")" "gauge vs openssl x509 -enddate of soon"

  api POST "/v1/certificates/$soon/revoke" "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"reason":"superseded"}'
  expect_status 200 "revoke soon"

  # What the inventory says (the API's JSON, filtered by jq): neither revoked nor expired and
  # expiring within 10 days.
  local now limit
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  limit=$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)
  api GET '/v1/certificates?limit=1000' "${ADMIN[@]}"
  expect_status 200 "GET /v1/certificates"
  local want
  want=$(jq -r --arg now "$now" --arg lim "$limit" '.certificates[] | select(.revoked | not) |
    select(.not_after >= $now and .not_after < $lim) | .serial | ascii_upcase' "$BODY" | sort | tr '\n' ' ')
  [[ " $want " == *" $mid "* ]] || fail "the inventory lacks mid ($mid) among: $want"
  [[ " $want " != *" $soon "* && " $want " != *" $late "* ]] || fail "soon or late among: $want"

  run ctls certificates list --expiring-in 10d --client-config "$cc"
  assert_eq "$(head -n1 "$OUT" | tr -s ' ')" "SERIAL CN SANS PROFILE NOT AFTER REVOKED" "table header"
  assert_eq "$(tail -n +2 "$OUT" | awk '{print $1}' | sort | tr '\n' ' ')" "$want" \
    "certificates list --expiring-in 10d"
  grep -E "^$mid +mid\.$fqdn +DNS:mid\.$fqdn +server +[0-9T:-]+Z +no *$" "$OUT" >/dev/null ||
    fail "row of mid: $(grep "$mid" "$OUT")"
  # The OCSP signer (2 days) is the other one; --profile server leaves mid alone.
  run ctls certificates list --expiring-in 10d --profile server --client-config "$cc"
  assert_eq "$(tail -n +2 "$OUT" | awk '{print $1}' | tr '\n' ' ')" "$mid " "--expiring-in 10d --profile server"
  run ctls certificates list --expiring-in 10d --json --client-config "$cc"
  jq -e . "$OUT" >/dev/null || fail "--json output is not JSON: $(head -c 300 "$OUT")"
  assert_eq "$(jq -r '.certificates[].serial | ascii_upcase' "$OUT" | sort | tr '\n' ' ')" "$want" \
    "certificates list --expiring-in 10d --json"
  run ctls certificates list --expiring-in 30d --profile server --client-config "$cc"
  assert_eq "$(tail -n +2 "$OUT" | awk '{print $1}' | tr '\n' ' ')" "$mid $late " "--expiring-in 30d --profile server"
  run ctls certificates list --revoked --client-config "$cc"
  assert_eq "$(tail -n +2 "$OUT" | awk '{print $1}' | tr '\n' ' ')" "$soon " "certificates list --revoked"
  grep -q 'yes (superseded, ' "$OUT" || fail "REVOKED column of soon: $(tail -n +2 "$OUT")"
  run ctls certificates list --expiring-in 10d --revoked --client-config "$cc"
  assert_eq "$(tail -n +2 "$OUT" | awk '{print $1}' | tr '\n' ' ')" "$soon " "--expiring-in 10d --revoked"
  run ctls certificates list --valid --profile server --client-config "$cc"
  assert_eq "$(tail -n +2 "$OUT" | awk '{print $1}' | tr '\n' ' ')" "$mid $late " "--valid --profile server"
  run ctls certificates list --name "LATE.inv" --client-config "$cc"
  assert_eq "$(tail -n +2 "$OUT" | awk '{print $1}' | tr '\n' ' ')" "$late " "--name (any case)"
  run ctls certificates list --limit 2 --client-config "$cc"
  assert_eq "$(tail -n +2 "$OUT" | wc -l)" 2 "rows of --limit 2"
  run ctls certificates list --client-config "$cc"
  api GET '/v1/certificates?limit=1000' "${ADMIN[@]}"
  assert_eq "$(tail -n +2 "$OUT" | awk '{print $1}' | tr '\n' ' ')" \
    "$(jq -r '.certificates[].serial | ascii_upcase' "$BODY" | tr '\n' ' ')" "every certificate, in order"
  expect_fail 2 'expiring-in "10"' -- ctls certificates list --expiring-in 10 --client-config "$cc"
  expect_fail 2 'expiring-in' -- ctls certificates list --expiring-in 1w --client-config "$cc"

  # show: the record, the PEM (the same certificate), 404 for an unknown serial.
  run ctls certificates show "serial=$(tr 'A-F' 'a-f' <<<"$soon")" --client-config "$cc"
  grep -qx 'revoked: true' "$OUT" || fail "certificates show soon: $(cat "$OUT")"
  grep -qx "subject_cn: soon.$fqdn" "$OUT" || fail "certificates show soon: $(cat "$OUT")"
  run ctls certificates show "$mid" --pem --client-config "$cc"
  cp "$OUT" "$TMP/mid.shown.pem"
  assert_eq "$(file_fp "$TMP/mid.shown.pem")" "$(file_fp "$TMP/mid.$fqdn.crt")" "certificates show --pem"
  expect_fail 1 'HTTP 404' -- ctls certificates show 0A0B0C --client-config "$cc"

  # /metrics after the revocation: the soonest of the rest, as the inventory and openssl say.
  g=$(issued_gauge)
  api GET '/v1/certificates?limit=1000' "${ADMIN[@]}"
  expect_status 200 "GET /v1/certificates"
  local first
  first=$(jq -r --arg now "$now" '[.certificates[] | select(.revoked | not) | select(.not_after >= $now)] |
    sort_by(.not_after, .serial) | .[0].serial | ascii_upcase' "$BODY")
  assert_eq "${g% *}" "$first" "serial of the gauge after revoking soon"
  [ "${g% *}" != "$soon" ] || fail "the gauge still names the revoked certificate"
  run ctls certificates show "${g% *}" --pem --client-config "$cc"
  cp "$OUT" "$TMP/first.pem"
  assert_eq "${g#* }" "$(epoch_of "$(timeout 20 openssl x509 -in "$TMP/first.pem" -noout -enddate | sed 's/^notAfter=//')")" \
    "gauge vs openssl x509 -enddate of ${g% *}"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

section "POST /v1/ca/sign: openssl verify, inventory, database, metrics" signing
section "POST /v1/ca/sign keeps the subject DN (C, ST, L, O, OU) of a CSR" subject_dn
section "GET /v1/audit records every change; clustertls audit verify passes" audit
section "tampering with the SQLite file is detected by audit verify" tamper
section "SIGTERM during a signing burst: exit 0, every returned certificate stored" sigterm_in_flight
section "data directory: modes, no unencrypted key or password" files
section "a copied data directory (cp -a) uses its own database" copied_data_dir
section "clustertls certificates list|show and the soonest expiry on /metrics" inventory_cli
finish
