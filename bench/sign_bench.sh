#!/usr/bin/env bash
# `POST /v1/ca/sign` of `clustertls serve` (HTTPS, keep-alive, Bearer token, every certificate
# committed to the default SQLite store with synchronous=FULL before it is returned) against
# `cfssl serve`'s `/api/v1/cfssl/sign` (plain HTTP, no database), in one run, on the same
# EC P-256 CSRs, with 1, 8 and 64 concurrent keep-alive clients (bench/sign_load.cc).
#   - CSRs: N EC P-256 CSRs made by `clustertls csr create` (CN + two DNS names + one IP), made
#     before anything is timed;
#   - cfssl: an EC P-256 CA from `cfssl gencert -initca`, a default signing profile with server
#     usages (digital signature, server auth) and expiry 8760h, `-loglevel 2` (less logging
#     work for cfssl, so the ratio errs in its favour);
#   - clustertls: `init --fqdn bench.example.com`, `serve --listen 127.0.0.1:0`, an API token
#     from `POST /v1/tokens`; the server's chain is trusted through the root fetched from
#     /v1/ca/chain after its SHA-256 fingerprint matched the one `init` printed;
#   - per concurrency, RUNS runs of each side alternating (cfssl first on odd runs, clustertls
#     first on even ones); each run is a warm-up then REQUESTS timed requests cycling through
#     the CSRs; medians of requests/s, p50 and p99 are reported with the ratio
#     clustertls/cfssl, and the servers' CPU time per request (from /proc/PID/stat);
#   - one certificate of each side is checked with `openssl verify -purpose sslserver`, and the
#     store's record count is compared with the number of 201 responses.
# The work directory (the SQLite file) is on a disk, not tmpfs: durability is part of what is
# measured. The output names the filesystem.
# What this machine allows, measured in the same run before the load (not timed against
# anything):
#   - the disk's synced-write latency on the work directory's filesystem: `dd bs=4k count=300
#     oflag=dsync` (a 4 KiB write + its sync each), 3 times, median µs per synced write; once
#     over a preallocated file (`conv=notrunc`: the write in place, as SQLite reuses its WAL: the
#     cheaper case, used for the bound) and once appending to a new file (the size changes too);
#     sign_bound_c1 = 1e6 / (that latency + sign_ecdsa_us): with one client nothing overlaps, so
#     each request waits for its CSR check and its signature (below) and then for its sync: the
#     most a one-client signer that syncs once per certificate can answer per second here, all
#     other CPU (TLS, HTTP, JSON, the database, wake-ups) ignored; sign_bound_c1_io = 1e6 / the
#     latency alone; sign_goal_c1 = 2 × cfssl's req/s at 1 client;
#   - the raw EC P-256 cost: `openssl speed -seconds 1 ecdsap256` (sign/s, verify/s), as
#     sign_ecdsa_us = µs of one verify (the CSR's proof of possession) + one sign (the
#     certificate);
#   - the load generator's own CPU per request (getrusage of sign_load over its timed phase),
#     next to the server's, against the cores both share: sign_cpu_us_cN per side = server +
#     client CPU µs per request, and the rate those cores could sustain at that cost.
#
# Usage: bench/sign_bench.sh BUILD_DIR [N=1000] [RUNS=3]
# Environment: SIGN_REQUESTS (timed requests per run, default 3000), SIGN_WARMUP (default 200),
# SIGN_CONCURRENCY ("1 8 64"), SIGN_THREADS (load generator threads, default 1),
# SIGN_BENCH_DIR (parent of the work directory, default /var/tmp), SIGN_SIDES ("cfssl
# clustertls"; one of them to measure only that side), SIGN_KEEP=1 keeps the work directory.
set -euo pipefail

