#!/usr/bin/env bash
# The node agent (issue 14, docs/nodes.md) against a real `clustertls serve`: enrollment with a
# one-time token pinned to the CA fingerprint, three agents in separate directories on loopback,
# a real redis-server (TLS from the agent's proxy_cert.pem / proxy_key.pem, reloaded by its
# --on-change hook with CONFIG SET) and a real nginx (reloaded with `nginx -s reload`) that
# present the new `proxy` certificate after PUT /v1/cluster/update_cert without a restart, a
# removed node refused, a full disk (a small tmpfs) that keeps the old files, the server killed
# and restarted mid-sync, and the directory lock. Judged by openssl s_client, redis-cli, curl.
#   bash test_agent.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FQDN=cluster.agent.test
D=$TMP/data
CFG=$TMP/client.json
export CLUSTERTLS_CLIENT_CONFIG=$CFG
PORT=$(free_port)
PUB=$(free_port)
URL=https://127.0.0.1:$PORT

# The server, the agents, redis and nginx live across sections (section() kills what
# register_pid lists when a section ends): they are kept here and stopped on exit.
KEPT=$TMP/.kept
: >"$KEPT"
keep_pid() { echo "$1" >>"$KEPT"; }
stop_kept() {
  [ -f "$TMP/nginx.pid" ] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null
  local pid
  while read -r pid; do [ -n "$pid" ] && kill "$pid" 2>/dev/null; done <"$KEPT"
  sleep 0.2
  if [ -f "$TMP/.mounts" ]; then
    while read -r m; do umount -l "$m" 2>/dev/null; done <"$TMP/.mounts"
  fi
}
trap 'stop_kept; _cleanup' EXIT

# serve_fixed LOG: serve on the fixed port (agents keep the URL across a restart).
serve_fixed() {
  : >"$1"
  timeout 600 "$CTLS" serve --data-dir "$D" --listen "127.0.0.1:$PORT" \
    --public-listen "127.0.0.1:$PUB" --agent-long-poll 5s >"$1" 2>&1 </dev/null &
  SERVE_PID=$!
  keep_pid "$SERVE_PID"
  echo "$SERVE_PID" >"$TMP/serve.pid"
  wait_for_match "$1" 'serving https://' 60
  SERVE_PORT=$PORT
}

# agent_start NAME HOOK: `agent run` on $TMP/NAME in the background (log NAME.log).
agent_start() {
  local name=$1 hook=$2
  timeout 900 "$CTLS" agent run --dir "$TMP/$name" --on-change "$hook" \
    --metrics-file "$TMP/$name.metrics" >"$TMP/$name.log" 2>&1 </dev/null &
  keep_pid $!
  echo $! >"$TMP/$name.pid"
}

# enroll NAME [TOKEN ARGS...]: a token for NAME, then `agent enroll` into $TMP/NAME.
enroll() {
  local name=$1
  shift
  run ctls -q nodes token create "$name" --dns "$name.$FQDN" --ip 127.0.0.1 "$@"
  local token
  token=$(cat "$OUT")
  [[ "$token" =~ ^ctlsnode_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$ ]] ||
    fail "nodes token create -q printed '$token', not the token alone"
  echo "$token" >"$TMP/$name.token"
  run ctls agent enroll --server "$URL" --ca-fingerprint "$CA_FP" --token-file "$TMP/$name.token" \
    --dir "$TMP/$name"
}

# wait_fp FILE FP SECONDS: until FILE's certificate has fingerprint FP.
wait_fp() {
  local file=$1 want=$2 limit=$3 t0
  t0=$(date +%s%N)
  while :; do
    if [ -f "$file" ] && [ "$(file_fp "$file" 2>/dev/null)" = "$want" ]; then
      note "$(basename "$(dirname "$file")")/$(basename "$file") has the new certificate after $((($(date +%s%N) - t0) / 1000000)) ms"
      return 0
    fi
    [ $((($(date +%s%N) - t0) / 1000000000)) -lt "$limit" ] ||
      fail "$file still has $(file_fp "$file" 2>/dev/null), expected $want after ${limit}s"
    sleep 0.05
  done
}

