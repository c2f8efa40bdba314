#!/usr/bin/env bash
# CRL generation with N revoked certificates: clustertls against `openssl ca -gencrl`, on the
# same entries, the same issuing CA (EC P-256) and the same CRL content, in one run.
#   - fixture (not timed, bench/crl_bench.cc `prepare`): a real SQLite store made by
#     InitializeCluster, N revoked issuance records (random 136-bit serials, revocation times
#     spread over 300 days, reasons cycling keyCompromise / superseded / cessationOfOperation /
#     unspecified (no reasonCode) / affiliationChanged, rows of their real size), one real revoked
#     and one real good certificate; for openssl: the issuing CA's certificate and key, and an
#     index.txt with the same N revocations (`R <expiry> <revocation time>[,reason] <serial>
#     unknown /CN=...`, man ca) plus the good certificate's `V` line;
#   - openssl: `openssl ca -gencrl -config ca.cnf -out crl.pem` (default_md sha256,
#     default_crl_days 7, crl_extensions authorityKeyIdentifier; CRLNumber from the crlnumber
#     file): reads index.txt, builds, sorts, signs, writes PEM; wall time of the process;
#   - clustertls (`crl_bench run`, one process per run, ITER iterations inside, median): the
#     store's ListRevoked, the pure pki::BuildCrl (DER, signed), the PEM encoding, the streamed
#     listing (ForEachRevoked into a pki::CrlEntryEncoder) and end to end
#     authority::CrlPublisher::Regenerate() as `serve` calls it (CRL number from the store's
#     counter, ForEachRevoked streamed into the encoder, BuildEncodedCrl, PEM);
#   - RUNS runs per size, alternating (openssl first on odd runs); medians. For the largest
#     sizes openssl runs once, and only if 10x its 100,000-entry median is under
#     CRL_OPENSSL_MAX_S (60 s) (otherwise it is reported as not measured);
#   - checks, not timed: entry counts of every CRL (openssl crl -text), the first lines of
#     both, and `openssl verify -crl_check` of a revoked and a good certificate with each CRL.
# The store is on a disk (/var/tmp), as `serve`'s is. The output names the filesystem.
#
# Usage: bench/crl_bench.sh BUILD_DIR [SIZES="100000 1000000"] [RUNS=3]
# Environment: CRL_ITER (iterations per clustertls process, default 3), CRL_OPENSSL_MAX_S (60),
# CRL_BENCH_DIR (parent of the work directory, default /var/tmp), CRL_KEEP=1 keeps it.
set -euo pipefail

build=${1:?usage: crl_bench.sh BUILD_DIR [SIZES] [RUNS]}
sizes=${2:-100000 1000000}
runs=${3:-3}
iter=${CRL_ITER:-3}
openssl_max_s=${CRL_OPENSSL_MAX_S:-60}
bin="$build/bench/crl_bench"

die() { echo "crl_bench: $*" >&2; exit 1; }
[[ -x "$bin" ]] || die "$bin not found (cmake --build $build --target crl_bench)"
command -v jq >/dev/null || die "jq not found"

base=${CRL_BENCH_DIR:-/var/tmp}
work=$(mktemp -d "$base/ctls-crl-bench.XXXXXX")
chmod 700 "$work"
cleanup() {
  if [[ "${CRL_KEEP:-}" == 1 ]]; then
    echo "crl_bench: kept $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
  if (NR % 2) { printf "%.3f", v[(NR + 1) / 2] } else { printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 } }'; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
loadavg() { awk '{ print $1, $2, $3 }' /proc/loadavg; }

echo "crl: sizes $sizes; $runs runs per side, alternating, medians; clustertls: $iter" \
  "iterations per process (median); $(nproc) cores; work dir on" \
  "$(df -T "$work" | awk 'NR == 2 { print $2 " (" $1 ")" }') at $base;" \
  "$(openssl version | awk '{ print $1, $2 }'); load average $(loadavg)"

openssl_once() {  # $1 = dir; prints "wall cpu" in seconds (cpu = user + sys of the process)
  local d=$1 t
  t=$(cd "$d" && TIMEFORMAT='%R %U %S' && { time openssl ca -gencrl -config ca.cnf \
    -out ossl.crl.pem 2>ossl.err; } 2>&1) ||
    die "openssl ca -gencrl failed in $d: $(tail -3 "$d/ossl.err")"
  awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' <<<"$t"
}

# Entry count of a CRL (PEM or DER).
crl_entries() { openssl crl -in "$1" -inform "$2" -noout -text | grep -c 'Serial Number:' || true; }
# "revoked" / "ok" / "other: ..." for `openssl verify -crl_check` of cert $2 with CRL $1.
verify_with() {
  local out
  if out=$(openssl verify -crl_check -CAfile "$1/cafile.pem" -CRLfile "$2" "$1/$3" 2>&1); then
    echo ok
  elif grep -q 'certificate revoked' <<<"$out"; then
    echo revoked
  else
    echo "other: $(tail -1 <<<"$out")"
  fi
}

