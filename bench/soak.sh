#!/usr/bin/env bash
# Soak of `clustertls serve` (SQLite, issue 16): SOAK_SECONDS (default 600) of mixed load at
# about half of a 2-core machine, while serve's RSS and open file descriptors are sampled:
#   - sign: bench/sign_load, 2 keep-alive clients, in bursts of 300 requests with a pause;
#   - OCSP: bench/sign_load against the public listener's POST /ocsp, 2 clients, bursts of 500
#     (requests made by `openssl ocsp -reqout`, with and without a nonce: cached and signed);
#   - list, CRL, revoke: a curl loop (GET /v1/certificates?limit=100, GET /v1/crl, the revocation
#     of a recently signed certificate) every 0.2 s.
# Every SOAK_SAMPLE seconds (default 10) it records serve's anonymous RSS (RssAnon: the heap; the
# file-backed part is SQLite's mmap of the database, which grows with the file and is page cache,
# not a leak), VmRSS, RssFile, open descriptors, threads, CPU seconds and the database size in
# WORK/samples.csv, and at the end prints the first, middle and last samples and whether the
# anonymous RSS and the descriptors are flat over the last half (max of the last quarter within
# 10 % + 8 MiB of the middle sample's; descriptors within 8).
# Usage: bench/soak.sh BUILD_DIR. Environment: SOAK_SECONDS, SOAK_SAMPLE, SOAK_DIR (parent of
# the work directory, default /var/tmp), SOAK_KEEP=1 keeps it.
set -euo pipefail

build=${1:?usage: soak.sh BUILD_DIR}
secs=${SOAK_SECONDS:-600}
every=${SOAK_SAMPLE:-10}
bin=$build/clustertls
load=$build/bench/sign_load
fqdn=soak.example.com
die() { echo "soak: $*" >&2; exit 1; }
[[ -x $bin && -x $load ]] || die "build clustertls and sign_load first"

