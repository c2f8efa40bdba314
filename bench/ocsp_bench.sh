#!/usr/bin/env bash
# OCSP responder throughput: `clustertls serve`'s plain-HTTP public listener (`POST /ocsp`)
# against the `openssl ocsp` responder (one process), on the same question (the status of one
# good certificate each side issued), under wrk, in one run.
#   - openssl: an EC P-256 CA (`openssl req -x509`), a delegated responder certificate
#     (id-kp-OCSPSigning, EC P-256) and a leaf it issued, listed `V` in its index.txt;
#     `openssl ocsp -index index.txt -port P -rsigner rcert.pem -rkey rkey.pem -CA ca.pem -nmin 60`.
#     It answers HTTP/1.0 and closes the connection after every response (apps/ocsp.c sends no
#     keep-alive and ignores `Connection: keep-alive`), so wrk reconnects for every request:
#     that is how this responder serves. It also spins forever on a connection that closes
#     before sending a request (OpenSSL 3.0.19): wrk's address probe (skipped in the Lua script)
#     and the connections wrk drops at the end of a run do that, so every openssl run gets a
#     fresh responder process (started, checked with one request, then measured);
#   - clustertls: `init`, `serve --listen 127.0.0.1:0 --public-listen 127.0.0.1:0` (SQLite store
#     on disk), a certificate issued by `POST /v1/ca/sign` (API token as in sign_bench.sh);
#     keep-alive;
#   - the request: `openssl ocsp -issuer ISSUER -cert LEAF -no_nonce -reqout req.der` (SHA-1
#     CertID, no nonce) for each side's leaf and issuer;
#   - load: wrk (Lua script: POST, the request's bytes, Content-Type application/ocsp-request),
#     `-t 1 -c 1` and `-t 2 -c 64`, DURATION s each, --latency; RUNS runs per side and
#     concurrency, alternating (openssl first on odd runs); medians of requests/s and p99;
#     non-2xx responses and socket errors counted; server CPU per request from /proc/PID/stat;
#   - checks, not timed: one response of each side verifies with `openssl ocsp -respin` (status
#     good, signature verified against the side's CA).
# A third side, nginx, is a CEILING reference, not an anchor: nginx (Debian's 1.22) answering
# `POST /ocsp` with `return 200 "..."` (`default_type application/ocsp-response`), a fixed ASCII
# body exactly as long as clustertls's OCSP response (500 bytes if clustertls is not run): no
# parsing of the request, no lookup, no signature, no cache: what the best fixed-response HTTP
# server reaches on this machine under the same wrk sharing the same cores. `worker_processes 2`
# (one per core, like serve), `access_log off`, `keepalive_requests 1000000`, `keepalive_timeout
# 75s`, in the foreground (`daemon off;`) with its prefix, temp paths, pid and error log in the
# work directory; its server CPU per request is the sum of its workers' (the master's children).
# Same request bytes as clustertls's, same wrk invocation, same alternating runs, same medians;
# checked once before timing (curl: 200, the expected length and type). The summary adds
# ocsp_ceiling_cN = nginx req/s / openssl req/s (what a fixed-response nginx reaches, in
# multiples of openssl ocsp) and ocsp_vs_nginx_cN = clustertls req/s / nginx req/s.
#
# Usage: bench/ocsp_bench.sh BUILD_DIR [RUNS=3]
# Environment: OCSP_DURATION (s, default 10), OCSP_CONCURRENCY ("1 64"), OCSP_SIDES ("openssl
# clustertls nginx"), OCSP_BENCH_DIR (default /var/tmp), OCSP_KEEP=1 keeps the work directory,
# OCSP_PERF=1 profiles serve (`perf record -g`) during its first run at each concurrency and
# prints the split by DSO and the top symbols (the full report stays in the work directory; perf
# slows that run, so its CPU per request is higher than the others').
set -euo pipefail

build=${1:?usage: ocsp_bench.sh BUILD_DIR [RUNS]}
runs=${2:-3}
duration=${OCSP_DURATION:-10}
concurrencies=${OCSP_CONCURRENCY:-1 64}
sides=${OCSP_SIDES:-openssl clustertls nginx}
bin="$build/clustertls"
fqdn=bench.example.com

