#!/usr/bin/env bash
# `clustertls serve` (SQLite) killed with SIGKILL in the middle of 64 concurrent
# `POST /v1/ca/sign` clients (bench/sign_load, keep-alive, Bearer token), KILLS times over
# (default 20), restarted after each (issue 16). Afterwards: the store opens (serve starts, which
# also checks the signed audit head against the log) and SQLite's `PRAGMA integrity_check` says
# ok, `clustertls audit verify --data-dir` passes, every certificate a client received (the
# serials sign_load wrote as each 201 arrived) is in the inventory (GET /v1/certificates) with its
# cert.sign audit entry (GET /v1/audit), no serial appears twice, and the inventory and the
# cert.sign entries are the same set; a sample of the received certificates, read back with
# GET /v1/certificates/{serial}, verifies with `openssl verify` against the cluster's chain.
#   bash test_fault_kill_serve.sh <path-to-clustertls> <repo-root>
# Environment: KILLS (default 20).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=kill.example.com
API_HOST=$FQDN
KILLS=${KILLS:-20}

kill_loop() {
  need_sign_load
  command -v sqlite3 >/dev/null || fail "the sqlite3 CLI is needed (Debian package sqlite3)"
  local d=$TMP/data db=$TMP/data/clustertls.db
  serve_init "$d" "$FQDN"
  start_serve "$d" "$TMP/serve.0.log"
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
  api_token
  sign_bodies "$TMP/bodies.jsonl" 8
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
  local i child before got delay killed_with=0 total_errors=0
  : >"$TMP/client.serials"
  for ((i = 1; i <= KILLS; i++)); do
    local r0=$SECONDS
    start_serve "$d" "$TMP/serve.$i.log" >/dev/null
    local up=$((SECONDS - r0))
    child=$(serve_child "$SERVE_PID")
    before=$(wc -l <"$TMP/client.serials")
    # 64 clients on 2 threads, far more requests than the time allows: the kill ends the run.
    spawn_group timeout 60 "$SIGN_LOAD" --url "https://127.0.0.1:$SERVE_PORT/v1/ca/sign" \
      --tls-name "$FQDN" --cafile "$API_CA.chain" --auth "Bearer $TOKEN" \
      --bodies "$TMP/bodies.jsonl" --concurrency 64 --threads 2 --requests 10000000 --warmup 0 \
      --expect-status 201 --timeout-ms 20000 --save-serials "$TMP/client.serials" \
      >"$TMP/load.$i.out" 2>&1
    # Wait for the load to be in full swing (some certificates received), then a varying delay
    # (0 to 225 ms) so that the kill lands at different points of the group commit.
    local deadline=$((SECONDS + 30))
    while [ "$(wc -l <"$TMP/client.serials")" -lt $((before + 64)) ] && [ $SECONDS -le $deadline ]; do
      kill -0 "$child" 2>/dev/null || fail "serve exited under load (kill $i): $(tail -n 5 "$TMP/serve.$i.log")"
      sleep 0.05
    done
    [ "$(wc -l <"$TMP/client.serials")" -ge $((before + 64)) ] ||
      fail "kill $i: fewer than 64 certificates received within 30 s ($(tail -n 3 "$TMP/load.$i.out"))"
    delay=$(((i * 7919) % 10 * 25))
    sleep "0.$(printf '%03d' "$delay")"
    kill -KILL "$child" || fail "kill -9 $child failed"
    # The clients see their connections drop; stop them (whatever they received is on file).
    local t0=$SECONDS
    while kill -0 "$child" 2>/dev/null && [ $((SECONDS - t0)) -lt 10 ]; do sleep 0.05; done
    kill -0 "$child" 2>/dev/null && fail "serve (pid $child) still runs 10 s after SIGKILL"
    wait "$SERVE_PID" 2>/dev/null
    killed_with=$?
    assert_eq "$killed_with" 137 "exit status of timeout around the killed serve (128 + SIGKILL)"
    kill_groups
    got=$(($(wc -l <"$TMP/client.serials") - before))
    note "kill $i: serve up in ${up} s, killed ${delay} ms into full load, $got certificates received, round $((SECONDS - r0)) s"
  done
  # Whatever a line-by-line writer left half-written by its own SIGTERM is not a serial.
  grep -E '^[0-9A-Fa-f]{2,64}$' "$TMP/client.serials" | tr 'a-f' 'A-F' >"$TMP/client.ok"
  local received
  received=$(wc -l <"$TMP/client.ok")
  [ "$received" -ge $((KILLS * 64)) ] || fail "only $received certificates received over $KILLS kills"

  # The store after the last kill: SQLite's own check, then audit verify (offline), then serve.
  assert_eq "$(timeout 60 sqlite3 "$db" 'PRAGMA integrity_check')" ok "PRAGMA integrity_check after $KILLS kills"
  run ctls audit verify --data-dir "$d"
  out_has '^audit chain intact: [0-9]+ entries'
  note "$(cat "$OUT")"
  local c0=$SECONDS
  start_serve "$d" "$TMP/serve.final.log"
  inventory_serials "$SERVE_PORT" "$TMP/inventory"
  audit_sign_targets "$SERVE_PORT" "$TMP/audit"
  check_received "$TMP/client.ok" "$TMP/inventory" "$TMP/audit"
  # The database's own view: the same rows, no serial twice.
  timeout 60 sqlite3 "$db" 'SELECT upper(serial) FROM issued_certs' | sort >"$TMP/db.serials"
  assert_eq "$(sort -u "$TMP/db.serials" | wc -l)" "$(wc -l <"$TMP/db.serials")" "distinct serials in issued_certs"
  assert_eq "$(wc -l <"$TMP/db.serials")" "$(wc -l <"$TMP/inventory")" "rows in issued_certs vs the inventory"
  note "$received certificates received by clients over $KILLS kills; inventory $(wc -l <"$TMP/inventory"), $AUDIT_ENTRIES audit entries"
  note "final checks took $((SECONDS - c0)) s"
  # A sample of what clients received, read back and verified by openssl.
  local s
  split_pem "$API_CA.chain" "$TMP/chain"
  for s in $(awk 'NR % 997 == 1' "$TMP/client.ok" | head -n 6) $(tail -n 1 "$TMP/client.ok"); do
    api GET "/v1/certificates/$s" "${ADMIN[@]}"
    expect_status 200 "GET /v1/certificates/$s"
    jbody .certificate >"$TMP/leaf.pem"
    assert_eq "$(serial_hex "$TMP/leaf.pem")" "$s" "serial of the stored certificate $s"
    timeout 20 openssl verify -CAfile "$TMP/chain1.pem" -untrusted "$TMP/chain0.pem" \
      -purpose sslserver "$TMP/leaf.pem" >"$OUT" 2>&1 || fail "openssl verify of $s: $(cat "$OUT")"
  done
  # And the server still signs.
  api_sign "after.$FQDN" server
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

section "serve killed (-9) $KILLS times under 64 concurrent signers: store opens, audit intact, nothing a client received is lost" kill_loop
finish
