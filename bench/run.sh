#!/usr/bin/env bash
# Runs every benchmark against its anchor, measured in the same run, and prints the ratios
# (make bench). Full outputs go to BUILD_DIR/bench-results/; the figures of record are kept in
# bench/RESULTS.md.
#
# Usage: bench/run.sh BUILD_DIR
# Environment: ISSUE_BENCH_FLAGS (extra Google Benchmark flags), BULK_N (1000), BULK_OPENSSL_N
# (100), BULK_RUNS (3), BULK_BENCH_DIR (where bulk_bench writes; tmpfs by default), SIGN_N
# (1000 CSRs), SIGN_RUNS (3) and sign_bench.sh's SIGN_* variables, CRL_SIZES ("100000 1000000"),
# CRL_RUNS (3) and crl_bench.sh's CRL_* variables, OCSP_RUNS (3) and ocsp_bench.sh's OCSP_*
# variables, AGENT_ROUNDS (5) and agent_bench.sh's AGENT_* variables (AGENT_N_SCALE=0 skips the
# 10,000-connection phase, which takes about 10 minutes), PROXY_ROUNDS (3) and proxy_bench.sh's
# PROXY_* variables.
set -euo pipefail

build=${1:?usage: bench/run.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
out="$build/bench-results"
mkdir -p "$out"

load() { awk '{ print $1, $2, $3 }' /proc/loadavg; }
echo "== clustertls benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores," \
  "$(openssl version | awk '{ print $1, $2 }'), load average $(load)"

echo
echo "== issue from CSR vs raw P-256 verify + sign (bench/issue_bench.cc)"
# shellcheck disable=SC2086
"$build/bench/issue_bench" --benchmark_color=false ${ISSUE_BENCH_FLAGS:-} | tee "$out/issue_bench.txt"

echo
echo "== cert bulk vs openssl req + x509 -req loop (bench/bulk_bench.sh)"
"$here/bulk_bench.sh" "$build" "${BULK_N:-1000}" "${BULK_OPENSSL_N:-100}" "${BULK_RUNS:-3}" |
  tee "$out/bulk_bench.txt"

echo
echo "== POST /v1/ca/sign vs cfssl serve, 1/8/64 keep-alive clients (bench/sign_bench.sh)"
# A failure here (say the server does not start) must not hide the figures above.
if ! "$here/sign_bench.sh" "$build" "${SIGN_N:-1000}" "${SIGN_RUNS:-3}" |
  tee "$out/sign_bench.txt"; then
  echo "sign_bench: FAILED (see above)" | tee -a "$out/sign_bench.txt"
fi

echo
echo "== CRL generation vs openssl ca -gencrl, 100,000 / 1,000,000 entries (bench/crl_bench.sh)"
if ! "$here/crl_bench.sh" "$build" "${CRL_SIZES:-100000 1000000}" "${CRL_RUNS:-3}" |
  tee "$out/crl_bench.txt"; then
  echo "crl_bench: FAILED (see above)" | tee -a "$out/crl_bench.txt"
fi

echo
echo "== POST /ocsp vs openssl ocsp, wrk at 1 and 64 connections (bench/ocsp_bench.sh)"
if ! "$here/ocsp_bench.sh" "$build" "${OCSP_RUNS:-3}" | tee "$out/ocsp_bench.txt"; then
  echo "ocsp_bench: FAILED (see above)" | tee -a "$out/ocsp_bench.txt"
fi

echo
echo "== node agent: update_cert propagation to 3 agent processes and 1,000 in-process agents," \
  "10,000 long-polls on one serve (bench/agent_bench.sh)"
if ! "$here/agent_bench.sh" "$build" "${AGENT_ROUNDS:-5}" | tee "$out/agent_bench.txt"; then
  echo "agent_bench: FAILED (see above)" | tee -a "$out/agent_bench.txt"
fi

echo
echo "== data-path proxy vs haproxy and stunnel4 in front of redis: CPU per TLS 1.3 handshake," \
  "redis-benchmark, 64 KiB values (bench/proxy_bench.sh)"
if ! "$here/proxy_bench.sh" "$build" "${PROXY_ROUNDS:-3}" | tee "$out/proxy_bench.txt"; then
  echo "proxy_bench: FAILED (see above)" | tee -a "$out/proxy_bench.txt"
fi

echo
echo "== summary (load average at the end: $(load))"
grep -h -E '^(ratio_vs_raw_limit|slow_path_ratio_vs_raw_limit|bulk_ratio|bulk_ratio_one_thread|bulk_cpu_ratio|sign_ratio_c[0-9]+|sign_errors|crl_[a-z_]+[0-9]*|ocsp_[a-z0-9_]+|prop_(processes|inproc)_(p50_ms|p99_ms|max_ms|missing)|scale_(ready|idle_cpu_pct|serve_rss_mib|serve_hwm_end_mib|change_p50_ms|change_p99_ms|change_max_ms|change_missing)|proxy_(hs_[a-z_]+|redis_get_ops_[a-z_]+|big_get_mbs_[a-z_]+|(redis|big)_get_(ratio|vs_redis_tls)|clustertls_present|check_errors|run_errors))=' \
  "$out/issue_bench.txt" "$out/bulk_bench.txt" "$out/sign_bench.txt" "$out/crl_bench.txt" \
  "$out/ocsp_bench.txt" "$out/agent_bench.txt" "$out/proxy_bench.txt"
