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