build=${1:?usage: sign_bench.sh BUILD_DIR [N] [RUNS]}
n=${2:-1000}
runs=${3:-3}
requests=${SIGN_REQUESTS:-3000}
warmup=${SIGN_WARMUP:-200}
concurrencies=${SIGN_CONCURRENCY:-1 8 64}
threads=${SIGN_THREADS:-1}
sides=${SIGN_SIDES:-cfssl clustertls}
bin="$build/clustertls"
load="$build/bench/sign_load"
fqdn=bench.example.com

die() { echo "sign_bench: $*" >&2; exit 1; }
[[ -x "$load" ]] || die "$load not found (cmake --build $build --target sign_load)"
[[ -x "$bin" ]] || die "$bin not found (cmake --build $build --target clustertls)"
command -v cfssl >/dev/null || die "cfssl not found (Debian: golang-cfssl)"
command -v jq >/dev/null || die "jq not found"

base=${SIGN_BENCH_DIR:-/var/tmp}
work=$(mktemp -d "$base/ctls-sign-bench.XXXXXX")
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
  if [[ "${SIGN_KEEP:-}" == 1 ]]; then
    echo "sign_bench: kept $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
  if (NR % 2) { printf "%.3f", v[(NR + 1) / 2] } else { printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 } }'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
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

echo "sign: $n EC P-256 CSRs; $requests timed requests per run (after $warmup warm-up), $runs" \
  "runs per side and concurrency, alternating, medians; load generator: $threads thread(s);" \
  "$(nproc) cores; work dir on $(df -T "$work" | awk 'NR == 2 { print $2 " (" $1 ")" }')" \
  "at $base; load average $(awk '{ print $1, $2, $3 }' /proc/loadavg)"

# --- CSRs, made before anything is timed ---------------------------------------------------
mkdir -p "$work/csr"
make_csr() {
  local i=$1
  "$bin" csr create --name "node$i.$fqdn" --dns "node$i.$fqdn" --dns "node$i.internal.$fqdn" \
    --ip "10.$((i / 65536 % 256)).$((i / 256 % 256)).$((i % 256))" --key-type ec-p256 \
    --out "$work/csr/$i" >/dev/null
}
export -f make_csr
export bin work fqdn
seq 0 $((n - 1)) | xargs -P 8 -I{} bash -c 'make_csr {}' ||
  die "clustertls csr create failed"
csrs=()
for ((i = 0; i < n; i++)); do
  csrs+=("$work/csr/$i/node$i.$fqdn.csr")
done
openssl req -in "${csrs[0]}" -noout -verify 2>/dev/null || die "${csrs[0]} does not verify"
openssl req -in "${csrs[0]}" -noout -text | grep -q 'prime256v1\|P-256' ||
  die "${csrs[0]} is not an EC P-256 CSR"
# One JSON body per line; PEM holds no quote or backslash, so only newlines need escaping.
to_bodies() {  # $1 = prefix before the PEM, $2 = suffix after it
  awk -v pre="$1" -v post="$2" '
    FNR == 1 && NR > 1 { print pre body post; body = "" }
    { body = body $0 "\\n" }
    END { print pre body post }' "${csrs[@]}"
}
to_bodies '{"csr":"' '","profile":"server","days":365}' >"$work/bodies-clustertls.jsonl"
to_bodies '{"certificate_request":"' '"}' >"$work/bodies-cfssl.jsonl"
jq -e -s "length == $n" "$work/bodies-clustertls.jsonl" >/dev/null || die "bad clustertls bodies"
jq -e -s "length == $n" "$work/bodies-cfssl.jsonl" >/dev/null || die "bad cfssl bodies"