die() { echo "ocsp_bench: $*" >&2; exit 1; }
[[ -x "$bin" ]] || die "$bin not found (cmake --build $build --target clustertls)"
command -v wrk >/dev/null || die "wrk not found (Debian: wrk)"
command -v jq >/dev/null || die "jq not found"
have() { [[ " $sides " == *" $1 "* ]]; }
nginx_bin=
if have nginx; then
  nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
  [[ -x "$nginx_bin" ]] ||
    die "nginx not found (Debian: nginx; scripts/setup installs it), or drop it from OCSP_SIDES"
fi

base=${OCSP_BENCH_DIR:-/var/tmp}
work=$(mktemp -d "$base/ctls-ocsp-bench.XXXXXX")
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
  if [[ "${OCSP_KEEP:-}" == 1 ]]; then
    echo "ocsp_bench: kept $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
  if (NR % 2) { printf "%.3f", v[(NR + 1) / 2] } else { printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 } }'; }
# utime + stime (ticks) of every pid given, summed.
cpu_ticks() {
  local p t=0
  for p in "$@"; do
    t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
  done
  echo "$t"
}
loadavg() { awk '{ print $1, $2, $3 }' /proc/loadavg; }
# Waits (at most $2 s) until file $1 has a line matching $3; prints the line.
wait_for_line() {
  local i line
  for ((i = 0; i < $2 * 10; i++)); do
    line=$(grep -m1 -E "$3" "$1" 2>/dev/null || true)
    if [[ -n "$line" ]]; then
      echo "$line"
      return 0
    fi
    sleep 0.1
  done
  return 1
}
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
post_ocsp() {  # $1 = URL, $2 = request file, $3 = response file
  curl -sf --max-time 10 --data-binary "@$2" -H 'Content-Type: application/ocsp-request' \
    -o "$3" "$1"
}

echo "ocsp: wrk, keep-alive clients (openssl closes after each response), $duration s per run," \
  "concurrency $concurrencies (1 thread at 1 connection, 2 threads otherwise), $runs runs per" \
  "side and concurrency, alternating, medians; $(nproc) cores;" \
  "$(openssl version | awk '{ print $1, $2 }'); $(wrk -v 2>&1 | head -1 | awk '{ print $1, $2 }');" \
  "work dir on $(df -T "$work" | awk 'NR == 2 { print $2 }') at $base; load average $(loadavg)"

