#!/usr/bin/env bash
# The signed head of the audit log (item 8 of the issue: deleting the last audit rows left a
# chain that still verified). `serve` keeps DIR/audit-head.json (the last entry's seq and hash,
# signed by an audit-signer certificate of the cluster CA) and answers it on GET
# /v1/audit/head:
#   - the head reaches the last entry within a poll interval; openssl verifies its signer's
#     chain (`openssl verify`), its purpose (`openssl x509 -ext`) and its signature over the
#     domain-separated message (`openssl dgst -verify`);
#   - rows deleted from the tail with the `sqlite3` CLI while serve is stopped: `audit verify
#     --data-dir` exits 1 with one line naming the truncation, and serve refuses to start (the
#     head file is left as it is); an untouched log verifies;
#   - an edited head file (seq changed) is refused as a bad signature; a head forged with the
#     openssl CLI (another CA's audit signer, a valid signature) and corrupted files (cut short,
#     empty, random bytes, a directory) are refused by audit verify and serve, naming the file;
#   - 32 concurrent signers: the head file, sampled, never names an entry the database does not
#     hold; after SIGKILL mid-burst it is at or behind the committed rows, audit verify accepts
#     it, and serve starts again and catches up;
#   - a remote verifier: `audit head --out FILE`, rows deleted and the head file removed (an
#     intruder with the whole host), serve restarted, `audit verify --expect-head FILE` over the
#     API exits 1 naming the truncation.
#   bash test_serve_audit_head.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=head.example.com
API_HOST=$FQDN

command -v sqlite3 >/dev/null || {
  echo "FAIL: the sqlite3 CLI is needed (Debian package sqlite3)" >&2
  exit 1
}

# serve_up DIR LOG: start_serve, and the CA root for curl.
serve_up() {
  start_serve "$1" "$2"
  API_CA=$TMP/root.pem
  fetch_ca_root "$SERVE_PORT" "$FQDN" "$API_CA"
}

# last_seq DB: the highest seq of the audit log.
last_seq() { timeout 20 sqlite3 "$1" 'SELECT max(seq) FROM audit_log'; }

# head_seq FILE: the seq of a head file (jq), empty when there is none.
head_seq() { jq -r '.seq // empty' "$1" 2>/dev/null; }

# wait_head FILE DB: the head file reaches the log's last entry (bounded: 20 s, poll 2 s).
wait_head() {
  local deadline=$((SECONDS + 20)) want
  while [ $SECONDS -le $deadline ]; do
    want=$(last_seq "$2")
    [ -n "$want" ] && [ "$(head_seq "$1")" = "$want" ] && return 0
    sleep 0.2
  done
  fail "$1 did not reach entry $(last_seq "$2") within 20 s (it names $(head_seq "$1"))"
}

# verify_fails ARGS...: `clustertls audit verify ARGS` exits 1 with one line on stdout (in $OUT)
# and nothing on stderr: a finding about the log, not an error.
verify_fails() {
  ctls audit verify "$@" >"$OUT" 2>"$ERR"
  local rc=$?
  assert_eq "$rc" 1 "exit status of audit verify $* (stdout: $(cat "$OUT"); stderr: $(cat "$ERR"))"
  assert_eq "$(wc -l <"$OUT")" 1 "lines printed by audit verify $*: $(cat "$OUT")"
  assert_eq "$(wc -c <"$ERR")" 0 "bytes on stderr of audit verify $*"
  note "audit verify: $(cat "$OUT")"
}

# login_as_admin CONFIG: `clustertls login` to the running serve, client config in CONFIG.
login_as_admin() {
  printf '%s\n' "$ADMIN_PW" >"$TMP/admin.pw"
  run ctls login --server "https://127.0.0.1:$SERVE_PORT" --ca-fingerprint "$CA_FP" --user admin \
    --password-file "$TMP/admin.pw" --client-config "$1"
}

