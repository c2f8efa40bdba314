#!/usr/bin/env bash
# clustertls' certificates in the broker of Sensu's SSL guide: Debian 12's RabbitMQ 3.10, run as
# the rabbitmq user (as its service runs) in $TMP as its own node (node name, ports, epmd, Mnesia,
# logs, cookie: nothing shared with a system broker), judged by RabbitMQ and by the pika client.
#   1. `quickstart --owner root:rabbitmq` and the rabbitmq.conf lines its summary prints, taken
#      verbatim from its output: pika with the client certificate publishes and consumes over
#      AMQPS; no certificate, or one from another CA, refused.
#   2. EXTERNAL authentication (rabbitmq_auth_mechanism_ssl, ssl_cert_login_from =
#      distinguished_name): a `csr create --subject` + `csr sign` client logs in as the user named
#      by its full DN; a certificate with another OU is refused.
#   3. crl_check with a CRL of `ca revoke` + `ca crl` in a hashed CRL directory: the revoked client
#      is refused, the other connects.
#   bash test_rabbitmq.sh <path-to-clustertls> <repo-root>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

RMQ_BIN=/usr/lib/rabbitmq/bin
[ -x "$RMQ_BIN/rabbitmq-server" ] ||
  fail "rabbitmq-server is not installed (scripts/setup installs Debian's rabbitmq-server)"
# Debian's python3 (python3-pika), not another python3 earlier in PATH (pyenv).
PY=/usr/bin/python3
timeout 20 "$PY" -c 'import pika' 2>/dev/null ||
  fail "python3-pika is not installed (scripts/setup installs it)"
getent passwd rabbitmq >/dev/null || fail "no rabbitmq user (Debian's rabbitmq-server makes it)"
command -v epmd >/dev/null || fail "epmd (erlang-base) is missing"

Q=$TMP/ssl
CA=$Q/ca
ROOT=$(id -u)

# need_root: true as root; otherwise a note (the broker runs as the rabbitmq user: runuser).
need_root() {
  [ "$ROOT" -eq 0 ] && return 0
  note "not root: skipped (the broker runs as the rabbitmq user; CI runs as root)"
  return 1
}

# The AMQPS client: pika over TLS, trusting only DIR/ca/ca.crt and checking the server's name
# (localhost). MODE plain logs in as guest (PLAIN), external with EXTERNAL (the certificate).
# Publishes a message to a fresh queue and reads it back; prints "ok <user-visible result>" and
# exits 0, or prints "refused: <exception>" and exits 3.
cat >"$TMP/amqp.py" <<'EOF'
import ssl, sys, uuid
import pika

port, cafile, cert, key, mode = sys.argv[1:6]
hold = float(sys.argv[6]) if len(sys.argv) > 6 else 0
ctx = ssl.create_default_context(cafile=cafile)
if cert != "-":
    ctx.load_cert_chain(cert, key)
params = dict(host="localhost", port=int(port), ssl_options=pika.SSLOptions(ctx, "localhost"),
              connection_attempts=1, socket_timeout=10, blocked_connection_timeout=10)
if mode == "external":
    params["credentials"] = pika.credentials.ExternalCredentials()
else:
    params["credentials"] = pika.PlainCredentials("guest", "guest")
try:
    conn = pika.BlockingConnection(pika.ConnectionParameters(**params))
except Exception as e:  # the refusal is the point: name it
    print("refused: %s: %s" % (type(e).__name__, e))
    sys.exit(3)
print("connected", flush=True)
ch = conn.channel()
q = ch.queue_declare(queue="", exclusive=True).method.queue
body = ("hello " + uuid.uuid4().hex).encode()
ch.basic_publish(exchange="", routing_key=q, body=body)
got = None
for _ in range(50):
    method, _props, got = ch.basic_get(queue=q, auto_ack=True)
    if method is not None:
        break
    conn.sleep(0.1)
conn.sleep(hold)  # HOLD seconds connected, for rabbitmqctl list_connections
conn.close()
if got != body:
    print("published %r but consumed %r" % (body, got))
    sys.exit(1)
print("ok published and consumed %s" % body.decode())
EOF

