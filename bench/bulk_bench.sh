#!/usr/bin/env bash
# `clustertls cert bulk` against a shell loop of `openssl req` + `openssl x509 -req` doing the
# same work, in one run, on the same CA:
#   - N EC P-256 certificates with their keys, server profile (serverAuth), SANs = the
#     instance's DNS names and IP, 365 days, signed by an EC P-256 CA;
#   - clustertls: one `cert bulk --in instances.yml` run writing <name>/<name>.crt|.key;
#   - openssl: per instance, `openssl req -new -newkey ec ... -nodes` (key + CSR) then
#     `openssl x509 -req -CA ... -extfile ...` with the same extensions (BasicConstraints
#     critical CA:FALSE, KeyUsage critical, EKU serverAuth, SKI, AKI, SAN).
# To bound its runtime, the openssl loop runs on the first OPENSSL_N instances and its time is
# scaled linearly to N (each iteration is independent: two process starts and the same work);
# the output says so. Each side runs RUNS times; medians are reported.
#
# Usage: bench/bulk_bench.sh BUILD_DIR [N=1000] [OPENSSL_N=100] [RUNS=3]
set -euo pipefail

build=${1:?usage: bulk_bench.sh BUILD_DIR [N] [OPENSSL_N] [RUNS]}
n=${2:-1000}
openssl_n=${3:-100}
runs=${4:-3}
bin="$build/clustertls"
if [[ ! -x "$bin" ]]; then
  echo "bulk_bench: $bin not found (build it first)" >&2
  exit 1
fi
if ((openssl_n > n)); then
  openssl_n=$n
fi

# Both sides write to the same filesystem: tmpfs (/dev/shm) by default, so that the figure is
# the tools' work and not the shared disk's flush latency (clustertls syncs its outputs; the
# openssl loop does not). BULK_BENCH_DIR=/some/disk/dir measures on a disk instead.
base=${BULK_BENCH_DIR:-}
if [[ -z "$base" ]]; then
  if [[ -d /dev/shm && -w /dev/shm ]]; then base=/dev/shm; else base=${TMPDIR:-/tmp}; fi
