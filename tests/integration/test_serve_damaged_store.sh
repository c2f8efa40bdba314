#!/usr/bin/env bash
# `clustertls serve` on a damaged SQLite file (finding 5 of the attack on serve: 2,000 random
# bytes written into the middle of clustertls.db went unnoticed, serve kept signing, and
# GET /v1/audit answered 400 parse_error naming the file).
#   - start-up: serve (and every command that opens the store) refuses a file that SQLite's
#     PRAGMA quick_check finds damaged, in one line that names the file, quick_check's finding
#     and the recovery steps; the documented recovery (sqlite3 .recover, or .dump where that
#     does not work, as on Debian 12) brings serve back and `audit verify` checks the chain.
#   - run time: a stored policy document that does not parse, then the audit table damaged
#     under a running serve: GET /v1/cluster/policy, GET /v1/audit and signing answer 500 with
#     the generic message (the file and SQLite's words only in the server log), and /health and
#     the other routes go on answering.
# The damage is deterministic: seeded pseudo-random bytes over whole pages that the sqlite3
# CLI's dbstat names (so it lands on a B-tree page, which quick_check checks).
#   bash test_serve_damaged_store.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=damaged.example.com
API_HOST=$FQDN

command -v sqlite3 >/dev/null || {
  echo "FAIL: the sqlite3 CLI is needed (Debian package sqlite3)" >&2
  exit 1
}

# serve_up DIR LOG: start_serve, SERVE_LOG, and the CA root for curl.
serve_up() {
  start_serve "$1" "$2"
  SERVE_LOG=$2
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
}

# damage_pages DB FIRST_PAGE COUNT SEED: COUNT pages of seeded pseudo-random bytes over DB from
# page FIRST_PAGE (1-based), in place.
damage_pages() {
  timeout 20 python3 - "$@" <<'EOF' || fail "python3 could not write into $1"
import random, sys
path, first, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with open(path, "r+b") as f:
    header = f.read(100)
    page = int.from_bytes(header[16:18], "big")
    page = 65536 if page == 1 else page
    f.seek((first - 1) * page)
    f.write(random.Random(seed).randbytes(page * count))
EOF
}

# not_leaking WHAT: the last response body names no file, no SQL and no SQLite message.
not_leaking() {
  local pattern
  for pattern in "$TMP" clustertls.db sqlite SELECT INSERT malformed 'disk image'; do
    if grep -qi -- "$pattern" "$BODY"; then
      fail "$1: the response shows '$pattern': $(head -c 300 "$BODY")"
    fi
  done
}

startup() {
  local d=$TMP/startup db=$TMP/startup/clustertls.db i
  serve_init "$d" "$FQDN"
  serve_up "$d" "$TMP/serve.startup.log"
  # Enough certificates that the table spans several pages.
  for i in $(seq 1 24); do
    api_sign "host$i.$FQDN" server
  done
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
  # The last connection checkpointed the WAL into the file.
  [ ! -s "$db-wal" ] || fail "the WAL still holds data after serve stopped"
  local pages
  pages=$(timeout 20 sqlite3 "$db" "SELECT pageno FROM dbstat WHERE name = 'issued_certs' ORDER BY pageno")
  local n
  n=$(echo "$pages" | wc -l)
  [ "$n" -ge 4 ] || fail "issued_certs spans only $n pages"
  # Two pages in the middle of the table (the attack's bytes landed in the middle of the
  # file); the audit table stays whole, so that its chain is intact after the recovery.
  local page1 page2
  page1=$(echo "$pages" | sed -n "$((n / 2))p")
  page2=$(echo "$pages" | sed -n "$((n / 2 + 1))p")
  damage_pages "$db" "$page1" 1 5
  damage_pages "$db" "$page2" 1 6
  note "pages $page1 and $page2 of $(($(stat -c %s "$db") / 4096)) overwritten"
  local before
  before=$(sha "$db")

  expect_fail 1 'damaged' -- timeout 60 "$CTLS" serve --data-dir "$d" --listen 127.0.0.1:0 \
    --public-listen 127.0.0.1:0
  err_has "$db"
  err_has "PRAGMA quick_check: "
  # quick_check's own words: "Page N: btreeInitPage() returns error code 11" (SQLITE_CORRUPT).
  err_has "Page $page1: btreeInitPage() returns error code 11"
  err_has "Page $page2: btreeInitPage() returns error code 11"
  err_has "stop every clustertls serve"
  err_has "keep a copy"
  err_has "backup"
  err_has ".recover | sqlite3 recovered.db"
  err_has "clustertls audit verify --data-dir"
  assert_eq "$(sha "$db")" "$before" "the damaged file after the refused start"
  # Every command that opens the store refuses it the same way.
  expect_fail 1 'damaged.*quick_check' -- ctls audit verify --data-dir "$d"

  # The documented recovery: keep a copy, salvage into a new file with sqlite3's .recover where
  # it works (its library has sqlite_dbpage), else .dump, and put it in place.
  cp "$db" "$TMP/damaged.copy.db"
  if timeout 20 sqlite3 :memory: 'SELECT count(*) FROM sqlite_dbpage' >/dev/null 2>&1; then
    note "salvaging with sqlite3 .recover"
    timeout 60 sqlite3 "$db" .recover 2>"$TMP/recover.err" |
      timeout 60 sqlite3 "$TMP/recovered.db" || fail "sqlite3 .recover failed: $(head -c 300 "$TMP/recover.err")"
  else
    note "salvaging with sqlite3 .dump (this sqlite3 has no working .recover)"
    timeout 60 sqlite3 "$db" .dump 2>"$TMP/recover.err" |
      sed 's/^ROLLBACK; -- due to errors$/COMMIT;/' |
      timeout 60 sqlite3 "$TMP/recovered.db" || fail "sqlite3 .dump | sqlite3 failed: $(head -c 300 "$TMP/recover.err")"
  fi
  rm -f "$db-wal" "$db-shm"
  mv "$TMP/recovered.db" "$db"
  chmod 600 "$db"
  assert_eq "$(timeout 20 sqlite3 "$db" 'PRAGMA quick_check')" ok "quick_check of the salvaged file"
  run ctls audit verify --data-dir "$d"
  out_has '^audit chain intact: [0-9]+ entries'
  note "after the salvage: $(cat "$OUT")"
  serve_up "$d" "$TMP/serve.recovered.log"
  api GET /health
  expect_status 200 "GET /health on the recovered store"
  api GET '/v1/certificates?limit=1000' "${ADMIN[@]}"
  expect_status 200 "GET /v1/certificates on the recovered store"
  note "$(jbody '.certificates | length') certificates listed after the recovery"
  api_sign "after.$FQDN" server
  stop_serve "$SERVE_PID"
}