# amqp PORT CERT KEY MODE [HOLD]: the client above (CERT "-": none), bounded to 30 s; output in
# $OUT.
amqp() { timeout 30 "$PY" "$TMP/amqp.py" "$1" "$CA/ca.crt" "$2" "$3" "$4" "${5:-0}" >"$OUT" 2>&1; }
# amqp_ok WHAT ARGS...: the client publishes and consumes.
amqp_ok() {
  local what=$1
  shift
  amqp "$@" || fail "$what: pika should connect, publish and consume: $(tail -n3 "$OUT"); broker log: $(tail -n5 "$RMQ_LOG")"
  note "$what: $(tail -n1 "$OUT")"
}
# amqp_refused WHAT REGEX ARGS...: the client is refused, and the broker's log says why (REGEX,
# extended, case-insensitive, in the lines the log gained).
amqp_refused() {
  local what=$1 re=$2
  shift 2
  local before
  before=$(wc -l <"$RMQ_LOG")
  amqp "$@"
  local rc=$?
  [ $rc -eq 3 ] || fail "$what: pika should be refused (exit 3), got exit $rc: $(tail -n3 "$OUT")"
  local deadline=$((SECONDS + 10))
  until tail -n +"$((before + 1))" "$RMQ_LOG" | grep -Eiq -- "$re"; do
    [ $SECONDS -le $deadline ] ||
      fail "$what: refused, but the broker's log does not match /$re/: $(tail -n +"$((before + 1))" "$RMQ_LOG" | tail -n5)"
    sleep 0.2
  done
  note "$what: $(cut -c1-120 "$OUT"); broker: $(tail -n +"$((before + 1))" "$RMQ_LOG" | grep -Eio -m1 -- "$re")"
}

# rmq_env NAME: the environment of node NAME, everything under $TMP/NAME.
rmq_env() {
  local d=$TMP/$1
  echo "HOME=$d/home RABBITMQ_HOME=$d/home RABBITMQ_NODENAME=$1_$$@localhost" \
    "RABBITMQ_CONF_ENV_FILE=$d/rabbitmq-env.conf RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf" \
    "RABBITMQ_ADVANCED_CONFIG_FILE=$d/advanced.config" \
    "RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins RABBITMQ_MNESIA_BASE=$d/mnesia" \
    "RABBITMQ_LOG_BASE=$d/log RABBITMQ_PID_FILE=$d/node.pid RABBITMQ_LOGS=$d/log/node.log" \
    "RABBITMQ_NODE_PORT=$(cat "$d/amqp.port") RABBITMQ_DIST_PORT=$(cat "$d/dist.port")" \
    "ERL_EPMD_PORT=$(cat "$d/epmd.port")"
}
# as_rabbit SECONDS NAME CMD...: CMD as the rabbitmq user in node NAME's environment, bounded.
as_rabbit() {
  local t=$1 n=$2
  shift 2
  # shellcheck disable=SC2046 # the environment is words without spaces
  timeout "$t" runuser -u rabbitmq -- env $(rmq_env "$n") "$@"
}
# rmqctl NAME ARGS...: rabbitmqctl of node NAME, bounded to 60 s.
rmqctl() {
  local n=$1
  shift
  as_rabbit 60 "$n" "$RMQ_BIN/rabbitmqctl" "$@"
}

# start_broker NAME PLUGINS: the node NAME with $TMP/NAME/rabbitmq.conf (and advanced.config if
# written) and the plugins list PLUGINS (Erlang terms, e.g. "rabbitmq_auth_mechanism_ssl"), its
# own epmd, run as the rabbitmq user; waits for its start (at most 90 s). AMQPS_PORT is the TLS
# listener's port; RMQ_LOG the node's log.
start_broker() {
  local n=$1 plugins=$2 d=$TMP/$1
  mkdir -p "$d/home" "$d/mnesia" "$d/log"
  free_port >"$d/amqp.port"
  free_port >"$d/dist.port"
  free_port >"$d/epmd.port"
  : >"$d/rabbitmq-env.conf"
  printf '[%s].\n' "$plugins" >"$d/enabled_plugins"
  RMQ_LOG=$d/log/node.log
  : >"$RMQ_LOG"
  chown -R rabbitmq:rabbitmq "$d"
  # Its own epmd in the foreground: registered, so it goes with the section (erl would start a
  # daemon that outlives the test).
  timeout 280 epmd -port "$(cat "$d/epmd.port")" >"$d/epmd.out" 2>&1 </dev/null &
  register_pid $!
  as_rabbit 280 "$n" "$RMQ_BIN/rabbitmq-server" >"$d/stdout" 2>&1 </dev/null &
  local pid=$!
  register_pid "$pid"
  echo "$pid" >"$d/server.pid"
  # Whatever way the section ends (a failed check exits its subshell), the node goes with it.
  # shellcheck disable=SC2064 # the name now
  trap "kill_node $n" EXIT
  local deadline=$((SECONDS + 90))
  while ! grep -q 'Server startup complete' "$RMQ_LOG" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "FAIL: rabbitmq-server ($n) exited before its start:" >&2
      tail -n 20 "$d/stdout" "$RMQ_LOG" | sed 's/^/      | /' >&2
      exit 1
    fi
    [ $SECONDS -le $deadline ] || fail "rabbitmq-server ($n) did not start within 90 s: $(tail -n5 "$RMQ_LOG")"
    sleep 0.2
  done
  # The broker runs as the rabbitmq user: the keys it reads are the ones --owner gave it.
  local beam user
  beam=$(pgrep -f -- "-home $d/home " | head -n1)
  user=$(ps -o user= -p "$beam" 2>/dev/null | tr -d ' ')
  assert_eq "$user" rabbitmq "the user of node $n's beam.smp (pid $beam)"
  AMQPS_PORT=$(sed -n 's/^ *listeners\.ssl\.default *= *//p' "$d/rabbitmq.conf")
  timeout 20 bash -c "until exec 3<>/dev/tcp/127.0.0.1/$AMQPS_PORT; do sleep 0.2; done" 2>/dev/null ||
    fail "rabbitmq-server ($n) does not listen on $AMQPS_PORT: $(grep -i 'listener\|error' "$RMQ_LOG" | tail -n5)"
  note "RabbitMQ $(grep -Eo 'Starting RabbitMQ [0-9.]+' "$RMQ_LOG" | head -n1 | cut -d' ' -f3) node $n on AMQPS port $AMQPS_PORT (beam.smp pid $beam, user $user)"
}

