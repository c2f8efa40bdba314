#!/usr/bin/env bash
# PostgreSQL restarted and stopped under `clustertls serve` while 16 clients sign (issue 16;
# bench/sign_load, keep-alive, Bearer token). PostgreSQL is a throwaway server of
# tests/pg/start_pg.sh on loopback, stopped on exit; the test fails, never skips, without it.
#   - `pg_ctl restart -m fast` mid-load (every session terminated): the clients get 201 or a
#     503 `unavailable` with `Retry-After: 1`, never a 500 and never a timeout, and signing
#     resumes once the server is back;
#   - `pg_ctl stop` mid-load: while PostgreSQL is down, signing, the inventory and revoking
#     answer 503 (JSON error, Retry-After) within 5 s each (curl), /health answers 200; after
#     `pg_ctl start` everything answers again within 15 s;
#   - nothing half-written: `clustertls audit verify --data-dir` passes, audit seqs are contiguous
#     (psql), every certificate a client received is in the inventory with its cert.sign entry,
#     no serial twice, and the inventory and the cert.sign entries are the same set.
#   bash test_fault_pg_restart.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=pgfault.example.com
API_HOST=$FQDN
PGSTATE=$TMP/pg
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
trap 'kill_groups; _kill_registered; bash "$REPO/tests/pg/stop_pg.sh" "$PGSTATE" >/dev/null 2>&1; _cleanup' EXIT

