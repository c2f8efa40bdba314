#!/usr/bin/env bash
# Two `clustertls serve` instances on one PostgreSQL 15 (a throwaway server started by
# tests/pg/start_pg.sh on loopback and stopped on exit), signing concurrently: every serial a
# client received is in the database exactly once (judged with psql), no record is lost, the
# audit chain is intact (`clustertls audit verify`); the last audit rows deleted with psql are
# reported by both data directories' signed heads. Fails, never skips, without PostgreSQL.
#   bash test_serve_postgres.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=pg.example.com
API_HOST=$FQDN
PGSTATE=$TMP/pg
trap 'kill_groups; _kill_registered; bash "$REPO/tests/pg/stop_pg.sh" "$PGSTATE" >/dev/null 2>&1; _cleanup' EXIT

timeout 120 bash "$REPO/tests/pg/start_pg.sh" "$PGSTATE" >"$TMP/pg.log" 2>&1 || {
  cat "$TMP/pg.log" >&2
  fail "could not start PostgreSQL with tests/pg/start_pg.sh"
}
PGURL=$(cat "$PGSTATE/url")
note "$(tail -n1 "$TMP/pg.log")"
# psql SQL: one value per line (bounded).
q() { timeout 30 psql "$PGURL" -X -A -t -v ON_ERROR_STOP=1 -c "$1"; }
q 'SELECT 1' >/dev/null || fail "psql cannot reach the test server"

D1=$TMP/node1
D2=$TMP/node2
serve_init "$D1" "$FQDN" --store "$PGURL"
# The second instance: a copy of the data directory (same store URL and sealing key).
cp -a "$D1" "$D2"
assert_not_grep "$(sed 's/.*@//' <<<"$PGURL")" "$D1.init.out"

# start_both: instances 1 and 2; sets PORT1, PORT2 (and the pinned root in API_CA).
start_both() {
  start_serve "$D1" "$TMP/serve1.$1.log"
  PORT1=$SERVE_PORT
  PID1=$SERVE_PID
  start_serve "$D2" "$TMP/serve2.$1.log"
  PORT2=$SERVE_PORT
  PID2=$SERVE_PID
  API_CA=$TMP/root.pem
  fetch_ca_root "$PORT1" "$FQDN" "$API_CA"
  # Both instances present certificates of the same cluster.
  cmp -s "$API_CA.chain" <(timeout 20 curl -sS --cacert "$API_CA" --resolve "$FQDN:$PORT2:127.0.0.1" \
    "https://$FQDN:$PORT2/v1/ca/chain") || fail "the two instances serve different CA chains"
}

schema() {
  local t
  for t in issued_certs audit_log named_certs users; do
    assert_eq "$(q "SELECT count(*) FROM information_schema.tables WHERE table_name = '$t'")" 1 \
      "table $t in PostgreSQL"
  done
  # The serial uniqueness is a database constraint.
  q "SELECT conname FROM pg_constraint WHERE conrelid = 'issued_certs'::regclass AND contype = 'u'" |
    grep -q . || fail "issued_certs has no UNIQUE constraint"
  assert_eq "$(q "SELECT action FROM audit_log ORDER BY seq LIMIT 1")" cluster.init "first audit entry"
  # No unencrypted private key in any text column of the cluster's tables.
  local n
  n=$(q "SELECT count(*) FROM cas WHERE chain_pem LIKE '%PRIVATE KEY%' OR encode(encrypted_key, 'escape') LIKE '%BEGIN PRIVATE KEY%'")
  assert_eq "$n" 0 "CA rows holding an unencrypted key"
  n=$(q "SELECT count(*) FROM named_certs WHERE chain_pem LIKE '%PRIVATE KEY%' OR encode(encrypted_key, 'escape') LIKE '%BEGIN PRIVATE KEY%'")
  assert_eq "$n" 0 "named certificate rows holding an unencrypted key"
  run ctls audit verify --data-dir "$D1"
}