# stop_broker NAME: rabbitmqctl stop, then waits (at most 30 s) for the server and kills its epmd.
stop_broker() {
  local n=$1 d=$TMP/$1 pid
  pid=$(cat "$d/server.pid")
  rmqctl "$n" stop >"$d/stop.out" 2>&1 || note "rabbitmqctl stop: $(tail -n2 "$d/stop.out")"
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -le $deadline ]; do
    sleep 0.2
  done
  kill -0 "$pid" 2>/dev/null && fail "rabbitmq-server ($n) still runs 30 s after rabbitmqctl stop"
  _kill_registered
  # Nothing of the node is left: no beam of it (its command line names its home), no epmd.
  while [ -n "$(node_pids "$n")" ] && [ $SECONDS -le $deadline ]; do
    sleep 0.2
  done
  [ -z "$(node_pids "$n")" ] || fail "processes of node $n are left after its stop: $(node_pids "$n")"
}

# node_pids NAME: the pids of node NAME's beam and epmd.
node_pids() {
  pgrep -f -- "-home $TMP/$1/home |epmd -port $(cat "$TMP/$1/epmd.port")\$" | tr '\n' ' '
}

# kill_node NAME: SIGTERM to what is left of node NAME (a section that failed), SIGKILL after 15 s.
kill_node() {
  local pids
  pids=$(node_pids "$1")
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086 # a list of pids
  kill $pids 2>/dev/null
  local deadline=$((SECONDS + 15))
  while [ -n "$(node_pids "$1")" ] && [ $SECONDS -le $deadline ]; do
    sleep 0.2
  done
  pids=$(node_pids "$1")
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null
}

# broker_conf NAME LINES...: $TMP/NAME/rabbitmq.conf: the listener on a free port (no plain AMQP
# listener), then LINES.
broker_conf() {
  local d=$TMP/$1
  shift
  mkdir -p "$d"
  {
    echo "listeners.tcp = none"
    echo "listeners.ssl.default = $(free_port)"
    printf '%s\n' "$@"
  } >"$d/rabbitmq.conf"
}

# --------------------------------------------------------------------------------------------

# quickstart_conf: quickstart --owner root:rabbitmq into $Q (once), and SUMMARY_CONF, the
# ssl_options lines its summary prints for rabbitmq.conf, verbatim.
quickstart_conf() {
  chmod 755 "$TMP"
  if [ ! -f "$TMP/quickstart.out" ]; then
    run ctls quickstart --out "$Q" --owner root:rabbitmq
    cp "$OUT" "$TMP/quickstart.out"
  fi
  local lines
  lines=$(sed -n 's/^ *\(ssl_options\.[a-z_]* = .*\)$/\1/p' "$TMP/quickstart.out")
  [ "$(wc -l <<<"$lines")" -ge 5 ] || fail "the summary prints no ssl_options lines: $(cat "$TMP/quickstart.out")"
  mapfile -t SUMMARY_CONF <<<"$lines"
}