declare -A ossl_med=() ctls_e2e=() ctls_build=() ctls_list=() ctls_pem=() ossl_der=() ossl_pem=()
declare -A ctls_der=() ctls_pem_bytes=() e2e_der=() e2e_pem=() notes=()
declare -A ossl_cpu=() e2e_cpu=() build_cpu=() list_cpu=()
ossl_100k=""
errors=0
for n in $sizes; do
  d="$work/n$n"
  mkdir -p "$d"
  echo
  echo "== N = $n"
  t0=$(now)
  "$bin" prepare "$d" "$n" 2>&1 | sed 's/^/  /'
  echo "  fixture made in $(elapsed "$t0") s (store $(du -m "$d/store.db" | cut -f1) MiB," \
    "index.txt $(du -m "$d/index.txt" | cut -f1) MiB; not timed)"
  cat >"$d/ca.cnf" <<'EOF'
[ ca ]
default_ca = bench_ca
[ bench_ca ]
dir = .
database = $dir/index.txt
crlnumber = $dir/crlnumber
certificate = $dir/issuing.pem
private_key = $dir/issuing.key
default_md = sha256
default_crl_days = 7
unique_subject = no
crl_extensions = crl_ext
[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF
  echo 01 >"$d/crlnumber"

  # openssl for the large sizes: once, and only if the 100,000 figure says it fits.
  ossl_runs=$runs
  if ((n > 100000)); then
    ossl_runs=1
    if [[ -n "$ossl_100k" ]] &&
      awk -v t="$ossl_100k" -v n="$n" -v m="$openssl_max_s" 'BEGIN { exit !(t * n / 100000 > m) }'; then
      ossl_runs=0
      notes[$n]="openssl not measured: 10x its 100,000 median ($ossl_100k s) exceeds ${openssl_max_s} s"
    fi
  fi
  ossl_t=()
  ossl_c=()
  ctls_json=()
  for ((r = 1; r <= runs; r++)); do
    order="openssl clustertls"
    ((r % 2 == 0)) && order="clustertls openssl"
    for side in $order; do
      if [[ $side == openssl ]]; then
        ((r <= ossl_runs)) || continue
        read -r t c < <(openssl_once "$d")
        ossl_t+=("$t")
        ossl_c+=("$c")
        echo "  run $r openssl ca -gencrl: $t s wall, $c s CPU"
      else
        j=$("$bin" run "$d" "$iter")
        ctls_json+=("$j")
        echo "  run $r clustertls: $j"
      fi
    done
  done
  mapfile -t col < <(printf '%s\n' "${ctls_json[@]}" | jq -r '.e2e.regenerate_ms // empty')
  ((${#col[@]} > 0)) && ctls_e2e[$n]=$(median "${col[@]}")
  mapfile -t col < <(printf '%s\n' "${ctls_json[@]}" | jq -r '.e2e.regenerate_cpu_ms // empty')
  ((${#col[@]} > 0)) && e2e_cpu[$n]=$(median "${col[@]}")
  mapfile -t col < <(printf '%s\n' "${ctls_json[@]}" | jq -r '.build_cpu_ms')
  build_cpu[$n]=$(median "${col[@]}")
  mapfile -t col < <(printf '%s\n' "${ctls_json[@]}" | jq -r '.list_cpu_ms')
  list_cpu[$n]=$(median "${col[@]}")
  mapfile -t col < <(printf '%s\n' "${ctls_json[@]}" | jq -r '.build_ms')
  ctls_build[$n]=$(median "${col[@]}")
  mapfile -t col < <(printf '%s\n' "${ctls_json[@]}" | jq -r '.list_ms')
  ctls_list[$n]=$(median "${col[@]}")
  mapfile -t col < <(printf '%s\n' "${ctls_json[@]}" | jq -r '.pem_ms')
  ctls_pem[$n]=$(median "${col[@]}")
  ctls_der[$n]=$(stat -c %s "$d/ctls.crl.der")
  ctls_pem_bytes[$n]=$(stat -c %s "$d/ctls.crl.pem")
  if [[ -f "$d/ctls-e2e.crl.der" ]]; then
    e2e_der[$n]=$(stat -c %s "$d/ctls-e2e.crl.der")
    e2e_pem[$n]=$(stat -c %s "$d/ctls-e2e.crl.pem")
  fi
  if ((${#ossl_t[@]} > 0)); then
    ossl_med[$n]=$(median "${ossl_t[@]}")
    ossl_cpu[$n]=$(median "${ossl_c[@]}")
    ((n == 100000)) && ossl_100k=${ossl_med[$n]}
    openssl crl -in "$d/ossl.crl.pem" -outform DER -out "$d/ossl.crl.der"
    ossl_der[$n]=$(stat -c %s "$d/ossl.crl.der")
    ossl_pem[$n]=$(stat -c %s "$d/ossl.crl.pem")
  fi

  # --- checks (not timed) -------------------------------------------------------------------
  echo "  checks:"
  crls=("ctls.crl.der DER" "ctls-e2e.crl.der DER")
  [[ -n "${ossl_med[$n]:-}" ]] && crls+=("ossl.crl.pem PEM")
  for c in "${crls[@]}"; do
    read -r f form <<<"$c"
    [[ -f "$d/$f" ]] || continue
    cnt=$(crl_entries "$d/$f" "$form")
    rv=$(verify_with "$d" "$d/$f" revoked.pem)
    gd=$(verify_with "$d" "$d/$f" good.pem)
    echo "    $f: $cnt entries; verify -crl_check: revoked.pem -> $rv, good.pem -> $gd"
    if [[ "$cnt" != "$n" || "$rv" != revoked || "$gd" != ok ]]; then
      echo "    FAILED: expected $n entries, revoked.pem revoked and good.pem ok"
      errors=$((errors + 1))
    fi
  done
  if [[ -f "$d/ctls-e2e.crl.pem" ]]; then
    echo "    openssl crl -text | head (clustertls, CrlPublisher):"
    openssl crl -in "$d/ctls-e2e.crl.pem" -noout -text | head -14 | sed 's/^/      /'
  fi
  if [[ -f "$d/ossl.crl.pem" ]]; then
    echo "    openssl crl -text | head (openssl ca):"
    openssl crl -in "$d/ossl.crl.pem" -noout -text | head -14 | sed 's/^/      /'
  fi
  # Same content: the revoked lists of both, as text, must be identical (the entry order of
  # both is by serial; only the CRL number, times and signatures differ).
  if [[ -f "$d/ossl.crl.pem" ]]; then
    if cmp -s <(openssl crl -in "$d/ossl.crl.pem" -noout -text | sed -n '/^Revoked Certificates:/,/^    Signature Algorithm/p') \
      <(openssl crl -in "$d/ctls.crl.der" -inform DER -noout -text | sed -n '/^Revoked Certificates:/,/^    Signature Algorithm/p'); then
      echo "    revoked lists of openssl and clustertls: identical"
    else
      echo "    revoked lists of openssl and clustertls: DIFFER"
      errors=$((errors + 1))
    fi
  fi
  rm -f "$d/store.db" "$d/store.db-wal" "$d/store.db-shm" "$d/index.txt"* "$d"/*.crl.*
done

# --- summary ---------------------------------------------------------------------------------
ms_to_s() { awk -v v="${1:-}" 'BEGIN { if (v == "") print "n/a"; else printf "%.3f", v / 1000 }'; }
echo
echo "seconds, wall (CPU); medians"
printf '%-8s %-16s %-16s %-16s %-16s %-7s %-17s %-17s\n' entries "openssl ca" "ctls e2e" \
  "ctls BuildCrl" "ctls ListRevoked" "PEM" "DER B ossl/ctls" "PEM B ossl/ctls"
for n in $sizes; do
  printf '%-8s %-16s %-16s %-16s %-16s %-7s %-17s %-17s\n' "$n" \
    "${ossl_med[$n]:-n/a} (${ossl_cpu[$n]:-n/a})" \
    "$(ms_to_s "${ctls_e2e[$n]:-}") ($(ms_to_s "${e2e_cpu[$n]:-}"))" \
    "$(ms_to_s "${ctls_build[$n]}") ($(ms_to_s "${build_cpu[$n]}"))" \
    "$(ms_to_s "${ctls_list[$n]}") ($(ms_to_s "${list_cpu[$n]}"))" \
    "$(ms_to_s "${ctls_pem[$n]}")" \
    "${ossl_der[$n]:-n/a}/${e2e_der[$n]:-${ctls_der[$n]}}" \
    "${ossl_pem[$n]:-n/a}/${e2e_pem[$n]:-${ctls_pem_bytes[$n]}}"
  [[ -n "${notes[$n]:-}" ]] && echo "  ${notes[$n]}"
done
for n in $sizes; do
  if [[ -n "${ossl_med[$n]:-}" ]]; then
    if [[ -n "${ctls_e2e[$n]:-}" ]]; then
      echo "crl_ratio_$n=$(awk -v a="${ossl_med[$n]}" -v b="${ctls_e2e[$n]}" \
        'BEGIN { printf "%.1f", a * 1000 / b }')  (openssl ca -gencrl s / clustertls CrlPublisher::Regenerate s; goal >= 5 at 100000)"
    fi
    if [[ -n "${e2e_cpu[$n]:-}" ]]; then
      echo "crl_cpu_ratio_$n=$(awk -v a="${ossl_cpu[$n]}" -v b="${e2e_cpu[$n]}" \
        'BEGIN { printf "%.1f", a * 1000 / b }')  (the same with CPU times)"
    fi
    echo "crl_build_ratio_$n=$(awk -v a="${ossl_med[$n]}" -v b="${ctls_build[$n]}" \
      'BEGIN { printf "%.1f", a * 1000 / b }')  (openssl ca -gencrl s / pki::BuildCrl s)"
  fi
  if [[ -n "${ctls_e2e[$n]:-}" ]]; then
    echo "crl_e2e_s_$n=$(awk -v v="${ctls_e2e[$n]}" 'BEGIN { printf "%.3f", v / 1000 }')" \
      " (goal < 3 at 1000000)"
  fi
done
echo "crl_errors=$errors"
echo "load average at the end: $(loadavg)"
((errors == 0))