# --- what this machine allows (before the load, not timed against anything) ---------------
# µs per synced 4 KiB write on the work directory's filesystem; $1 = inplace | append.
fsync_probe_us() {
  local f="$work/fsync.probe" secs
  rm -f "$f"
  if [[ $1 == inplace ]]; then
    dd if=/dev/zero of="$f" bs=4k count=300 conv=fsync status=none || die "dd (preallocate $f) failed"
    secs=$(LC_ALL=C dd if=/dev/zero of="$f" bs=4k count=300 oflag=dsync conv=notrunc 2>&1 |
      awk '{ for (i = 1; i < NF; i++) if ($i == "copied,") print $(i + 1) }')
  else
    secs=$(LC_ALL=C dd if=/dev/zero of="$f" bs=4k count=300 oflag=dsync 2>&1 |
      awk '{ for (i = 1; i < NF; i++) if ($i == "copied,") print $(i + 1) }')
  fi
  rm -f "$f"
  [[ -n "$secs" ]] || die "dd oflag=dsync on $work printed no elapsed time"
  awk -v s="$secs" 'BEGIN { printf "%.1f", s / 300 * 1e6 }'
}
fs_inplace=() fs_append=()
for ((k = 0; k < 3; k++)); do
  fs_inplace+=("$(fsync_probe_us inplace)")
  fs_append+=("$(fsync_probe_us append)")
done
fsync_us=$(median "${fs_inplace[@]}" | awk '{ printf "%.1f", $1 }')
fsync_append_us=$(median "${fs_append[@]}" | awk '{ printf "%.1f", $1 }')
echo "disk: synced 4 KiB write (dd oflag=dsync, 300 per probe, median of 3) on" \
  "$(df -T "$work" | awk 'NR == 2 { print $2 " (" $1 ")" }'): $fsync_us us in place" \
  "(${fs_inplace[*]}), $fsync_append_us us appending (${fs_append[*]})"
speed=$(openssl speed -seconds 1 ecdsap256 2>/dev/null | awk '/ecdsa \(nistp256\)/ { print $(NF - 1), $NF }')
read -r ecdsa_sign_s ecdsa_verify_s <<<"$speed"
[[ -n "${ecdsa_verify_s:-}" ]] || die "openssl speed ecdsap256 printed no nistp256 line"
ecdsa_us=$(awk -v s="$ecdsa_sign_s" -v v="$ecdsa_verify_s" 'BEGIN { printf "%.1f", 1e6 / v + 1e6 / s }')
echo "cpu: openssl speed ecdsap256: $ecdsa_sign_s sign/s, $ecdsa_verify_s verify/s on one core:" \
  "one verify + one sign = $ecdsa_us us; $(nproc) cores shared by the server and the load generator"

# --- cfssl ---------------------------------------------------------------------------------
start_cfssl() {
  mkdir -p "$work/cfssl"
  cd "$work/cfssl"
  echo '{"CN":"cfssl bench CA","key":{"algo":"ecdsa","size":256}}' >ca-csr.json
  cfssl gencert -initca ca-csr.json 2>/dev/null | cfssljson -bare ca
  cat >cfg.json <<'EOF'
{"signing":{"default":{"expiry":"8760h","usages":["digital signature","server auth"]}}}
EOF
  cd - >/dev/null
  cfssl_port=$(free_port)
  cfssl serve -ca "$work/cfssl/ca.pem" -ca-key "$work/cfssl/ca-key.pem" \
    -config "$work/cfssl/cfg.json" -address 127.0.0.1 -port "$cfssl_port" -loglevel 2 \
    >"$work/cfssl/serve.log" 2>&1 &
  cfssl_pid=$!
  pids+=("$cfssl_pid")
  local i
  for ((i = 0; i < 300; i++)); do
    if curl -s -o /dev/null "http://127.0.0.1:$cfssl_port/api/v1/cfssl/health" ||
      curl -s -o /dev/null "http://127.0.0.1:$cfssl_port/"; then
      return 0
    fi
    kill -0 "$cfssl_pid" 2>/dev/null || die "cfssl serve exited: $(tail -3 "$work/cfssl/serve.log")"
    sleep 0.1
  done
  die "cfssl serve did not listen within 30 s"
}