# A few changes (signatures, a revocation, a user), so that the log has entries of several kinds.
changes() {
  local i
  for i in 1 2 3; do
    api_sign "host$i.$FQDN" server
  done
  api POST "/v1/certificates/$SERIAL/revoke" "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"reason":"superseded"}'
  expect_status 200 "revoke host3"
  api POST /v1/users "${ADMIN[@]}" -H 'Content-Type: application/json' \
    --data-binary '{"name":"auditor","role":"reader","password":"auditor-password-1"}'
  expect_status 201 "POST /v1/users auditor"
}

head_route() {
  local d=$TMP/route db=$TMP/route/clustertls.db
  serve_init "$d" "$FQDN"
  serve_up "$d" "$TMP/serve.route.log"
  changes
  wait_head "$d/audit-head.json" "$db"
  assert_mode 644 "$d/audit-head.json"
  # GET /v1/audit/head: a reader may read it; it is the head the file holds.
  api GET /v1/audit/head -u 'auditor:auditor-password-1'
  expect_status 200 "GET /v1/audit/head as a reader"
  jq -S . "$BODY" >"$TMP/route.head.json"
  jq -S . "$d/audit-head.json" >"$TMP/route.file.json"
  assert_eq "$(sha "$TMP/route.head.json")" "$(sha "$TMP/route.file.json")" \
    "GET /v1/audit/head vs $d/audit-head.json"
  assert_eq "$(jbody .format)" clustertls-audit-head-v1 "format"
  local seq hash time
  seq=$(jbody .seq)
  hash=$(jbody .hash)
  time=$(jbody .time)
  assert_eq "$seq" "$(last_seq "$db")" "seq of the head vs max(seq) of audit_log"
  assert_eq "$hash" "$(timeout 20 sqlite3 "$db" "SELECT hash FROM audit_log WHERE seq = $seq")" \
    "hash of the head vs the entry's hash"
  api GET /v1/audit/head
  expect_error 401 unauthorized "GET /v1/audit/head without credentials"

  # openssl: the signer chains to the root init printed, at the head's time; it has the audit
  # purpose only; its key signed "clustertls audit head v1\0seq=N\0hash=H\0time=T".
  jq -r .chain "$d/audit-head.json" >"$TMP/head.chain.pem"
  split_pem "$TMP/head.chain.pem" "$TMP/head.c"
  assert_eq "$(cert_count "$TMP/head.chain.pem")" 3 "certificates in the head's chain"
  assert_eq "$(file_fp "$TMP/head.c2.pem")" "$CA_FP" "the chain's root is the cluster root"
  assert_eq "$(fp_colon "$TMP/head.c0.pem")" "$(jq -r .signer_fingerprint_sha256 "$d/audit-head.json")" \
    "signer_fingerprint_sha256"
  local t
  t=$(epoch_of "$time")
  ossl_verify -attime "$t" -CAfile "$API_CA" -untrusted "$TMP/head.c1.pem" "$TMP/head.c0.pem"
  assert_eq "$(cn_of "$TMP/head.c0.pem")" "audit.$FQDN" "CN of the audit signer"
  ext "$TMP/head.c0.pem" extendedKeyUsage >"$TMP/head.eku"
  assert_grep '2\.25\.82843726607196379473299414575308803707' "$TMP/head.eku"
  assert_not_grep 'TLS Web|OCSP|Code Signing' "$TMP/head.eku"
  ext "$TMP/head.c0.pem" keyUsage >"$TMP/head.ku"
  assert_grep 'Digital Signature' "$TMP/head.ku"
  printf 'clustertls audit head v1\0seq=%s\0hash=%s\0time=%s' "$seq" "$hash" "$t" >"$TMP/head.msg"
  jq -r .signature "$d/audit-head.json" | base64 -d >"$TMP/head.sig" || fail "signature is not base64"
  pubkey_of_cert "$TMP/head.c0.pem" >"$TMP/head.pub"
  timeout 20 openssl dgst -sha256 -verify "$TMP/head.pub" -signature "$TMP/head.sig" "$TMP/head.msg" \
    >"$OUT" 2>&1 || fail "openssl dgst -verify refuses the head's signature: $(cat "$OUT")"
  note "openssl: $(cat "$OUT")"
  printf 'clustertls audit head v1\0seq=%s\0hash=%s\0time=%s' "$((seq - 1))" "$hash" "$t" \
    >"$TMP/head.msg2"
  if timeout 20 openssl dgst -sha256 -verify "$TMP/head.pub" -signature "$TMP/head.sig" \
    "$TMP/head.msg2" >/dev/null 2>&1; then
    fail "openssl accepts the signature for another seq"
  fi
  # The signer is in the inventory and its issuance in the log, like the OCSP signer's.
  api GET '/v1/certificates?profile=audit-signer' "${ADMIN[@]}"
  expect_status 200 "GET /v1/certificates?profile=audit-signer"
  assert_eq "$(jbody '.certificates[].serial' | tr 'a-f' 'A-F')" "$(serial_hex "$TMP/head.c0.pem")" \
    "the audit signer in the inventory"

  # The head follows the log (the signature below is a new last entry).
  api_sign "late.$FQDN" server
  wait_head "$d/audit-head.json" "$db"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
  assert_eq "$(head_seq "$d/audit-head.json")" "$(last_seq "$db")" "head after shutdown"
}