sensu_flow() {
  need_root || return 0
  quickstart_conf
  # The summary's lines, the port aside.
  grep -Eq '^ *listeners\.ssl\.default = 5671$' "$TMP/quickstart.out" ||
    fail "the summary does not print 'listeners.ssl.default = 5671'"
  local lines
  lines=$(printf '%s\n' "${SUMMARY_CONF[@]}")
  grep -q "^ssl_options.cacertfile = $CA/ca.crt\$" <<<"$lines" || fail "no cacertfile line: $lines"
  grep -q "^ssl_options.keyfile = $Q/server/server.key\$" <<<"$lines" || fail "no keyfile line: $lines"
  grep -q '^ssl_options.verify = verify_peer$' <<<"$lines" || fail "no verify_peer line: $lines"
  grep -q '^ssl_options.fail_if_no_peer_cert = true$' <<<"$lines" ||
    fail "no fail_if_no_peer_cert line: $lines"
  broker_conf sensu "${SUMMARY_CONF[@]}"
  note "rabbitmq.conf: $(grep -c . "$TMP/sensu/rabbitmq.conf") lines, ssl_options from the summary"
  start_broker sensu ""
  amqp_ok "quickstart's client certificate (PLAIN guest)" "$AMQPS_PORT" "$Q/client/client.crt" \
    "$Q/client/client.key" plain
  amqp_refused "no client certificate" 'certificate required|handshake failure|no peer cert' \
    "$AMQPS_PORT" - - plain
  run ctls quickstart --out "$TMP/other" --name "Other CA"
  amqp_refused "a client certificate of another CA" 'unknown ca|bad certificate|unknown_ca' \
    "$AMQPS_PORT" "$TMP/other/client/client.crt" "$TMP/other/client/client.key" plain
  amqp_ok "quickstart's client again" "$AMQPS_PORT" "$Q/client/client.crt" "$Q/client/client.key" plain
  stop_broker sensu
}

# EXTERNAL: the user is the client certificate's subject DN as RabbitMQ formats it (RFC 4514
# order, most specific first).
DN1='CN=client1.example.com,OU=ops,O=Example,ST=California,C=US'

external_dn() {
  need_root || return 0
  quickstart_conf
  local c
  for c in client1:ops client2:dev; do
    run ctls csr create --name "${c%%:*}.example.com" \
      --subject "/C=US/ST=California/O=Example/OU=${c#*:}" --out "$TMP/ext"
    run ctls csr sign --csr "$TMP/ext/${c%%:*}.example.com.csr" --ca-cert "$CA/ca.crt" \
      --ca-key "$CA/ca.key" --profile client --out "$TMP/ext/${c%%:*}.example.com.crt"
  done
  local c1=$TMP/ext/client1.example.com c2=$TMP/ext/client2.example.com
  # openssl's RFC 2253 form of the subject is the name RabbitMQ is expected to derive.
  assert_eq "$(subject_of "$c1.crt")" "$DN1" "openssl x509 -subject -nameopt RFC2253 of client1"
  broker_conf external "${SUMMARY_CONF[@]}" "auth_mechanisms.1 = EXTERNAL" \
    "ssl_cert_login_from = distinguished_name"
  start_broker external rabbitmq_auth_mechanism_ssl
  # No such user yet: refused, and RabbitMQ's log names the user it derived from the DN.
  amqp_refused "EXTERNAL login of client1 before its user exists" \
    "user '$DN1' - invalid credentials" "$AMQPS_PORT" "$c1.crt" "$c1.key" external
  run rmqctl external add_user "$DN1" "unused-$$"
  run rmqctl external clear_password "$DN1"
  run rmqctl external set_permissions -p / "$DN1" '.*' '.*' '.*'
  # Connected for a few seconds, so that RabbitMQ lists the connection and its user.
  timeout 30 "$PY" "$TMP/amqp.py" "$AMQPS_PORT" "$CA/ca.crt" "$c1.crt" "$c1.key" external 6 \
    >"$TMP/ext1.out" 2>&1 &
  local pid=$!
  register_pid "$pid"
  wait_for_match "$TMP/ext1.out" '^(connected|refused)' 20
  assert_grep '^connected' "$TMP/ext1.out"
  run rmqctl external list_connections user auth_mechanism peer_cert_subject --silent
  grep -Fq "$DN1" "$OUT" || fail "rabbitmqctl list_connections does not show user $DN1: $(cat "$OUT")"
  note "rabbitmqctl list_connections: $(grep -F "$DN1" "$OUT" | head -n1 | tr '\t' ' ')"
  wait "$pid" || fail "the EXTERNAL client1 session failed: $(cat "$TMP/ext1.out")"
  assert_grep '^ok published and consumed' "$TMP/ext1.out"
  note "EXTERNAL as $DN1: $(tail -n1 "$TMP/ext1.out")"
  # Same CA, same names but OU=dev: another user, which does not exist.
  amqp_refused "EXTERNAL login of client2 (OU=dev)" \
    "user 'CN=client2.example.com,OU=dev,O=Example,ST=California,C=US' - invalid credentials" \
    "$AMQPS_PORT" "$c2.crt" "$c2.key" external
  stop_broker external
}

