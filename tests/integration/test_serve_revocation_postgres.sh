#!/usr/bin/env bash
# Revocation across two `clustertls serve` instances on one PostgreSQL 15 (a throwaway server
# started by tests/pg/start_pg.sh on loopback, stopped on exit): a certificate revoked through
# instance A is reported revoked by instance B's OCSP responder and listed in B's CRL within a
# few poll intervals (poll 2 s; waited for at most 10 s), and the other way round; the CRL numbers
# of both instances, over several revocations and a restart, are never shared by two different
# CRLs and increase in the order the CRLs were made. Judged by `openssl ocsp` and `openssl crl`.
# Fails, never skips, without PostgreSQL.
#   bash test_serve_revocation_postgres.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=pgrevoke.example.com
API_HOST=$FQDN
PGSTATE=$TMP/pg
trap 'kill_groups; _kill_registered; bash "$REPO/tests/pg/stop_pg.sh" "$PGSTATE" >/dev/null 2>&1; _cleanup' EXIT

timeout 120 bash "$REPO/tests/pg/start_pg.sh" "$PGSTATE" >"$TMP/pg.log" 2>&1 || {
  cat "$TMP/pg.log" >&2
  fail "could not start PostgreSQL with tests/pg/start_pg.sh"
}
PGURL=$(cat "$PGSTATE/url")
note "$(tail -n1 "$TMP/pg.log")"

DA=$TMP/nodeA
DB=$TMP/nodeB
serve_init "$DA" "$FQDN" --store "$PGURL"
# The second instance: a copy of the data directory (same store URL and sealing key).
cp -a "$DA" "$DB"