# --- clustertls ----------------------------------------------------------------------------
start_clustertls() {
  local d="$work/cluster" line fp fp_root pw i
  # init prints the admin password and the root CA passphrase: its output stays 0600.
  (umask 077 && "$bin" init --data-dir "$d" --fqdn "$fqdn" >"$work/init.out" 2>&1) ||
    die "clustertls init failed: $(grep -v -i -E 'password|passphrase' "$work/init.out" | tail -3)"
  "$bin" serve --data-dir "$d" --listen 127.0.0.1:0 >"$work/serve.log" 2>&1 &
  ctls_pid=$!
  pids+=("$ctls_pid")
  line=$(wait_for_line "$work/serve.log" 60 'clustertls: serving https://127\.0\.0\.1:[0-9]+') ||
    die "clustertls serve did not print its URL within 60 s: $(tail -3 "$work/serve.log")"
  ctls_port=$(sed -E 's/.*https:\/\/127\.0\.0\.1:([0-9]+).*/\1/' <<<"$line")
  # Trust: the root of /v1/ca/chain, accepted only if it is the CA whose fingerprint init
  # printed (fetched unverified, then pinned, as `clustertls login` does).
  curl -sfk "https://127.0.0.1:$ctls_port/v1/ca/chain" -o "$work/chain.pem" ||
    die "GET /v1/ca/chain failed"
  awk '/-----BEGIN CERTIFICATE-----/ { buf = "" } { buf = buf $0 "\n" }
       /-----END CERTIFICATE-----/ { last = buf } END { printf "%s", last }' \
    "$work/chain.pem" >"$work/root.pem"
  fp_root=$(openssl x509 -in "$work/root.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')
  fp=$(grep -i -o -E '([0-9A-F]{2}:){31}[0-9A-F]{2}|[0-9a-fA-F]{64}' "$work/init.out" | head -1 |
    sed 's/://g')
  [[ -n "$fp" ]] || die "clustertls init printed no SHA-256 fingerprint"
  [[ "${fp^^}" == "${fp_root^^}" ]] ||
    die "the root of /v1/ca/chain ($fp_root) is not the CA init printed ($fp)"
  pw=$(sed -n -E 's/^.*admin password: *([^ ]+).*$/\1/p' "$work/init.out" | head -1)
  [[ -n "$pw" ]] || die "clustertls init printed no 'admin password:' line"
  # The password goes to curl through a config on stdin, never on a command line.
  printf 'user = "admin:%s"\n' "$pw" |
    curl -sf -K - --cacert "$work/root.pem" --resolve "$fqdn:$ctls_port:127.0.0.1" \
      -H 'Content-Type: application/json' -d '{}' "https://$fqdn:$ctls_port/v1/tokens" \
      -o "$work/token.json" || die "POST /v1/tokens failed"
  chmod 600 "$work/token.json"
  ctls_token=$(jq -r .token "$work/token.json")
  [[ "$ctls_token" == ctls_* ]] || die "POST /v1/tokens returned no token"
}

# Runs one measurement; prints sign_load's JSON line. $1 = side, $2 = concurrency, $3 = sample.
run_side() {
  local side=$1 c=$2 sample=${3:-} pid t0 t1 out
  local args=(--concurrency "$c" --threads "$threads" --requests "$requests" --warmup "$warmup"
    --label "$side" --json)
  [[ -n "$sample" ]] && args+=(--save-sample "$sample")
  if [[ $side == cfssl ]]; then
    pid=$cfssl_pid
    args+=(--url "http://127.0.0.1:$cfssl_port/api/v1/cfssl/sign"
      --bodies "$work/bodies-cfssl.jsonl" --expect-status 200)
  else
    pid=$ctls_pid
    args+=(--url "https://127.0.0.1:$ctls_port/v1/ca/sign" --cafile "$work/root.pem"
      --tls-name "$fqdn" --auth "Bearer $ctls_token" --bodies "$work/bodies-clustertls.jsonl"
      --expect-status 201)
  fi
  t0=$(cpu_ticks "$pid")
  out=$("$load" "${args[@]}") || true
  t1=$(cpu_ticks "$pid")
  # Server CPU per timed + warm-up request, in ms; the load generator's per timed request (its
  # getrusage over the timed phase), in µs.
  jq -c --argjson ticks $((t1 - t0)) --argjson hz "$(getconf CLK_TCK)" --argjson w "$warmup" \
    '. + {server_cpu_ms_per_req: ($ticks / $hz * 1000 / (.requests + $w)),
      client_cpu_us_per_req: (if .requests > 0 then .client_cpu_s * 1e6 / .requests else 0 end)}' \
    <<<"$out"
}