runtime() {
  local d=$TMP/runtime db=$TMP/runtime/clustertls.db
  serve_init "$d" "$FQDN"
  serve_up "$d" "$TMP/serve.runtime.log"
  api_sign "one.$FQDN" server
  api_sign "two.$FQDN" server
  api GET /v1/audit "${ADMIN[@]}"
  expect_status 200 "GET /v1/audit before the damage"
  api GET '/v1/certificates?limit=1000' "${ADMIN[@]}"
  local certs
  certs=$(jbody '.certificates | length')
  # A stored value that does not parse (the TLS policy document, edited with sqlite3) is a store
  # failure too: 500, not the 400 parse_error that blamed the client.
  local policy
  policy=$(timeout 20 sqlite3 "$db" 'SELECT document FROM policy WHERE id = 1')
  timeout 20 sqlite3 "$db" "UPDATE policy SET document = '{\"min_control_tls_version\":' WHERE id = 1" ||
    fail "sqlite3 UPDATE policy failed"
  api GET /v1/cluster/policy "${ADMIN[@]}"
  expect_error 500 '^internal: internal error' "GET /v1/cluster/policy with a stored document that does not parse"
  not_leaking "GET /v1/cluster/policy"
  assert_grep 'internal error: stored TLS policy version [0-9]+ does not parse' "$SERVE_LOG"
  timeout 20 sqlite3 "$db" "UPDATE policy SET document = '$policy' WHERE id = 1" ||
    fail "sqlite3 UPDATE policy (restore) failed"
  api GET /v1/cluster/policy "${ADMIN[@]}"
  expect_status 200 "GET /v1/cluster/policy with the document restored"
  # Another process moves the WAL into the file (serve keeps running), then the audit table's
  # first page is overwritten: damage that serve's quick_check at start could not have seen.
  local ckpt
  ckpt=$(timeout 20 sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE)')
  assert_eq "$ckpt" "0|0|0" "sqlite3 wal_checkpoint (busy|log|checkpointed)"
  local root
  root=$(timeout 20 sqlite3 "$db" "SELECT rootpage FROM sqlite_master WHERE name = 'audit_log'")
  damage_pages "$db" "$root" 1 6

  api GET /v1/audit "${ADMIN[@]}"
  expect_error 500 '^internal: internal error' "GET /v1/audit on a damaged audit table"
  not_leaking "GET /v1/audit"
  # Signing writes the certificate and its audit entry in one transaction: neither is kept.
  make_csr "three.$FQDN"
  jq -n --rawfile c "$TMP/three.$FQDN.csr" '{csr:$c,profile:"server",days:30}' >"$TMP/sign.json"
  api POST /v1/ca/sign "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/sign.json"
  expect_error 500 '^internal: internal error' "POST /v1/ca/sign with a damaged audit table"
  not_leaking "POST /v1/ca/sign"
  # The detail is in the server log.
  assert_grep "internal error: sqlite $db: .*database disk image is malformed" "$SERVE_LOG"
  assert_grep 'A damaged SQLite store' "$SERVE_LOG"
  # The rest goes on answering.
  api GET /health
  expect_status 200 "GET /health after the store failures"
  api GET /v1/cluster/policy "${ADMIN[@]}"
  expect_status 200 "GET /v1/cluster/policy after the store failures"
  api GET '/v1/certificates?limit=1000' "${ADMIN[@]}"
  expect_status 200 "GET /v1/certificates after the store failures"
  assert_eq "$(jbody '.certificates | length')" "$certs" "certificates after the refused sign"
  api GET /v1/audit "${ADMIN[@]}"
  expect_status 500 "GET /v1/audit a second time"
  kill -0 "$SERVE_PID" 2>/dev/null || fail "serve exited after the store failures"
  stop_serve "$SERVE_PID"
  # The next start sees the damage.
  expect_fail 1 'damaged.*quick_check.*\.recover' -- timeout 60 "$CTLS" serve --data-dir "$d" \
    --listen 127.0.0.1:0 --public-listen 127.0.0.1:0
}

section "start-up: a damaged file is refused (quick_check's finding, recovery steps); the salvage brings it back" startup
section "run time: a policy that does not parse, a damaged audit table: 500 without the file or SQL; other routes answer" runtime
finish