# node_field NODE JQ: a field of NODE in `nodes list --json`.
node_field() {
  ctls nodes list --json >"$TMP/nodes.json" 2>"$ERR" || fail "nodes list --json failed: $(cat "$ERR")"
  jq -r --arg n "$1" ".nodes[] | select(.name == \$n) | $2" "$TMP/nodes.json"
}

# new_proxy_cert OUT: a new proxy key and certificate (peer profile: serverAuth + clientAuth),
# signed through POST /v1/ca/sign as admin, in OUT.key / OUT.crt.
new_proxy_cert() {
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$1.key" -out "$1.csr" -subj "/CN=$FQDN" \
    -addext "subjectAltName=DNS:$FQDN,DNS:*.$FQDN,DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1 ||
    fail "openssl req failed"
  jq -n --rawfile c "$1.csr" '{csr:$c,profile:"peer",days:30,allow_reserved:true}' >"$TMP/sign.json"
  api POST /v1/ca/sign "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/sign.json"
  expect_status 201 "POST /v1/ca/sign"
  { jbody .certificate; jbody .chain; } | sed '/^$/d' >"$1.crt"
}

# update_proxy OUT: PUT /v1/cluster/update_cert {"name":"proxy",...} with OUT.key / OUT.crt.
update_proxy() {
  jq -n --rawfile k "$1.key" --rawfile c "$1.crt" '{name:"proxy",key:$k,certificate:$c}' >"$TMP/upd.json"
  api PUT /v1/cluster/update_cert "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/upd.json"
  expect_status 200 "PUT /v1/cluster/update_cert proxy"
}

setup() {
  serve_init "$D" "$FQDN"
  serve_fixed "$TMP/serve.log"
  API_HOST=$FQDN
  API_CA=$TMP/root.pem
  fetch_ca_root "$PORT" "$FQDN" "$API_CA"
  printf '%s\n' "$ADMIN_PW" >"$TMP/admin.pw"
  run ctls login --server "$URL" --ca-fingerprint "$CA_FP" --user admin --password-file "$TMP/admin.pw"
  declare -p ADMIN ADMIN_PW CA_FP API_HOST API_CA SERVE_PORT >"$TMP/env.sh"
}

enrollment() {
  source "$TMP/env.sh"
  # A wrong fingerprint: refused before the token is sent (the token then still works).
  run ctls -q nodes token create node1 --assign proxy --dns "node1.$FQDN" --ip 127.0.0.1
  cp "$OUT" "$TMP/node1.token"
  local bad
  bad=$(printf '%064d' 0)
  expect_fail 1 'no CA of this server matches --ca-fingerprint.*token was not sent' -- \
    ctls agent enroll --server "$URL" --ca-fingerprint "$bad" --token-file "$TMP/node1.token" \
    --dir "$TMP/node1"
  assert_not_grep 'enrollment from' "$TMP/serve.log"
  run ctls agent enroll --server "$URL" --ca-fingerprint "$CA_FP" \
    --token-file "$TMP/node1.token" --dir "$TMP/node1"
  out_has 'enrolled node node1'
  assert_mode 600 "$(readlink -f "$TMP/node1/node_key.pem")"
  assert_eq "$(cn_of "$TMP/node1/node_cert.pem")" node1 "node certificate CN"
  ossl_verify -CAfile "$TMP/node1/ca.pem" "$TMP/node1/node_cert.pem"
  ext "$TMP/node1/node_cert.pem" extendedKeyUsage >"$TMP/eku"
  assert_grep 'TLS Web Client Authentication' "$TMP/eku"
  # The key was made on the node: it matches the certificate, and the server never had it.
  assert_key_matches "$TMP/node1/node_cert.pem" "$TMP/node1/node_key.pem"
  # Replay: the token is used.
  mkdir -p "$TMP/replay"
  expect_fail 1 'enrollment refused: enrollment token is not valid' -- \
    ctls agent enroll --server "$URL" --ca-fingerprint "$CA_FP" --token-file "$TMP/node1.token" \
    --dir "$TMP/replay"
  assert_grep 'enrollment from .* refused: token .* was already used' "$TMP/serve.log"
  # Enrolling into a directory that holds a node is refused.
  run ctls -q nodes token create node1b
  cp "$OUT" "$TMP/node1b.token"
  expect_fail 1 'already holds an enrolled node' -- ctls agent enroll --server "$URL" \
    --ca-fingerprint "$CA_FP" --token-file "$TMP/node1b.token" --dir "$TMP/node1"
  enroll node2 --assign proxy
  enroll node3 --assign proxy
  # Bad input at token creation names the field.
  expect_fail 1 'node name "Bad_Name"' -- ctls nodes token create Bad_Name
  expect_fail 1 'control plane.s own' -- ctls nodes token create n9 --assign api
  expect_fail 1 'no cluster certificate named "nope"' -- ctls nodes token create n9 --assign nope
}