have() { [[ " $sides " == *" $1 "* ]]; }
if have cfssl; then start_cfssl; fi
if have clustertls; then start_clustertls; fi
echo "servers: $(have cfssl && echo "cfssl serve (pid $cfssl_pid, :$cfssl_port)")" \
  "$(have clustertls && echo "clustertls serve (pid $ctls_pid, :$ctls_port, store" \
    "$(df -T "$work/cluster" | awk 'NR == 2 { print $2 }') $work/cluster/clustertls.db)")"

: >"$work/results.jsonl"
for c in $concurrencies; do
  for ((r = 1; r <= runs; r++)); do
    order=$sides
    if ((r % 2 == 0)); then
      order=$(tr ' ' '\n' <<<"$sides" | tac | tr '\n' ' ')
    fi
    for side in $order; do
      sample=""
      if ((r == 1)) && [[ $c == "$(awk '{ print $NF }' <<<"$concurrencies")" ]]; then
        sample="$work/sample-$side.json"
      fi
      line=$(run_side "$side" "$c" "$sample")
      echo "$line" >>"$work/results.jsonl"
      jq -r --argjson r "$r" '"  c=\(.concurrency) run \($r) \(.label): \(.rps|floor) req/s, p50 \(.p50_ms) ms, p99 \(.p99_ms) ms, errors \(.errors), server CPU \(.server_cpu_ms_per_req*1000|floor) us/req, client CPU \(.client_cpu_s) s = \(.client_cpu_us_per_req|floor) us/req" + (if .errors > 0 then " first error: \(.error_kinds) \(.first_error_body)" else "" end)' <<<"$line"
    done
  done
done

# --- the responses are real certificates --------------------------------------------------
errors_total=$(jq -s 'map(.errors + .warmup_errors) | add' "$work/results.jsonl")
if have cfssl && [[ -f "$work/sample-cfssl.json" ]]; then
  jq -r .result.certificate "$work/sample-cfssl.json" >"$work/sample-cfssl.pem"
  openssl verify -purpose sslserver -CAfile "$work/cfssl/ca.pem" "$work/sample-cfssl.pem" \
    >/dev/null || die "cfssl's sample certificate does not verify"
  echo "check: a cfssl certificate verifies (openssl verify -purpose sslserver)"
fi
if have clustertls && [[ -f "$work/sample-clustertls.json" ]]; then
  jq -r .certificate "$work/sample-clustertls.json" >"$work/sample-clustertls.pem"
  jq -r .chain "$work/sample-clustertls.json" >"$work/sample-chain.pem"
  openssl verify -purpose sslserver -CAfile "$work/root.pem" -untrusted "$work/sample-chain.pem" \
    "$work/sample-clustertls.pem" >/dev/null || die "clustertls's sample certificate does not verify"
  echo "check: a clustertls certificate verifies against the pinned root" \
    "(openssl verify -purpose sslserver)"
  oks=$(jq -s --argjson w "$warmup" '[.[] | select(.label == "clustertls") | .ok + $w] | add' \
    "$work/results.jsonl")
  if command -v sqlite3 >/dev/null; then
    kill -TERM "$ctls_pid" 2>/dev/null || true
    wait "$ctls_pid" 2>/dev/null || true
    recs=$(sqlite3 "file:$work/cluster/clustertls.db?mode=ro" \
      'SELECT count(*) FROM issued_certs' 2>/dev/null || echo "?")
    echo "check: store holds $recs issued certificates after ~$oks 201 responses" \
      "(warm-up failures would lower the second figure; plus any issued by init)"
  fi
