#!/usr/bin/env bash
# The node agent's propagation and scale (issue 14) against one real `clustertls serve` (SQLite
# store on disk, loopback), with bench/agent_bench.cc:
#   1. propagation, from PUT /v1/cluster/update_cert (the `proxy` certificate) returning to the
#      new files renamed into place, p50/p99 across the agents, ROUNDS rounds, medians:
#      (a) 3 real `clustertls agent run` processes: an inotify watch on each D times the rename
#          of D/..data; D/proxy_cert.pem is then checked against the certificate sent;
#      (b) N_INPROC (1,000) in-process agents: agent::Run (the real sync code) in one thread
#          each, each its own D; timed by its on_applied callback; every D checked.
#   2. scale: N_SCALE (10,000) light clients, one thread each, doing the agent's HTTP long-poll
#      (GET /v1/agent/state?after&wait&digest, POST /v1/agent/report when the version moves)
#      with their own node certificate over mutual TLS, but installing no files: serve's RSS,
#      its CPU over IDLE s with every client waiting (each re-polls when its long-poll period
#      ends, as agents do), then the time for all of them to see one change. serve is restarted
#      (same data directory) before this phase, so its RSS is that of the long-polls.
# Nodes are enrolled through POST /v1/nodes/tokens (assign: proxy) and agent::Enroll (what
# `clustertls agent enroll` runs), 4 at a time. The agents' directories are on tmpfs (/dev/shm):
# on a real fleet every node writes to its own disk, here 1,000 agents would otherwise queue on
# one disk's fsyncs. serve runs with `--agent-long-poll LONG_POLL` (30s) and a raised
# RLIMIT_NOFILE.
# Anchors, for context only (not run): Vault Agent's template renders poll every 5 minutes by
# default; a Kubernetes Secret reaches a pod's volume in about a minute (kubelet sync period +
# cache TTL).
#
# Usage: bench/agent_bench.sh BUILD_DIR [ROUNDS=5]
# Environment: AGENT_N_INPROC (1000), AGENT_N_SCALE (10000; 0 skips the scale phase),
# AGENT_IDLE (30 s), AGENT_LONG_POLL (30), AGENT_SCALE_ROUNDS (3), AGENT_PHASES ("processes
# inproc scale"), AGENT_BENCH_DIR (serve's data directory's parent, default /var/tmp),
# AGENT_KEEP=1 keeps the work directories.
set -euo pipefail

build=${1:?usage: agent_bench.sh BUILD_DIR [ROUNDS]}
rounds=${2:-5}
n_inproc=${AGENT_N_INPROC:-1000}
n_scale=${AGENT_N_SCALE:-10000}
idle=${AGENT_IDLE:-30}
long_poll=${AGENT_LONG_POLL:-30}
scale_rounds=${AGENT_SCALE_ROUNDS:-3}
phases=${AGENT_PHASES:-processes inproc scale}
bin="$build/clustertls"
bench="$build/bench/agent_bench"
fqdn=bench.example.com

die() { echo "agent_bench: $*" >&2; exit 1; }
[[ -x "$bin" ]] || die "$bin not found (cmake --build $build --target clustertls)"
[[ -x "$bench" ]] || die "$bench not found (cmake --build $build --target agent_bench)"
command -v jq >/dev/null || die "jq not found"
have() { [[ " $phases " == *" $1 "* ]]; }

# 10,000 TLS connections on each side: the soft limit up to the hard one (raising the hard one
# needs CAP_SYS_RESOURCE, which this machine's root does not have: 20,000 here).
ulimit -Hn 1048576 2>/dev/null || true
ulimit -Sn "$(ulimit -Hn)"

work=$(mktemp -d "${AGENT_BENCH_DIR:-/var/tmp}/ctls-agent-bench.XXXXXX")
shm=$(mktemp -d /dev/shm/ctls-agent-bench.XXXXXX)
chmod 700 "$work" "$shm"
pids=()
serve_pid=
cleanup() {
  local p
  for p in "${pids[@]}" $serve_pid; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}" $serve_pid; do
    wait "$p" 2>/dev/null || true
  done
  if [[ "${AGENT_KEEP:-}" == 1 ]]; then
    echo "agent_bench: kept $work and $shm" >&2
  else
    rm -rf "$work" "$shm"
  fi
}
trap cleanup EXIT