work=$(mktemp -d "${SOAK_DIR:-/var/tmp}/ctls-soak.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ ${SOAK_KEEP:-} == 1 ]]; then echo "soak: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

"$bin" init --data-dir "$work/d" --fqdn "$fqdn" >"$work/init.out" 2>&1 || die "init failed"
pw=$(sed -n 's/^.*admin password: *\([^ ]*\) *$/\1/p' "$work/init.out" | head -n1)
"$bin" serve --data-dir "$work/d" --listen 127.0.0.1:0 --public-listen 127.0.0.1:0 \
  >"$work/serve.log" 2>&1 </dev/null &
serve=$!
pids+=("$serve")
for _ in $(seq 100); do grep -q 'serving https://' "$work/serve.log" && break; sleep 0.1; done
port=$(sed -n 's/^.*serving https:\/\/127\.0\.0\.1:\([0-9]*\).*$/\1/p' "$work/serve.log" | head -n1)
pub=$(sed -n 's|^.*public listener http://127\.0\.0\.1:\([0-9]*\).*$|\1|p' "$work/serve.log" | head -n1)
[[ -n $port && -n $pub ]] || die "serve did not start: $(tail -n 3 "$work/serve.log")"
curl -sS "http://127.0.0.1:$pub/v1/ca/chain" >"$work/chain.pem"
awk '/BEGIN/{n++} n==1' "$work/chain.pem" >"$work/issuing.pem"
c=(--cacert "$work/chain.pem" --resolve "$fqdn:$port:127.0.0.1" -sS -u "admin:$pw")
base=https://$fqdn:$port
token=$(curl "${c[@]}" -H 'Content-Type: application/json' -d '{}' "$base/v1/tokens" | jq -r .token)
[[ $token == ctls_* ]] || die "no API token"
for i in 0 1 2 3; do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
    -out "$work/c$i.csr" -subj "/CN=soak$i.$fqdn" -addext "subjectAltName=DNS:soak$i.$fqdn" 2>/dev/null
  jq -nc --rawfile c "$work/c$i.csr" '{csr:$c,profile:"server",days:7}' >>"$work/bodies.jsonl"
done
# OCSP requests for certificates signed now (two with a nonce, two without).
mkdir -p "$work/ocsp"
for i in 0 1 2 3; do
  sed -n "$((i + 1))p" "$work/bodies.jsonl" >"$work/one.json"
  curl "${c[@]}" -H 'Content-Type: application/json' --data-binary @"$work/one.json" "$base/v1/ca/sign" |
    jq -r .certificate >"$work/o$i.pem"
  nonce=(-nonce)
  ((i % 2)) && nonce=(-no_nonce)
  openssl ocsp -issuer "$work/issuing.pem" -cert "$work/o$i.pem" "${nonce[@]}" -reqout "$work/ocsp/r$i.der" 2>/dev/null
done

end=$((SECONDS + secs))
signload() {
  while ((SECONDS < end)); do
    "$load" --url "https://127.0.0.1:$port/v1/ca/sign" --tls-name "$fqdn" --cafile "$work/chain.pem" \
      --auth "Bearer $token" --bodies "$work/bodies.jsonl" --concurrency 2 --requests 300 --warmup 0 \
      --expect-status 201 --save-serials "$work/serials" --json >>"$work/sign.jsonl" 2>&1 || true
    sleep 0.5
  done
}
ocspload() {
  while ((SECONDS < end)); do
    "$load" --url "http://127.0.0.1:$pub/ocsp" --bodies "$work/ocsp" --concurrency 2 --requests 500 \
      --warmup 0 --expect-status 200 --expect-substring "" --json >>"$work/ocsp.jsonl" 2>&1 || true
    sleep 0.5
  done
}
mixed() {
  local n=0 s
  while ((SECONDS < end)); do
    curl "${c[@]}" -o /dev/null -w '%{http_code}\n' "$base/v1/certificates?limit=100" >>"$work/codes" || true
    curl -sS -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$pub/v1/crl" >>"$work/codes" || true
    if ((n++ % 5 == 0)) && [[ -s $work/serials ]]; then
      s=$(tail -n 1 "$work/serials")
      curl "${c[@]}" -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' \
        -d '{"reason":"superseded"}' "$base/v1/certificates/$s/revoke" >>"$work/codes" || true
    fi
    sleep 0.2
  done
}
signload &
pids+=($!)
ocspload &
pids+=($!)
mixed &
pids+=($!)

tck=$(getconf CLK_TCK)
echo "t_s,rss_anon_kib,fds,threads,cpu_s,db_kib,rss_kib,rss_file_kib" >"$work/samples.csv"
t0=$SECONDS
sample() {
  local rss anon file fds thr cpu db
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$serve/status")
  anon=$(awk '/^RssAnon/ {print $2}' "/proc/$serve/status")
  file=$(awk '/^RssFile/ {print $2}' "/proc/$serve/status")
  thr=$(awk '/^Threads/ {print $2}' "/proc/$serve/status")
  fds=$(ls "/proc/$serve/fd" | wc -l)
  cpu=$(awk -v t="$tck" '{printf "%.1f", ($14 + $15) / t}' "/proc/$serve/stat")
  db=$(du -k "$work/d/clustertls.db" | cut -f1)
  echo "$((SECONDS - t0)),$anon,$fds,$thr,$cpu,$db,$rss,$file" >>"$work/samples.csv"
}
while ((SECONDS < end)); do
  sample
  sleep "$every"
done
sample
for p in "${pids[@]:1}"; do wait "$p" 2>/dev/null || true; done
kill -0 "$serve" || die "serve died: $(tail -n 5 "$work/serve.log")"

signed=$(wc -l <"$work/serials")
ocsp_ok=$(jq -s 'map(.ok) | add' "$work/ocsp.jsonl")
sign_err=$(jq -s 'map(.errors) | add' "$work/sign.jsonl")
ocsp_err=$(jq -s 'map(.errors) | add' "$work/ocsp.jsonl")
codes=$(sort "$work/codes" | uniq -c | awk '{printf "%s x%s ", $2, $1}')
n=$(($(wc -l <"$work/samples.csv") - 1))
row() { sed -n "$(($1 + 1))p" "$work/samples.csv"; }
first=$(row 1)
mid=$(row $(((n + 1) / 2)))
last=$(row "$n")
cpu_total=$(cut -d, -f5 <<<"$last")
echo "soak: $secs s on $(nproc) cores (load average at the end $(cut -d' ' -f1-3 /proc/loadavg)); serve CPU $cpu_total s = $(awk -v c="$cpu_total" -v s="$secs" 'BEGIN {printf "%.0f", 100 * c / s}') % of one core"
echo "  signed $signed (errors $sign_err), OCSP answers $ocsp_ok (errors $ocsp_err), list/CRL/revoke statuses: $codes"
echo "  samples (t_s,rss_anon_kib,fds,threads,cpu_s,db_kib,rss_kib,rss_file_kib): first $first | middle $mid | last $last"
awk -F, -v n="$n" 'NR > 1 { i = NR - 1; rss[i] = $2; fd[i] = $3 }
  END {
    m = int((n + 1) / 2); q = int(n * 3 / 4); maxr = 0; maxf = 0
    for (i = q; i <= n; i++) { if (rss[i] > maxr) maxr = rss[i]; if (fd[i] > maxf) maxf = fd[i] }
    flat_r = maxr <= rss[m] * 1.10 + 8192; flat_f = maxf <= fd[m] + 8
    printf "  last quarter: max anonymous RSS %d KiB vs %d KiB at the middle (%s); max fds %d vs %d (%s)\n",
      maxr, rss[m], flat_r ? "flat" : "GROWING", maxf, fd[m], flat_f ? "flat" : "GROWING"
    exit !(flat_r && flat_f)
  }' "$work/samples.csv"