fi

# --- summary -------------------------------------------------------------------------------
echo
printf '%-6s %-11s %10s %9s %9s %12s %12s\n' conc side "req/s" "p50 ms" "p99 ms" "srv CPU/req" \
  "cli CPU/req"
for c in $concurrencies; do
  declare -A rps=() cpus=()
  for side in $sides; do
    mapfile -t v < <(jq -r --arg s "$side" --argjson c "$c" \
      'select(.label == $s and .concurrency == $c) | "\(.rps) \(.p50_ms) \(.p99_ms) \(.server_cpu_ms_per_req) \(.client_cpu_us_per_req)"' \
      "$work/results.jsonl")
    column() { mapfile -t col < <(printf '%s\n' "${v[@]}" | awk "{ print \$$1 * ${2:-1} }"); }
    column 1 && m_rps=$(median "${col[@]}")
    column 2 && m_p50=$(median "${col[@]}")
    column 3 && m_p99=$(median "${col[@]}")
    column 4 1000 && m_cpu=$(median "${col[@]}")
    column 5 && m_cli=$(median "${col[@]}")
    rps[$side]=$m_rps
    cpus[$side]="$m_cpu $m_cli"
    printf '%-6s %-11s %10.0f %9.3f %9.3f %9.0f us %9.0f us\n' "$c" "$side" "$m_rps" "$m_p50" \
      "$m_p99" "$m_cpu" "$m_cli"
  done
  if ((c == 1)); then
    echo "sign_bound_c1=$(awk -v f="$fsync_us" -v e="$ecdsa_us" 'BEGIN { printf "%.0f", 1e6 / (f + e) }')" \
      " (1e6 / ($fsync_us us per synced 4 KiB write on this disk + $ecdsa_us us of P-256 verify +" \
      "sign): the most a one-client durable signer can answer per second here, all other CPU" \
      "ignored)"
    echo "sign_bound_c1_io=$(awk -v f="$fsync_us" 'BEGIN { printf "%.0f", 1e6 / f }')  (1e6 /" \
      "$fsync_us us: the synced write alone)"
    if have cfssl; then
      echo "sign_goal_c1=$(awk -v a="${rps[cfssl]}" 'BEGIN { printf "%.0f", 2 * a }')  (2 x cfssl" \
        "req/s at 1 client)"
    fi
  fi
  for side in $sides; do
    read -r s_cpu c_cpu <<<"${cpus[$side]}"
    awk -v side="$side" -v c="$c" -v s="$s_cpu" -v l="$c_cpu" -v n="$(nproc)" -v e="$ecdsa_us" \
      'BEGIN { t = s + l; printf "sign_cpu_us_c%s_%s=%.0f  (server %.0f + load generator %.0f us" \
        " CPU per request; %d cores: at most %.0f req/s at this cost; sign_ecdsa_us=%s of it is" \
        " one P-256 verify + one sign)\n", c, side, t, s, l, n, (t > 0 ? n * 1e6 / t : 0), e }'
  done
  if have cfssl && have clustertls; then
    echo "sign_ratio_c$c=$(awk -v a="${rps[clustertls]}" -v b="${rps[cfssl]}" \
      'BEGIN { printf "%.2f", a / b }')  (clustertls req/s / cfssl req/s, $c clients; goal >= 2)"
  fi
  unset rps cpus
done
echo "sign_ecdsa_us=$ecdsa_us  (one P-256 verify + one sign, openssl speed, one core)"
echo "sign_fsync_us=$fsync_us  (synced 4 KiB write in place; appending: $fsync_append_us us)"
echo "sign_errors=$errors_total"
echo "load average at the end: $(awk '{ print $1, $2, $3 }' /proc/loadavg)"
if ((errors_total > 0)); then
  exit 1
fi
