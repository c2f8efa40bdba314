#!/usr/bin/env bash
# `clustertls serve` (SQLite) when its data directory cannot be written (issue 16); the data
# directory lives on a small tmpfs mounted for the test (needs root, as test_agent.sh).
#   - disk full under load (8 signing clients, bench/sign_load): signing answers 503
#     `unavailable` with `Retry-After: 1` (never a 500), the server log names the cause
#     ("database or disk is full"), reads (/health, the inventory,
#     OCSP) go on answering; once space returns, signing answers 201 again without a restart;
#     nothing half-written: SQLite's integrity_check, `audit verify --data-dir`, every certificate
#     a client received in the inventory with its cert.sign entry, no serial twice; serve stops
#     and starts again on the full disk.
#   - a read-only data directory (the tmpfs remounted ro while serve is stopped; Linux refuses to
#     remount a file system read-only while serve holds its database open for writing): serve
#     refuses to start, exit 1, one line naming the file and "Read-only file system"; remounted
#     read-write, it starts and signs, and the store is intact.
#   bash test_fault_disk.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=disk.example.com
API_HOST=$FQDN
trap 'kill_groups; _kill_registered; sleep 0.3; [ -f "$TMP/.mounts" ] && while read -r m; do umount -l "$m" 2>/dev/null; done <"$TMP/.mounts"; _cleanup' EXIT

# small_fs DIR SIZE: a tmpfs of SIZE mounted at DIR (unmounted on exit).
small_fs() {
  mkdir -p "$1"
  mount -t tmpfs -o "size=$2" tmpfs "$1" 2>"$ERR" || fail "cannot mount a tmpfs (needs root): $(cat "$ERR")"
  echo "$1" >>"$TMP/.mounts"
}

# fill DIR: a file that takes all but about 64 KiB of DIR's file system.
fill() {
  local avail
  avail=$(df -k --output=avail "$1" | tail -n1 | tr -d ' ')
  dd if=/dev/zero of="$1/filler" bs=1k count=$((avail - 64)) >/dev/null 2>&1
  note "disk filled: $(df -k --output=avail "$1" | tail -n1 | tr -d ' ') KiB left"
}

# sign_one WHAT: POST /v1/ca/sign of $TMP/bodies.jsonl's first body as admin (status in
# HTTP_STATUS).
sign_one() {
  head -n1 "$TMP/bodies.jsonl" >"$TMP/one.json"
  api POST /v1/ca/sign "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/one.json"
}