three_agents() {
  source "$TMP/env.sh"
  # node1: redis-server, TLS from the agent's files, reloaded with CONFIG SET by the hook.
  local rport
  rport=$(free_port)
  echo "$rport" >"$TMP/redis.port"
  cat >"$TMP/redis-hook.sh" <<EOF
#!/bin/sh
# Runs in \$CLUSTERTLS_DIR after each change; changed: \$CLUSTERTLS_CHANGED
echo "changed: \$CLUSTERTLS_CHANGED"
if [ -f "$TMP/redis.started" ]; then
  exec timeout 10 redis-cli --tls --cacert "\$CLUSTERTLS_DIR/ca.pem" -p $rport \
    CONFIG SET tls-cert-file "\$CLUSTERTLS_DIR/proxy_cert.pem" tls-key-file "\$CLUSTERTLS_DIR/proxy_key.pem"
fi
EOF
  chmod +x "$TMP/redis-hook.sh"
  agent_start node1 "$TMP/redis-hook.sh"
  wait_for_match "$TMP/node1.log" 'applied version [0-9]+:' 20
  assert_file "$TMP/node1/proxy_cert.pem"
  assert_mode 600 "$(readlink -f "$TMP/node1/proxy_key.pem")"
  assert_file "$TMP/node1/crl.pem"
  jq -e '.data.min_TLS_version? // .control // .' "$TMP/node1/policy.json" >/dev/null ||
    fail "policy.json is not JSON"
  timeout 600 redis-server --port 0 --tls-port "$rport" --bind 127.0.0.1 --save '' \
    --appendonly no --tls-cert-file "$TMP/node1/proxy_cert.pem" \
    --tls-key-file "$TMP/node1/proxy_key.pem" --tls-ca-cert-file "$TMP/node1/ca.pem" \
    --tls-auth-clients no >"$TMP/redis.log" 2>&1 &
  local rpid=$!
  keep_pid "$rpid"
  echo "$rpid" >"$TMP/redis.pid"
  touch "$TMP/redis.started"
  wait_for_match "$TMP/redis.log" 'Ready to accept connections' 20

  # node2: nginx, reloaded with `nginx -s reload` by the hook.
  local nport
  nport=$(free_port)
  echo "$nport" >"$TMP/nginx.port"
  agent_start node2 "[ ! -f $TMP/nginx.pid ] || timeout 20 nginx -c $TMP/nginx.conf -s reload"
  wait_for_match "$TMP/node2.log" 'applied version [0-9]+:' 20
  cat >"$TMP/nginx.conf" <<EOF
daemon on;
pid $TMP/nginx.pid;
error_log $TMP/nginx.err warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx-tmp; proxy_temp_path $TMP/nginx-tmp;
  fastcgi_temp_path $TMP/nginx-tmp; uwsgi_temp_path $TMP/nginx-tmp; scgi_temp_path $TMP/nginx-tmp;
  server {
    listen 127.0.0.1:$nport ssl;
    ssl_certificate $TMP/node2/proxy_cert.pem;
    ssl_certificate_key $TMP/node2/proxy_key.pem;
    location / { return 200 "ok\n"; }
  }
}
EOF
  mkdir -p "$TMP/nginx-tmp"
  timeout 20 nginx -c "$TMP/nginx.conf" >"$OUT" 2>"$ERR" || fail "nginx did not start: $(cat "$ERR")"
  sleep 0.3

  # node3: no service, a hook that records what changed.
  agent_start node3 "echo \"\$CLUSTERTLS_CHANGED\" >>$TMP/node3.changes"
  wait_for_match "$TMP/node3.log" 'applied version [0-9]+:' 20

  # Every node reports the version it applied; none is behind or stale.
  local n
  for n in node1 node2 node3; do
    local t0=$SECONDS
    while [ "$(node_field "$n" '.behind')" != false ] && [ $((SECONDS - t0)) -lt 10 ]; do sleep 0.2; done
    assert_eq "$(node_field "$n" '.behind')" false "$n behind"
    assert_eq "$(node_field "$n" '.stale')" false "$n stale"
    assert_eq "$(node_field "$n" '.agent_version | length > 0')" true "$n agent_version"
  done
  assert_eq "$(node_field node1 '.last_hook.exit_code')" 0 "node1's first hook exit code"

  # The same proxy certificate everywhere, presented by redis and nginx.
  local fp
  fp=$(file_fp "$TMP/node1/proxy_cert.pem")
  assert_eq "$(file_fp "$TMP/node3/proxy_cert.pem")" "$fp" "node3's proxy certificate"
  assert_eq "$(presented_fp "$rport" "$FQDN")" "$fp" "redis presents the proxy certificate"
  assert_eq "$(presented_fp "$nport" "$FQDN")" "$fp" "nginx presents the proxy certificate"
  note "3 agents synced; redis and nginx present proxy $fp"
}