truncated_tail() {
  local d=$TMP/cut db=$TMP/cut/clustertls.db
  serve_init "$d" "$FQDN"
  serve_up "$d" "$TMP/serve.cut.log"
  changes
  wait_head "$d/audit-head.json" "$db"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
  local head last hash signed
  head=$(head_seq "$d/audit-head.json")
  hash=$(jq -r .hash "$d/audit-head.json")
  signed=$(jq -r .time "$d/audit-head.json")
  last=$(last_seq "$db")
  assert_eq "$head" "$last" "head file vs max(seq) after shutdown"
  # Untouched: intact, up to the signed head.
  run ctls audit verify --data-dir "$d"
  assert_eq "$(cat "$OUT")" "audit chain intact: $last entries (signed head at entry $head)" \
    "audit verify of the untouched log"
  cp -a "$d" "$TMP/cut.pristine"

  # The issue's reproduction: the last rows deleted with the sqlite3 CLI.
  local keep=$((last - 4))
  timeout 20 sqlite3 "$db" "DELETE FROM audit_log WHERE seq > $keep" || fail "sqlite3 DELETE failed"
  assert_eq "$(last_seq "$db")" "$keep" "max(seq) after the DELETE"
  verify_fails --data-dir "$d"
  assert_eq "$(cat "$OUT")" \
    "audit log truncated: the signed head (entry $head, hash $hash, signed at $signed) is past the log's last entry $keep" \
    "audit verify --data-dir after the DELETE"
  # serve refuses to start on it, naming the file, and leaves the evidence as it was.
  local before
  before=$(sha "$d/audit-head.json")
  expect_fail 1 'audit log truncated' -- timeout 60 "$CTLS" serve --data-dir "$d" \
    --listen 127.0.0.1:0 --public-listen 127.0.0.1:0
  err_has "$d/audit-head.json: audit log truncated: the signed head (entry $head"
  err_has "clustertls audit verify --data-dir"
  assert_eq "$(sha "$d/audit-head.json")" "$before" "the head file after the refused start"
  assert_eq "$(last_seq "$db")" "$keep" "nothing appended by the refused start"

  # As many rows appended again as were deleted (a recomputed chain): another entry at the
  # head's seq.
  rm -rf "$d" && cp -a "$TMP/cut.pristine" "$d"
  timeout 20 sqlite3 "$db" "DELETE FROM audit_log WHERE seq > $((last - 1))" || fail "sqlite3 DELETE failed"
  mv "$d/audit-head.json" "$TMP/cut.kept-head.json"
  serve_up "$d" "$TMP/serve.cut2.log"  # appends its signers' cert.sign entries
  stop_serve "$SERVE_PID"
  [ "$(last_seq "$db")" -ge "$last" ] || fail "the log did not grow back past entry $last"
  cp "$TMP/cut.kept-head.json" "$d/audit-head.json"
  verify_fails --data-dir "$d"
  grep -Eq "^audit log truncated or rewritten: entry $head has hash [0-9a-f]{64}, not that of the signed head \(entry $head, hash $hash, signed at $signed\)\$" \
    "$OUT" || fail "audit verify of the rewritten tail: $(cat "$OUT")"

  # An edited head file (its seq lowered to match the log): a bad signature, named.
  rm -rf "$d" && cp -a "$TMP/cut.pristine" "$d"
  timeout 20 sqlite3 "$db" "DELETE FROM audit_log WHERE seq > $keep" || fail "sqlite3 DELETE failed"
  jq --argjson s "$keep" --arg h "$(timeout 20 sqlite3 "$db" "SELECT hash FROM audit_log WHERE seq = $keep")" \
    '.seq = $s | .hash = $h' "$TMP/cut.pristine/audit-head.json" >"$d/audit-head.json"
  expect_fail 1 "audit-head.json: the audit head's signature does not verify \(signer CN=audit\.$FQDN" \
    -- ctls audit verify --data-dir "$d"
  expect_fail 1 "signature does not verify" -- timeout 60 "$CTLS" serve --data-dir "$d" \
    --listen 127.0.0.1:0 --public-listen 127.0.0.1:0
  # Only its seq changed: refused the same way.
  jq '.seq = .seq - 1' "$TMP/cut.pristine/audit-head.json" >"$d/audit-head.json"
  expect_fail 1 "signature does not verify" -- ctls audit verify --data-dir "$d"

  # An older data directory without a head file: a note, not an error.
  rm -rf "$d" && cp -a "$TMP/cut.pristine" "$d"
  rm "$d/audit-head.json"
  run ctls audit verify --data-dir "$d"
  out_has "^note: .*audit-head\.json does not exist"
  out_has "^audit chain intact: $last entries\$"
}

