#!/usr/bin/env bash
# Two `clustertls serve` instances, A and B, on one PostgreSQL 15 (a throwaway server of
# tests/pg/start_pg.sh on loopback, stopped on exit; fails, never skips, without it), under load
# (issue 16): FAULT_SIGNS signs (default 10,000) from 2 x 24 clients split across A and B
# (bench/sign_load), revocations alternately on A and B meanwhile, and B killed with SIGKILL
# halfway.
#   - 0 lost, 0 duplicates: every serial a client received is in the inventory with its cert.sign
#     entry, no serial twice (also in issued_certs, psql), the inventory and the cert.sign entries
#     are the same set; `audit verify --data-dir` passes on A's and B's directories;
#   - a revocation made on one instance is answered `revoked` by the other's OCSP (openssl ocsp,
#     with a nonce, the response verified) within 1 s;
#   - CRL numbers: every CRL downloaded from A and B during the run verifies, two different CRLs
#     never share a number, and each instance's numbers strictly increase;
#   - after B's death A keeps serving: its clients see no error at all, it keeps signing, revoking
#     and answering OCSP; A's final CRL lists every revocation.
#   bash test_fault_pg_two_instances.sh <path-to-clustertls> <repo-root>
# Environment: FAULT_SIGNS (default 10000).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=pgtwo.example.com
API_HOST=$FQDN
PGSTATE=$TMP/pg
SIGNS=${FAULT_SIGNS:-10000}
trap 'kill_groups; _kill_registered; bash "$REPO/tests/pg/stop_pg.sh" "$PGSTATE" >/dev/null 2>&1; _cleanup' EXIT

timeout 120 bash "$REPO/tests/pg/start_pg.sh" "$PGSTATE" >"$TMP/pg.log" 2>&1 || {
  cat "$TMP/pg.log" >&2
  fail "could not start PostgreSQL with tests/pg/start_pg.sh"
}
PGURL=$(cat "$PGSTATE/url")
note "$(tail -n1 "$TMP/pg.log")"
q() { timeout 30 psql "$PGURL" -X -A -t -v ON_ERROR_STOP=1 -c "$1"; }

DA=$TMP/nodeA
DB=$TMP/nodeB

# start_node A|B: serve with its public listener; PORT_<N>, PID_<N>, PUB_<N>.
start_node() {
  local n=$1 dir pub
  pub=$(free_port)
  [ "$n" = A ] && dir=$DA || dir=$DB
  start_serve "$dir" "$TMP/serve$n.log" --public-listen "127.0.0.1:$pub"
  printf -v "PORT_$n" '%s' "$SERVE_PORT"
  printf -v "PID_$n" '%s' "$SERVE_PID"
  printf -v "PUB_$n" '%s' "$pub"
  local deadline=$((SECONDS + 20))
  until [ "$(timeout 5 curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$pub/health")" = 200 ]; do
    [ $SECONDS -le $deadline ] || fail "instance $n's public listener did not answer within 20 s"
    sleep 0.1
  done
}

# ocsp_is N SERIAL: instance N's OCSP status of SERIAL (openssl ocsp, nonce, response verified
# against the chain); empty when there is no verified answer.
ocsp_is() {
  local v=PUB_$1
  timeout 20 openssl ocsp -issuer "$TMP/chain0.pem" -serial "0x$2" -url "http://127.0.0.1:${!v}/ocsp" \
    -CAfile "$API_CA.chain" >"$TMP/ocsp.$1.out" 2>&1 || return 0
  grep -q '^Response verify OK' "$TMP/ocsp.$1.out" || return 0
  sed -n "s/^0x$2: //p" "$TMP/ocsp.$1.out"
}