fi
work=$(mktemp -d "$base/ctls-bulk-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Runs a command under bash's `time`; sets REAL and CPU (user + system, children included).
exec 3>&2
TIMEFORMAT='%R %U %S'
timed() {
  local t
  t=$({ time "$@" 2>&3; } 2>&1)
  REAL=$(awk '{ printf "%.3f", $1 }' <<<"$t")
  CPU=$(awk '{ printf "%.3f", $2 + $3 }' <<<"$t")
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", a / b }'; }
scale() { awk -v t="$1" -v n="$n" -v k="$openssl_n" 'BEGIN { printf "%.3f", t * n / k }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
  if (NR % 2) { printf "%.3f", v[(NR + 1) / 2] } else { printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 } }'; }

# The CA, made by openssl (independent of clustertls), used by both sides.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 3650 \
  -subj "/CN=clustertls bulk bench CA" -keyout "$work/ca.key" -out "$work/ca.crt" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# instances.yml: nodeI with two DNS names and one IP each.
{
  echo "instances:"
  for ((i = 0; i < n; i++)); do
    echo "  - name: node$i"
    echo "    dns: [node$i.bench.example.com, node$i.internal.bench.example.com]"
    echo "    ip: [10.$((i / 65536 % 256)).$((i / 256 % 256)).$((i % 256 + 0))]"
  done
} >"$work/instances.yml"

run_clustertls() {  # $1 = output dir, rest = extra flags
  local out=$1
  shift
  rm -rf "$out"
  "$bin" cert bulk --in "$work/instances.yml" --ca-cert "$work/ca.crt" --ca-key "$work/ca.key" \
    --out "$out" --days 365 --profile server "$@" >/dev/null
}

run_openssl() {  # $1 = output dir; the first $openssl_n instances
  local out=$1 i name dns1 dns2 ip
  rm -rf "$out"
  mkdir -p "$out"
  for ((i = 0; i < openssl_n; i++)); do
    name=node$i
    dns1=$name.bench.example.com
    dns2=$name.internal.bench.example.com
    ip=10.$((i / 65536 % 256)).$((i / 256 % 256)).$((i % 256 + 0))
    mkdir -p "$out/$name"
    cat >"$out/$name/ext.cnf" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
subjectAltName=DNS:$dns1,DNS:$dns2,IP:$ip
EOF
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$dns1" \
      -keyout "$out/$name/$name.key" -out "$out/$name/$name.csr" 2>/dev/null
    openssl x509 -req -in "$out/$name/$name.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
      -sha256 -days 365 -extfile "$out/$name/ext.cnf" -out "$out/$name/$name.crt" 2>/dev/null
  done
}

# The results must be real certificates that chain to the CA with the right purpose and names.
check_output() {  # $1 = dir, $2 = count, $3 = label
  local dir=$1 count=$2 label=$3 last=$(($2 - 1))
  local got
  got=$(find "$dir" -name 'node*.crt' | wc -l)
  if [[ $got -ne $count ]]; then
    echo "bulk_bench: $label wrote $got certificates, expected $count" >&2
    exit 1
  fi
  for i in 0 $last; do
    openssl verify -x509_strict -purpose sslserver -verify_hostname "node$i.bench.example.com" \
      -CAfile "$work/ca.crt" "$dir/node$i/node$i.crt" >/dev/null ||
      { echo "bulk_bench: $label node$i.crt does not verify" >&2; exit 1; }
    openssl pkey -in "$dir/node$i/node$i.key" -noout 2>/dev/null ||
      { echo "bulk_bench: $label node$i.key is not a key" >&2; exit 1; }
  done
}

echo "bulk: $n EC P-256 certificates + keys, server profile; $runs runs each, medians;" \
  "$(nproc) cores; files on $(df -T "$work" | awk 'NR == 2 { print $2 }') ($base)"
ours=() ours_cpu=() ours1=() ours1_cpu=() theirs=() theirs_cpu=()
for ((r = 1; r <= runs; r++)); do
  timed run_clustertls "$work/out-ctls"
  ours+=("$REAL") ours_cpu+=("$CPU")
  check_output "$work/out-ctls" "$n" "clustertls cert bulk"
  rm -rf "$work/out-ctls"
  timed run_clustertls "$work/out-ctls1" --threads 1
  ours1+=("$REAL") ours1_cpu+=("$CPU")
  rm -rf "$work/out-ctls1"
  timed run_openssl "$work/out-openssl"
  theirs+=("$REAL") theirs_cpu+=("$CPU")
  check_output "$work/out-openssl" "$openssl_n" "openssl loop"
  rm -rf "$work/out-openssl"
  echo "  run $r: clustertls ${ours[-1]} s wall, ${ours_cpu[-1]} s CPU" \
    "(--threads 1: ${ours1[-1]} s wall); openssl loop on $openssl_n: ${theirs[-1]} s wall," \
    "${theirs_cpu[-1]} s CPU"
done

m_ours=$(median "${ours[@]}")
m_ours_cpu=$(median "${ours_cpu[@]}")
m_ours1=$(median "${ours1[@]}")
m_theirs=$(median "${theirs[@]}")
m_theirs_cpu=$(median "${theirs_cpu[@]}")
scaled=$(scale "$m_theirs")
scaled_cpu=$(scale "$m_theirs_cpu")
factor=$(awk -v n="$n" -v k="$openssl_n" 'BEGIN { printf "%g", n / k }')
echo "clustertls cert bulk, $n certs, all cores: median $m_ours s wall" \
  "($(awk -v t="$m_ours" -v n="$n" 'BEGIN { printf "%.0f", n / t }') certs/s), $m_ours_cpu s CPU"
echo "clustertls cert bulk, $n certs, --threads 1: median $m_ours1 s wall"
echo "openssl req + x509 -req loop: median $m_theirs s wall, $m_theirs_cpu s CPU for" \
  "$openssl_n certs; scaled x$factor to $n certs: $scaled s wall, $scaled_cpu s CPU"
echo "bulk_ratio=$(ratio "$scaled" "$m_ours")  (openssl loop wall time / cert bulk wall time;" \
  "goal >= 100)"
echo "bulk_ratio_one_thread=$(ratio "$scaled" "$m_ours1")  (same, cert bulk --threads 1)"
echo "bulk_cpu_ratio=$(ratio "$scaled_cpu" "$m_ours_cpu")  (CPU time, user + system, all" \
  "processes of each side)"