# start_node A|B [PUBLIC_PORT]: serve for node A or B with its public listener; sets PORT_<N>,
# PID_<N>, PUB_<N>.
start_node() {
  local n=$1 dir pub=${2:-$(free_port)}
  [ "$n" = A ] && dir=$DA || dir=$DB
  start_serve "$dir" "$TMP/serve$n.$SECTION.log" --public-listen "127.0.0.1:$pub"
  printf -v "PORT_$n" '%s' "$SERVE_PORT"
  printf -v "PID_$n" '%s' "$SERVE_PID"
  printf -v "PUB_$n" '%s' "$pub"
  local deadline=$((SECONDS + 20)) code=""
  while [ $SECONDS -le $deadline ]; do
    code=$(timeout 5 curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$pub/health" 2>/dev/null)
    [ "$code" = 200 ] && return 0
    sleep 0.1
  done
  fail "instance $n's public listener 127.0.0.1:$pub did not answer GET /health within 20 s"
}

# on A|B: the api helper talks to that instance.
on() {
  local v=PORT_$1
  SERVE_PORT=${!v}
}

# sign NAME: a client certificate (CSR by openssl req) signed through the current instance;
# $TMP/NAME.crt, SERIAL.
sign() { api_sign "$1" client; }

# revoke_on A|B SERIAL: POST /v1/certificates/SERIAL/revoke on that instance (200, newly revoked).
revoke_on() {
  on "$1"
  api POST "/v1/certificates/$2/revoke" "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"reason":"keyCompromise"}'
  expect_status 200 "revoke $2 on instance $1"
  assert_eq "$(jbody .newly_revoked)" true "newly_revoked of $2 on instance $1"
}

# ocsp_status A|B CERT: good / revoked / unknown as instance N's public /ocsp says it (the
# response verified against the chain, the nonce echoed); empty and the output in $OUT otherwise.
ocsp_status() {
  local v=PUB_$1
  timeout 30 openssl ocsp -issuer "$ISSUING" -cert "$2" -url "http://127.0.0.1:${!v}/ocsp" \
    -CAfile "$CHAIN" >"$OUT" 2>&1 || return 0
  grep -q '^Response verify OK' "$OUT" || return 0
  grep -qi warning "$OUT" && return 0
  sed -n "s|^$2: ||p" "$OUT"
}

# CRL log: every download is recorded as "<seq> <instance> <number> <sha256>" in $TMP/crls.
CRL_SEQ=0
# get_crl A|B: downloads instance N's /v1/crl (public listener) to $TMP/crl.N.<seq>.der;
# CRLNUM its number, CRLFILE its path.
get_crl() {
  local v=PUB_$1
  CRL_SEQ=$((CRL_SEQ + 1))
  CRLFILE=$TMP/crl.$1.$CRL_SEQ.der
  timeout 30 curl -sS -f -o "$CRLFILE" "http://127.0.0.1:${!v}/v1/crl" 2>"$ERR" ||
    fail "GET /v1/crl from instance $1 failed: $(cat "$ERR")"
  timeout 20 openssl crl -inform DER -in "$CRLFILE" -CAfile "$CHAIN" -noout >"$OUT" 2>&1
  grep -q 'verify OK' "$OUT" || fail "instance $1's CRL does not verify: $(cat "$OUT")"
  local n
  n=$(timeout 20 openssl crl -inform DER -in "$CRLFILE" -noout -crlnumber | sed 's/^crlNumber=//; s/^0x//')
  [[ $n =~ ^[0-9A-Fa-f]+$ ]] || fail "instance $1's CRL has no cRLNumber ('$n')"
  CRLNUM=$((16#$n))
  echo "$CRL_SEQ $1 $CRLNUM $(sha "$CRLFILE")" >>"$TMP/crls"
}

# crl_lists FILE SERIAL: the DER CRL lists SERIAL.
crl_lists() {
  timeout 20 openssl crl -inform DER -in "$1" -noout -text | grep -qi "Serial Number: $2\$"
}

# wait_seen N CERT SERIAL: instance N's OCSP says revoked and its CRL lists SERIAL within 10 s;
# prints how long it took.
wait_seen() {
  local n=$1 cert=$2 s=$3 t0=$SECONDS st="" listed=0
  local deadline=$((SECONDS + 10))
  local start_ns
  start_ns=$(date +%s%N)
  while [ $SECONDS -le $deadline ]; do
    st=$(ocsp_status "$n" "$cert")
    if [ "$st" = revoked ]; then
      break
    fi
    sleep 0.2
  done
  [ "$st" = revoked ] || {
    echo "FAIL: instance $n's OCSP still says '${st:-<no verified answer>}' for $s 10 s after the revocation on the other instance:" >&2
    _show "$OUT" >&2
    exit 1
  }
  local ocsp_ms=$((($(date +%s%N) - start_ns) / 1000000))
  while [ $SECONDS -le $deadline ]; do
    get_crl "$n"
    if crl_lists "$CRLFILE" "$s"; then
      listed=1
      break
    fi
    sleep 0.2
  done
  [ $listed = 1 ] || fail "instance $n's CRL does not list $s 10 s after the revocation on the other instance"
  note "instance $n: OCSP revoked after ${ocsp_ms} ms, CRL $CRLNUM lists it after $((SECONDS - t0)) s"
}

SECTION=main
ISSUING=$TMP/chain0.pem
CHAIN=$TMP/chain.pem

propagation() {
  SECTION=prop
  start_node A
  start_node B
  API_CA=$TMP/root.pem
  fetch_ca_root "$PORT_A" "$FQDN" "$API_CA"
  cp "$API_CA.chain" "$CHAIN"
  split_pem "$CHAIN" "$TMP/chain"
  get_crl A
  get_crl B
  # Six certificates, revoked alternately on A and B.
  local i n other s
  for i in 1 2 3 4 5 6; do
    on A
    sign "c$i.$FQDN"
    eval "S$i=$SERIAL"
  done
  for i in 1 2 3 4 5 6; do
    [ $((i % 2)) = 1 ] && n=A || n=B
    [ $n = A ] && other=B || other=A
    s=S$i
    s=${!s}
    assert_eq "$(ocsp_status "$other" "$TMP/c$i.$FQDN.crt")" good "instance $other's OCSP for c$i before"
    revoke_on "$n" "$s"
    # The revoking instance: at once.
    assert_eq "$(ocsp_status "$n" "$TMP/c$i.$FQDN.crt")" revoked "instance $n's OCSP for c$i right after"
    get_crl "$n"
    crl_lists "$CRLFILE" "$s" || fail "instance $n's CRL does not list c$i right after revoking it"
    # The other instance: within a few poll intervals.
    wait_seen "$other" "$TMP/c$i.$FQDN.crt" "$s"
  done
  # Every earlier revocation is still listed by both.
  get_crl A
  local fa=$CRLFILE
  get_crl B
  local fb=$CRLFILE
  for i in 1 2 3 4 5 6; do
    s=S$i
    crl_lists "$fa" "${!s}" && crl_lists "$fb" "${!s}" || fail "c$i missing from a final CRL"
  done
  # Initial CRLs (2), one by the revoking and one by the other instance per revocation (12).
  check_numbers 14
  local before=$MAXNUM
  # A restart of A: its next CRL has a higher number than any made before.
  stop_serve "$PID_A"
  assert_eq "$SERVE_RC" 0 "instance A exit status after SIGTERM"
  start_node A "$PUB_A"
  get_crl A
  crl_lists "$CRLFILE" "$S1" || fail "instance A's CRL after the restart lost c1"
  [ "$CRLNUM" -gt "$before" ] || fail "instance A's CRL after a restart has number $CRLNUM, not above $before"
  check_numbers 15
  stop_serve "$PID_A"
  assert_eq "$SERVE_RC" 0 "instance A exit status after SIGTERM"
  stop_serve "$PID_B"
  assert_eq "$SERVE_RC" 0 "instance B exit status after SIGTERM"
}

# check_numbers: over every CRL downloaded so far: two different CRLs never share a number
# (whichever instance made them), and each instance's CRLs get strictly higher numbers (a CRL
# not downloaded before has a higher number than that instance's previous one). Sets MAXNUM.
check_numbers() {
  local seq inst num hash
  declare -A by_num=() last=() last_hash=()
  local distinct=0
  MAXNUM=-1
  while read -r seq inst num hash; do
    if [ -n "${by_num[$num]:-}" ] && [ "${by_num[$num]}" != "$hash" ]; then
      fail "two different CRLs carry number $num (download $seq from instance $inst): $(tr '\n' ';' <"$TMP/crls")"
    fi
    [ -n "${by_num[$num]:-}" ] || distinct=$((distinct + 1))
    by_num[$num]=$hash
    if [ -n "${last[$inst]:-}" ] && [ "$hash" != "${last_hash[$inst]}" ] && [ "$num" -le "${last[$inst]}" ]; then
      fail "instance $inst's new CRL (download $seq) has number $num, not above its previous ${last[$inst]}"
    fi
    last[$inst]=$num
    last_hash[$inst]=$hash
    [ "$num" -le "$MAXNUM" ] || MAXNUM=$num
  done <"$TMP/crls"
  [ "$distinct" -ge "${1:-0}" ] || fail "only $distinct distinct CRLs were seen (expected at least $1)"
  note "$distinct distinct CRLs, numbers by download: $(awk '{print $2 $3}' "$TMP/crls" | uniq | tr '\n' ' ')"
}

section "two instances on PostgreSQL: revocations seen by the other's OCSP and CRL; CRL numbers" propagation
finish