loadavg() { awk '{ print $1, $2, $3 }' /proc/loadavg; }
wait_for_line() {  # FILE SECONDS REGEX: prints the first matching line
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

start_serve() {
  local line
  : >"$work/serve.log"
  "$bin" serve --data-dir "$work/cluster" --listen "127.0.0.1:${port:-0}" \
    --public-listen 127.0.0.1:0 --agent-long-poll "${long_poll}s" >"$work/serve.log" 2>&1 &
  serve_pid=$!
  line=$(wait_for_line "$work/serve.log" 60 'clustertls: serving https://127\.0\.0\.1:[0-9]+') ||
    die "clustertls serve did not print its URL within 60 s: $(tail -3 "$work/serve.log")"
  port=$(sed -E 's/.*https:\/\/127\.0\.0\.1:([0-9]+).*/\1/' <<<"$line")
}
stop_serve() {
  kill "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
  serve_pid=
}

echo "agent: $(nproc) cores; $(openssl version | awk '{ print $1, $2 }'); serve data on" \
  "$(df -T "$work" | awk 'NR == 2 { print $2 }') at ${AGENT_BENCH_DIR:-/var/tmp}, agent" \
  "directories on tmpfs; --agent-long-poll ${long_poll}s; RLIMIT_NOFILE $(ulimit -n);" \
  "load average $(loadavg)"
echo "agent: on_cluster_change hook in this tree's control_plane.cc:" \
  "$(grep -c on_cluster_change "$(dirname "$0")/../src/server/control_plane.cc" 2>/dev/null)" || true

(umask 077 && "$bin" init --data-dir "$work/cluster" --fqdn "$fqdn" >"$work/init.out" 2>&1) ||
  die "clustertls init failed: $(grep -v -i -E 'password|passphrase' "$work/init.out" | tail -3)"
start_serve
url="https://127.0.0.1:$port"
# Trust: the root of /v1/ca/chain, accepted only if it is the CA init printed.
curl -sfk "$url/v1/ca/chain" -o "$work/chain.pem" || die "GET /v1/ca/chain failed"
awk '/-----BEGIN CERTIFICATE-----/ { buf = "" } { buf = buf $0 "\n" }
     /-----END CERTIFICATE-----/ { last = buf } END { printf "%s", last }' \
  "$work/chain.pem" >"$work/root.pem"
fp_root=$(openssl x509 -in "$work/root.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')
fp=$(grep -i -o -E '([0-9A-F]{2}:){31}[0-9A-F]{2}|[0-9a-fA-F]{64}' "$work/init.out" | head -1 |
  sed 's/://g')
[[ -n "$fp" && "${fp^^}" == "${fp_root^^}" ]] ||
  die "the root of /v1/ca/chain ($fp_root) is not the CA init printed ($fp)"
pw=$(sed -n -E 's/^.*admin password: *([^ ]+).*$/\1/p' "$work/init.out" | head -1)
[[ -n "$pw" ]] || die "clustertls init printed no 'admin password:' line"
# An admin API token (Bearer: no password hash per call); the password goes through stdin.
printf 'user = "admin:%s"\n' "$pw" |
  curl -sf -K - --cacert "$work/root.pem" -H 'Content-Type: application/json' -d '{}' \
    "$url/v1/tokens" -o "$work/token.json" || die "POST /v1/tokens failed"
jq -r .token "$work/token.json" >"$work/api.token"
chmod 600 "$work/token.json" "$work/api.token"
common=(--server "$url" --ca-file "$work/root.pem" --api-token-file "$work/api.token"
  --ca-fingerprint "$fp_root" --fqdn "$fqdn")

# --- 1a: 3 agent processes ------------------------------------------------------------------
if have processes; then
  echo
  echo "== propagation, 3 \`clustertls agent run\` processes (inotify on D/..data), $rounds rounds"
  "$bench" enroll "${common[@]}" --n 3 --first 0 --base "$shm/proc" --threads 1 | sed 's/^/proc_/'
  agent_pids=()
  for i in 0 1 2; do
    "$bin" agent run --dir "$shm/proc/bench-$i" >"$work/agent$i.log" 2>&1 &
    agent_pids+=($!)
    pids+=($!)
  done
  for i in 0 1 2; do
    wait_for_line "$work/agent$i.log" 60 'applied version [0-9]+: ' >/dev/null ||
      die "agent $i made no first sync: $(tail -3 "$work/agent$i.log")"
    [[ -f "$shm/proc/bench-$i/proxy_cert.pem" ]] || die "agent $i has no proxy_cert.pem"
  done
  sleep 2
  "$bench" propagate "${common[@]}" --rounds "$rounds" --timeout $((2 * long_poll + 15)) \
    --watch "$shm/proc/bench-0" --watch "$shm/proc/bench-1" --watch "$shm/proc/bench-2"
  kill "${agent_pids[@]}" 2>/dev/null || true
  wait "${agent_pids[@]}" 2>/dev/null || true
  echo "agent process errors logged: $(cat "$work"/agent?.log | grep -c -i -E 'retrying|error' || true)"
fi

# --- 1b: N in-process agents ---------------------------------------------------------------
if have inproc && ((n_inproc > 0)); then
  echo
  echo "== propagation, $n_inproc in-process agents (agent::Run threads, on_applied), $rounds rounds"
  "$bench" enroll "${common[@]}" --n "$n_inproc" --first 1000000 --base "$shm/inproc" \
    --threads 4 | sed 's/^/inproc_/'
  "$bench" propagate "${common[@]}" --n "$n_inproc" --first 1000000 --base "$shm/inproc" \
    --rounds "$rounds" --long-poll "$long_poll" --timeout $((2 * long_poll + 15))
  rm -rf "$shm/inproc"
fi

# --- 2: scale ------------------------------------------------------------------------------
if have scale && ((n_scale > 0)); then
  echo
  echo "== scale: $n_scale light long-poll clients (node certificates, mutual TLS), idle ${idle} s"
  "$bench" enroll "${common[@]}" --n "$n_scale" --first 2000000 --base "$shm/scale" \
    --threads 4 | sed 's/^/scale_/'
  stop_serve
  start_serve
  sleep 2
  echo "scale_serve_idle_rss_no_clients_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$serve_pid/status")"
  "$bench" scale "${common[@]}" --n "$n_scale" --first 2000000 --base "$shm/scale" \
    --serve-pid "$serve_pid" --idle-seconds "$idle" --long-poll "$long_poll" \
    --rounds "$scale_rounds" --timeout $((2 * long_poll + 30))
fi
echo
echo "agent: load average at the end $(loadavg); serve log lines $(wc -l <"$work/serve.log")"