# A head file that is not one serve wrote: refused by audit verify and by serve, naming the file.
# The forgery is made with the openssl CLI alone: another CA, an audit-signer certificate with
# the same private purpose, a valid signature over the message for the cut log's last entry.
forged_and_corrupted() {
  [ -d "$TMP/cut.pristine" ] || fail "needs the data directory of the previous section"
  local d=$TMP/forged db=$TMP/forged/clustertls.db
  rm -rf "$d" && cp -a "$TMP/cut.pristine" "$d"
  local last keep
  last=$(last_seq "$db")
  keep=$((last - 3))
  timeout 20 sqlite3 "$db" "DELETE FROM audit_log WHERE seq > $keep" || fail "sqlite3 DELETE failed"
  local f=$TMP/forge
  mkdir -p "$f"
  timeout 20 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -keyout "$f/ca.key" -out "$f/ca.pem" -subj "/CN=clustertls root CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    >/dev/null 2>&1 || fail "openssl req (forged CA) failed"
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$f/signer.key" -out "$f/signer.csr" -subj "/CN=audit.$FQDN" >/dev/null 2>&1 ||
    fail "openssl req (forged signer) failed"
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=2.25.82843726607196379473299414575308803707" "subjectAltName=DNS:audit.$FQDN" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid:always" \
    >"$f/signer.ext"
  timeout 20 openssl x509 -req -in "$f/signer.csr" -CA "$f/ca.pem" -CAkey "$f/ca.key" \
    -CAcreateserial -days 2 -extfile "$f/signer.ext" -out "$f/signer.pem" >/dev/null 2>&1 ||
    fail "openssl x509 -req (forged signer) failed"
  ossl_verify -CAfile "$f/ca.pem" "$f/signer.pem"
  local hash t
  hash=$(timeout 20 sqlite3 "$db" "SELECT hash FROM audit_log WHERE seq = $keep")
  t=$(date -u +%s)
  printf 'clustertls audit head v1\0seq=%s\0hash=%s\0time=%s' "$keep" "$hash" "$t" >"$f/msg"
  timeout 20 openssl dgst -sha256 -sign "$f/signer.key" -out "$f/sig" "$f/msg" ||
    fail "openssl dgst -sign failed"
  timeout 20 openssl dgst -sha256 -verify <(openssl x509 -in "$f/signer.pem" -noout -pubkey) \
    -signature "$f/sig" "$f/msg" >/dev/null || fail "the forged signature does not verify for openssl"
  cat "$f/signer.pem" "$f/ca.pem" >"$f/chain.pem"
  jq -n --argjson seq "$keep" --arg hash "$hash" --arg time "$(date -u -d "@$t" +%Y-%m-%dT%H:%M:%SZ)" \
    --arg sig "$(base64 -w0 "$f/sig")" --arg fp "$(fp_colon "$f/signer.pem")" \
    --rawfile chain "$f/chain.pem" \
    '{format:"clustertls-audit-head-v1",seq:$seq,hash:$hash,time:$time,signature:$sig,
      signer_fingerprint_sha256:$fp,chain:$chain}' >"$d/audit-head.json"
  expect_fail 1 "audit-head\.json: the audit head's signer certificate does not verify against the cluster CA" \
    -- ctls audit verify --data-dir "$d"
  err_has "$d/audit-head.json"
  expect_fail 1 "audit-head\.json: the audit head's signer certificate does not verify" \
    -- timeout 60 "$CTLS" serve --data-dir "$d" --listen 127.0.0.1:0 --public-listen 127.0.0.1:0
  # A genuine head of the cluster with the forged signer's chain swapped in: refused too.
  jq --rawfile chain "$f/chain.pem" --arg fp "$(fp_colon "$f/signer.pem")" \
    '.chain = $chain | .signer_fingerprint_sha256 = $fp' "$TMP/cut.pristine/audit-head.json" \
    >"$d/audit-head.json"
  expect_fail 1 "audit-head\.json: the audit head's signer certificate does not verify" \
    -- ctls audit verify --data-dir "$d"

  # Corrupted: cut short, empty, binary, not a file. Each one line naming the file.
  head -c 200 "$TMP/cut.pristine/audit-head.json" >"$d/audit-head.json"
  expect_fail 1 "audit-head\.json: audit head: not a JSON object" -- ctls audit verify --data-dir "$d"
  err_has "$d/audit-head.json"
  expect_fail 1 "audit-head\.json: audit head: not a JSON object" \
    -- timeout 60 "$CTLS" serve --data-dir "$d" --listen 127.0.0.1:0 --public-listen 127.0.0.1:0
  : >"$d/audit-head.json"
  expect_fail 1 "audit-head\.json: audit head: not a JSON object" -- ctls audit verify --data-dir "$d"
  head -c 512 /dev/urandom >"$d/audit-head.json"
  expect_fail 1 "audit-head\.json: audit head: not a JSON object" -- ctls audit verify --data-dir "$d"
  jq '.hash = "not hex"' "$TMP/cut.pristine/audit-head.json" >"$d/audit-head.json"
  expect_fail 1 "audit-head\.json: audit head: 'hash' must be 64 lower-case hex characters" \
    -- ctls audit verify --data-dir "$d"
  rm "$d/audit-head.json" && mkdir "$d/audit-head.json"
  expect_fail 1 "audit-head\.json: is a directory" -- ctls audit verify --data-dir "$d"
  expect_fail 1 "audit-head\.json: is a directory" \
    -- timeout 60 "$CTLS" serve --data-dir "$d" --listen 127.0.0.1:0 --public-listen 127.0.0.1:0
  assert_eq "$(last_seq "$db")" "$keep" "nothing appended by the refused starts"
}

