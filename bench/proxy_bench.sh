#!/usr/bin/env bash
# The data-path proxy (`clustertls proxy`) against haproxy and stunnel4, each a TLS terminator in
# front of the same plain redis-server on loopback, in one run, with the same certificates:
#   1. server CPU per full TLS 1.3 handshake, one-way and mutual TLS: bench/handshake_load.cc
#      makes HANDSHAKES connections from HS_THREADS threads, each a full handshake (no
#      resumption), one `PING` -> `+PONG` through the tunnel (which proves the server finished
#      the handshake and, in mutual TLS, accepted the client's certificate), close_notify, close.
#      The terminator's CPU (utime + stime of its process, its reaped children and its live
#      descendants, /proc/PID/stat, before and after, + 0.3 s for the last closes) divided by the
#      connections made. redis' own TLS listener is measured the same way, as context (its CPU
#      also serves the PINGs; it is single-threaded);
#   2. `redis-benchmark -t set,get -n REDIS_N -c REDIS_C -P 1 -q` through each terminator
#      (one-way TLS), with redis' own TLS (`--tls-port`) and plain redis as the ceilings: ops/s
#      and the terminator's CPU per operation;
#   3. 64 KiB values: `redis-benchmark -t get -d 65536 -n BIG_N -c BIG_C` (the key seeded once
#      with a 64 KiB value through the plain port): MB/s of values (10^6 B) from the server to
#      the client. SET is left out by default (BIG_TESTS=set,get adds it): on this machine every
#      TLS side, redis' own included, answers a SET of 32 KB or more in 44 ms (the sender's TLS
#      records after the first apparently wait for a delayed ACK: with strace, haproxy reads the
#      first 16 KiB record at once and the rest 42 ms later), so SET measures that timer
#      (50 clients / 44 ms = 1,136/s for every side), not the terminator; plain redis, one
#      write per request, does not stall.
# Every figure is the median of ROUNDS rounds; in each round the sides run in a rotated order (the
# first side of round r is side r), so the machine's noise spreads over all of them.
#
# Same for every side: a clustertls CA (`ca init`, EC P-256) and, from it, one server
# certificate (`cert issue --name localhost --ip 127.0.0.1`, P-256 ECDSA, the file holding leaf +
# root) and one client certificate (`--profile client`); the client offers TLS 1.3 only with one
# suite (SUITE, default TLS_AES_128_GCM_SHA256), so every side negotiates the same suite and group
# (X25519, the client's default); the client checks the server's chain and name (127.0.0.1).
#   - haproxy (Debian 2.6): `mode tcp`, `bind ... ssl crt F ssl-min-ver TLSv1.3` (+ `verify
#     required ca-file CA` for mutual), `nbthread THREADS`, `maxconn 4096`, no logging, run in
#     the foreground (`-db`, one process);
#   - stunnel4 (5.68): `sslVersionMin = TLSv1.3` (+ `verify = 2`, `CAfile = CA`), `foreground =
#     yes`, `debug = warning` (its default, notice, writes 3 log lines per connection; the other
#     sides log nothing per connection); one thread per connection (its model);
#   - clustertls: `clustertls proxy --listen ... --backend ... --dir D --threads THREADS`, D
#     holding proxy_cert.pem / proxy_key.pem (the same server certificate and key), ca.pem (the
#     CA) and policy.json as the agent writes it (GET /v1/cluster/policy + version) with
#     min_data_tls_version 1.3 and client_auth none / required; no crl.pem (the anchors check no
#     CRL either). When the binary has no `proxy` command (`clustertls proxy --help` fails), the
#     anchors run alone and the output says so;
#   - redis: one redis-server 7.0 (`--save '' --appendonly no`), its plain port the backend of
#     every terminator, its `--tls-port` (`--tls-protocols TLSv1.3`, `tls-auth-clients` set to
#     no / yes through CONFIG SET before each of its runs) the "redis' own TLS" side.
# Checks before timing, per terminator and mode: one connection negotiates TLSv1.3 and SUITE
# (the server's certificate verified); a TLS 1.2 client (`openssl s_client -tls1_2`) is refused;
# in mutual TLS a client without a certificate is refused. A failed check, a failed connection
# or a redis-benchmark failure makes the script exit 1 after the summary.
#
# Usage: bench/proxy_bench.sh BUILD_DIR [ROUNDS]   (ROUNDS: $2, else $ROUNDS, else 3)
# Environment: PROXY_SIDES (terminators, "clustertls haproxy stunnel"), PROXY_PHASES ("handshake
# redis big"), PROXY_HANDSHAKES (3000 per run), PROXY_HS_THREADS (4), PROXY_THREADS (2: haproxy
# nbthread, clustertls --threads), PROXY_REDIS_N (200000), PROXY_REDIS_C (50), PROXY_BIG_N
# (20000), PROXY_BIG_C (50), PROXY_BIG_TESTS ("get"; "set,get" adds SET), PROXY_SUITE
# (TLS_AES_128_GCM_SHA256), PROXY_BENCH_DIR (/tmp), PROXY_KEEP=1 keeps the work directory.
set -euo pipefail

