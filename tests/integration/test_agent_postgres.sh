#!/usr/bin/env bash
# The node agent with two `clustertls serve` instances on one PostgreSQL 15 (tests/pg/start_pg.sh):
# of 20 concurrent `agent enroll` with one token, half against each instance, exactly one
# succeeds; an agent long-polling instance B receives a `proxy` certificate replaced through
# instance A within 2 s. Fails, never skips, without PostgreSQL.
#   bash test_agent_postgres.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=pgagent.example.com
API_HOST=$FQDN
PGSTATE=$TMP/pg
export CLUSTERTLS_CLIENT_CONFIG=$TMP/client.json
trap 'kill_groups; _kill_registered; bash "$REPO/tests/pg/stop_pg.sh" "$PGSTATE" >/dev/null 2>&1; _cleanup' EXIT

two_instances() {
  timeout 120 bash "$REPO/tests/pg/start_pg.sh" "$PGSTATE" >"$TMP/pg.log" 2>&1 || {
    cat "$TMP/pg.log" >&2
    fail "could not start PostgreSQL with tests/pg/start_pg.sh"
  }
  local pgurl da db port_a port_b
  pgurl=$(cat "$PGSTATE/url")
  da=$TMP/nodeA
  db=$TMP/nodeB
  serve_init "$da" "$FQDN" --store "$pgurl"
  cp -a "$da" "$db"
  start_serve "$da" "$TMP/serveA.log" --agent-long-poll 10s
  port_a=$SERVE_PORT
  start_serve "$db" "$TMP/serveB.log" --agent-long-poll 10s
  port_b=$SERVE_PORT
  API_CA=$TMP/root.pem
  fetch_ca_root "$port_a" "$FQDN" "$API_CA"
  printf '%s\n' "$ADMIN_PW" >"$TMP/admin.pw"
  run ctls login --server "https://127.0.0.1:$port_a" --ca-fingerprint "$CA_FP" --user admin \
    --password-file "$TMP/admin.pw"

  # One token, twenty enrollments at once, ten per instance.
  run ctls -q nodes token create pg-node --assign proxy
  cp "$OUT" "$TMP/token"
  local i port pids=()
  for i in $(seq 1 20); do
    port=$port_a
    [ $((i % 2)) -eq 0 ] && port=$port_b
    (timeout 60 "$CTLS" agent enroll --server "https://127.0.0.1:$port" --ca-fingerprint "$CA_FP" \
      --token-file "$TMP/token" --dir "$TMP/e$i" >"$TMP/e$i.out" 2>&1
    echo $? >"$TMP/e$i.rc") &
    pids+=($!)
  done
  wait "${pids[@]}"
  local ok=0 refused=0 winner=""
  for i in $(seq 1 20); do
    if [ "$(cat "$TMP/e$i.rc")" = 0 ]; then
      ok=$((ok + 1))
      winner=$i
    elif grep -q 'enrollment token is not valid' "$TMP/e$i.out"; then
      refused=$((refused + 1))
    else
      fail "enrollment $i failed otherwise: $(cat "$TMP/e$i.out")"
    fi
  done
  assert_eq "$ok/$refused" "1/19" "successful/refused enrollments with one token"
  note "enrollment $winner won; 19 refused"

  # The winner's agent long-polls instance B; the change is made through instance A.
  jq --arg s "https://127.0.0.1:$port_b" '.server = $s' "$TMP/e$winner/agent.json" >"$TMP/agent.json"
  # agent.json is part of the installed set: rewrite it through a fresh install of the same set.
  local dir=$TMP/e$winner
  cp "$TMP/agent.json" "$(readlink -f "$dir/agent.json").new" && mv "$(readlink -f "$dir/agent.json").new" "$(readlink -f "$dir/agent.json")"
  timeout 300 "$CTLS" agent run --dir "$dir" >"$TMP/agent.log" 2>&1 </dev/null &
  register_pid $!
  wait_for_match "$TMP/agent.log" 'applied version [0-9]+:' 20
  assert_grep "127.0.0.1:$port_b" "$TMP/agent.log"
  # A new proxy certificate through instance A.
  SERVE_PORT=$port_a
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/p.key" -out "$TMP/p.csr" -subj "/CN=$FQDN" \
    -addext "subjectAltName=DNS:$FQDN,DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1
  jq -n --rawfile c "$TMP/p.csr" '{csr:$c,profile:"peer",days:30,allow_reserved:true}' >"$TMP/sign.json"
  api POST /v1/ca/sign "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/sign.json"
  expect_status 201 "POST /v1/ca/sign on A"
  { jbody .certificate; jbody .chain; } | sed '/^$/d' >"$TMP/p.crt"
  jq -n --rawfile k "$TMP/p.key" --rawfile c "$TMP/p.crt" '{name:"proxy",key:$k,certificate:$c}' >"$TMP/upd.json"
  local want t0 ms
  want=$(file_fp "$TMP/p.crt")
  api PUT /v1/cluster/update_cert "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/upd.json"
  expect_status 200 "update_cert on A"
  t0=$(date +%s%N)
  while [ "$(file_fp "$dir/proxy_cert.pem" 2>/dev/null)" != "$want" ]; do
    ms=$((($(date +%s%N) - t0) / 1000000))
    [ "$ms" -lt 2000 ] || fail "the agent on instance B still has the old proxy certificate ${ms} ms after update_cert on A"
    sleep 0.02
  done
  note "update_cert on A reached the agent on B after $((($(date +%s%N) - t0) / 1000000)) ms"
}

section "two instances on PostgreSQL: one enrollment per token; A's change reaches B's agents" two_instances
finish