update_cert_reaches_services() {
  source "$TMP/env.sh"
  local rport nport rpid want
  rport=$(cat "$TMP/redis.port")
  nport=$(cat "$TMP/nginx.port")
  rpid=$(cat "$TMP/redis.pid")
  new_proxy_cert "$TMP/proxy2"
  want=$(file_fp "$TMP/proxy2.crt")
  # A client in the middle of a redis session, kept open across the change.
  mkfifo "$TMP/r.in"
  timeout 60 redis-cli --tls --cacert "$TMP/node1/ca.pem" -p "$rport" <"$TMP/r.in" >"$TMP/r.out" 2>&1 &
  register_pid $!
  exec 7>"$TMP/r.in"
  echo "SET k before" >&7
  wait_for_match "$TMP/r.out" OK 10
  update_proxy "$TMP/proxy2"
  local n
  for n in node1 node2 node3; do
    wait_fp "$TMP/$n/proxy_cert.pem" "$want" 3
  done
  # The key beside it is the new one (one symlink switch: never a new certificate with an old key).
  assert_key_matches "$TMP/node1/proxy_cert.pem" "$TMP/node1/proxy_key.pem"
  # redis and nginx present it, without a restart.
  local t0=$SECONDS
  while [ "$(presented_fp "$rport" "$FQDN")" != "$want" ] && [ $((SECONDS - t0)) -lt 5 ]; do sleep 0.1; done
  assert_eq "$(presented_fp "$rport" "$FQDN")" "$want" "redis after update_cert"
  t0=$SECONDS
  while [ "$(presented_fp "$nport" "$FQDN")" != "$want" ] && [ $((SECONDS - t0)) -lt 5 ]; do sleep 0.1; done
  assert_eq "$(presented_fp "$nport" "$FQDN")" "$want" "nginx after update_cert"
  kill -0 "$rpid" || fail "redis-server is gone"
  echo "GET k" >&7
  wait_for_match "$TMP/r.out" before 10
  exec 7>&-
  assert_grep 'applied version [0-9]*: .*proxy_cert.pem' "$TMP/node1.log"
  assert_grep 'proxy_cert.pem proxy_key.pem' "$TMP/node3.changes"
  local desired
  desired=$(node_field node1 '.desired_version')
  t0=$SECONDS
  while [ "$(node_field node3 '.applied_version')" != "$desired" ] && [ $((SECONDS - t0)) -lt 5 ]; do sleep 0.2; done
  assert_eq "$(node_field node3 '.applied_version')" "$desired" "node3 applied version"
  assert_eq "$(node_field node1 '.last_hook.exit_code')" 0 "node1's hook (redis CONFIG SET) exit code"
  node_field node1 '.last_hook.output_tail' >"$TMP/hook.tail"
  assert_grep 'changed: .*proxy_cert.pem proxy_key.pem' "$TMP/hook.tail"
}