build=${1:?usage: proxy_bench.sh BUILD_DIR [ROUNDS]}
rounds=${2:-${ROUNDS:-3}}
terminators=${PROXY_SIDES:-clustertls haproxy stunnel}
phases=${PROXY_PHASES:-handshake redis big}
n_hs=${PROXY_HANDSHAKES:-3000}
hs_threads=${PROXY_HS_THREADS:-4}
threads=${PROXY_THREADS:-2}
redis_n=${PROXY_REDIS_N:-200000}
redis_c=${PROXY_REDIS_C:-50}
big_n=${PROXY_BIG_N:-20000}
big_c=${PROXY_BIG_C:-50}
big_tests=${PROXY_BIG_TESTS:-get}
suite=${PROXY_SUITE:-TLS_AES_128_GCM_SHA256}
bin="$build/clustertls"
load_tool="$build/bench/handshake_load"
hz=$(getconf CLK_TCK)

die() { echo "proxy_bench: $*" >&2; exit 1; }
[[ -x "$bin" ]] || die "$bin not found (cmake --build $build --target clustertls)"
[[ -x "$load_tool" ]] || die "$load_tool not found (cmake --build $build --target handshake_load)"
for tool in haproxy stunnel redis-server redis-cli redis-benchmark openssl python3; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/setup installs it)"
done
have_phase() { [[ " $phases " == *" $1 "* ]]; }

proxy_present=1
if ! "$bin" proxy --help >/dev/null 2>&1; then
  proxy_present=0
  terminators=$(tr ' ' '\n' <<<"$terminators" | grep -v -x clustertls | tr '\n' ' ' || true)
fi
read -r -a terminators <<<"$terminators"

work=$(mktemp -d "${PROXY_BENCH_DIR:-/tmp}/ctls-proxy-bench.XXXXXX")
chmod 700 "$work"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  if [[ "${PROXY_KEEP:-}" == 1 ]]; then
    echo "proxy_bench: kept $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

loadavg() { awk '{ print $1, $2, $3 }' /proc/loadavg; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
  if (NR == 0) { printf "nan" } else if (NR % 2) { printf "%.3f", v[(NR + 1) / 2] }
  else { printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 } }'; }
# utime + stime + cutime + cstime (ticks) of $1, plus the same for each live descendant. The
# fields are counted after the ")" that ends the command name (which may hold spaces).
tree_ticks() {
  local t k
  t=$(sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 + $14 + $15 }')
  for k in $(pgrep -P "$1" || true); do
    t=$((t + $(tree_ticks "$k")))
  done
  echo "$t"
}
# The sides in round $1's order: the list rotated by (round - 1).
rotated() {
  local r=$1 i n
  shift
  n=$#
  local -a a=("$@")
  for ((i = 0; i < n; i++)); do
    printf '%s ' "${a[$(((i + r - 1) % n))]}"
  done
}

echo "proxy: $(nproc) cores; $(openssl version | awk '{ print $1, $2 }'); $(haproxy -v |
  head -1 | awk '{ print $1, $3 }'); $(stunnel -version 2>&1 | grep -m1 -o 'stunnel [0-9.]*');" \
  "$(redis-server --version | awk '{ print $1, $3 }'); suite $suite; $rounds rounds;" \
  "load average $(loadavg)"
if ((proxy_present)); then
  echo "proxy: clustertls proxy: present ($bin)"
else
  echo "proxy: clustertls proxy: NOT in this binary ('$bin proxy --help' fails): the anchors" \
    "alone are measured; the clustertls column awaits the proxy"