# crl_of N: downloads instance N's CRL, checks its signature, logs "<seq> N <number> <sha256>".
CRL_SEQ=0
crl_of() {
  local v=PUB_$1 f n
  CRL_SEQ=$((CRL_SEQ + 1))
  f=$TMP/crl.$1.$CRL_SEQ.der
  timeout 20 curl -sS -f -o "$f" "http://127.0.0.1:${!v}/v1/crl" 2>"$ERR" || fail "GET /v1/crl from $1: $(cat "$ERR")"
  timeout 20 openssl crl -inform DER -in "$f" -CAfile "$API_CA.chain" -noout >"$OUT" 2>&1
  grep -q 'verify OK' "$OUT" || fail "instance $1's CRL does not verify: $(cat "$OUT")"
  n=$(timeout 20 openssl crl -inform DER -in "$f" -noout -crlnumber | sed 's/^crlNumber=//; s/^0x//')
  [[ $n =~ ^[0-9A-Fa-f]+$ ]] || fail "instance $1's CRL has no cRLNumber ('$n')"
  CRLFILE=$f
  echo "$CRL_SEQ $1 $((16#$n)) $(sha "$f")" >>"$TMP/crls"
}

# check_numbers: two different CRLs never share a number; each instance's strictly increase.
check_numbers() {
  local seq inst num hash distinct=0
  declare -A by_num=() last=() last_hash=()
  while read -r seq inst num hash; do
    if [ -n "${by_num[$num]:-}" ] && [ "${by_num[$num]}" != "$hash" ]; then
      fail "two different CRLs carry number $num (download $seq from $inst)"
    fi
    [ -n "${by_num[$num]:-}" ] || distinct=$((distinct + 1))
    by_num[$num]=$hash
    if [ -n "${last[$inst]:-}" ] && [ "$hash" != "${last_hash[$inst]}" ] && [ "$num" -le "${last[$inst]}" ]; then
      fail "instance $inst's new CRL (download $seq) has number $num, not above its previous ${last[$inst]}"
    fi
    last[$inst]=$num
    last_hash[$inst]=$hash
  done <"$TMP/crls"
  note "$distinct distinct CRLs over $(wc -l <"$TMP/crls") downloads, numbers $(awk '{print $3}' "$TMP/crls" | sort -n | sed -n '1p;$p' | tr '\n' ' ')"
}

# revoke_on N SERIAL: POST /v1/certificates/SERIAL/revoke on instance N: 200, newly revoked.
revoke_on() {
  local v=PORT_$1
  SERVE_PORT=${!v} api POST "/v1/certificates/$2/revoke" "${ADMIN[@]}" \
    -H 'Content-Type: application/json' --data-binary '{"reason":"keyCompromise"}'
  expect_status 200 "revoke $2 on instance $1"
  assert_eq "$(jbody .newly_revoked)" true "newly_revoked of $2 on $1"
  echo "$2" >>"$TMP/revoked"
}

# seen_within N SERIAL MS: instance N's OCSP says revoked within MS ms; prints how long it took.
seen_within() {
  local t0 ms st=""
  t0=$(date +%s%N)
  while :; do
    st=$(ocsp_is "$1" "$2")
    ms=$((($(date +%s%N) - t0) / 1000000))
    [ "$st" = revoked ] && break
    [ $ms -le "$3" ] || fail "instance $1's OCSP says '${st:-<no verified answer>}' for $2 $ms ms after the revocation on the other: $(head -c 300 "$TMP/ocsp.$1.out")"
    sleep 0.05
  done
  echo "$ms"
}

# load N TAG SERIALS REQUESTS: sign_load against instance N in the background (24 clients).
load() {
  local v=PORT_$1
  spawn_group timeout 170 "$SIGN_LOAD" --url "https://127.0.0.1:${!v}/v1/ca/sign" --tls-name "$FQDN" \
    --cafile "$API_CA.chain" --auth "Bearer $TOKEN" --bodies "$TMP/bodies.jsonl" --concurrency 24 \
    --threads 1 --requests "$4" --warmup 0 --expect-status 201 --timeout-ms 20000 \
    --save-serials "$3" --json >"$TMP/load.$2.json" 2>&1
}