concurrent() {
  start_both sign
  local before_certs before_audit
  before_certs=$(q 'SELECT count(*) FROM issued_certs')
  before_audit=$(q 'SELECT count(*) FROM audit_log')
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/c.key" -out "$TMP/c.csr" -subj "/CN=svc.$FQDN" >/dev/null 2>&1 ||
    fail "openssl req failed"
  jq -n --rawfile c "$TMP/c.csr" '{csr:$c,profile:"server",days:7}' >"$TMP/sign.json"
  mkdir -p "$TMP/out"
  # 2 instances x 4 loops x 25 signatures, all at once.
  local port w
  for port in "$PORT1" "$PORT2"; do
    for w in 1 2 3 4; do
      spawn_group bash -c "for i in \$(seq 1 25); do
        timeout 30 curl -sS -o '$TMP/out/$port.$w.'\$i.json -w '%{http_code}\n' --cacert '$API_CA' \
          --resolve '$FQDN:$port:127.0.0.1' -u 'admin:$ADMIN_PW' -H 'Content-Type: application/json' \
          --data-binary @'$TMP/sign.json' 'https://$FQDN:$port/v1/ca/sign' >>'$TMP/out/$port.$w.codes'
      done 2>>'$TMP/out/curl.err'"
    done
  done
  local deadline=$((SECONDS + 200))
  while group_running && [ $SECONDS -le $deadline ]; do
    sleep 0.5
  done
  group_running && fail "the signing loops did not finish within 200 s"
  kill_groups
  local codes
  codes=$(cat "$TMP"/out/*.codes | sort | uniq -c | tr -s ' ' | tr '\n' ';')
  assert_eq "$(cat "$TMP"/out/*.codes | grep -c '^201$')" 200 "201 answers (codes: $codes)"
  # The serials the clients received: 200, distinct.
  local f
  for f in "$TMP"/out/*.json; do
    jq -r .serial "$f"
  done | tr 'a-f' 'A-F' | sort >"$TMP/client.serials"
  assert_eq "$(sort -u "$TMP/client.serials" | wc -l)" 200 "distinct serials returned to clients"
  # Each is in PostgreSQL exactly once; nothing else was added.
  q 'SELECT upper(serial) FROM issued_certs' | sort >"$TMP/db.serials"
  local dup
  dup=$(sort "$TMP/db.serials" | uniq -d | head -3)
  [ -z "$dup" ] || fail "duplicate serials in issued_certs: $dup"
  local missing
  missing=$(comm -23 "$TMP/client.serials" "$TMP/db.serials" | head -3)
  [ -z "$missing" ] || fail "serials returned to clients but not in PostgreSQL: $missing"
  assert_eq "$(q 'SELECT count(*) FROM issued_certs')" "$((before_certs + 200))" "rows in issued_certs"
  # Both instances issued (the load was really split).
  local by1 by2
  by1=$(cat "$TMP"/out/"$PORT1".*.codes | grep -c '^201$')
  by2=$(cat "$TMP"/out/"$PORT2".*.codes | grep -c '^201$')
  note "instance 1 issued $by1, instance 2 issued $by2"
  # The audit chain: one cert.sign entry per certificate, seqs contiguous, verify passes.
  assert_eq "$(q 'SELECT count(*) FROM audit_log')" "$((before_audit + 200))" "audit entries"
  assert_eq "$(q "SELECT count(*) FROM audit_log WHERE action = 'cert.sign'")" \
    "$(q 'SELECT count(*) FROM issued_certs')" "cert.sign entries vs issued certificates"
  assert_eq "$(q 'SELECT max(seq) - min(seq) + 1 = count(*) FROM audit_log')" t "audit seqs contiguous"
  run ctls audit verify --data-dir "$D1"
  run ctls audit verify --data-dir "$D2"
  # What one instance issued, the other finds.
  local s
  s=$(jq -r .serial "$(ls "$TMP"/out/"$PORT1".1.*.json | head -n1)")
  SERVE_PORT=$PORT2
  api GET "/v1/certificates/$s" "${ADMIN[@]}"
  expect_status 200 "instance 2: GET /v1/certificates/<serial from instance 1>"
  stop_serve "$PID1"
  assert_eq "$SERVE_RC" 0 "instance 1 exit status after SIGTERM"
  stop_serve "$PID2"
  assert_eq "$SERVE_RC" 0 "instance 2 exit status after SIGTERM"
}

shared_state() {
  start_both shared
  # A user made on instance 1 logs in on instance 2; a named certificate updated on 2 is listed
  # by 1.
  SERVE_PORT=$PORT1
  api POST /v1/users "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"name":"pgreader","role":"reader","password":"pgreader-password"}'
  expect_status 201 "POST /v1/users on instance 1"
  SERVE_PORT=$PORT2
  api GET /v1/cluster/certificates -u pgreader:pgreader-password
  expect_status 200 "GET on instance 2 as the user made on instance 1"
  local v0
  v0=$(jbody '.certificates[] | select(.name == "syncer") | .version')
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/s.key" -out "$TMP/s.csr" -subj "/CN=$FQDN" -addext "subjectAltName=DNS:$FQDN" \
    >/dev/null 2>&1 || fail "openssl req failed"
  # The FQDN is reserved for the named certificates: the admin asks explicitly.
  jq -n --rawfile c "$TMP/s.csr" '{csr:$c,profile:"peer",days:30,allow_reserved:true}' >"$TMP/sign.json"
  api POST /v1/ca/sign "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/sign.json"
  expect_status 201 "sign on instance 2"
  { jbody .certificate; jbody .chain; } >"$TMP/s.crt"
  json_cert_body syncer "$TMP/s.key" "$TMP/s.crt" >"$TMP/upd.json"
  api PUT /v1/cluster/update_cert "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/upd.json"
  expect_status 200 "update_cert syncer on instance 2"
  SERVE_PORT=$PORT1
  api GET /v1/cluster/certificates "${ADMIN[@]}"
  assert_eq "$(jbody '.certificates[] | select(.name == "syncer") | .version')" "$((v0 + 1))" \
    "syncer version seen by instance 1"
  assert_eq "$(q "SELECT max(version) FROM named_certs WHERE name = 'syncer'")" "$((v0 + 1))" \
    "syncer version in PostgreSQL"
  run ctls audit verify --data-dir "$D2"
}

# The audit log's last rows deleted with psql (issue 13 item 8): before, each instance's signed
# head (its own DIR/audit-head.json) names an entry of the shared log with its hash, at or behind
# its end, and `audit verify` passes on both; after, both report the truncation, naming their
# head's entry and the log's last, and serve refuses to start.
truncated_tail() {
  # Both instances run and stop: each signs the log's last entry into its own head at shutdown.
  start_both trunc
  stop_serve "$PID1"
  assert_eq "$SERVE_RC" 0 "instance 1 exit status after SIGTERM"
  stop_serve "$PID2"
  assert_eq "$SERVE_RC" 0 "instance 2 exit status after SIGTERM"
  local d seq hash max keep=""
  max=$(q 'SELECT max(seq) FROM audit_log')
  for d in "$D1" "$D2"; do
    read -r seq hash < <(jq -r '"\(.seq) \(.hash)"' "$d/audit-head.json") || fail "no head file in $d"
    [ "$seq" -le "$max" ] || fail "$d: the head names entry $seq, the log ends at $max"
    assert_eq "$(q "SELECT hash FROM audit_log WHERE seq = $seq")" "$hash" "$d: hash of the head's entry"
    run ctls audit verify --data-dir "$d"
    assert_eq "$(cat "$OUT")" "audit chain intact: $max entries (signed head at entry $seq)" \
      "audit verify --data-dir $d"
    if [ -z "$keep" ] || [ "$seq" -lt "$keep" ]; then
      keep=$seq
    fi
  done
  keep=$((keep - 3))
  q "DELETE FROM audit_log WHERE seq > $keep" >/dev/null || fail "psql DELETE failed"
  assert_eq "$(q 'SELECT max(seq) FROM audit_log')" "$keep" "max(seq) after the DELETE"
  local signed
  for d in "$D1" "$D2"; do
    read -r seq hash signed < <(jq -r '"\(.seq) \(.hash) \(.time)"' "$d/audit-head.json")
    ctls audit verify --data-dir "$d" >"$OUT" 2>"$ERR"
    assert_eq "$?" 1 "exit status of audit verify --data-dir $d after the DELETE ($(cat "$ERR"))"
    assert_eq "$(cat "$OUT")" \
      "audit log truncated: the signed head (entry $seq, hash $hash, signed at $signed) is past the log's last entry $keep" \
      "audit verify --data-dir $d after the DELETE"
  done
  expect_fail 1 'audit-head\.json: audit log truncated: the signed head \(entry [0-9]+' -- \
    timeout 60 "$CTLS" serve --data-dir "$D1" --listen 127.0.0.1:0 --public-listen 127.0.0.1:0
  assert_eq "$(q 'SELECT max(seq) FROM audit_log')" "$keep" "nothing appended by the refused start"
}

section "init --store postgres://: schema, constraint, no clear key, audit verify" schema
section "two instances sign 2 x 4 x 25 concurrently: serials unique, none lost, audit intact" concurrent
section "users and named certificates are shared through the store" shared_state
section "the last audit rows deleted with psql: both data directories report it, serve refuses" truncated_tail
finish