fi

# --- certificates --------------------------------------------------------------------------
"$bin" ca init --out "$work/ca" --name "proxy bench CA" >"$work/ca.out" 2>&1 ||
  die "clustertls ca init failed: $(tail -3 "$work/ca.out")"
"$bin" cert issue --ca-cert "$work/ca/ca.crt" --ca-key "$work/ca/ca.key" --name localhost \
  --ip 127.0.0.1 --profile server --out "$work/server" >"$work/server.out" 2>&1 ||
  die "clustertls cert issue (server) failed: $(tail -3 "$work/server.out")"
"$bin" cert issue --ca-cert "$work/ca/ca.crt" --ca-key "$work/ca/ca.key" --name client.bench \
  --profile client --out "$work/client" >"$work/client.out" 2>&1 ||
  die "clustertls cert issue (client) failed: $(tail -3 "$work/client.out")"
ca="$work/ca/ca.crt"
srv_crt="$work/server/localhost.crt"
srv_key="$work/server/localhost.key"
cli_crt="$work/client/client.bench.crt"
cli_key="$work/client/client.bench.key"
openssl x509 -in "$srv_crt" -noout -text | grep -q 'ASN1 OID: prime256v1' ||
  die "the server certificate's key is not P-256"
cat "$srv_crt" "$srv_key" >"$work/server/haproxy.pem"
chmod 600 "$work/server/haproxy.pem"

# --- redis (the backend, and its own TLS listener) -----------------------------------------
redis_port=$(free_port)
redis_tls_port=$(free_port)
mkdir -p "$work/redis"
redis-server --bind 127.0.0.1 --port "$redis_port" --tls-port "$redis_tls_port" \
  --tls-cert-file "$srv_crt" --tls-key-file "$srv_key" --tls-ca-cert-file "$ca" \
  --tls-auth-clients no --tls-protocols TLSv1.3 --save '' --appendonly no \
  --protected-mode no --dir "$work/redis" --logfile "$work/redis/redis.log" &