# 32 clients sign at once while the head file is sampled: it never names an entry the database
# does not hold, or holds with another hash. Then serve is killed with SIGKILL in the middle of
# the burst (no shutdown hook runs): the head is still at or behind the committed rows (it is
# written only after they committed), audit verify --data-dir accepts it, and serve starts again.
burst_and_kill() {
  local d=$TMP/burst db=$TMP/burst/clustertls.db
  serve_init "$d" "$FQDN"
  serve_up "$d" "$TMP/serve.burst.log"
  wait_head "$d/audit-head.json" "$db"
  make_csr "burst.$FQDN"
  jq -n --rawfile c "$TMP/burst.$FQDN.csr" '{csr:$c,profile:"server",days:7}' >"$TMP/burst.json"
  mkdir -p "$TMP/burst-out"
  local w
  for w in $(seq 1 32); do
    spawn_group bash -c "for i in \$(seq 1 400); do
      code=\$(timeout 20 curl -s -o '$TMP/burst-out/$w.'\$i.json -w '%{http_code}' --cacert '$API_CA' \
        --resolve '$API_HOST:$SERVE_PORT:127.0.0.1' -u 'admin:$ADMIN_PW' \
        -H 'Content-Type: application/json' --data-binary @'$TMP/burst.json' \
        'https://$API_HOST:$SERVE_PORT/v1/ca/sign')
      [ \"\$code\" = 000 ] && break
      echo \"\$code\" >>'$TMP/burst-out/$w.codes'
    done"
  done
  # Sample the head (one read of the file, which is replaced atomically), then the database:
  # read after the head, the log can only be longer.
  local samples=0 moves=0 prev="" seq hash max at signed=0 deadline=$((SECONDS + 150))
  while [ $SECONDS -le $deadline ]; do
    read -r seq hash < <(jq -r '"\(.seq) \(.hash)"' "$d/audit-head.json") ||
      fail "the head file could not be read while serving"
    max=$(last_seq "$db")
    at=$(timeout 20 sqlite3 "$db" "SELECT hash FROM audit_log WHERE seq = $seq")
    [ "$seq" -le "$max" ] || fail "sample $samples: the head names entry $seq, the database ends at $max"
    [ "$at" = "$hash" ] || fail "sample $samples: the head's hash for entry $seq is not the database's ($at)"
    samples=$((samples + 1))
    [ "$seq" != "$prev" ] && [ -n "$prev" ] && moves=$((moves + 1))
    prev=$seq
    signed=$(cat "$TMP"/burst-out/*.codes 2>/dev/null | grep -c '^201$')
    [ "$moves" -ge 4 ] && [ "$signed" -ge 200 ] && break
    sleep 0.1
  done
  [ "$moves" -ge 4 ] || fail "the head moved $moves times in 150 s of signing ($signed signed)"
  # SIGKILL to serve itself (SERVE_PID is the timeout(1) wrapping it).
  local child
  child=$(ps -o pid= --ppid "$SERVE_PID" | tr -d ' ')
  [ -n "$child" ] || fail "no serve process under $SERVE_PID"
  kill -KILL "$child"
  wait "$SERVE_PID" 2>/dev/null
  local deadline2=$((SECONDS + 60))
  while group_running && [ $SECONDS -le $deadline2 ]; do
    sleep 0.2
  done
  kill_groups
  signed=$(cat "$TMP"/burst-out/*.codes 2>/dev/null | grep -c '^201$')
  note "$samples samples while $signed certificates were signed by 32 clients; the head moved $moves times; SIGKILL"

  read -r seq hash < <(jq -r '"\(.seq) \(.hash)"' "$d/audit-head.json") || fail "no head file after SIGKILL"
  max=$(last_seq "$db")
  [ "$seq" -le "$max" ] || fail "after SIGKILL the head names entry $seq, the database ends at $max"
  assert_eq "$(timeout 20 sqlite3 "$db" "SELECT hash FROM audit_log WHERE seq = $seq")" "$hash" \
    "hash of entry $seq after SIGKILL"
  note "after SIGKILL: head at entry $seq, the database at $max"
  # Every certificate a client received is committed, with its entry.
  local f s missing=0
  timeout 20 sqlite3 "$db" 'SELECT upper(serial) FROM issued_certs' | sort >"$TMP/burst.serials"
  for f in "$TMP"/burst-out/*.json; do
    s=$(jq -r '.serial // empty' "$f" 2>/dev/null) || continue
    [ -n "$s" ] || continue
    grep -qx "$(tr 'a-f' 'A-F' <<<"$s")" "$TMP/burst.serials" || missing=$((missing + 1))
  done
  assert_eq "$missing" 0 "returned certificates missing from the database after SIGKILL"
  run ctls audit verify --data-dir "$d"
  assert_eq "$(cat "$OUT")" "audit chain intact: $max entries (signed head at entry $seq)" \
    "audit verify --data-dir after SIGKILL"
  # serve starts on it (a head behind the log is what a crash leaves) and catches up.
  serve_up "$d" "$TMP/serve.burst2.log"
  wait_head "$d/audit-head.json" "$db"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
  run ctls audit verify --data-dir "$d"
  out_has "^audit chain intact: $(last_seq "$db") entries \(signed head at entry $(last_seq "$db")\)\$"
}

# A remote verifier keeps the head it saw; an intruder with the whole host (database and data
# directory) deletes the last rows and the head file and restarts serve: the recorded head shows
# what is gone.
remote_verifier() {
  local d=$TMP/remote db=$TMP/remote/clustertls.db cc=$TMP/remote-client.json
  serve_init "$d" "$FQDN"
  serve_up "$d" "$TMP/serve.remote.log"
  login_as_admin "$cc"
  changes
  wait_head "$d/audit-head.json" "$db"
  run ctls audit head --out "$TMP/recorded-head.json" --client-config "$cc"
  out_has "^signed head: entry [0-9]+, hash [0-9a-f]{64}, signed at .* written to $TMP/recorded-head.json\$"
  assert_mode 644 "$TMP/recorded-head.json"
  expect_fail 1 'exists' -- ctls audit head --out "$TMP/recorded-head.json" --client-config "$cc"
  local head hash
  head=$(head_seq "$TMP/recorded-head.json")
  hash=$(jq -r .hash "$TMP/recorded-head.json")
  run ctls audit verify --expect-head "$TMP/recorded-head.json" --client-config "$cc"
  out_has "^audit chain intact: [0-9]+ entries \(signed head at entry [0-9]+; head recorded in $TMP/recorded-head.json at entry $head\)\$"
  stop_serve "$SERVE_PID"

  timeout 20 sqlite3 "$db" "DELETE FROM audit_log WHERE seq > $((head - 5))" || fail "sqlite3 DELETE failed"
  rm "$d/audit-head.json"
  serve_up "$d" "$TMP/serve.remote2.log"
  login_as_admin "$cc"  # the new port (the login itself is a new entry: token.create)
  # The server's own head is fresh: the log verifies against it...
  local now_last
  run ctls audit verify --client-config "$cc"
  out_has '^audit chain intact: [0-9]+ entries \(signed head at entry [0-9]+\)$'
  now_last=$(last_seq "$db")
  [ "$now_last" -lt "$head" ] || fail "the restarted log reaches $now_last, past the recorded $head"
  # ...but not against the head recorded before.
  verify_fails --expect-head "$TMP/recorded-head.json" --client-config "$cc"
  grep -Eq "^audit log truncated: the signed head in $TMP/recorded-head.json \(entry $head, hash $hash, signed at [0-9T:Z-]+\) is past the log's last entry [0-9]+\$" \
    "$OUT" || fail "audit verify --expect-head: $(cat "$OUT")"
  # An edited recorded head is an error naming the file.
  jq '.seq = .seq - 10' "$TMP/recorded-head.json" >"$TMP/edited-head.json"
  expect_fail 1 "edited-head\.json: the audit head's signature does not verify" -- \
    ctls audit verify --expect-head "$TMP/edited-head.json" --client-config "$cc"
  stop_serve "$SERVE_PID"
  assert_eq "$SERVE_RC" 0 "serve exit status after SIGTERM"
}

section "GET /v1/audit/head follows the log; openssl verifies the signer and the signature" head_route
section "the last audit rows deleted with sqlite3: audit verify --data-dir and serve refuse it" truncated_tail
section "a forged (openssl-made) or corrupted head file: refused, naming the file" forged_and_corrupted
section "32 concurrent signers, then SIGKILL: the head never ahead of the committed rows" burst_and_kill
section "audit head --out, then audit verify --expect-head over the API detects deleted rows" remote_verifier
finish