cat >"$work/post.lua" <<'EOF'
-- POST the DER OCSP request in $OCSP_REQ.
local f = assert(io.open(os.getenv("OCSP_REQ"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/ocsp-request"
-- wrk probes the address with a connection that sends nothing, on which `openssl ocsp` (3.0)
-- spins forever; the probe only checks that the port accepts: skip it.
wrk.connect = function(addr) return true end
EOF

# --- openssl -------------------------------------------------------------------------------
setup_openssl() {
  local d="$work/openssl" exp ser
  mkdir -p "$d"
  cat >"$d/ext.cnf" <<'EOF'
[ocsp]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = OCSPSigning
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:node0.bench.example.com
EOF
  (
    cd "$d"
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
      -out ca.pem -days 365 -subj "/CN=openssl bench CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout rkey.pem \
      -subj "/CN=openssl bench OCSP responder" -out rcert.csr
    openssl x509 -req -in rcert.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile ext.cnf -extensions ocsp -out rcert.pem
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key \
      -subj "/CN=node0.$fqdn" -out leaf.csr
    openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile ext.cnf -extensions leaf -out leaf.pem
  ) >"$d/setup.log" 2>&1 || die "openssl CA setup failed: $(tail -3 "$d/setup.log")"
  exp=$(date -u -d "$(openssl x509 -in "$d/leaf.pem" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
  ser=$(openssl x509 -in "$d/leaf.pem" -noout -serial | cut -d= -f2)
  printf 'V\t%s\t\t%s\tunknown\t/CN=node0.%s\n' "$exp" "$ser" "$fqdn" >"$d/index.txt"
  openssl ocsp -issuer "$d/ca.pem" -cert "$d/leaf.pem" -no_nonce -reqout "$work/req-openssl.der" \
    >/dev/null 2>&1 || die "openssl ocsp -reqout failed"
}

# Starts a fresh responder (see the header: it cannot survive a dropped idle connection).
start_openssl() {
  local d="$work/openssl" i
  ossl_port=$(free_port)
  (cd "$d" && exec openssl ocsp -index index.txt -port "$ossl_port" -rsigner rcert.pem \
    -rkey rkey.pem -CA ca.pem -nmin 60) >"$d/ocsp.log" 2>&1 &
  ossl_pid=$!
  pids+=("$ossl_pid")
  for ((i = 0; i < 100; i++)); do
    if post_ocsp "http://127.0.0.1:$ossl_port/" "$work/req-openssl.der" "$work/resp-openssl.der"; then
      return 0
    fi
    kill -0 "$ossl_pid" 2>/dev/null || die "openssl ocsp exited: $(tail -3 "$d/ocsp.log")"
    sleep 0.1
  done
  die "openssl ocsp did not answer within 10 s"
}
stop_openssl() {
  kill "$ossl_pid" 2>/dev/null || true
  wait "$ossl_pid" 2>/dev/null || true
}

# --- clustertls ----------------------------------------------------------------------------
start_clustertls() {
  local d="$work/cluster" line fp fp_root pw
  (umask 077 && "$bin" init --data-dir "$d" --fqdn "$fqdn" >"$work/init.out" 2>&1) ||
    die "clustertls init failed: $(grep -v -i -E 'password|passphrase' "$work/init.out" | tail -3)"
  "$bin" serve --data-dir "$d" --listen 127.0.0.1:0 --public-listen 127.0.0.1:0 \
    >"$work/serve.log" 2>&1 &
  ctls_pid=$!
  pids+=("$ctls_pid")
  line=$(wait_for_line "$work/serve.log" 60 'clustertls: serving https://127\.0\.0\.1:[0-9]+') ||
    die "clustertls serve did not print its URL within 60 s: $(tail -3 "$work/serve.log")"
  ctls_port=$(sed -E 's/.*https:\/\/127\.0\.0\.1:([0-9]+).*/\1/' <<<"$line")
  line=$(wait_for_line "$work/serve.log" 10 'public listener http://127\.0\.0\.1:[0-9]+') ||
    die "clustertls serve did not print its public listener: $(tail -3 "$work/serve.log")"
  pub_port=$(sed -E 's/.*http:\/\/127\.0\.0\.1:([0-9]+).*/\1/' <<<"$line")
  # Trust: the root of /v1/ca/chain, accepted only if init printed its fingerprint.
  curl -sfk "https://127.0.0.1:$ctls_port/v1/ca/chain" -o "$work/chain.pem" ||
    die "GET /v1/ca/chain failed"
  awk '/-----BEGIN CERTIFICATE-----/ { buf = "" } { buf = buf $0 "\n" }
       /-----END CERTIFICATE-----/ { last = buf } END { printf "%s", last }' \
    "$work/chain.pem" >"$work/root.pem"
  awk '{ print } /-----END CERTIFICATE-----/ { exit }' "$work/chain.pem" >"$work/issuing.pem"
  fp_root=$(openssl x509 -in "$work/root.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')
  fp=$(grep -i -o -E '([0-9A-F]{2}:){31}[0-9A-F]{2}|[0-9a-fA-F]{64}' "$work/init.out" | head -1 |
    sed 's/://g')
  [[ "${fp^^}" == "${fp_root^^}" ]] ||
    die "the root of /v1/ca/chain ($fp_root) is not the CA init printed ($fp)"
  pw=$(sed -n -E 's/^.*admin password: *([^ ]+).*$/\1/p' "$work/init.out" | head -1)
  [[ -n "$pw" ]] || die "clustertls init printed no 'admin password:' line"
  printf 'user = "admin:%s"\n' "$pw" |
    curl -sf -K - --cacert "$work/root.pem" --resolve "$fqdn:$ctls_port:127.0.0.1" \
      -H 'Content-Type: application/json' -d '{}' "https://$fqdn:$ctls_port/v1/tokens" \
      -o "$work/token.json" || die "POST /v1/tokens failed"
  chmod 600 "$work/token.json"
  # One certificate issued by serve: the one whose status is asked.
  "$bin" csr create --name "node0.$fqdn" --dns "node0.$fqdn" --key-type ec-p256 \
    --out "$work/csr" >/dev/null || die "clustertls csr create failed"
  jq -n --rawfile csr "$work/csr/node0.$fqdn.csr" '{csr: $csr, profile: "server", days: 30}' \
    >"$work/sign.json"
  printf 'header = "Authorization: Bearer %s"\n' "$(jq -r .token "$work/token.json")" |
    curl -sf -K - --cacert "$work/root.pem" --resolve "$fqdn:$ctls_port:127.0.0.1" \
      -H 'Content-Type: application/json' --data-binary @"$work/sign.json" \
      "https://$fqdn:$ctls_port/v1/ca/sign" -o "$work/signed.json" || die "POST /v1/ca/sign failed"
  jq -r .certificate "$work/signed.json" >"$work/leaf.pem"
  openssl ocsp -issuer "$work/issuing.pem" -cert "$work/leaf.pem" -no_nonce \
    -reqout "$work/req-clustertls.der" >/dev/null 2>&1 || die "openssl ocsp -reqout failed"
  post_ocsp "http://127.0.0.1:$pub_port/ocsp" "$work/req-clustertls.der" \
    "$work/resp-clustertls.der" || die "POST /ocsp on the public listener failed"
}

# --- nginx (the ceiling reference) ---------------------------------------------------------
start_nginx() {
  local d="$work/nginx" len=500 body i
  [[ -f "$work/resp-clustertls.der" ]] && len=$(stat -c %s "$work/resp-clustertls.der")
  body=$(awk -v n="$len" 'BEGIN { a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    s = ""; while (length(s) < n) { s = s a }; print substr(s, 1, n) }')
  nginx_len=$len
  mkdir -p "$d/logs" "$d/tmp"
  nginx_port=$(free_port)
  cat >"$d/nginx.conf" <<NGINXCONF
daemon off;
worker_processes 2;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events {
  worker_connections 1024;
}
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path $d/tmp/client_body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    location = /ocsp {
      default_type application/ocsp-response;
      return 200 "$body";
    }
  }
}
NGINXCONF
  "$nginx_bin" -p "$d/" -e "$d/logs/error.log" -c "$d/nginx.conf" >"$d/stdout.log" 2>&1 &
  nginx_pid=$!
  pids+=("$nginx_pid")
  for ((i = 0; i < 100; i++)); do
    if post_ocsp "http://127.0.0.1:$nginx_port/ocsp" "$nginx_req" "$work/resp-nginx.bin"; then
      break
    fi
    kill -0 "$nginx_pid" 2>/dev/null ||
      die "nginx exited: $(cat "$d/logs/error.log" "$d/stdout.log" 2>/dev/null | tail -3)"
    sleep 0.1
  done
  ((i < 100)) || die "nginx did not answer POST /ocsp within 10 s"
  # The workers: the master's children (all forked before the first answer).
  mapfile -t nginx_workers < <(pgrep -P "$nginx_pid")
  ((${#nginx_workers[@]} == 2)) ||
    die "nginx has ${#nginx_workers[@]} worker processes, expected 2"
}
check_nginx() {
  local got
  got=$(curl -s --max-time 10 --data-binary "@$nginx_req" \
    -H 'Content-Type: application/ocsp-request' -o "$work/resp-nginx.bin" \
    -w '%{http_code} %{size_download} %{content_type}' "http://127.0.0.1:$nginx_port/ocsp") || true
  if [[ "$got" == "200 $nginx_len application/ocsp-response" ]]; then
    echo "check: nginx answers POST /ocsp with 200, $nginx_len bytes, application/ocsp-response" \
      "(curl; a fixed ASCII body: the ceiling reference, not an OCSP response)"
  else
    echo "check: nginx's answer is NOT 200 with $nginx_len bytes of application/ocsp-response: $got"
    check_errors=$((check_errors + 1))
  fi
}

# --- checks (not timed) --------------------------------------------------------------------
check_response() {  # $1 = side, $2 = issuer, $3 = leaf, $4 = CA file
  local out
  out=$(openssl ocsp -respin "$work/resp-$1.der" -issuer "$2" -cert "$3" -CAfile "$4" 2>&1) || true
  if grep -q 'Response verify OK' <<<"$out" && grep -q ': good' <<<"$out"; then
    echo "check: $1's response: $(grep -E 'Response verify|: good' <<<"$out" | tr '\n' ' ' |
      sed "s|$work/||g")(openssl ocsp -respin)"
  else
    echo "check: $1's response does NOT verify: $(tr '\n' ' ' <<<"$out")"
    check_errors=$((check_errors + 1))
  fi
}

check_errors=0
if have openssl; then
  setup_openssl
  start_openssl
  stop_openssl
  check_response openssl "$work/openssl/ca.pem" "$work/openssl/leaf.pem" "$work/openssl/ca.pem"
fi
if have clustertls; then
  start_clustertls
  cat "$work/issuing.pem" "$work/root.pem" >"$work/cafile.pem"
  check_response clustertls "$work/issuing.pem" "$work/leaf.pem" "$work/cafile.pem"
fi
if have nginx; then
  # The same kind of POST: clustertls's request, else openssl's (made here if needed).
  if [[ -f "$work/req-clustertls.der" ]]; then
    cp "$work/req-clustertls.der" "$work/req-nginx.der"
  else
    [[ -f "$work/req-openssl.der" ]] || setup_openssl
    cp "$work/req-openssl.der" "$work/req-nginx.der"
  fi
  nginx_req="$work/req-nginx.der"
  start_nginx
  check_nginx
fi
echo "request sizes: openssl $(stat -c %s "$work/req-openssl.der" 2>/dev/null || echo -) B," \
  "clustertls $(stat -c %s "$work/req-clustertls.der" 2>/dev/null || echo -) B; response sizes:" \
  "openssl $(stat -c %s "$work/resp-openssl.der" 2>/dev/null || echo -) B," \
  "clustertls $(stat -c %s "$work/resp-clustertls.der" 2>/dev/null || echo -) B, nginx" \
  "${nginx_len:--} B"

# --- load ----------------------------------------------------------------------------------
to_ms() {  # wrk's "151.00us" / "6.55ms" / "1.20s" -> ms
  awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) {
    sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; printf "%.3f", v }' <<<"$1"
}
# Runs wrk once; appends a JSON line to results.jsonl and prints a summary line.
run_side() {  # $1 = side, $2 = connections, $3 = run
  local side=$1 c=$2 r=$3 url req pid threads=2 out rps p50 p99 total non2xx sock c0 c1 cpu
  local -a cpu_pids
  ((c == 1)) && threads=1
  if [[ $side == openssl ]]; then
    start_openssl
    url="http://127.0.0.1:$ossl_port/"
    pid=$ossl_pid
    cpu_pids=("$pid")
  elif [[ $side == nginx ]]; then
    url="http://127.0.0.1:$nginx_port/ocsp"
    pid=$nginx_pid
    cpu_pids=("${nginx_workers[@]}")
  else
    url="http://127.0.0.1:$pub_port/ocsp"
    pid=$ctls_pid
    cpu_pids=("$pid")
  fi
  req="$work/req-$side.der"
  local perf_pid=
  if [[ "${OCSP_PERF:-}" == 1 && $side == clustertls && $r == 1 ]] && ((duration > 3)); then
    # The middle of the run: from 1 s in, for duration - 2 s.
    (sleep 1 && exec perf record -q -g -p "$pid" -o "$work/perf-c$c.data" -- \
      sleep $((duration - 2))) >/dev/null 2>&1 &
    perf_pid=$!
  fi
  c0=$(cpu_ticks "${cpu_pids[@]}")
  out=$(OCSP_REQ="$req" wrk -t "$threads" -c "$c" -d "${duration}s" --latency -s "$work/post.lua" \
    "$url" 2>&1) || die "wrk failed: $out"
  c1=$(cpu_ticks "${cpu_pids[@]}")
  if [[ -n "$perf_pid" ]]; then
    wait "$perf_pid" || true
    perf report -i "$work/perf-c$c.data" --no-children --sort dso,symbol -g none --stdio \
      2>/dev/null | grep '%' >"$work/perf-c$c.txt" || true
    echo "  perf of serve at c=$c (run 1), by DSO:" $(perf report -i "$work/perf-c$c.data" \
      --no-children --sort dso -g none --stdio 2>/dev/null | awk '/%/ { printf "%s %s; ", $2, $1 }')
    head -15 "$work/perf-c$c.txt" | cut -c1-150 | sed 's/^/    /'
  fi
  [[ $side == openssl ]] && stop_openssl
  echo "$out" >"$work/wrk-$side-c$c-r$r.txt"
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
  total=$(awk '/requests in/ { print $1 }' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
  sock=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' <<<"$out")
  cpu=$(awk -v a="$c0" -v b="$c1" -v n="$total" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.1f", (n > 0 ? (b - a) / hz / n * 1e6 : 0) }')
  jq -n -c --arg side "$side" --argjson c "$c" --argjson r "$r" --argjson rps "${rps:-0}" \
    --argjson p50 "${p50:-0}" --argjson p99 "${p99:-0}" --argjson total "${total:-0}" \
    --argjson non2xx "${non2xx:-0}" --argjson sock "${sock:-0}" --argjson cpu "$cpu" \
    '{side: $side, c: $c, run: $r, rps: $rps, p50_ms: $p50, p99_ms: $p99, requests: $total,
      non2xx: $non2xx, socket_errors: $sock, server_cpu_us_per_req: $cpu}' >>"$work/results.jsonl"
  echo "  c=$c run $r $side: $rps req/s, p50 $p50 ms, p99 $p99 ms, $total requests," \
    "non-2xx ${non2xx:-0}, socket errors ${sock:-0}, server CPU $cpu us/req, load $(loadavg)"
}

# Warm-up of the long-running server (the responder's cache, the allocator): 2 s, not recorded.
if have clustertls; then
  OCSP_REQ="$work/req-clustertls.der" wrk -t 1 -c 8 -d 2s -s "$work/post.lua" \
    "http://127.0.0.1:$pub_port/ocsp" >/dev/null 2>&1 || true
fi
if have nginx; then
  OCSP_REQ="$nginx_req" wrk -t 1 -c 8 -d 2s -s "$work/post.lua" \
    "http://127.0.0.1:$nginx_port/ocsp" >/dev/null 2>&1 || true
fi
for c in $concurrencies; do
  for ((r = 1; r <= runs; r++)); do
    order=$sides
    if ((r % 2 == 0)); then
      order=$(tr ' ' '\n' <<<"$sides" | tac | tr '\n' ' ')
    fi
    for side in $order; do
      run_side "$side" "$c" "$r"
    done
  done
done

# --- summary -------------------------------------------------------------------------------
echo
printf '%-6s %-11s %10s %9s %9s %10s %8s %14s\n' conns side "req/s" "p50 ms" "p99 ms" \
  "non-2xx" "sockerr" "srv CPU/req"
for c in $concurrencies; do
  declare -A rps=() p99s=()
  for side in $sides; do
    col() { jq -r --arg s "$side" --argjson c "$c" "select(.side == \$s and .c == \$c) | .$1" \
      "$work/results.jsonl"; }
    mapfile -t v < <(col rps) && rps[$side]=$(median "${v[@]}")
    mapfile -t v < <(col p50_ms) && m_p50=$(median "${v[@]}")
    mapfile -t v < <(col p99_ms) && p99s[$side]=$(median "${v[@]}")
    mapfile -t v < <(col server_cpu_us_per_req) && m_cpu=$(median "${v[@]}")
    bad=$(jq -s --arg s "$side" --argjson c "$c" \
      '[.[] | select(.side == $s and .c == $c) | .non2xx] | add' "$work/results.jsonl")
    sockerr=$(jq -s --arg s "$side" --argjson c "$c" \
      '[.[] | select(.side == $s and .c == $c) | .socket_errors] | add' "$work/results.jsonl")
    printf '%-6s %-11s %10.0f %9.3f %9.3f %10s %8s %11.1f us\n' "$c" "$side" "${rps[$side]}" \
      "$m_p50" "${p99s[$side]}" "$bad" "$sockerr" "$m_cpu"
  done
  if have openssl && have clustertls; then
    echo "ocsp_ratio_c$c=$(awk -v a="${rps[clustertls]}" -v b="${rps[openssl]}" \
      'BEGIN { printf "%.1f", a / b }')  (clustertls req/s / openssl ocsp req/s, $c connections; goal >= 10)"
  fi
  if have openssl && have nginx; then
    echo "ocsp_ceiling_c$c=$(awk -v a="${rps[nginx]}" -v b="${rps[openssl]}" \
      'BEGIN { printf "%.1f", a / b }')  (fixed-response nginx req/s / openssl ocsp req/s, $c" \
      "connections: what a fixed-response nginx reaches, in multiples of openssl ocsp; a" \
      "ceiling reference, not an anchor)"
  fi
  if have clustertls && have nginx; then
    echo "ocsp_vs_nginx_c$c=$(awk -v a="${rps[clustertls]}" -v b="${rps[nginx]}" \
      'BEGIN { printf "%.2f", a / b }')  (clustertls req/s / fixed-response nginx req/s, $c" \
      "connections)"
  fi
  if have clustertls; then
    echo "ocsp_p99_ms_c$c=${p99s[clustertls]}  (clustertls p99; goal < 5 ms at 64)"
  fi
  unset rps p99s
done
non2xx_total=$(jq -s 'map(.non2xx) | add' "$work/results.jsonl")
echo "ocsp_non2xx=$non2xx_total"
echo "ocsp_socket_errors=$(jq -s 'map(.socket_errors) | add' "$work/results.jsonl")"
echo "ocsp_check_errors=$check_errors"
echo "load average at the end: $(loadavg)"
((non2xx_total == 0 && check_errors == 0))