redis_pid=$!
pids+=("$redis_pid")
for ((i = 0; i < 100; i++)); do
  [[ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" == PONG ]] && break
  kill -0 "$redis_pid" 2>/dev/null || die "redis-server exited: $(tail -3 "$work/redis/redis.log")"
  sleep 0.1
done
((i < 100)) || die "redis-server did not answer within 10 s"
redis_auth() {  # no | yes
  [[ "$(redis-cli -h 127.0.0.1 -p "$redis_port" CONFIG SET tls-auth-clients "$1")" == OK ]] ||
    die "redis CONFIG SET tls-auth-clients $1 failed"
}

# --- terminators: one instance per mode (one-way, mutual), all running throughout ----------
declare -A port=() pid=()
start_haproxy() {  # mode
  local mode=$1 p verify=
  p=$(free_port)
  [[ $mode == mutual ]] && verify=" verify required ca-file $ca"
  cat >"$work/haproxy-$mode.cfg" <<EOF
global
  nbthread $threads
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:$p ssl crt $work/server/haproxy.pem ssl-min-ver TLSv1.3$verify
  default_backend be
backend be
  server redis 127.0.0.1:$redis_port
EOF
  haproxy -db -f "$work/haproxy-$mode.cfg" >"$work/haproxy-$mode.log" 2>&1 &
  pid[haproxy-$mode]=$!
  port[haproxy-$mode]=$p
}
start_stunnel() {  # mode
  local mode=$1 p verify=
  p=$(free_port)
  [[ $mode == mutual ]] && verify=$'verify = 2\nCAfile = '"$ca"
  cat >"$work/stunnel-$mode.conf" <<EOF
foreground = yes
pid =
debug = warning
[redis]
accept = 127.0.0.1:$p
connect = 127.0.0.1:$redis_port
cert = $srv_crt
key = $srv_key
sslVersionMin = TLSv1.3
$verify
EOF
  stunnel "$work/stunnel-$mode.conf" >"$work/stunnel-$mode.log" 2>&1 &
  pid[stunnel-$mode]=$!
  port[stunnel-$mode]=$p
}
start_clustertls() {  # mode
  local mode=$1 p auth=none
  local d="$work/proxy-$mode"
  p=$(free_port)
  [[ $mode == mutual ]] && auth=required
  mkdir -p "$d"
  cp "$srv_crt" "$d/proxy_cert.pem"
  cp "$srv_key" "$d/proxy_key.pem"
  cp "$ca" "$d/ca.pem"
  # As the agent writes it (src/server/nodes_api.cc: PolicyToJson + version); cipher_suites is
  # net::kIntermediateCipherList (TLS 1.2 only, unused here: the data path's minimum is 1.3).
  cat >"$d/policy.json" <<EOF
{
  "min_control_tls_version": "1.2",
  "min_data_tls_version": "1.3",
  "cipher_suites": "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305",
  "tls13_ciphersuites": "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
  "client_auth": "$auth",
  "sentinel_ssl_policy": "required",
  "min_sentinel_tls_version": "1.2",
  "version": 1
}
EOF
  chmod 600 "$d/proxy_key.pem"
  "$bin" proxy --listen "127.0.0.1:$p" --backend "127.0.0.1:$redis_port" --dir "$d" \
    --threads "$threads" >"$work/clustertls-$mode.log" 2>&1 &
  pid[clustertls-$mode]=$!
  port[clustertls-$mode]=$p
}
# A connection through side-mode ($1) with handshake_load; extra flags follow.
probe() {
  local key=$1 mode=${1##*-}
  shift
  local -a cert=()
  [[ $mode == mutual ]] && cert=(--cert "$cli_crt" --key "$cli_key")
  "$load_tool" --connect "127.0.0.1:${port[$key]}" --cafile "$ca" --ciphersuites "$suite" \
    "${cert[@]}" "$@"
}
wait_ready() {  # side-mode
  local key=$1 i
  for ((i = 0; i < 150; i++)); do
    probe "$key" --handshakes 1 --threads 1 --timeout-ms 2000 >/dev/null 2>&1 && return 0
    kill -0 "${pid[$key]}" 2>/dev/null ||
      die "$key exited: $(tail -5 "$work/$key.log" 2>/dev/null)"
    sleep 0.1
  done
  die "$key did not complete a connection within 15 s: $(tail -5 "$work/$key.log" 2>/dev/null)"
}

check_errors=0
run_errors=0
check() {  # side-mode: not timed
  local key=$1 mode=${1##*-} side=${1%-*} out rc=0
  out=$(probe "$key" --handshakes 200 --threads 2 2>&1) || rc=$?
  if ((rc == 0)) && grep -q "protocol=TLSv1.3 cipher=$suite " <<<"$out"; then
    echo "check: $side $mode: $(grep -o -E \
      'protocol=[^ ]+ cipher=[^ ]+ group=[^ ]+ tickets_per_conn=[^ ]+' <<<"$out")" \
      "(200 connections, warm-up)"
  else
    echo "check: $side $mode: FAILED: $out"
    check_errors=$((check_errors + 1))
  fi
  out=$(timeout 10 openssl s_client -tls1_2 -connect "127.0.0.1:${port[$key]}" </dev/null 2>&1) ||
    true
  if grep -q -E 'Cipher is \(NONE\)|alert protocol version|no protocols available' <<<"$out" &&
    ! grep -q -E 'Cipher is [A-Z]' <<<"$out"; then
    echo "check: $side $mode: a TLS 1.2 client is refused"
  else
    echo "check: $side $mode: a TLS 1.2 client is NOT refused: $(grep -m1 'Cipher is' <<<"$out")"
    check_errors=$((check_errors + 1))
  fi
  if [[ $mode == mutual ]]; then
    rc=0
    out=$("$load_tool" --connect "127.0.0.1:${port[$key]}" --cafile "$ca" --ciphersuites "$suite" \
      --handshakes 3 --threads 1 --expect-refused 2>&1) || rc=$?
    if ((rc == 0)); then
      echo "check: $side $mode: a client without a certificate is refused" \
        "($(grep -o 'refused as expected: .*' <<<"$out" | cut -c22-))"
    else
      echo "check: $side $mode: a client without a certificate is NOT refused: $out"
      check_errors=$((check_errors + 1))
    fi
  fi
}

for side in "${terminators[@]}"; do
  for mode in oneway mutual; do
    "start_$side" "$mode"
    pids+=("${pid[$side-$mode]}")
  done
done
for side in "${terminators[@]}"; do
  for mode in oneway mutual; do
    wait_ready "$side-$mode"
  done
done
# redis' own TLS, in both modes through CONFIG SET.
for mode in oneway mutual; do
  pid[redis-tls-$mode]=$redis_pid
  port[redis-tls-$mode]=$redis_tls_port
done
pid[plain]=$redis_pid
port[plain]=$redis_port

echo
echo "== checks (not timed)"
for side in "${terminators[@]}" redis-tls; do
  for mode in oneway mutual; do
    [[ $side == redis-tls ]] && redis_auth "$([[ $mode == mutual ]] && echo yes || echo no)"
    check "$side-$mode"
  done
done
redis_auth no

results="$work/results.tsv"
: >"$results"

# --- 1: server CPU per full handshake -----------------------------------------------------
if have_phase handshake; then
  echo
  echo "== 1: server CPU per full TLS 1.3 handshake: $n_hs connections per run from $hs_threads" \
    "threads (handshake, PING/PONG, close), $rounds rounds"
  hs_sides=("${terminators[@]}" redis-tls)
  for ((r = 1; r <= rounds; r++)); do
    for mode in oneway mutual; do
      for side in $(rotated "$r" "${hs_sides[@]}"); do
        key=$side-$mode
        [[ $side == redis-tls ]] && redis_auth "$([[ $mode == mutual ]] && echo yes || echo no)"
        c0=$(tree_ticks "${pid[$key]}")
        rc=0
        out=$(probe "$key" --handshakes "$n_hs" --threads "$hs_threads" 2>&1) || rc=$?
        sleep 0.3
        c1=$(tree_ticks "${pid[$key]}")
        n=$(grep -o -E '^handshakes=[0-9]+' <<<"$out" | cut -d= -f2 || echo 0)
        errs=$(grep -o -E ' errors=[0-9]+' <<<"$out" | cut -d= -f2 || echo 1)
        if ((rc != 0)); then
          run_errors=$((run_errors + 1))
          echo "  run $r $mode $side: ERRORS: $out"
        fi
        us=$(awk -v a="$c0" -v b="$c1" -v n="${n:-0}" -v hz="$hz" \
          'BEGIN { printf "%.1f", (n > 0 ? (b - a) / hz / n * 1e6 : 0) }')
        rate=$(grep -o -E ' rate=[0-9.]+' <<<"$out" | cut -d= -f2)
        cus=$(grep -o -E 'client_cpu_us_per_conn=[0-9.]+' <<<"$out" | cut -d= -f2)
        printf 'hs\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$side" "$r" "$us" "${rate:-0}" \
          "${cus:-0}" >>"$results"
        echo "  run $r $mode $side: $us us of server CPU per handshake, ${rate:-0} conn/s," \
          "client ${cus:-0} us/conn, errors ${errs:-?}, load $(loadavg)"
      done
    done
  done
  redis_auth no
fi

# --- 2 and 3: redis-benchmark through each side ------------------------------------------
rb_sides=("${terminators[@]}" redis-tls plain)
rb_run() {  # phase (redis|big), side, round
  local phase=$1 side=$2 r=$3 key n c rc=0 out c0 c1 set get cpu tests=set,get ops
  local -a args=(-h 127.0.0.1 -P 1 -q)
  if [[ $phase == redis ]]; then
    n=$redis_n
    c=$redis_c
  else
    n=$big_n
    c=$big_c
    tests=$big_tests
    args+=(-d 65536)
  fi
  args+=(-t "$tests")
  ops=$((n * $(tr ',' '\n' <<<"$tests" | grep -c .)))
  key=$side-oneway
  [[ $side == plain ]] && key=plain
  [[ $side != plain ]] && args+=(--tls --cacert "$ca" --tls-ciphersuites "$suite")
  c0=$(tree_ticks "${pid[$key]}")
  out=$(timeout 900 redis-benchmark "${args[@]}" -p "${port[$key]}" -n "$n" -c "$c" 2>&1) || rc=$?
  c1=$(tree_ticks "${pid[$key]}")
  out=$(tr '\r' '\n' <<<"$out")
  set=$(awk '/^SET: [0-9.]+ requests per second/ { print $2 }' <<<"$out" | tail -1)
  get=$(awk '/^GET: [0-9.]+ requests per second/ { print $2 }' <<<"$out" | tail -1)
  if ((rc != 0)) || [[ -z "$get" ]] || [[ $tests == *set* && -z "$set" ]] ||
    grep -q -i -E '^(error|.*error:)' <<<"$out"; then
    run_errors=$((run_errors + 1))
    echo "  run $r $phase $side: FAILED (rc $rc): $(grep -i -m3 -E 'error|refused' <<<"$out")"
    set=${set:-0}
    get=${get:-0}
  fi
  cpu=$(awk -v a="$c0" -v b="$c1" -v n="$ops" -v hz="$hz" \
    'BEGIN { printf "%.1f", (b - a) / hz / n * 1e6 }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$phase" "$side" "$r" "$set" "$get" "$cpu" >>"$results"
  if [[ $phase == redis ]]; then
    echo "  run $r $side: SET $set/s, GET $get/s, server CPU $cpu us/op, load $(loadavg)"
  else
    echo "  run $r $side: ${set:+SET $set/s ($(awk -v s="$set" \
      'BEGIN { printf "%.0f", s * 65536 / 1e6 }') MB/s), }GET $get/s ($(awk -v g="$get" \
      'BEGIN { printf "%.0f", g * 65536 / 1e6 }') MB/s), server CPU $cpu us/op, load $(loadavg)"
  fi
}
if have_phase redis; then
  echo
  echo "== 2: redis-benchmark -t set,get -n $redis_n -c $redis_c -P 1 (one-way TLS), $rounds rounds"
  for ((r = 1; r <= rounds; r++)); do
    for side in $(rotated "$r" "${rb_sides[@]}"); do
      rb_run redis "$side" "$r"
    done
  done
fi
if have_phase big; then
  echo
  echo "== 3: 64 KiB values: redis-benchmark -t $big_tests -d 65536 -n $big_n -c $big_c -P 1" \
    "(one-way TLS), $rounds rounds"
  # GET reads key:__rand_int__ (redis-benchmark's key without -r): seeded here with 64 KiB.
  head -c 65536 /dev/zero | tr '\0' x >"$work/value64k"
  redis-cli -h 127.0.0.1 -p "$redis_port" -x SET key:__rand_int__ <"$work/value64k" >/dev/null
  [[ "$(redis-cli -h 127.0.0.1 -p "$redis_port" STRLEN key:__rand_int__)" == 65536 ]] ||
    die "could not seed key:__rand_int__ with 64 KiB"
  for ((r = 1; r <= rounds; r++)); do
    for side in $(rotated "$r" "${rb_sides[@]}"); do
      rb_run big "$side" "$r"
    done
  done
fi

# --- summary -------------------------------------------------------------------------------
col() {  # phase, side, column (1-based, after phase) [, mode]: the values of every round
  if [[ $1 == hs ]]; then
    awk -F'\t' -v s="$2" -v m="$4" -v c="$3" '$1 == "hs" && $2 == m && $3 == s { print $(c + 1) }' \
      "$results"
  else
    awk -F'\t' -v p="$1" -v s="$2" -v c="$3" '$1 == p && $2 == s { print $(c + 1) }' "$results"
  fi
}
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) { printf "%.2f", a / b } else { printf "nan" } }'
}
keyname() { tr '-' '_' <<<"$1"; }
echo
echo "== summary: medians of $rounds rounds; load average at the end $(loadavg)"
if ((!proxy_present)); then
  echo "(clustertls proxy absent from $bin: anchors only; the clustertls column awaits the proxy)"
fi
if have_phase handshake; then
  echo
  echo "server CPU per full TLS 1.3 handshake (P-256 ECDSA server certificate, X25519, $suite):"
  printf '%-8s %-11s %14s %11s %10s %15s\n' mode side "us/handshake" "vs haproxy" "conn/s" \
    "client us/conn"
  for mode in oneway mutual; do
    declare -A hs=()
    for side in "${terminators[@]}" redis-tls; do
      mapfile -t v < <(col hs "$side" 4 "$mode") && hs[$side]=$(median "${v[@]}")
    done
    for side in "${terminators[@]}" redis-tls; do
      mapfile -t v < <(col hs "$side" 5 "$mode") && m_rate=$(median "${v[@]}")
      mapfile -t v < <(col hs "$side" 6 "$mode") && m_cli=$(median "${v[@]}")
      printf '%-8s %-11s %14.1f %11s %10.0f %15.1f\n' "$mode" "$side" "${hs[$side]}" \
        "$(ratio "${hs[$side]}" "${hs[haproxy]:-0}")" "$m_rate" "$m_cli"
      echo "proxy_hs_us_${mode}_$(keyname "$side")=${hs[$side]}" >>"$work/keys.txt"
    done
    if [[ -n "${hs[clustertls]:-}" && -n "${hs[haproxy]:-}" ]]; then
      echo "proxy_hs_ratio_$mode=$(ratio "${hs[clustertls]}" "${hs[haproxy]}")  (clustertls /" \
        "haproxy server CPU per handshake, $mode; lower is better)" >>"$work/keys.txt"
    fi
    unset hs
  done
fi
for phase in redis big; do
  have_phase "$phase" || continue
  echo
  if [[ $phase == redis ]]; then
    echo "redis-benchmark -t set,get -n $redis_n -c $redis_c -P 1, one-way TLS (server CPU: the" \
      "terminator's; redis' own for redis-tls and plain):"
  else
    echo "64 KiB values (-t $big_tests -d 65536 -n $big_n -c $big_c), MB/s of values (10^6 B):"
  fi
  printf '%-11s %10s %10s %9s %9s %12s %13s %15s\n' side "SET ops/s" "GET ops/s" "SET MB/s" \
    "GET MB/s" "GET/haproxy" "GET/redis-tls" "server us/op"
  declare -A gets=() sets=()
  for side in "${rb_sides[@]}"; do
    mapfile -t v < <(col "$phase" "$side" 3) && sets[$side]=$(median "${v[@]}")
    mapfile -t v < <(col "$phase" "$side" 4) && gets[$side]=$(median "${v[@]}")
  done
  for side in "${rb_sides[@]}"; do
    mapfile -t v < <(col "$phase" "$side" 5) && m_cpu=$(median "${v[@]}")
    set_mb=$(awk -v s="${sets[$side]}" 'BEGIN { printf "%.0f", s * 65536 / 1e6 }')
    get_mb=$(awk -v s="${gets[$side]}" 'BEGIN { printf "%.0f", s * 65536 / 1e6 }')
    set_ops=$(printf '%.0f' "${sets[$side]}")
    if [[ $phase == redis ]]; then
      set_mb=-
      get_mb=-
    elif [[ $big_tests != *set* ]]; then
      set_mb=-
      set_ops=-
    fi
    printf '%-11s %10s %10.0f %9s %9s %12s %13s %15.1f\n' "$side" "$set_ops" \
      "${gets[$side]}" "$set_mb" "$get_mb" "$(ratio "${gets[$side]}" "${gets[haproxy]:-0}")" \
      "$(ratio "${gets[$side]}" "${gets[redis-tls]:-0}")" "$m_cpu"
    k=$(keyname "$side")
    if [[ $phase == redis ]]; then
      echo "proxy_redis_get_ops_$k=${gets[$side]}" >>"$work/keys.txt"
      echo "proxy_redis_set_ops_$k=${sets[$side]}" >>"$work/keys.txt"
    else
      echo "proxy_big_get_mbs_$k=$get_mb" >>"$work/keys.txt"
      if [[ $set_mb != - ]]; then
        echo "proxy_big_set_mbs_$k=$set_mb" >>"$work/keys.txt"
      fi
    fi
  done
  if [[ -n "${gets[clustertls]:-}" && -n "${gets[haproxy]:-}" ]]; then
    echo "proxy_${phase}_get_ratio=$(ratio "${gets[clustertls]}" "${gets[haproxy]}")  (clustertls" \
      "/ haproxy GET ops/s; higher is better)" >>"$work/keys.txt"
    echo "proxy_${phase}_get_vs_redis_tls=$(ratio "${gets[clustertls]}" "${gets[redis-tls]}")" \
      " (clustertls / redis' own TLS, GET ops/s)" >>"$work/keys.txt"
  fi
  unset gets sets
done
echo
cat "$work/keys.txt" 2>/dev/null || true
echo "proxy_clustertls_present=$proxy_present"
echo "proxy_check_errors=$check_errors"
echo "proxy_run_errors=$run_errors"
echo "load average at the end: $(loadavg)"
((check_errors == 0 && run_errors == 0))