timeout 120 bash "$REPO/tests/pg/start_pg.sh" "$PGSTATE" >"$TMP/pg.log" 2>&1 || {
  cat "$TMP/pg.log" >&2
  fail "could not start PostgreSQL with tests/pg/start_pg.sh"
}
PGURL=$(cat "$PGSTATE/url")
PGDIR=$(cat "$PGSTATE/datadir")
note "$(tail -n1 "$TMP/pg.log")"
q() { timeout 30 psql "$PGURL" -X -A -t -v ON_ERROR_STOP=1 -c "$1"; }
AS_PG=()
[ "$(id -u)" -eq 0 ] && AS_PG=(runuser -u postgres --)
# pg_ctl ARGS...: PostgreSQL's own pg_ctl on the test server (bounded).
pgctl() { timeout 60 "${AS_PG[@]}" "$PG_BINDIR/pg_ctl" -D "$PGDIR/data" "$@" >>"$TMP/pgctl.log" 2>&1; }
# pg_start_again: pg_ctl start with the options start_pg.sh gave (restart reuses them itself).
pg_start_again() {
  local port=${PGURL##*:}
  port=${port%%/*}
  pgctl -l "$PGDIR/server.log" -w -t 30 start \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PGDIR -c fsync=off -c full_page_writes=off -c max_connections=50" ||
    fail "pg_ctl start failed: $(tail -n 5 "$TMP/pgctl.log")"
}

D=$TMP/data

# load_start TAG: sign_load with 16 clients in the background until load_stop; its serials go
# to $TMP/client.serials, its JSON summary to $TMP/load.TAG.json.
load_start() {
  spawn_group timeout 100 "$SIGN_LOAD" --url "https://127.0.0.1:$SERVE_PORT/v1/ca/sign" \
    --tls-name "$FQDN" --cafile "$API_CA.chain" --auth "Bearer $TOKEN" \
    --bodies "$TMP/bodies.jsonl" --concurrency 16 --threads 1 --requests "$1" --warmup 0 \
    --expect-status 201 --timeout-ms 15000 --save-serials "$TMP/client.serials" --json \
    >"$TMP/load.json" 2>&1
}
# load_wait: waits (at most 90 s) for the load to finish; LOAD is its JSON summary.
load_wait() {
  local deadline=$((SECONDS + 90))
  while group_running && [ $SECONDS -le $deadline ]; do sleep 0.2; done
  group_running && fail "sign_load did not finish within 90 s"
  kill_groups
  LOAD=$(cat "$TMP/load.json")
  jq -e . >/dev/null <<<"$LOAD" || fail "sign_load printed no JSON summary: $LOAD"
}
# only_503 WHAT: the last load's errors are all 503 answers (no 500, no timeout, no reset).
only_503() {
  local kinds
  kinds=$(jq -r '.error_kinds | to_entries[] | "\(.key)=\(.value)"' <<<"$LOAD" | tr '\n' ' ')
  jq -e '.error_kinds | keys - ["status_503"] | length == 0' >/dev/null <<<"$LOAD" ||
    fail "$1: errors other than 503: $kinds (first error body: $(jq -r .first_error_body <<<"$LOAD"))"
  note "$1: $(jq -r .ok <<<"$LOAD") signed, errors: ${kinds:-none}; p99 $(jq -r .p99_ms <<<"$LOAD") ms, max $(jq -r .max_ms <<<"$LOAD") ms"
}
# received: how many serials clients have received so far.
received() { wc -l <"$TMP/client.serials"; }
# wait_received N SECONDS: until clients have received more than N certificates.
wait_received() {
  local n=$1 deadline=$((SECONDS + $2))
  while [ "$(received)" -le "$n" ] && [ $SECONDS -le $deadline ]; do sleep 0.1; done
  [ "$(received)" -gt "$n" ] || fail "no certificate received within $2 s (sign_load: $(tail -c 300 "$TMP/load.json"))"
}

setup() {
  need_sign_load
  serve_init "$D" "$FQDN" --store "$PGURL"
  start_serve "$D" "$TMP/serve.log"
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
  api_token
  sign_bodies "$TMP/bodies.jsonl" 4
  : >"$TMP/client.serials"
  # A certificate to revoke while PostgreSQL is down.
  api_sign "victim.$FQDN" client
  VICTIM=$SERIAL
}

restart_mid_load() {
  local n
  load_start 4000
  wait_received 100 30
  n=$(received)
  local t0=$SECONDS
  pgctl -m fast -w -t 30 restart || fail "pg_ctl restart failed: $(tail -n 5 "$TMP/pgctl.log")"
  note "PostgreSQL restarted in $((SECONDS - t0)) s with $n certificates received before"
  # Signing resumes on the restarted server.
  wait_received $((n + 50)) 30
  load_wait
  only_503 "restart -m fast under load"
  assert_eq "$(jq -r '.error_kinds.status_500 // 0' <<<"$LOAD")" 0 "500 answers during the restart"
}

# probe WHAT METHOD PATH [CURL ARGS]: the request answers 503 unavailable with Retry-After: 1
# within 5 s while PostgreSQL is down.
probe_503() {
  local what=$1 t0
  shift
  t0=$(date +%s%N)
  api "$@" "${ADMIN[@]}" -m 10
  local ms=$((($(date +%s%N) - t0) / 1000000))
  expect_error 503 '^unavailable: the store is busy, unreachable or full' "$what while PostgreSQL is down"
  grep -qi '^Retry-After: 1' "$HDRS" || fail "$what: 503 without Retry-After: 1: $(cat "$HDRS")"
  [ $ms -lt 5000 ] || fail "$what took $ms ms to answer 503"
  note "$what: 503 in $ms ms"
}

stop_mid_load() {
  local n
  load_start 1000000
  wait_received "$(received)" 30
  pgctl -m fast -w -t 30 stop || fail "pg_ctl stop failed: $(tail -n 5 "$TMP/pgctl.log")"
  n=$(received)
  sleep 1
  # Down: signing, the inventory and a revocation are refused with 503, quickly; /health is up.
  jq -n --rawfile c "$TMP/victim.$FQDN.csr" '{csr:$c,profile:"client",days:7}' >"$TMP/sign.json"
  probe_503 "POST /v1/ca/sign" POST /v1/ca/sign -H 'Content-Type: application/json' --data-binary @"$TMP/sign.json"
  probe_503 "GET /v1/certificates" GET '/v1/certificates?limit=5'
  probe_503 "POST /v1/certificates/{serial}/revoke" POST "/v1/certificates/$VICTIM/revoke" \
    -H 'Content-Type: application/json' --data-binary '{"reason":"keyCompromise"}'
  api GET /health
  expect_status 200 "GET /health while PostgreSQL is down"
  local m
  m=$(received)
  [ "$m" -le $((n + 16)) ] || fail "clients received $((m - n)) certificates while PostgreSQL was down"
  pg_start_again
  local t0=$SECONDS
  wait_received "$m" 15
  note "signing resumed $((SECONDS - t0)) s after pg_ctl start returned"
  # Stop the endless load; the summary is then missing, so judge the server's log and metrics.
  kill_groups
  local deadline=$((SECONDS + 15))
  while [ $SECONDS -le $deadline ]; do
    api POST "/v1/certificates/$VICTIM/revoke" "${ADMIN[@]}" -H 'Content-Type: application/json' \
      --data-binary '{"reason":"keyCompromise"}'
    [ "$HTTP_STATUS" = 200 ] && break
    sleep 0.5
  done
  expect_status 200 "revoke after PostgreSQL is back"
  assert_eq "$(jbody .newly_revoked)" true "newly_revoked: the revoke refused with 503 changed nothing"
  api GET /metrics "${ADMIN[@]}"
  expect_status 200 "GET /metrics"
  local five
  five=$(grep -E '^clustertls_http_requests_total\{[^}]*status="500"' "$BODY" | awk '{s += $2} END {print s + 0}')
  assert_eq "$five" 0 "500 answers counted by /metrics over the whole test"
}

consistent() {
  run ctls audit verify --data-dir "$D"
  out_has '^audit chain intact: [0-9]+ entries'
  note "$(cat "$OUT")"
  assert_eq "$(q 'SELECT max(seq) - min(seq) + 1 = count(*) FROM audit_log')" t "audit seqs contiguous"
  grep -E '^[0-9A-Fa-f]{2,64}$' "$TMP/client.serials" | tr 'a-f' 'A-F' >"$TMP/client.ok"
  inventory_serials "$SERVE_PORT" "$TMP/inventory"
  audit_sign_targets "$SERVE_PORT" "$TMP/audit"
  check_received "$TMP/client.ok" "$TMP/inventory" "$TMP/audit"
  assert_eq "$(q 'SELECT count(*) FROM issued_certs')" "$(wc -l <"$TMP/inventory")" "rows in issued_certs vs the inventory"
  note "$(wc -l <"$TMP/client.ok") certificates received by clients, inventory $(wc -l <"$TMP/inventory"), $AUDIT_ENTRIES audit entries"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

# One section: the steps share one serve and one PostgreSQL.
all() {
  setup
  restart_mid_load
  stop_mid_load
  consistent
}

section "PostgreSQL restarted and stopped under load: 503 (never 500 or a hang), recovery, nothing half-written" all
finish