second_agent_refused() {
  source "$TMP/env.sh"
  expect_fail 1 'another clustertls agent is running on this directory' -- \
    ctls agent run --dir "$TMP/node3"
  expect_fail 1 'no enrolled node here' -- ctls agent run --dir "$TMP/empty-dir"
}

removed_node_refused() {
  source "$TMP/env.sh"
  local serial
  serial=$(serial_hex "$TMP/node3/node_cert.pem")
  run ctls nodes remove node3
  out_has 'removed node node3'
  wait_for_match "$TMP/node3.log" 'refused this node: node certificate .* is revoked' 15
  # Its certificate is refused at once by the control listener, and listed on the CRL.
  HTTP_STATUS=$(timeout 30 curl -sS -o "$BODY" -w '%{http_code}' --cacert "$API_CA" \
    --resolve "$FQDN:$PORT:127.0.0.1" --cert "$TMP/node3/node_cert.pem" \
    --key "$TMP/node3/node_key.pem" "https://$FQDN:$PORT/v1/agent/state?wait=0" 2>"$ERR")
  expect_status 403 "a removed node's state request"
  assert_grep 'revoked' "$BODY"
  api GET /v1/crl.pem
  openssl crl -in "$BODY" -noout -text >"$TMP/crl.txt" 2>&1
  assert_grep "$serial" "$TMP/crl.txt"
  # The other nodes' CRL lists it too (pushed with the change).
  local t0=$SECONDS
  while ! openssl crl -in "$TMP/node1/crl.pem" -noout -text 2>/dev/null | grep -q "$serial" &&
    [ $((SECONDS - t0)) -lt 5 ]; do sleep 0.1; done
  openssl crl -in "$TMP/node1/crl.pem" -noout -text >"$TMP/crl1.txt" 2>&1
  assert_grep "$serial" "$TMP/crl1.txt"
  assert_eq "$(node_field node3 '.name')" "" "node3 in nodes list after remove"
}

