#!/usr/bin/env bash
# --owner USER[:GROUP] on every command that writes keys, for services that do not run as root
# (RabbitMQ, redis, nginx workers): the files are chown'ed before they are moved into place,
# keys 0600 (a user alone) or 0640 (with a group), certificates 0644; quickstart's CA key is never
# given away. Judged by `stat -c '%U:%G %a'`, by reading the files as that user (runuser) and by
# Debian's redis-server run as the redis user loading the key it was given.
# Unknown users/groups are usage errors (exit 2) and a non-root run that would need chown is
# refused (exit 1) naming the file and saying to run as root or with sudo; neither leaves a file.
#   bash test_owner.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

# Debian's unprivileged user and group (base-passwd): on every machine.
getent passwd nobody >/dev/null && getent group nogroup >/dev/null && getent passwd daemon >/dev/null ||
  fail "the nobody, nogroup and daemon entries of base-passwd are missing"
ROOT=$(id -u)
ME="$(id -un):$(id -gn)"

# owner_mode FILE: "USER:GROUP MODE" as stat prints it.
owner_mode() { stat -c '%U:%G %a' "$1"; }
assert_owner() { assert_eq "$(owner_mode "$2")" "$1" "owner and mode of ${2#"$TMP"/}"; }

# need_root: true as root; otherwise a note (chown to another user needs root).
need_root() {
  [ "$ROOT" -eq 0 ] && return 0
  note "not root: skipped (chown to another user needs root; CI runs as root)"
  return 1
}

quickstart_owner() {
  need_root || return 0
  run ctls quickstart --out "$TMP/qs" --owner nobody:nogroup
  for k in server/server.key client/client.key; do
    assert_owner "nobody:nogroup 640" "$TMP/qs/$k"
  done
  for c in server/server.crt client/client.crt ca/ca.crt; do
    assert_owner "nobody:nogroup 644" "$TMP/qs/$c"
  done
  # The CA key stays the runner's: a service must not be able to sign certificates.
  assert_owner "$ME 600" "$TMP/qs/ca/ca.key"
  out_has 'server key .*\(mode 0640, owner nobody:nogroup\)'
  out_has 'CA key .*--owner is not applied to it'
  # Read as the service would: nobody reads its key, not the CA key.
  chmod 755 "$TMP"
  timeout 10 runuser -u nobody -- cat "$TMP/qs/server/server.key" | grep -q 'PRIVATE KEY' ||
    fail "nobody cannot read server.key"
  if timeout 10 runuser -u nobody -- cat "$TMP/qs/ca/ca.key" >/dev/null 2>&1; then
    fail "nobody can read the CA key"
  fi
  note "$(cd "$TMP/qs" && stat -c '%n %U:%G %a' ca/ca.key server/server.key server/server.crt | tr '\n' ';')"
  # Without --owner the summary says how to hand the key to RabbitMQ.
  run ctls quickstart --out "$TMP/qs-plain"
  out_has 'chgrp rabbitmq .*server.key && chmod 0640'
  out_has 'owner root:rabbitmq'
}