disk_full() {
  need_sign_load
  command -v sqlite3 >/dev/null || fail "the sqlite3 CLI is needed (Debian package sqlite3)"
  local mnt=$TMP/small d=$TMP/small/data
  small_fs "$mnt" 24m
  serve_init "$d" "$FQDN"
  start_serve "$d" "$TMP/serve.full.log"
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
  api_token
  sign_bodies "$TMP/bodies.jsonl" 4
  : >"$TMP/client.serials"
  api_sign "victim.$FQDN" client
  cp "$TMP/victim.$FQDN.crt" "$TMP/victim.pem"
  fill "$mnt"
  # Load until the disk is full and well past it.
  timeout 100 "$SIGN_LOAD" --url "https://127.0.0.1:$SERVE_PORT/v1/ca/sign" --tls-name "$FQDN" \
    --cafile "$API_CA.chain" --auth "Bearer $TOKEN" --bodies "$TMP/bodies.jsonl" --concurrency 8 \
    --requests 3000 --warmup 0 --expect-status 201 --timeout-ms 15000 \
    --save-serials "$TMP/client.serials" --json >"$TMP/load.json" 2>&1
  local load
  load=$(cat "$TMP/load.json")
  jq -e . >/dev/null <<<"$load" || fail "sign_load printed no JSON summary: $load"
  note "under a full disk: $(jq -r .ok <<<"$load") signed, errors $(jq -c .error_kinds <<<"$load")"
  jq -e '.error_kinds | keys - ["status_503"] | length == 0' >/dev/null <<<"$load" ||
    fail "errors other than 503 on a full disk: $(jq -c .error_kinds <<<"$load") ($(jq -r .first_error_body <<<"$load"))"
  jq -e '.error_kinds.status_503 > 0' >/dev/null <<<"$load" || fail "the disk never filled up: $load"
  sign_one
  expect_error 503 '^unavailable: the store is busy, unreachable or full' "POST /v1/ca/sign on a full disk"
  grep -qi '^Retry-After: 1' "$HDRS" || fail "503 without Retry-After: 1: $(cat "$HDRS")"
  assert_grep 'database or disk is full' "$TMP/serve.full.log"
  # Reads go on.
  api GET /health
  expect_status 200 "GET /health on a full disk"
  api GET '/v1/certificates?limit=3' "${ADMIN[@]}"
  expect_status 200 "GET /v1/certificates on a full disk"
  split_pem "$API_CA.chain" "$TMP/chain"
  timeout 30 openssl ocsp -issuer "$TMP/chain0.pem" -cert "$TMP/victim.pem" \
    -url "http://127.0.0.1:$(sed -n 's|^.*public listener http://127\.0\.0\.1:\([0-9]*\).*$|\1|p' "$TMP/serve.full.log" | head -n1)/ocsp" \
    -CAfile "$API_CA.chain" >"$OUT" 2>&1
  grep -q "victim.pem: good" "$OUT" || fail "OCSP on a full disk: $(cat "$OUT")"
  # A revocation is a small write that may still fit in the WAL's pages: 200, or 503 with
  # nothing changed (checked once space returns).
  api POST "/v1/certificates/$SERIAL/revoke" "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"reason":"keyCompromise"}'
  local first=$HTTP_STATUS
  case $first in
    200) note "revoke on a full disk: 200 (it fitted)" ;;
    503) expect_error 503 '^unavailable' "revoke on a full disk" ;;
    *) fail "revoke on a full disk answered $first: $(head -c 300 "$BODY")" ;;
  esac
  # Space returns: the next request succeeds, no restart.
  rm -f "$mnt/filler"
  sign_one
  expect_status 201 "POST /v1/ca/sign once space returned"
  jbody .serial | tr 'a-f' 'A-F' >>"$TMP/client.serials"
  api POST "/v1/certificates/$SERIAL/revoke" "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"reason":"keyCompromise"}'
  expect_status 200 "revoke once space returned"
  local want=true
  [ "$first" = 200 ] && want=false
  assert_eq "$(jbody .newly_revoked)" "$want" "newly_revoked after the revocation on a full disk (answered $first)"
  # Nothing half-written.
  grep -E '^[0-9A-Fa-f]{2,64}$' "$TMP/client.serials" | tr 'a-f' 'A-F' >"$TMP/client.ok"
  inventory_serials "$SERVE_PORT" "$TMP/inventory"
  audit_sign_targets "$SERVE_PORT" "$TMP/audit"
  check_received "$TMP/client.ok" "$TMP/inventory" "$TMP/audit"
  note "$(wc -l <"$TMP/client.ok") certificates received, inventory $(wc -l <"$TMP/inventory"), $AUDIT_ENTRIES audit entries"
  # Full again, serve stops (its last checkpoint and head may fail: logged) and starts again.
  fill "$mnt"
  stop_serve "$SERVE_PID"
  note "serve exit status after SIGTERM on a full disk: $SERVE_RC"
  rm -f "$mnt/filler"
  assert_eq "$(timeout 60 sqlite3 "$d/clustertls.db" 'PRAGMA integrity_check')" ok "integrity_check after the full disk"
  run ctls audit verify --data-dir "$d"
  out_has '^audit chain intact: [0-9]+ entries'
  start_serve "$d" "$TMP/serve.full2.log"
  sign_one
  expect_status 201 "POST /v1/ca/sign after a restart"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

read_only() {
  command -v sqlite3 >/dev/null || fail "the sqlite3 CLI is needed (Debian package sqlite3)"
  local mnt=$TMP/ro d=$TMP/ro/data
  small_fs "$mnt" 16m
  serve_init "$d" "$FQDN"
  start_serve "$d" "$TMP/serve.ro.log"
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
  sign_bodies "$TMP/bodies.jsonl" 1
  sign_one
  expect_status 201 "POST /v1/ca/sign before"
  # Linux refuses a read-only remount while serve writes to the file system.
  if mount -o remount,ro "$mnt" 2>"$ERR"; then
    fail "the tmpfs could be remounted read-only under a running serve"
  fi
  note "remount ro under a running serve refused by Linux: $(head -c 120 "$ERR")"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
  local before
  before=$(sha "$d/clustertls.db")
  mount -o remount,ro "$mnt" 2>"$ERR" || fail "remount ro failed: $(cat "$ERR")"
  expect_fail 1 "clustertls\.db: .*Read-only file system" -- timeout 60 "$CTLS" serve --data-dir "$d" \
    --listen 127.0.0.1:0 --public-listen 127.0.0.1:0
  assert_eq "$(wc -l <"$ERR")" 1 "lines of serve's error on a read-only data directory"
  note "serve on a read-only data directory: $(cat "$ERR")"
  mount -o remount,rw "$mnt" 2>"$ERR" || fail "remount rw failed: $(cat "$ERR")"
  assert_eq "$(sha "$d/clustertls.db")" "$before" "the database after the refused start"
  start_serve "$d" "$TMP/serve.ro2.log"
  sign_one
  expect_status 201 "POST /v1/ca/sign after the remount rw"
  stop_serve "$SERVE_PID"
  assert_eq "$(timeout 60 sqlite3 "$d/clustertls.db" 'PRAGMA integrity_check')" ok "integrity_check"
  run ctls audit verify --data-dir "$d"
  out_has '^audit chain intact: [0-9]+ entries'
}

section "disk full under load: 503 with Retry-After (never 500), reads go on, recovery when space returns, nothing half-written" disk_full
section "read-only data directory: serve refuses to start naming the file and the cause; read-write again, it serves" read_only
finish