disk_full_keeps_old_files() {
  source "$TMP/env.sh"
  local mnt=$TMP/small
  mkdir -p "$mnt"
  mount -t tmpfs -o size=256k tmpfs "$mnt" 2>"$ERR" || fail "cannot mount a tmpfs (needs root): $(cat "$ERR")"
  echo "$mnt" >>"$TMP/.mounts"
  enroll_into() {
    run ctls -q nodes token create node4 --assign proxy
    cp "$OUT" "$TMP/node4.token"
    run ctls agent enroll --server "$URL" --ca-fingerprint "$CA_FP" \
      --token-file "$TMP/node4.token" --dir "$mnt/node4"
  }
  enroll_into
  timeout 900 "$CTLS" agent run --dir "$mnt/node4" >"$TMP/node4.log" 2>&1 </dev/null &
  keep_pid $!
  wait_for_match "$TMP/node4.log" 'applied version [0-9]+:' 20
  local before
  before=$(sha "$mnt/node4/proxy_cert.pem")
  # Fill the disk, then change what node4 receives.
  dd if=/dev/zero of="$mnt/filler" bs=4k count=1000 >/dev/null 2>&1
  run ctls nodes assign node4 --names proxy,syncer
  wait_for_match "$TMP/node4.log" 'previous files stay in place.*No space left on device' 15
  assert_eq "$(sha "$mnt/node4/proxy_cert.pem")" "$before" "proxy_cert.pem after a failed install"
  assert_key_matches "$mnt/node4/proxy_cert.pem" "$mnt/node4/proxy_key.pem"
  assert_no_file "$mnt/node4/syncer_cert.pem"
  # Space returns: the agent's retry installs the set.
  rm -f "$mnt/filler"
  local t0=$SECONDS
  while [ ! -f "$mnt/node4/syncer_cert.pem" ] && [ $((SECONDS - t0)) -lt 40 ]; do sleep 0.2; done
  assert_file "$mnt/node4/syncer_cert.pem"
  assert_key_matches "$mnt/node4/syncer_cert.pem" "$mnt/node4/syncer_key.pem"
  note "install failed on a full disk (old set kept), then succeeded $((SECONDS - t0)) s after space returned"
}

server_restart_mid_sync() {
  source "$TMP/env.sh"
  local pid
  pid=$(cat "$TMP/serve.pid")
  # serve runs under `timeout`: kill the server itself, then its timeout.
  pkill -KILL -P "$pid"
  kill -KILL "$pid" 2>/dev/null
  sleep 3
  # Files intact while the server is gone; the agents are retrying.
  assert_key_matches "$TMP/node1/proxy_cert.pem" "$TMP/node1/proxy_key.pem"
  wait_for_match "$TMP/node2.log" 'retrying in' 10
  serve_fixed "$TMP/serve2.log"
  new_proxy_cert "$TMP/proxy3"
  update_proxy "$TMP/proxy3"
  local want
  want=$(file_fp "$TMP/proxy3.crt")
  # The backoff is capped at 30 s; the restart came after ~3 s of failures.
  wait_fp "$TMP/node1/proxy_cert.pem" "$want" 20
  wait_fp "$TMP/node2/proxy_cert.pem" "$want" 20
  assert_key_matches "$TMP/node2/proxy_cert.pem" "$TMP/node2/proxy_key.pem"
}

audit_and_metrics() {
  source "$TMP/env.sh"
  api GET '/v1/audit?limit=1000' "${ADMIN[@]}"
  expect_status 200 "GET /v1/audit"
  jq -r '.entries[].action' "$BODY" >"$TMP/actions"
  for a in node.token.create node.enroll node.remove node.assign; do
    assert_grep "^$a\$" "$TMP/actions"
  done
  run ctls audit verify
  assert_grep '^clustertls_agent_applied_version [0-9]' "$TMP/node1.metrics"
  assert_grep '^clustertls_agent_node_cert_expiry_timestamp_seconds [0-9]' "$TMP/node1.metrics"
  api GET /metrics "${ADMIN[@]}"
  assert_grep '^clustertls_nodes{state="total"} [0-9]' "$BODY"
  assert_grep '^clustertls_certificate_expiry_timestamp_seconds{kind="node",name="node1"} [0-9]' "$BODY"
}

section "serve, login" setup
section "enrollment: pinned fingerprint, one-time token, key made on the node" enrollment
section "three agents; redis and nginx from the agents' files" three_agents
section "update_cert reaches every node; redis and nginx present it without a restart" update_cert_reaches_services
section "a second agent on one directory is refused" second_agent_refused
section "a removed node is refused at once and its certificate is on the CRL" removed_node_refused
section "a full disk keeps the old files; the agent recovers" disk_full_keeps_old_files
section "server killed and restarted: the agents resume" server_restart_mid_sync
section "audit entries and metrics" audit_and_metrics
finish