every_command() {
  need_root || return 0
  run ctls ca init --out "$TMP/ca" --owner daemon:daemon
  assert_owner "daemon:daemon 640" "$TMP/ca/ca.key"
  assert_owner "daemon:daemon 644" "$TMP/ca/ca.crt"
  out_has 'mode 0640, owner daemon:daemon'
  run ctls ca init --out "$TMP/root" --owner daemon
  assert_owner "daemon:$(id -gn) 600" "$TMP/root/ca.key"
  local CA=(--ca-cert "$TMP/root/ca.crt" --ca-key "$TMP/root/ca.key")
  run ctls ca intermediate "${CA[@]}" --out "$TMP/int" --owner :nogroup
  assert_owner "$(id -un):nogroup 640" "$TMP/int/ca.key"
  assert_owner "$(id -un):nogroup 644" "$TMP/int/chain.crt"
  run ctls cert issue "${CA[@]}" --name redis1 --out "$TMP/issue" --owner nobody
  assert_owner "nobody:$(id -gn) 600" "$TMP/issue/redis1.key"
  assert_owner "nobody:$(id -gn) 644" "$TMP/issue/redis1.crt"
  printf 'p12 secret\n' >"$TMP/p12.pw"
  run ctls cert issue "${CA[@]}" --name p12 --format p12 --p12-passphrase-file "$TMP/p12.pw" \
    --out "$TMP/issue" --owner nobody:nogroup
  assert_owner "nobody:nogroup 640" "$TMP/issue/p12.p12"
  run ctls cert generate --fqdn redis.example.com --type proxy --out "$TMP/gen" --owner nobody:
  assert_owner "nobody:nogroup 640" "$TMP/gen/proxy_key.pem"
  assert_owner "nobody:nogroup 644" "$TMP/gen/proxy_cert.pem"
  printf 'instances:\n  - name: node1\n  - name: node2\n' >"$TMP/instances.yml"
  run ctls cert bulk --in "$TMP/instances.yml" "${CA[@]}" --out "$TMP/bulk" --owner root:nogroup
  assert_owner "root:nogroup 640" "$TMP/bulk/node2/node2.key"
  assert_owner "root:nogroup 644" "$TMP/bulk/node2/node2.crt"
  assert_owner "root:nogroup 644" "$TMP/bulk/ca/ca.crt"
  run ctls csr create --name app --out "$TMP/csr" --owner nobody:nogroup
  assert_owner "nobody:nogroup 640" "$TMP/csr/app.key"
  assert_owner "nobody:nogroup 644" "$TMP/csr/app.csr"
  run ctls convert "$TMP/issue/redis1.key" --to der --out "$TMP/redis1.der" --owner nobody:nogroup
  assert_owner "nobody:nogroup 640" "$TMP/redis1.der"
  # --force replaces a file with the new owner.
  run ctls cert issue "${CA[@]}" --name redis1 --out "$TMP/issue" --owner daemon:daemon --force
  assert_owner "daemon:daemon 640" "$TMP/issue/redis1.key"
  assert_no_file "$TMP/issue/.redis1.key.bak"
  [ -z "$(find "$TMP/issue" -name '.*')" ] || fail "hidden files left in $TMP/issue"
}

unknown_names() {
  run ctls ca init --out "$TMP/u-ca"
  local CA=(--ca-cert "$TMP/u-ca/ca.crt" --ca-key "$TMP/u-ca/ca.key")
  expect_fail 2 '--owner nosuchuser: no such user "nosuchuser"' -- \
    ctls cert issue "${CA[@]}" --name n1 --out "$TMP/u-out" --owner nosuchuser
  expect_fail 2 'no such group "nosuchgroup"' -- \
    ctls quickstart --out "$TMP/u-out" --owner nobody:nosuchgroup
  expect_fail 2 'more than one' -- ctls csr create --name n1 --out "$TMP/u-out" --owner a:b:c
  assert_no_file "$TMP/u-out"
}

not_root() {
  command -v runuser >/dev/null || fail "runuser (util-linux) is missing"
  if [ "$ROOT" -ne 0 ]; then
    # Already unprivileged: the refusal is tested as this user.
    mkdir -p "$TMP/nr"
    expect_fail 1 'cannot give the file to root:root: Operation not permitted \(changing a file.s owner needs root: run the command as root or with sudo\)' -- \
      ctls csr create --name n1 --out "$TMP/nr/out" --owner root:root
    assert_dir_empty "$TMP/nr/out"
    return 0
  fi
  # As nobody, in a directory nobody may write, with a copy of the binary nobody may run.
  chmod 755 "$TMP"
  local NB=$TMP/nb
  mkdir -p "$NB"
  cp "$CTLS" "$NB/clustertls"
  chown -R nobody:nogroup "$NB"
  as_nobody() { timeout 60 runuser -u nobody -- "$NB/clustertls" "$@"; }
  run as_nobody ca init --out "$NB/ca"
  local CA=(--ca-cert "$NB/ca/ca.crt" --ca-key "$NB/ca/ca.key")
  expect_fail 1 "$NB/out/n1.(crt|key): cannot give the file to daemon: Operation not permitted \(changing a file.s owner needs root: run the command as root or with sudo\)" -- \
    as_nobody cert issue "${CA[@]}" --name n1 --out "$NB/out" --owner daemon
  assert_no_file "$NB/out"
  expect_fail 1 'cannot give the file to root:daemon: .*run the command as root or with sudo' -- \
    as_nobody quickstart --out "$NB/qs" --owner root:daemon
  assert_no_file "$NB/qs"
  # Giving the files to oneself (and one's own group) needs no privilege.
  run as_nobody cert issue "${CA[@]}" --name mine --out "$NB/mine" --owner nobody:nogroup
  assert_owner "nobody:nogroup 640" "$NB/mine/mine.key"
  [ -z "$(find "$NB" -name '.*tmp*')" ] || fail "temporary files left in $NB"
}

