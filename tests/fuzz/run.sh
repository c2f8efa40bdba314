#!/usr/bin/env bash
# Runs libFuzzer targets built in BUILD (make fuzz): each for SECONDS with its seed corpus
# tests/fuzz/corpus/<name>/ (read only) and a working corpus BUILD/fuzz-corpus/<name>/ (where new
# inputs go, kept between runs). A crash, a leak or a timeout leaves its input in
# BUILD/fuzz-artifacts/<name>/ and fails the run. Prints one line per target: executions, exec/s,
# corpus size.
#
#   tests/fuzz/run.sh BUILD SECONDS NAME...     (JOBS=N runs N targets at once; default 1)
set -u
build=$1 seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
jobs=${JOBS:-1}
failed=()

run_one() {
  local name=$1
  local bin=$build/tests/fuzz/fuzz_$name corpus=$build/fuzz-corpus/$name artifacts=$build/fuzz-artifacts/$name
  mkdir -p "$corpus" "$artifacts"
  local dict=()
  case $name in
    agent_state | api_body) dict=(-dict="$here/json.dict") ;;
  esac
  # -timeout: one input taking longer is a finding (FUZZ_TIMEOUT; OpenSSL 3's key decoders take
  # ~0.4 s an input under ASan, more on a loaded machine); -rss_limit_mb: so is more memory.
  "$bin" -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-30}" -rss_limit_mb=2560 -print_final_stats=1 \
    "${dict[@]}" -artifact_prefix="$artifacts/" "$corpus" "$here/corpus/$name" >"$build/fuzz-$name.log" 2>&1
  local rc=$?
  local execs eps units
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/fuzz-$name.log")
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$build/fuzz-$name.log")
  units=$(find "$corpus" -type f | wc -l)
  printf '%-14s rc=%d  %s execs  %s exec/s  corpus %s  (log %s)\n' "$name" "$rc" "${execs:-?}" \
    "${eps:-?}" "$units" "$build/fuzz-$name.log"
  return $rc
}

running=0
for name in "$@"; do
  ( run_one "$name" ) &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed+=("?")
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed+=("?")
  running=$((running - 1))
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) found a problem: see $build/fuzz-artifacts/ and the logs" >&2
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a finding"