# The summary's step 3: one more client certificate, revoked, and the CRL; RabbitMQ checks it
# (crl_check = true) through Erlang's ssl_crl_hash_dir cache, which looks CRLs up by the issuer's
# name hash (<hash>.r0, as `openssl rehash` names them). rabbitmq.conf has no key for the cache:
# it is set in advanced.config, whose ssl_options replace rabbitmq.conf's (RabbitMQ 3.10 does not
# merge them: the listener then has no certificate), so there they are all: the summary's five
# lines as Erlang terms, crl_check and the cache.
crl_check() {
  need_root || return 0
  quickstart_conf
  run ctls cert issue --ca-cert "$CA/ca.crt" --ca-key "$CA/ca.key" --name client2 \
    --profile client --out "$Q/client2"
  run ctls cert issue --ca-cert "$CA/ca.crt" --ca-key "$CA/ca.key" --name client3 \
    --profile client --out "$Q/client3"
  run ctls ca revoke --ca-dir "$CA" "$Q/client2/client2.crt" --reason keyCompromise
  run ctls ca crl --ca-dir "$CA" --out "$CA/crl.pem" --force
  note "$(head -n1 "$OUT")"
  mkdir -p "$TMP/crls"
  cp "$CA/crl.pem" "$TMP/crls/ca.crl.pem"
  timeout 20 openssl rehash "$TMP/crls" >"$OUT" 2>&1 || fail "openssl rehash: $(cat "$OUT")"
  local hash
  hash=$(timeout 20 openssl crl -in "$CA/crl.pem" -noout -hash)
  [ -e "$TMP/crls/$hash.r0" ] || fail "openssl rehash made no $hash.r0: $(ls "$TMP/crls" | tr '\n' ' ')"
  broker_conf crl
  local terms="" line k v
  for line in "${SUMMARY_CONF[@]}"; do
    k=${line%% = *}
    k=${k#ssl_options.}
    v=${line#* = }
    case $k in
      *file) terms+="{$k, \"$v\"}, " ;;
      *) terms+="{$k, $v}, " ;;
    esac
  done
  printf '[{rabbit, [{ssl_options, [%s{crl_check, true},\n  {crl_cache, {ssl_crl_hash_dir, {internal, [{dir, "%s"}]}}}]}]}].\n' \
    "$terms" "$TMP/crls" >"$TMP/crl/advanced.config"
  note "advanced.config: $(tr -s ' \n' ' ' <"$TMP/crl/advanced.config" | sed "s|$TMP|\$TMP|g")"
  start_broker crl ""
  # The ssl_options RabbitMQ runs with: both files merged.
  run rmqctl crl eval 'application:get_env(rabbit, ssl_options).'
  grep -q 'crl_check,true' "$OUT" && grep -q 'ssl_crl_hash_dir' "$OUT" && grep -q 'cacertfile' "$OUT" ||
    fail "RabbitMQ's ssl_options lack crl_check, the cache or the summary's lines: $(cat "$OUT")"
  note "rabbitmqctl eval: ssl_options hold crl_check true, the ssl_crl_hash_dir cache and cacertfile"
  amqp_ok "client3 (not revoked)" "$AMQPS_PORT" "$Q/client3/client3.crt" "$Q/client3/client3.key" plain
  amqp_refused "client2 (revoked)" 'certificate revoked' "$AMQPS_PORT" "$Q/client2/client2.crt" \
    "$Q/client2/client2.key" plain
  amqp_ok "quickstart's client (not revoked)" "$AMQPS_PORT" "$Q/client/client.crt" \
    "$Q/client/client.key" plain
  stop_broker crl
}

section "Sensu's flow: quickstart --owner root:rabbitmq, the printed rabbitmq.conf lines, AMQPS with pika" sensu_flow
section "EXTERNAL authentication: the client certificate's full DN is the RabbitMQ user" external_dn
section "crl_check: ca revoke + ca crl in a hashed CRL directory, the revoked client refused" crl_check
finish