# start_redis NAME DIR: Debian's redis-server run as the redis user (as its service runs), TLS
# only, with DIR/server/server.{crt,key} and DIR/ca/ca.crt; waits for "Ready" or its exit.
# REDIS_PORT is its port; returns 1 (log in $TMP/NAME.log) when it did not start.
start_redis() {
  local name=$1 dir=$2
  REDIS_PORT=$(free_port)
  timeout 60 runuser -u redis -- redis-server --port 0 --tls-port "$REDIS_PORT" --bind 127.0.0.1 \
    --tls-cert-file "$dir/server/server.crt" --tls-key-file "$dir/server/server.key" \
    --tls-ca-cert-file "$dir/ca/ca.crt" --tls-auth-clients yes --save '' --appendonly no \
    --dir "$TMP" >"$TMP/$name.log" 2>&1 </dev/null &
  local pid=$!
  register_pid "$pid"
  local deadline=$((SECONDS + 20))
  while [ $SECONDS -le $deadline ]; do
    grep -q 'Ready to accept connections' "$TMP/$name.log" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  fail "redis-server neither started nor exited within 20 s: $(tail -n3 "$TMP/$name.log")"
}

# The service itself judges: redis-server, run as the redis user, loads a key given to it with
# --owner and answers a mutual-TLS PING; with the default 0600 root-owned key it cannot start.
redis_reads_its_key() {
  need_root || return 0
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
    fail "redis-server/redis-cli are not installed (scripts/setup installs Debian's redis-server)"
  getent passwd redis >/dev/null || fail "no redis user (Debian's redis-server package makes it)"
  chmod 755 "$TMP"
  run ctls quickstart --out "$TMP/rq" --owner redis:redis
  assert_owner "redis:redis 640" "$TMP/rq/server/server.key"
  start_redis redis-owned "$TMP/rq" ||
    fail "redis-server as redis did not start with the --owner key: $(tail -n3 "$TMP/redis-owned.log")"
  local pong
  pong=$(timeout 10 redis-cli --tls -h localhost -p "$REDIS_PORT" --cacert "$TMP/rq/ca/ca.crt" \
    --cert "$TMP/rq/client/client.crt" --key "$TMP/rq/client/client.key" PING 2>&1)
  assert_eq "$pong" "PONG" "redis-cli --tls PING to redis-server running as redis"
  note "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') as redis: PONG over mutual TLS"
  _kill_registered
  run ctls quickstart --out "$TMP/rq-root"
  assert_owner "$ME 600" "$TMP/rq-root/server/server.key"
  if start_redis redis-root "$TMP/rq-root"; then
    fail "redis-server as redis started with a 0600 root key it should not be able to read"
  fi
  assert_grep "Permission denied" "$TMP/redis-root.log"
  note "without --owner: $(grep -o 'Failed to load private key.*' "$TMP/redis-root.log" | head -c 160)"
}

section "quickstart --owner nobody:nogroup: keys 0640, certificates 0644, CA key kept" quickstart_owner
section "ca init, ca intermediate, cert issue/generate/bulk, csr create, convert with --owner" every_command
section "redis-server as the redis user loads a --owner key, not a 0600 root one" redis_reads_its_key
section "unknown user or group: exit 2 naming it, no file" unknown_names
section "without root, chown to another user is refused cleanly (runuser -u nobody)" not_root
finish
