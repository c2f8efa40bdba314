# shellcheck shell=bash
# Shared helpers of the clustertls integration tests (see README.md in this folder).
#
# A test script starts with
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
# and then runs independent sections:
#   section "what it checks" function_name
#   ...
#   finish
# Each section runs in a subshell: the first failed assertion ends that section (with a message
# saying what was expected and what happened), the other sections still run, and `finish` exits
# non-zero if any section failed. Every external command is bounded by `timeout`.

set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: bash $0 <path-to-clustertls> [repo-root]" >&2
  exit 2
fi
if [ ! -x "$1" ]; then
  echo "FAIL: clustertls binary '$1' does not exist or is not executable (build it first)" >&2
  exit 1
fi
CTLS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
export REPO=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export LC_ALL=C

# Per-script scratch directory, removed on exit (KEEP_TMP=1 keeps it for debugging).
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ctls-itest.XXXXXX")
OUT=$TMP/.last.stdout
ERR=$TMP/.last.stderr
PIDS=$TMP/.pids
: >"$PIDS"

_kill_registered() {
  local pid
  while read -r pid; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
  done <"$PIDS"
  : >"$PIDS"
}
_cleanup() {
  _kill_registered
  if [ "${KEEP_TMP:-0}" = 1 ]; then
    echo "(kept $TMP)"
  else
    rm -rf "$TMP"
  fi
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Sections and failures.

_FAILED=()
_PASSED=0

# fail MESSAGE...: reports a failed check and ends the current section.
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# note MESSAGE...: an informational line in the log.
note() { echo "  - $*"; }

# section NAME FUNCTION [ARGS...]: runs FUNCTION in a subshell (its own failure scope).
section() {
  local name=$1
  shift
  echo "=== $name"
  local t0=$SECONDS
  (
    set -uo pipefail
    "$@"
  )
  local rc=$?
  _kill_registered
  if [ $rc -eq 0 ]; then
    echo "--- ok ($((SECONDS - t0))s): $name"
    _PASSED=$((_PASSED + 1))
  else
    echo "--- FAILED ($((SECONDS - t0))s): $name" >&2
    _FAILED+=("$name")
  fi
}

# finish: exit status of the whole script.
finish() {
  if [ ${#_FAILED[@]} -gt 0 ]; then
    echo "$(basename "$0"): ${#_FAILED[@]} section(s) FAILED, $_PASSED passed:" >&2
    printf '  - %s\n' "${_FAILED[@]}" >&2
    exit 1
  fi
  echo "$(basename "$0"): all $_PASSED sections passed"
  exit 0
}

# ---------------------------------------------------------------------------------------------
# Running commands.

_q() {
  local s="" a q
  for a in "$@"; do
    printf -v q '%q' "$a"
    s+="$q "
  done
  s=${s% }
  printf '%s' "${s//"$TMP"/\$TMP}"
}

_show() {  # _show FILE: the first lines of a captured stream, indented
  if [ -s "$1" ]; then
    head -c 3000 "$1" | sed 's/^/      | /'
  else
    echo "      | (empty)"
  fi
}

# ctls ARGS...: the clustertls binary, bounded to 60 s.
ctls() { timeout 60 "$CTLS" "$@"; }

# run CMD...: CMD must exit 0. Its stdout is in $OUT, its stderr in $ERR.
run() {
  "$@" >"$OUT" 2>"$ERR"
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "FAIL: command exited $rc (expected 0): $(_q "$@")" >&2
    echo "    stderr:" >&2
    _show "$ERR" >&2
    echo "    stdout:" >&2
    _show "$OUT" >&2
    exit 1
  fi
  return 0
}

# expect_fail CODE REGEX -- CMD...: CMD must exit with CODE (or one of a list, e.g. "1,2") and
# print on stderr a message matching the extended regular expression REGEX (case-insensitive).
# For exit 1 the message must be one line, and no error output may contain PEM material.
expect_fail() {
  local code=$1 pattern=$2
  shift 2
  if [ "${1:-}" = "--" ]; then
    shift
  fi
  "$@" >"$OUT" 2>"$ERR"
  local rc=$?
  if [[ ",$code," != *",$rc,"* ]]; then
    echo "FAIL: expected exit $code, got $rc: $(_q "$@")" >&2
    echo "    stderr:" >&2
    _show "$ERR" >&2
    echo "    stdout:" >&2
    _show "$OUT" >&2
    exit 1
  fi
  local err="" out=""
  IFS= read -r -d '' err <"$ERR"
  IFS= read -r -d '' out <"$OUT"
  shopt -s nocasematch
  if ! [[ $err =~ $pattern ]]; then
    shopt -u nocasematch
    echo "FAIL: error message does not match /$pattern/ (case-insensitive): $(_q "$@")" >&2
    _show "$ERR" >&2
    exit 1
  fi
  shopt -u nocasematch
  local trimmed=${err%$'\n'}
  if [ "$rc" -eq 1 ] && [[ -z $trimmed || $trimmed == *$'\n'* ]]; then
    echo "FAIL: the error should be one line: $(_q "$@")" >&2
    _show "$ERR" >&2
    exit 1
  fi
  if [[ $err == *-----BEGIN* || $out == *-----BEGIN* ]]; then
    fail "error output contains PEM material: $(_q "$@")"
  fi
  note "exit $rc as expected: ${trimmed:0:200}"
  return 0
}

# err_has TEXT: the last captured stderr contains TEXT (fixed string, case-insensitive).
err_has() {
  local err=""
  IFS= read -r -d '' err <"$ERR"
  [[ ${err,,} == *"${1,,}"* ]] || fail "the message should name '$1': ${err:0:500}"
}

# out_has REGEX: the last captured stdout matches REGEX (extended, case-insensitive).
out_has() {
  grep -Eiq -- "$1" "$OUT" || {
    echo "FAIL: stdout does not match /$1/" >&2
    _show "$OUT" >&2
    exit 1
  }
}

# ---------------------------------------------------------------------------------------------
# Files.

assert_file() { [ -f "$1" ] || fail "expected file $1 to exist (dir: $(ls -A "$(dirname "$1")" 2>&1 | tr '\n' ' '))"; }
assert_no_file() { [ ! -e "$1" ] || fail "expected no file $1, but it exists"; }

# assert_dir_empty DIR: DIR does not exist or holds nothing (not even hidden temporary files).
assert_dir_empty() {
  if [ -d "$1" ] && [ -n "$(ls -A "$1")" ]; then
    fail "expected no output in $1, found: $(ls -A "$1" | tr '\n' ' ')"
  fi
  return 0
}

# assert_mode MODE FILE: permission bits, e.g. assert_mode 600 ca.key.
assert_mode() {
  assert_file "$2"
  local m
  m=$(stat -c %a "$2")
  [ "$m" = "$1" ] || fail "$2 has mode $m, expected $1"
}

# assert_grep REGEX FILE / assert_not_grep REGEX FILE (extended regex).
assert_grep() {
  grep -Eq -- "$1" "$2" || {
    echo "FAIL: $(basename "$2") does not match /$1/" >&2
    _show "$2" >&2
    exit 1
  }
}
assert_not_grep() {
  if grep -Eq -- "$1" "$2"; then
    echo "FAIL: $(basename "$2") must not match /$1/:" >&2
    grep -E -- "$1" "$2" | head -5 | sed 's/^/      | /' >&2
    exit 1
  fi
  return 0
}

# assert_eq ACTUAL EXPECTED WHAT
assert_eq() {
  [ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# ---------------------------------------------------------------------------------------------
# X.509 through the openssl CLI (the independent judge).

# cert_count FILE: number of PEM certificates in FILE.
cert_count() { grep -c -- '-----BEGIN CERTIFICATE-----' "$1"; }

# split_pem FILE PREFIX: writes PREFIX0.pem, PREFIX1.pem, ... one certificate each.
split_pem() {
  awk -v p="$2" '/-----BEGIN CERTIFICATE-----/{f=p n ".pem"; n++} f{print > f} /-----END CERTIFICATE-----/{close(f); f=""}' n=0 "$1"
}

# Facts about the first certificate of a PEM file come from ONE `openssl x509` run, cached by the
# file's content (spawning processes is what makes shell tests slow). Call `cache_cert FILE` in the
# current shell before using the helpers in $(...) so the subshells share the cache.
declare -A _CERT_INFO=()
_K=""
_I=""
# cache_cert FILE: fills the cache (no process when it is warm) and sets _I to the facts.
cache_cert() {
  _K=""
  IFS= read -r -d '' _K <"$1" 2>/dev/null
  _K=${_K:-<empty $1>}
  if [ -z "${_CERT_INFO[$_K]+x}" ]; then
    _CERT_INFO[$_K]=$(timeout 20 openssl x509 -in "$1" -noout -text -fingerprint -sha256 -serial \
      -subject -issuer -dates -pubkey -nameopt RFC2253 2>/dev/null)
  fi
  _I=${_CERT_INFO[$_K]}
}
# cert_info FILE: text, fingerprint, serial, subject, issuer, dates and public key.
cert_info() {
  cache_cert "$1"
  # A reader like `grep -q` may stop early: ignore SIGPIPE so that is not a failed pipeline.
  (
    trap '' PIPE
    printf '%s\n' "$_I" 2>/dev/null
  )
  return 0
}
# _field FILE PREFIX: the rest of the line of the facts that starts with PREFIX.
_field() {
  cache_cert "$1"
  local l=$'\n'$_I
  [[ $l == *$'\n'"$2"* ]] || return 0
  l=${l#*$'\n'"$2"}
  printf '%s\n' "${l%%$'\n'*}"
}

# x509 FILE ARGS...: openssl x509 -noout on the first certificate of FILE (`x509 FILE -text`
# is served from the cache).
x509() {
  local f=$1
  shift
  if [ "$*" = "-text" ]; then
    cert_info "$f"
    return
  fi
  timeout 20 openssl x509 -in "$f" -noout "$@"
}

# ext FILE NAME: the extension NAME (e.g. keyUsage) as `openssl x509 -ext NAME` prints it:
# the header line ("X509v3 Key Usage: critical") then its value lines indented by 4.
ext() {
  local name
  case $2 in
    basicConstraints) name='X509v3 Basic Constraints' ;;
    keyUsage) name='X509v3 Key Usage' ;;
    extendedKeyUsage) name='X509v3 Extended Key Usage' ;;
    subjectKeyIdentifier) name='X509v3 Subject Key Identifier' ;;
    authorityKeyIdentifier) name='X509v3 Authority Key Identifier' ;;
    subjectAltName) name='X509v3 Subject Alternative Name' ;;
    nameConstraints) name='X509v3 Name Constraints' ;;
    crlDistributionPoints) name='X509v3 CRL Distribution Points' ;;
    authorityInfoAccess) name='Authority Information Access' ;;
    *) name=$2 ;;
  esac
  cache_cert "$1"
  local line p=0 l
  while IFS= read -r line; do
    if [ $p = 1 ]; then
      [[ $line == "             "* ]] || break
      l=${line#"${line%%[! ]*}"}
      printf '    %s\n' "$l"
    elif [[ $line == "            $name:"* ]]; then
      p=1
      l=${line#"${line%%[! ]*}"}
      printf '%s\n' "${l%"${l##*[! ]}"}"
    fi
  done <<<"$_I"
}

# subject_of FILE / issuer_of FILE: the names in RFC 2253 form.
subject_of() { _field "$1" subject=; }
issuer_of() { _field "$1" issuer=; }

# cn_of FILE: the subject CN.
cn_of() {
  local s
  s=$(subject_of "$1")
  [[ $s =~ (^|,)CN=(([^,\\]|\\.)*) ]] && printf '%s\n' "${BASH_REMATCH[2]}"
  return 0
}

# fp_colon FILE: SHA-256 fingerprint as openssl prints it (AA:BB:...).
fp_colon() { _field "$1" 'sha256 Fingerprint='; }

# serial_hex FILE
serial_hex() { _field "$1" serial=; }

# ossl_verify ARGS... CERT: `openssl verify -x509_strict ARGS CERT` must print "CERT: OK".
ossl_verify() {
  local cert=${!#}
  timeout 20 openssl verify -x509_strict "$@" >"$OUT" 2>&1
  local rc=$?
  if [ $rc -ne 0 ] || ! grep -q ': OK$' "$OUT"; then
    echo "FAIL: openssl verify -x509_strict $(_q "$@") (exit $rc):" >&2
    _show "$OUT" >&2
    exit 1
  fi
  local args
  args=$(_q "${@:1:$#-1}")
  note "openssl verify OK: ${cert##*/} ${args:0:150}"
}

# ossl_verify_refuses REGEX ARGS... CERT: openssl verify must fail with a message matching REGEX.
ossl_verify_refuses() {
  local pattern=$1
  shift
  timeout 20 openssl verify -x509_strict "$@" >"$OUT" 2>&1
  local rc=$?
  if [ $rc -eq 0 ]; then
    echo "FAIL: openssl verify accepted what it should refuse: $(_q "$@")" >&2
    _show "$OUT" >&2
    exit 1
  fi
  grep -Eiq -- "$pattern" "$OUT" || {
    echo "FAIL: openssl verify failed, but not with /$pattern/:" >&2
    _show "$OUT" >&2
    exit 1
  }
  note "openssl verify refuses as expected: $(grep -Ei -m1 -- "$pattern" "$OUT")"
}

# gnutls_verify CA CERTFILE [certtool options...]: GnuTLS certtool must verify the chain in
# CERTFILE (leaf first) against CA.
gnutls_verify() {
  local ca=$1 cert=$2
  shift 2
  timeout 20 certtool --verify --load-ca-certificate "$ca" --infile "$cert" "$@" >"$OUT" 2>&1
  local rc=$?
  if [ $rc -ne 0 ] || ! grep -q 'Chain verification output: Verified' "$OUT"; then
    echo "FAIL: certtool --verify $(_q "$@") of $(basename "$cert") against $(basename "$ca") (exit $rc):" >&2
    _show "$OUT" >&2
    exit 1
  fi
  note "certtool verified ${cert##*/} $*"
}

# gnutls_refuses CA CERTFILE [options...]: certtool must NOT verify it.
gnutls_refuses() {
  local ca=$1 cert=$2
  shift 2
  timeout 20 certtool --verify --load-ca-certificate "$ca" --infile "$cert" "$@" >"$OUT" 2>&1
  local rc=$?
  if [ $rc -eq 0 ] && grep -q 'Chain verification output: Verified' "$OUT"; then
    echo "FAIL: certtool verified what it should refuse: $(basename "$cert") $*" >&2
    _show "$OUT" >&2
    exit 1
  fi
  note "certtool refuses as expected: $(grep -i -m1 'Chain verification output' "$OUT")"
}

# serial_bits FILE: bit length of the serial number.
serial_bits() {
  local h
  h=$(serial_hex "$1" | sed 's/^0*//')
  if [ -z "$h" ]; then
    echo 0
    return
  fi
  local first=$((16#${h:0:1})) bits=0
  while [ $first -gt 0 ]; do
    bits=$((bits + 1))
    first=$((first >> 1))
  done
  echo $(((${#h} - 1) * 4 + bits))
}

# epoch_of "Mon DD HH:MM:SS YYYY GMT": seconds since the epoch (GNU date).
epoch_of() { date -u -d "$1" +%s; }
not_before() { epoch_of "$(_field "$1" notBefore=)"; }
not_after() { epoch_of "$(_field "$1" notAfter=)"; }

# ext_names FILE: the names of the X.509v3 extensions of a certificate, one per line, sorted.
ext_names() {
  cert_info "$1" | sed -n '/^        X509v3 extensions:/,/^    Signature Algorithm:/p' |
    sed -En 's/^ {12}([^ ][^:]*):( critical)? *$/\1/p' | sort
}

# ---------------------------------------------------------------------------------------------
# Processes and waits.

# register_pid PID: killed at the end of the section (and of the script).
register_pid() { echo "$1" >>"$PIDS"; }

# wait_for_match FILE REGEX SECONDS: polls until FILE matches REGEX, fails after SECONDS.
wait_for_match() {
  local f=$1 re=$2 limit=$3
  local deadline=$((SECONDS + limit))
  while [ $SECONDS -le $deadline ]; do
    if [ -f "$f" ] && grep -Eq -- "$re" "$f"; then
      return 0
    fi
    sleep 0.1
  done
  echo "FAIL: timed out after ${limit}s waiting for /$re/ in $(basename "$f"):" >&2
  _show "$f" >&2
  exit 1
}

# start_nginx_mtls NAME CERT KEY CLIENT_CA DIRECTIVE...: Debian's nginx (-p $TMP/NAME) serving TLS
# on a free 127.0.0.1 port with CERT and KEY, requiring client certificates from CLIENT_CA, plus
# each DIRECTIVE on a line of its own in the server block; answers GET / with the client's DN.
# Sets NGX_PORT and NGX_LOG; nginx is stopped with the section. (The caller puts nginx on PATH.)
start_nginx_mtls() {
  local name=$1 cert=$2 key=$3 client_ca=$4
  shift 4
  local dir=$TMP/$name
  mkdir -p "$dir/logs"
  NGX_PORT=$(free_port)
  NGX_LOG=$dir/logs/error.log
  local user=""
  [ "$(id -u)" -eq 0 ] && user="user root root;"
  {
    echo "$user"
    echo "daemon off;"
    echo "worker_processes 1;"
    echo "pid $dir/nginx.pid;"
    echo "error_log $NGX_LOG info;"
    echo "events { worker_connections 64; }"
    echo "http {"
    echo "  access_log $dir/logs/access.log;"
    echo "  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy;"
    echo "  fastcgi_temp_path $dir/fastcgi; uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;"
    echo "  server {"
    echo "    listen 127.0.0.1:$NGX_PORT ssl;"
    echo "    server_name localhost;"
    echo "    ssl_certificate $cert;"
    echo "    ssl_certificate_key $key;"
    echo "    ssl_client_certificate $client_ca;"
    echo "    ssl_verify_client on;"
    printf '    %s\n' "$@"
    echo '    location / { return 200 "hello $ssl_client_s_dn\n"; }'
    echo "  }"
    echo "}"
  } >"$dir/nginx.conf"
  timeout 20 nginx -p "$dir" -c "$dir/nginx.conf" -e "$NGX_LOG" -t >"$OUT" 2>&1 || {
    echo "FAIL: nginx -t refuses the configuration:" >&2
    _show "$OUT" >&2
    sed 's/^/      | /' "$dir/nginx.conf" >&2
    exit 1
  }
  timeout 120 nginx -p "$dir" -c "$dir/nginx.conf" -e "$NGX_LOG" >"$dir/logs/stdout" 2>&1 </dev/null &
  local pid=$!
  register_pid "$pid"
  local deadline=$((SECONDS + 20))
  while [ $SECONDS -le $deadline ]; do
    timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$NGX_PORT" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || {
      echo "FAIL: nginx exited:" >&2
      _show "$NGX_LOG" >&2
      exit 1
    }
    sleep 0.1
  done
  [ $SECONDS -le $deadline ] || fail "nginx did not listen on 127.0.0.1:$NGX_PORT within 20 s"
  note "nginx $(nginx -v 2>&1 | sed 's/.*\///') on 127.0.0.1:$NGX_PORT: $*"
}

# free_port: a TCP port on 127.0.0.1 that was free a moment ago (prefer binding to port 0 and
# reading the bound port, as start_s_server does).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_s_server LOG ARGS...: starts `openssl s_server -accept 127.0.0.1:0 ARGS` in the
# background (bounded to 120 s), waits until it listens and sets S_PORT to the bound port.
start_s_server() {
  local log=$1
  shift
  # Empty the log here, not only in the background child: that one may open it after the wait
  # below has read an earlier server's ACCEPT line from it (a reused log name).
  : >"$log"
  timeout 120 openssl s_server -accept 127.0.0.1:0 "$@" >"$log" 2>&1 </dev/null &
  register_pid $!
  wait_for_match "$log" '^ACCEPT' 30
  S_PORT=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' "$log" | head -n1)
  if [ -z "$S_PORT" ]; then
    fail "s_server did not report its port: $(head -c 300 "$log")"
  fi
  note "s_server listening on 127.0.0.1:$S_PORT"
}

# ---------------------------------------------------------------------------------------------
# Checks of issued certificates shared by several scripts.

# pubkey_of_cert CERT / pubkey_of_key KEY [openssl pkey options]: the public key as PEM.
pubkey_of_cert() { cert_info "$1" | sed -n '/^-----BEGIN PUBLIC KEY-----$/,/^-----END PUBLIC KEY-----$/p'; }
pubkey_of_key() {
  local k=$1
  shift
  timeout 20 openssl pkey -in "$k" -pubout "$@"
}

# assert_key_matches CERT KEY [openssl pkey options]: openssl agrees the key belongs to CERT.
assert_key_matches() {
  local c=$1 k=$2
  shift 2
  local a b
  a=$(pubkey_of_cert "$c") || fail "openssl cannot read certificate $c"
  b=$(pubkey_of_key "$k" "$@") || fail "openssl cannot read private key $k"
  [ "$a" = "$b" ] || fail "private key $(basename "$k") does not match certificate $(basename "$c")"
}

# assert_key_file KEY: a private key file: mode 0600, PKCS#8 PEM, readable by openssl.
assert_key_file() {
  assert_mode 600 "$1"
  assert_grep '^-----BEGIN (ENCRYPTED )?PRIVATE KEY-----$' "$1"
}

# assert_key_type CERT TYPE: TYPE is ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096 or ed25519.
assert_key_type() {
  local t
  t=$(x509 "$1" -text)
  case $2 in
    ec-p256) grep -q 'id-ecPublicKey' <<<"$t" && grep -Eq 'NIST CURVE: P-256|prime256v1' <<<"$t" ;;
    ec-p384) grep -q 'id-ecPublicKey' <<<"$t" && grep -Eq 'NIST CURVE: P-384|secp384r1' <<<"$t" ;;
    rsa-*) grep -q 'rsaEncryption' <<<"$t" && grep -q "Public-Key: (${2#rsa-} bit)" <<<"$t" ;;
    ed25519) grep -q 'Public Key Algorithm: ED25519' <<<"$t" ;;
    *) false ;;
  esac || fail "$(basename "$1") does not hold a $2 key: $(grep -E 'Public Key Algorithm|Public-Key|CURVE' <<<"$t" | tr -s ' ' | tr '\n' ' ')"
}

# assert_leaf CERT PROFILE [ISSUER_CERT]: what every leaf profile must carry (issue 2):
# BasicConstraints critical CA:FALSE, KeyUsage critical and right for the key type, the EKU of
# PROFILE (server|client|peer) and nothing else, SKI, AKI (= issuer's SKI), a SAN holding the
# CN, a positive serial of 97+ bits, X.509 v3, no SHA-1 signature.
assert_leaf() {
  local c=$1 profile=$2 issuer=${3:-}
  local b k e n
  n=${c##*/}
  cache_cert "$c"
  local info=$_I
  [ -n "$issuer" ] && cache_cert "$issuer"
  b=$(ext "$c" basicConstraints)
  [[ $b == *critical* && $b == *CA:FALSE* ]] ||
    fail "$n: BasicConstraints must be critical CA:FALSE, got: ${b//$'\n'/ }"
  k=$(ext "$c" keyUsage)
  [[ $k == *critical* && $k == *"Digital Signature"* ]] ||
    fail "$n: KeyUsage must be critical with digitalSignature, got: ${k//$'\n'/ }"
  if [[ $k == *"Certificate Sign"* || $k == *"CRL Sign"* ]]; then
    fail "$n: a leaf must not have keyCertSign/cRLSign: ${k//$'\n'/ }"
  fi
  if [[ $info != *rsaEncryption* && $k == *"Key Encipherment"* ]]; then
    fail "$n: keyEncipherment on a non-RSA key: ${k//$'\n'/ }"
  fi
  e=$(ext "$c" extendedKeyUsage)
  local srv=0 cli=0 v item
  [[ $e == *"TLS Web Server Authentication"* ]] && srv=1
  [[ $e == *"TLS Web Client Authentication"* ]] && cli=1
  v=${e#*$'\n'}
  v=${v#"${v%%[! ]*}"}
  local IFS_=$IFS
  IFS=$'\n'
  for item in ${v//, /$'\n'}; do
    case $item in
      "TLS Web Server Authentication" | "TLS Web Client Authentication") ;;
      *) IFS=$IFS_; fail "$n: unexpected EKU: $item" ;;
    esac
  done
  IFS=$IFS_
  case $profile in
    server) [ "$srv$cli" = 10 ] ;;
    client) [ "$srv$cli" = 01 ] ;;
    peer) [ "$srv$cli" = 11 ] ;;
  esac || fail "$n: EKU for profile $profile is wrong: ${e//$'\n'/ }"
  local ski aki iski
  ski=$(ext "$c" subjectKeyIdentifier)
  ski=${ski#*$'\n'}
  ski=${ski// /}
  [[ $ski == *:* ]] || fail "$n: no SubjectKeyIdentifier"
  aki=$(ext "$c" authorityKeyIdentifier)
  aki=${aki#*$'\n'}
  aki=${aki%%$'\n'*}
  aki=${aki// /}
  aki=${aki#keyid:}
  [[ $aki == *:* ]] || fail "$n: no AuthorityKeyIdentifier"
  if [ -n "$issuer" ]; then
    iski=$(ext "$issuer" subjectKeyIdentifier)
    iski=${iski#*$'\n'}
    iski=${iski// /}
    assert_eq "$aki" "$iski" "$n: AKI keyid vs the issuer's SKI"
  fi
  assert_cn_in_san "$c"
  local bits s
  s=$(serial_hex "$c")
  bits=$(serial_bits "$c")
  [ "$bits" -ge 97 ] || fail "$n: serial $s has only $bits bits (need 128 random bits)"
  [ "${s:0:1}" != "-" ] || fail "$n: negative serial $s"
  [[ $info == *"Version: 3 (0x2)"* ]] || fail "$n: not an X.509 v3 certificate"
  shopt -s nocasematch
  if [[ $info =~ Signature\ Algorithm:\ [^$'\n']*sha1 ]]; then
    shopt -u nocasematch
    fail "$n: SHA-1 signature"
  fi
  shopt -u nocasematch
  return 0
}

# assert_cn_in_san CERT: the subject CN is one of the SAN entries (DNS, IP or email).
assert_cn_in_san() {
  local cn san lc
  cn=$(cn_of "$1")
  [ -n "$cn" ] || fail "${1##*/}: no subject CN"
  san=$(san_list "$1")
  [ -n "$san" ] || fail "${1##*/}: no subjectAltName"
  lc=${cn,,}
  [[ $'\n'"${san,,}"$'\n' == *$'\n'"dns:$lc"$'\n'* || $'\n'"${san,,}"$'\n' == *$'\n'"ip address:$lc"$'\n'* ||
    $'\n'"${san,,}"$'\n' == *$'\n'"email:$lc"$'\n'* ]] ||
    fail "${1##*/}: CN '$cn' is not among the SANs: ${san//$'\n'/ }"
}

# san_list CERT: the SAN entries, one per line, sorted (as openssl prints them: DNS:x, IP Address:y).
san_list() {
  local v
  v=$(ext "$1" subjectAltName)
  v=${v#*$'\n'}
  v=${v#"${v%%[! ]*}"}
  [ -n "$v" ] || return 0
  printf '%s\n' "${v//, /$'\n'}" | sort
}

# assert_chain_order FILE: each certificate in FILE is issued by the next one (leaf first).
assert_chain_order() {
  local d=$TMP/.split.$$
  rm -rf "$d"
  mkdir -p "$d"
  split_pem "$1" "$d/c"
  local n i
  n=$(cert_count "$1")
  for ((i = 0; i < n; i++)); do
    cache_cert "$d/c$i.pem"
  done
  for ((i = 0; i + 1 < n; i++)); do
    local iss sub
    iss=$(issuer_of "$d/c$i.pem")
    sub=$(subject_of "$d/c$((i + 1)).pem")
    [ "$iss" = "$sub" ] || fail "$(basename "$1"): certificate $i is issued by '$iss' but is followed by '$sub'"
  done
  rm -rf "$d"
}

# ---------------------------------------------------------------------------------------------
# `clustertls serve` (issue 3): a cluster in a data directory, a server on a free port, and
# HTTPS requests with curl judged by status code and JSON (jq).

# serve_init DIR FQDN [ARGS...]: `clustertls init`; sets ADMIN_PW (from the line
# `admin password: <pw>`), ADMIN (curl's -u arguments for admin) and CA_FP (the CA's SHA-256
# fingerprint, lower-case hex without colons). The output is kept in DIR.init.out (it holds
# the password: never in a server log).
serve_init() {
  local dir=$1 fqdn=$2
  shift 2
  run ctls init --data-dir "$dir" --fqdn "$fqdn" "$@"
  cp "$OUT" "$dir.init.out"
  ADMIN_PW=$(sed -n 's/^.*admin password: *\([^ ]*\) *$/\1/p' "$OUT" | head -n1)
  [ -n "$ADMIN_PW" ] || fail "init printed no 'admin password: <pw>' line: $(head -c 600 "$OUT")"
  ADMIN=(-u "admin:$ADMIN_PW")  # curl arguments: Basic authentication as admin
  # The colon form (as openssl prints it), else 64 hex digits on a line naming the fingerprint
  # (a generated root passphrase may also be hex).
  CA_FP=$(grep -Eio '([0-9a-f]{2}:){31}[0-9a-f]{2}' "$OUT" | head -n1 | tr -d ':' | tr 'A-F' 'a-f')
  [ -n "$CA_FP" ] || CA_FP=$(grep -Ei 'fingerprint|sha-?256' "$OUT" | grep -Eio '\b[0-9a-f]{64}\b' |
    head -n1 | tr 'A-F' 'a-f')
  [ -n "$CA_FP" ] || fail "init printed no SHA-256 fingerprint: $(head -c 600 "$OUT")"
  return 0
}

# start_serve DIR LOG [ARGS...]: `clustertls serve --data-dir DIR --listen 127.0.0.1:0 ARGS` (and
# `--public-listen 127.0.0.1:0` unless ARGS give one) in
# the background (stdout and stderr to LOG, bounded to 280 s), registered for cleanup; waits
# (at most 60 s) for `clustertls: serving https://127.0.0.1:<port>` and sets SERVE_PID and
# SERVE_PORT. `timeout` passes a SIGTERM on to the server and exits with its status.
start_serve() {
  local dir=$1 log=$2
  shift 2
  # The public listener (issue 4) defaults to 127.0.0.1:9080: two servers (two instances of a
  # test, or tests run in parallel) would collide there, so it gets a free port unless asked.
  local pub=(--public-listen 127.0.0.1:0)
  [[ " $* " == *" --public-listen "* ]] && pub=()
  # Emptied here first, so that a reused log cannot show an earlier server's port (see
  # start_s_server).
  : >"$log"
  timeout 280 "$CTLS" serve --data-dir "$dir" --listen 127.0.0.1:0 "${pub[@]}" "$@" >"$log" 2>&1 </dev/null &
  SERVE_PID=$!
  register_pid "$SERVE_PID"
  local deadline=$((SECONDS + 60))
  SERVE_PORT=""
  while [ $SECONDS -le $deadline ]; do
    SERVE_PORT=$(sed -n 's/^.*serving https:\/\/127\.0\.0\.1:\([0-9][0-9]*\).*$/\1/p' "$log" | head -n1)
    [ -n "$SERVE_PORT" ] && break
    if ! kill -0 "$SERVE_PID" 2>/dev/null; then
      echo "FAIL: clustertls serve exited before listening:" >&2
      _show "$log" >&2
      exit 1
    fi
    sleep 0.1
  done
  [ -n "$SERVE_PORT" ] || {
    echo "FAIL: clustertls serve did not print 'serving https://127.0.0.1:<port>' within 60 s:" >&2
    _show "$log" >&2
    exit 1
  }
  note "clustertls serve (pid $SERVE_PID) on 127.0.0.1:$SERVE_PORT"
}

# stop_serve PID [SECONDS]: SIGTERM, then waits (bounded, default 30 s) for the exit; sets
# SERVE_RC to the exit status (fails if the server is still running after SECONDS).
stop_serve() {
  local pid=$1 limit=${2:-30}
  kill -TERM "$pid" 2>/dev/null
  local deadline=$((SECONDS + limit))
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -le $deadline ]; do
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    fail "clustertls serve (pid $pid) did not exit within ${limit}s of SIGTERM"
  fi
  wait "$pid" 2>/dev/null
  SERVE_RC=$?
}

# API_HOST: the name curl connects to (resolved to 127.0.0.1 with --resolve, so the api
# certificate's FQDN is what curl checks); API_CA: the trust anchor curl uses (--cacert).
API_HOST=${API_HOST:-}
API_CA=${API_CA:-}
BODY=$TMP/.last.body
HDRS=$TMP/.last.headers

# fetch_ca_root PORT HOST FILE: downloads GET /v1/ca/chain (public) and writes its last
# certificate (the root) to FILE, after checking that the root's SHA-256 fingerprint is CA_FP
# (the one `init` printed): trust on first use pinned by fingerprint, as `clustertls login`
# does. The chain itself is kept in FILE.chain.
fetch_ca_root() {
  local port=$1 host=$2 file=$3
  # The only -k of the suite outside the Redis command: the download is checked against the
  # fingerprint below before anything trusts it.
  timeout 30 curl -sS -k --resolve "$host:$port:127.0.0.1" -o "$file.chain" -w '%{http_code}' \
    "https://$host:$port/v1/ca/chain" >"$OUT" 2>"$ERR" || fail "curl GET /v1/ca/chain failed: $(cat "$ERR")"
  assert_eq "$(cat "$OUT")" 200 "GET /v1/ca/chain status"
  local n
  n=$(cert_count "$file.chain")
  [ "$n" -ge 2 ] || fail "GET /v1/ca/chain returned $n certificates, expected issuing CA + root"
  local d=$TMP/.chain.$$
  mkdir -p "$d"
  split_pem "$file.chain" "$d/c"
  cp "$d/c$((n - 1)).pem" "$file"
  rm -rf "$d"
  local fp
  fp=$(timeout 20 openssl x509 -in "$file" -noout -fingerprint -sha256 | sed 's/^.*=//' | tr -d ':' |
    tr 'A-F' 'a-f')
  assert_eq "$fp" "$CA_FP" "fingerprint of the root from /v1/ca/chain vs the one init printed"
}

# api METHOD PATH [CURL ARGS...]: an HTTPS request to https://$API_HOST:$SERVE_PORT PATH with
# curl (--cacert $API_CA, bounded to 30 s). Sets HTTP_STATUS; the body is in $BODY, the
# response headers in $HDRS. Fails only if curl itself fails (TLS, connection).
api() {
  local m=$1 p=$2
  shift 2
  HTTP_STATUS=$(timeout 30 curl -sS -o "$BODY" -D "$HDRS" -w '%{http_code}' --cacert "$API_CA" \
    --resolve "$API_HOST:$SERVE_PORT:127.0.0.1" -X "$m" "$@" "https://$API_HOST:$SERVE_PORT$p" \
    2>"$ERR")
  local rc=$?
  [ $rc -eq 0 ] || fail "curl $m $p failed (exit $rc): $(head -c 500 "$ERR")"
  return 0
}


# expect_status CODE [WHAT]: the last api call answered CODE.
expect_status() {
  if [ "$HTTP_STATUS" != "$1" ]; then
    echo "FAIL: ${2:-request} answered HTTP $HTTP_STATUS, expected $1; body:" >&2
    _show "$BODY" >&2
    exit 1
  fi
  return 0
}

# expect_error CODE REGEX [WHAT]: the last api call answered HTTP CODE with a JSON body
# {"error":{"code":...,"message":...}} whose code or message matches REGEX (case-insensitive),
# a one-line message and no PEM material.
expect_error() {
  expect_status "$1" "${3:-request}"
  local code msg
  code=$(jq -er '.error.code' "$BODY" 2>/dev/null) || {
    echo "FAIL: ${3:-request}: HTTP $1 without a JSON error body:" >&2
    _show "$BODY" >&2
    exit 1
  }
  msg=$(jq -er '.error.message' "$BODY" 2>/dev/null) || fail "${3:-request}: error without a message"
  shopt -s nocasematch
  if ! [[ "$code: $msg" =~ $2 ]]; then
    shopt -u nocasematch
    fail "${3:-request}: error '$code: $msg' does not match /$2/"
  fi
  shopt -u nocasematch
  [[ $msg != *$'\n'* ]] || fail "${3:-request}: the error message is not one line: $msg"
  if grep -q -- '-----BEGIN' "$BODY"; then
    fail "${3:-request}: error body contains PEM material"
  fi
  note "HTTP $1 as expected: $code: ${msg:0:160}"
}

# jbody FILTER: jq -r FILTER of the last body (fails when the body is not JSON).
jbody() {
  jq -r "$1" "$BODY" 2>/dev/null || fail "body is not JSON (filter $1): $(head -c 300 "$BODY")"
}

# json_cert_body NAME KEYFILE CERTFILE: {"name":NAME,"key":<PEM>,"certificate":<PEM>} (jq).
json_cert_body() {
  jq -n --arg n "$1" --rawfile k "$2" --rawfile c "$3" '{name:$n,key:$k,certificate:$c}'
}

# presented_fp PORT SERVERNAME: the SHA-256 fingerprint (lower-case hex) of the certificate
# `openssl s_client` receives (empty if the handshake fails).
presented_fp() {
  timeout 15 openssl s_client -connect "127.0.0.1:$1" -servername "$2" </dev/null 2>/dev/null |
    timeout 15 openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/^.*=//' | tr -d ':' |
    tr 'A-F' 'a-f'
}

# file_fp FILE: SHA-256 fingerprint (lower-case hex) of the first certificate in FILE.
file_fp() {
  timeout 20 openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/^.*=//' | tr -d ':' |
    tr 'A-F' 'a-f'
}

# s_client_ok PORT ARGS...: a TLS handshake with `openssl s_client ARGS` succeeds (the
# protocol and cipher are in $OUT). s_client_fails PORT ARGS...: it does not.
s_client_ok() {
  local port=$1
  shift
  timeout 15 openssl s_client -connect "127.0.0.1:$port" -servername "${API_HOST:-localhost}" "$@" \
    </dev/null >"$OUT" 2>&1
  local rc=$?
  if [ $rc -ne 0 ] || ! grep -Eq '^ *Cipher *: *[A-Z0-9_-]+$|^New, TLS' "$OUT" ||
    grep -q 'Cipher is (NONE)' "$OUT"; then
    echo "FAIL: openssl s_client $* should complete a handshake (exit $rc):" >&2
    grep -Ei 'error|alert|Protocol|Cipher' "$OUT" | head -8 | sed 's/^/      | /' >&2
    exit 1
  fi
  note "s_client $* -> $(grep -Eo 'New, [^,]*, Cipher is [A-Z0-9_-]+' "$OUT" | head -n1)"
}
# The refusal must come from the server (an alert or a version it will not speak), not from
# s_client itself ("no protocols available", "no ciphers available").
s_client_fails() {
  local port=$1
  shift
  timeout 15 openssl s_client -connect "127.0.0.1:$port" -servername "${API_HOST:-localhost}" "$@" \
    </dev/null >"$OUT" 2>&1
  local rc=$?
  if [ $rc -eq 0 ] && grep -Eq '^New, TLS' "$OUT" && ! grep -q 'Cipher is (NONE)' "$OUT"; then
    echo "FAIL: openssl s_client $* should fail, but negotiated:" >&2
    grep -E '^New,|Protocol' "$OUT" | head -4 | sed 's/^/      | /' >&2
    exit 1
  fi
  if grep -Eiq 'no protocols available|no ciphers available|no cipher match' "$OUT"; then
    echo "FAIL: openssl s_client $* failed on the client side, so it proves nothing about the server:" >&2
    grep -Ei 'error' "$OUT" | head -4 | sed 's/^/      | /' >&2
    exit 1
  fi
  note "s_client $* refused as expected: $(grep -Ei -m1 'alert|error|no (protocols|ciphers)' "$OUT" | cut -c1-150)"
}

# spawn_group CMD...: runs CMD in the background in its own process group (setsid) and records
# it, so that kill_groups ends it together with every child (pipelines, sleeps). kill_groups
# runs on exit; call it at the end of a section that spawned groups.
_GROUPS=$TMP/.groups
: >"$_GROUPS"
spawn_group() {
  setsid "$@" </dev/null &
  echo $! >>"$_GROUPS"
}
kill_groups() {
  local g
  while read -r g; do
    [ -n "$g" ] && kill -- "-$g" 2>/dev/null
  done <"$_GROUPS"
  : >"$_GROUPS"
}
# group_running: some spawned group still has its leader running.
group_running() {
  local g
  while read -r g; do
    [ -n "$g" ] && kill -0 "$g" 2>/dev/null && return 0
  done <"$_GROUPS"
  return 1
}
trap 'kill_groups; _cleanup' EXIT

# ---------------------------------------------------------------------------------------------
# serve: issuing and the public listener.

# make_csr NAME [SAN]: $TMP/NAME.key and $TMP/NAME.csr by openssl req (EC P-256).
make_csr() {
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/$1.key" -out "$TMP/$1.csr" -subj "/CN=$1" \
    -addext "subjectAltName=${2:-DNS:$1}" >/dev/null 2>&1 || fail "openssl req failed for $1"
}

# api_sign NAME PROFILE [SAN] [EXTRA]: make_csr NAME [SAN], then POST /v1/ca/sign as admin
# (ADMIN) for 30 days, EXTRA (a JSON object, e.g. '{"allow_reserved":true}') merged into the
# request; $TMP/NAME.crt is the leaf, SERIAL its serial (upper-case hex), the response in $BODY.
api_sign() {
  local extra=${4:-}
  [ -n "$extra" ] || extra='{}'
  make_csr "$1" "${3:-}"
  jq -n --rawfile c "$TMP/$1.csr" --arg p "$2" --argjson x "$extra" \
    '{csr:$c,profile:$p,days:30} + $x' >"$TMP/sign.json"
  api POST /v1/ca/sign "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/sign.json"
  expect_status 201 "POST /v1/ca/sign $1 ($2)"
  jbody .certificate >"$TMP/$1.crt"
  SERIAL=$(jbody .serial | tr 'a-f' 'A-F')
}

# wait_public: the public listener on 127.0.0.1:$PUB answers GET /health with 200 (at most 20 s;
# fails at once if serve ($SERVE_PID) exited).
wait_public() {
  local deadline=$((SECONDS + 20)) code=""
  while [ $SECONDS -le $deadline ]; do
    code=$(timeout 5 curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PUB/health" 2>/dev/null)
    [ "$code" = 200 ] && return 0
    kill -0 "$SERVE_PID" 2>/dev/null || fail "serve exited; the public listener never answered"
    sleep 0.1
  done
  fail "the public listener 127.0.0.1:$PUB did not answer GET /health with 200 within 20 s (last: $code)"
}

# ---------------------------------------------------------------------------------------------
# Fault tests (test_fault_*.sh): load from bench/sign_load, the inventory and the audit log read
# back page by page.

# SIGN_LOAD: the load generator built beside clustertls (target sign_load, bench/sign_load.cc).
SIGN_LOAD=$(dirname "$CTLS")/bench/sign_load
# need_sign_load: fails (never skips) when it was not built.
need_sign_load() {
  [ -x "$SIGN_LOAD" ] ||
    fail "$SIGN_LOAD not found: build it (cmake --build build --target sign_load)"
}

# serve_child PID: the pid of `clustertls serve` itself under start_serve's `timeout` PID.
serve_child() {
  local c
  c=$(ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' | head -n1)
  [ -n "$c" ] || fail "no clustertls serve process under timeout (pid $1)"
  echo "$c"
}

# api_token: an admin API token (POST /v1/tokens) in TOKEN, for sign_load's --auth.
api_token() {
  api POST /v1/tokens "${ADMIN[@]}" -H 'Content-Type: application/json' --data-binary '{}'
  expect_status 201 "POST /v1/tokens"
  TOKEN=$(jbody .token)
}

# sign_bodies FILE N: N request bodies for POST /v1/ca/sign (EC P-256 CSRs by openssl req, CN
# load<i>.$API_HOST, profile server, 7 days), one per line.
sign_bodies() {
  local file=$1 n=$2 i
  : >"$file"
  for ((i = 0; i < n; i++)); do
    timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout /dev/null -out "$TMP/.load.csr" -subj "/CN=load$i.$API_HOST" \
      -addext "subjectAltName=DNS:load$i.$API_HOST" >/dev/null 2>&1 || fail "openssl req failed"
    jq -nc --rawfile c "$TMP/.load.csr" '{csr:$c,profile:"server",days:7}' >>"$file"
  done
}

# inventory_serials PORT FILE: every serial of GET /v1/certificates on 127.0.0.1:PORT (all pages
# of 1000, as admin), upper case, one per line, in FILE (unsorted: duplicates kept).
inventory_serials() {
  local port=$1 file=$2 cursor="" pages=0
  : >"$file"
  while :; do
    SERVE_PORT=$port api GET "/v1/certificates?limit=1000${cursor:+&cursor=$cursor}" "${ADMIN[@]}"
    expect_status 200 "GET /v1/certificates (page $pages)"
    jq -r '.certificates[].serial' "$BODY" | tr 'a-f' 'A-F' >>"$file"
    cursor=$(jq -r '.next_cursor // ""' "$BODY")
    pages=$((pages + 1))
    [ -n "$cursor" ] || break
    [ $pages -lt 1000 ] || fail "GET /v1/certificates: more than 1000 pages"
  done
}

# audit_sign_targets PORT FILE: the target (serial) of every cert.sign entry of GET /v1/audit
# (all pages of 1000), upper case, one per line, in FILE; AUDIT_ENTRIES the number of entries.
audit_sign_targets() {
  local port=$1 file=$2 after=0 pages=0 n
  : >"$file"
  AUDIT_ENTRIES=0
  while :; do
    SERVE_PORT=$port api GET "/v1/audit?after=$after&limit=1000" "${ADMIN[@]}"
    expect_status 200 "GET /v1/audit?after=$after"
    jq -r '.entries[] | select(.action == "cert.sign") | .target' "$BODY" | tr 'a-f' 'A-F' >>"$file"
    n=$(jq '.entries | length' "$BODY")
    AUDIT_ENTRIES=$((AUDIT_ENTRIES + n))
    [ "$n" -gt 0 ] || break
    after=$(jq -r '.next_after' "$BODY")
    pages=$((pages + 1))
    [ $pages -lt 1000 ] || fail "GET /v1/audit: more than 1000 pages"
  done
}

# check_received CLIENT INVENTORY AUDIT: every serial in CLIENT (what clients received) is in
# INVENTORY and has a cert.sign entry in AUDIT; no serial twice in CLIENT, INVENTORY or AUDIT;
# the inventory and the cert.sign targets are the same set.
check_received() {
  local client=$1 inv=$2 aud=$3 d
  for f in "$client" "$inv" "$aud"; do
    d=$(sort "$f" | uniq -d | head -3 | tr '\n' ' ')
    [ -z "$d" ] || fail "a serial appears twice in $(basename "$f"): $d"
  done
  d=$(comm -23 <(sort "$client") <(sort "$inv") | head -3 | tr '\n' ' ')
  [ -z "$d" ] || fail "serials a client received that are not in the inventory: $d"
  d=$(comm -23 <(sort "$client") <(sort "$aud") | head -3 | tr '\n' ' ')
  [ -z "$d" ] || fail "serials a client received that have no cert.sign audit entry: $d"
  d=$(comm -3 <(sort "$inv") <(sort "$aud") | head -3 | tr '\n' ' ')
  [ -z "$d" ] || fail "the inventory and the cert.sign audit entries differ: $d"
}