two_instances() {
  need_sign_load
  serve_init "$DA" "$FQDN" --store "$PGURL"
  cp -a "$DA" "$DB"
  start_node A
  start_node B
  API_CA=$TMP/root.pem
  SERVE_PORT=$PORT_A
  fetch_ca_root "$PORT_A" "$FQDN" "$API_CA"
  split_pem "$API_CA.chain" "$TMP/chain"
  api_token
  sign_bodies "$TMP/bodies.jsonl" 8
  : >"$TMP/a.serials"
  : >"$TMP/b.serials"
  : >"$TMP/crls"
  : >"$TMP/revoked"
  local half=$((SIGNS / 2)) t_start=$SECONDS
  load A a "$TMP/a.serials" "$half"
  local pid_load_a
  pid_load_a=$(tail -n1 "$TMP/.groups")
  load B b "$TMP/b.serials" "$half"
  local pid_load_b
  pid_load_b=$(tail -n1 "$TMP/.groups")
  # Revocations while both sign, alternately on A and B, each checked on the other's OCSP.
  local i n other s ms worst=0 count=0 b_alive=1 child_b
  child_b=$(serve_child "$PID_B")
  for ((i = 1; ; i++)); do
    local got_a got_b
    got_a=$(wc -l <"$TMP/a.serials")
    got_b=$(wc -l <"$TMP/b.serials")
    # B dies once half the signs are in.
    if [ $b_alive = 1 ] && [ $((got_a + got_b)) -ge $half ]; then
      kill -KILL "$child_b"
      b_alive=0
      B_KILLED_AT=$((got_a + got_b))
      # B's clients fail over to A with what they had left to sign.
      sleep 0.3
      kill -- "-$pid_load_b" 2>/dev/null
      local left=$((half - $(wc -l <"$TMP/b.serials")))
      note "instance B killed (SIGKILL) after $B_KILLED_AT certificates received; B's clients move to A with $left signs left"
      SERVE_PORT=$PORT_A
      [ $left -le 0 ] || load A b2 "$TMP/b.serials" "$left"
      pid_load_b=$(tail -n1 "$TMP/.groups")
      A_AT_KILL=$(wc -l <"$TMP/a.serials")
    fi
    kill -0 "$pid_load_a" 2>/dev/null || [ $b_alive = 1 ] || kill -0 "$pid_load_b" 2>/dev/null || break
    [ $((SECONDS - t_start)) -lt 150 ] || fail "the load did not finish within 150 s"
    # A serial some client received lately.
    s=$( (tail -n 30 "$TMP/a.serials"; tail -n 30 "$TMP/b.serials") | grep -E '^[0-9A-F]{2,64}$' | shuf -n1)
    [ -n "$s" ] || { sleep 0.2; continue; }
    grep -qx "$s" "$TMP/revoked" && continue
    if [ $b_alive = 1 ] && [ $((i % 2)) = 0 ]; then n=B other=A; else n=A other=B; fi
    revoke_on "$n" "$s"
    count=$((count + 1))
    # Every fourth revocation is judged by openssl (OCSP on the other instance, both CRLs).
    [ $((count % 4)) = 1 ] || continue
    if [ $b_alive = 1 ]; then
      ms=$(seen_within "$other" "$s" 1000) || exit 1
      [ "$ms" -le "$worst" ] || worst=$ms
      crl_of "$other"
    else
      assert_eq "$(ocsp_is A "$s")" revoked "A's OCSP for $s (revoked on A after B died)"
    fi
    crl_of "$n"
  done
  note "$count revocations during the load; the other instance's OCSP said revoked within $worst ms at worst ($(((count + 3) / 4)) checked)"
  local deadline=$((SECONDS + 30))
  while group_running && [ $SECONDS -le $deadline ]; do sleep 0.2; done
  kill_groups
  note "load done in $((SECONDS - t_start)) s"
  local la lb
  la=$(cat "$TMP/load.a.json")
  jq -e . >/dev/null <<<"$la" || fail "sign_load A printed no summary: $la"
  note "A: $(jq -r '"\(.ok) signed, \(.errors) errors, \(.rps) /s, p99 \(.p99_ms) ms"' <<<"$la")"
  assert_eq "$(jq -r .errors <<<"$la")" 0 "errors of A's clients (B's death must not touch them): $(jq -c .error_kinds <<<"$la")"
  lb=$(cat "$TMP/load.b.json")
  note "B (killed with its server): $(wc -l <"$TMP/b.serials") signed by B's clients, on B then on A"
  if [ -s "$TMP/load.b2.json" ]; then
    lb=$(cat "$TMP/load.b2.json")
    assert_eq "$(jq -r .errors <<<"$lb")" 0 "errors of B's clients once on A: $(jq -c .error_kinds <<<"$lb")"
  fi
  [ "$(wc -l <"$TMP/a.serials")" -gt "$A_AT_KILL" ] || fail "A signed nothing after B died"
  note "A signed $(($(wc -l <"$TMP/a.serials") - A_AT_KILL)) after B died"
  # A still revokes and answers for everything afterwards.
  SERVE_PORT=$PORT_A
  api_sign "after.$FQDN" client
  revoke_on A "$SERIAL"
  assert_eq "$(ocsp_is A "$SERIAL")" revoked "A's OCSP after B's death"
  crl_of A
  local r
  timeout 20 openssl crl -inform DER -in "$CRLFILE" -noout -text >"$TMP/final.crl.txt"
  while read -r r; do
    grep -qi "Serial Number: $r\$" "$TMP/final.crl.txt" || fail "A's final CRL does not list $r"
  done <"$TMP/revoked"
  check_numbers
  # 0 lost, 0 duplicates.
  cat "$TMP/a.serials" "$TMP/b.serials" | grep -E '^[0-9A-Fa-f]{2,64}$' | tr 'a-f' 'A-F' >"$TMP/client.ok"
  local received
  received=$(wc -l <"$TMP/client.ok")
  inventory_serials "$PORT_A" "$TMP/inventory"
  audit_sign_targets "$PORT_A" "$TMP/audit"
  check_received "$TMP/client.ok" "$TMP/inventory" "$TMP/audit"
  q 'SELECT upper(serial) FROM issued_certs' | sort >"$TMP/db.serials"
  assert_eq "$(uniq -d "$TMP/db.serials" | wc -l)" 0 "duplicate serials in issued_certs"
  assert_eq "$(wc -l <"$TMP/db.serials")" "$(wc -l <"$TMP/inventory")" "issued_certs rows vs the inventory"
  assert_eq "$(q 'SELECT max(seq) - min(seq) + 1 = count(*) FROM audit_log')" t "audit seqs contiguous"
  assert_eq "$(q "SELECT count(*) FROM audit_log WHERE action = 'cert.revoke'")" "$(wc -l <"$TMP/revoked")" "cert.revoke entries"
  [ "$received" -ge "$SIGNS" ] || fail "only $received certificates received, $SIGNS asked"
  note "$received certificates received by clients (target $SIGNS), inventory $(wc -l <"$TMP/inventory"), $AUDIT_ENTRIES audit entries, $(wc -l <"$TMP/revoked") revoked"
  stop_serve "$PID_A"
  assert_eq "$SERVE_RC" 0 "A's exit status after SIGTERM"
  run ctls audit verify --data-dir "$DA"
  out_has '^audit chain intact'
  run ctls audit verify --data-dir "$DB"
  out_has '^audit chain intact'
  note "$(cat "$OUT") (B's directory)"
}

section "two instances on PostgreSQL, $SIGNS signs and revocations, B killed halfway: 0 lost, 0 duplicates, OCSP across within 1 s, CRL numbers" two_instances
finish
