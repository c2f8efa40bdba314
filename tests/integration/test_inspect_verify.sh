#!/usr/bin/env bash
# `inspect`, `fingerprint`, `verify` (hosts, IPs, purposes, time, CRLs, every problem reported),
# `chain order` and `key match`, compared with what openssl says about the same files.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

R=$TMP/root
I=$TMP/int

setup() {
  run ctls ca init --out "$R" --name "ITest Verify Root"
  run ctls ca intermediate --ca-cert "$R/ca.crt" --ca-key "$R/ca.key" --out "$I"
  run ctls cert issue --ca-cert "$I/chain.crt" --ca-key "$I/ca.key" --name web.example.com \
    --dns www.example.com --ip 10.0.0.5 --profile server --days 30 --out "$TMP/web"
  split_pem "$TMP/web/web.example.com.crt" "$TMP/web/p"  # p0 leaf, p1 intermediate, p2 root
  run ctls cert issue --ca-cert "$R/ca.crt" --ca-key "$R/ca.key" --name direct.example.com \
    --profile server --days 30 --out "$TMP/direct"
  run ctls cert issue --ca-cert "$R/ca.crt" --ca-key "$R/ca.key" --name revoked.example.com \
    --profile server --days 30 --out "$TMP/revoked"
  run ctls ca init --out "$TMP/other" --name "ITest Other Root"
}

# ctls_expect CODE REGEX ARGS...: clustertls exits CODE and its output (stdout + stderr)
# matches REGEX (case-insensitive).
ctls_expect() {
  local code=$1 pattern=$2
  shift 2
  ctls "$@" >"$OUT" 2>"$ERR"
  local rc=$?
  cat "$OUT" "$ERR" >"$TMP/.both"
  if [ "$rc" -ne "$code" ]; then
    echo "FAIL: expected exit $code, got $rc: clustertls $(_q "$@")" >&2
    _show "$TMP/.both" >&2
    exit 1
  fi
  grep -Eiq -- "$pattern" "$TMP/.both" || {
    echo "FAIL: output does not match /$pattern/: clustertls $(_q "$@")" >&2
    _show "$TMP/.both" >&2
    exit 1
  }
  note "exit $rc: clustertls $(_q "${@:1:2}") ... -> $(grep -Eio -- "$pattern" "$TMP/.both" | head -n1)"
}

rfc3339() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

inspect() {
  local c=$TMP/web/p0.pem
  run ctls inspect "$c"
  out_has 'web\.example\.com'
  out_has 'www\.example\.com'
  out_has '10\.0\.0\.5'
  local fp hex
  fp=$(fp_colon "$c")
  hex=$(tr -d ':' <<<"$fp")
  grep -Fiq "$fp" "$OUT" || grep -Fiq "$hex" "$OUT" || fail "inspect does not show the SHA-256 fingerprint $fp"
  # JSON.
  run ctls inspect "$c" --json
  timeout 20 python3 -m json.tool "$OUT" >/dev/null 2>"$TMP/json.err" || fail "inspect --json is not JSON: $(head -c 300 "$TMP/json.err")"
  local flat
  flat=$(tr 'A-F' 'a-f' <"$OUT" | tr -d ':')
  grep -Fq "$(tr 'A-F' 'a-f' <<<"$hex")" <<<"$flat" || fail "inspect --json lacks the fingerprint $hex"
  grep -Fq "$(serial_hex "$c" | tr 'A-F' 'a-f' | sed 's/^0*//')" <<<"$flat" || fail "inspect --json lacks the serial $(serial_hex "$c")"
  grep -q 'www.example.com' "$OUT" || fail "inspect --json lacks the SAN"
  # The whole bundle: every certificate appears.
  run ctls inspect "$TMP/web/web.example.com.crt" --json
  timeout 20 python3 -m json.tool "$OUT" >/dev/null 2>&1 || fail "inspect --json of a bundle is not JSON"
  grep -q 'ITest Verify Root' "$OUT" || fail "inspect --json of a bundle omits the root"
  # DER input.
  timeout 20 openssl x509 -in "$c" -outform DER -out "$TMP/web.der"
  run ctls inspect "$TMP/web.der"
  out_has 'web\.example\.com'
  # A CSR and a key (the key's secret is never printed).
  run ctls csr create --name csr.example.com --dns alt.example.com --out "$TMP/csr"
  run ctls inspect "$TMP/csr/csr.example.com.csr"
  out_has 'csr\.example\.com'
  out_has 'alt\.example\.com'
  run ctls inspect "$TMP/csr/csr.example.com.csr" --json
  timeout 20 python3 -m json.tool "$OUT" >/dev/null 2>&1 || fail "inspect --json of a CSR is not JSON"
  run ctls inspect "$TMP/csr/csr.example.com.key"
  assert_not_grep 'BEGIN' "$OUT"
  out_has 'P-256|ec'
  local priv
  priv=$(timeout 20 openssl pkey -in "$TMP/csr/csr.example.com.key" -noout -text | sed -n '/^priv:/,/^pub:/p' | sed '1d;$d' | tr -d ' :\n')
  [ -n "$priv" ] || fail "could not read the private scalar with openssl"
  if tr -d ' :\n' <"$OUT" | grep -Fi >/dev/null "$priv"; then
    fail "inspect prints the private key"
  fi
}

# The CRL and OCSP URLs a certificate names (RFC 5280 4.2.1.13, 4.2.2.1) as inspect shows them,
# against what openssl reads from the same file: `-ocsp_uri` and `-text`.
inspect_urls() {
  local c=$TMP/urls.crt
  # Two of each, plus entries inspect skips: a DNS-named distribution point and caIssuers.
  printf '%s\n' 'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature' \
    'extendedKeyUsage=serverAuth' 'subjectAltName=DNS:urls.example.com' \
    'crlDistributionPoints=URI:http://ca.example.com:9080/v1/crl,DNS:crl.example.com,URI:http://backup.example.com/int.crl' \
    'authorityInfoAccess=caIssuers;URI:http://ca.example.com/ca.crt,OCSP;URI:http://ca.example.com:9080/ocsp,OCSP;URI:http://ocsp2.example.com/' \
    >"$TMP/urls.ext"
  make_csr urls
  timeout 20 openssl x509 -req -in "$TMP/urls.csr" -CA "$I/ca.crt" -CAkey "$I/ca.key" \
    -CAcreateserial -days 5 -extfile "$TMP/urls.ext" -out "$c" 2>"$TMP/urls.err" ||
    fail "openssl x509 -req failed: $(cat "$TMP/urls.err")"
  local ossl_ocsp ossl_crl
  ossl_ocsp=$(timeout 20 openssl x509 -in "$c" -noout -ocsp_uri)
  ossl_crl=$(ext "$c" crlDistributionPoints | sed -n 's/^ *URI://p')
  assert_eq "$ossl_ocsp" $'http://ca.example.com:9080/ocsp\nhttp://ocsp2.example.com/' \
    "openssl x509 -ocsp_uri of the fixture"
  assert_eq "$ossl_crl" $'http://ca.example.com:9080/v1/crl\nhttp://backup.example.com/int.crl' \
    "URIs of the CRL distribution points in openssl x509 -text"
  # Text: one "CRL:" / "OCSP:" line per URL, in the certificate's order.
  run ctls inspect "$c"
  assert_eq "$(sed -n 's/^  CRL: *//p' "$OUT")" "$ossl_crl" "inspect's CRL lines"
  assert_eq "$(sed -n 's/^  OCSP: *//p' "$OUT")" "$ossl_ocsp" "inspect's OCSP lines"
  assert_not_grep 'crl\.example\.com$|ca\.crt' "$OUT"
  # JSON: arrays, always present.
  run ctls inspect "$c" --json
  assert_eq "$(jq -r '.certificates[0].crl_urls[]' "$OUT")" "$ossl_crl" "inspect --json crl_urls"
  assert_eq "$(jq -r '.certificates[0].ocsp_urls[]' "$OUT")" "$ossl_ocsp" "inspect --json ocsp_urls"
  # A certificate without either: no lines, empty arrays (for the leaf and each CA of a bundle).
  local plain=$TMP/web/web.example.com.crt
  [ -z "$(timeout 20 openssl x509 -in "$plain" -noout -ocsp_uri)" ] || fail "fixture has an OCSP URI"
  [ -z "$(ext "$plain" crlDistributionPoints)" ] || fail "fixture has a CRL distribution point"
  run ctls inspect "$plain"
  assert_not_grep '^  (CRL|OCSP):' "$OUT"
  run ctls inspect "$plain" --json
  assert_eq "$(jq -c '[.certificates[] | [.crl_urls, .ocsp_urls]]' "$OUT")" '[[[],[]],[[],[]],[[],[]]]' \
    "inspect --json crl_urls/ocsp_urls of a bundle without URLs"
  note "CRL and OCSP URLs as openssl reads them; none shown for a certificate without them"
}

fingerprint() {
  local c=$R/ca.crt fp hex
  fp=$(fp_colon "$c")
  hex=$(tr -d ':' <<<"$fp")
  run ctls fingerprint "$c"
  grep -Fiq "$fp" "$OUT" || fail "fingerprint lacks the colon form $fp: $(cat "$OUT")"
  grep -Fiq "$hex" "$OUT" || fail "fingerprint lacks the plain hex form $hex (Elastic's ca_trusted_fingerprint): $(cat "$OUT")"
  timeout 20 openssl x509 -in "$c" -outform DER -out "$TMP/ca.der"
  run ctls fingerprint "$TMP/ca.der"
  grep -Fiq "$hex" "$OUT" || fail "fingerprint of the DER form differs"
  [ "$(sha256sum <"$TMP/ca.der" | cut -d' ' -f1)" = "$(tr 'A-F' 'a-f' <<<"$hex")" ] || fail "openssl fingerprint != sha256 of DER"
}

verify_basic() {
  local c=$TMP/web/p0.pem
  ctls_expect 0 'ok|valid|verified' verify "$c" --ca "$R/ca.crt" --untrusted "$I/ca.crt"
  ctls_expect 0 '.' verify "$c" --ca "$R/ca.crt" --untrusted "$I/ca.crt" --host www.example.com --purpose server
  ctls_expect 0 '.' verify "$c" --ca "$R/ca.crt" --untrusted "$I/ca.crt" --host WWW.EXAMPLE.COM
  ctls_expect 0 '.' verify "$c" --ca "$R/ca.crt" --untrusted "$I/ca.crt" --ip 10.0.0.5
  ctls_expect 0 '.' verify "$TMP/web/web.example.com.crt" --ca "$R/ca.crt" --host web.example.com
  ctls_expect 1 'host|name|mismatch' verify "$c" --ca "$R/ca.crt" --untrusted "$I/ca.crt" --host wrong.example.com
  grep -Fiq 'wrong.example.com' "$TMP/.both" || fail "the mismatch report does not name the host"
  ctls_expect 1 'host|name|mismatch' verify "$c" --ca "$R/ca.crt" --untrusted "$I/ca.crt" --host example.com
  ctls_expect 1 'IP|address|mismatch' verify "$c" --ca "$R/ca.crt" --untrusted "$I/ca.crt" --ip 10.0.0.6
  ctls_expect 1 'purpose|usage|client' verify "$c" --ca "$R/ca.crt" --untrusted "$I/ca.crt" --purpose client
  ctls_expect 1 'issuer|chain|untrusted|anchor|unable' verify "$c" --ca "$R/ca.crt"  # no intermediate
  ctls_expect 1 'issuer|chain|untrusted|anchor|unable' verify "$c" --ca "$TMP/other/ca.crt" --untrusted "$I/ca.crt"
  # No CN fallback: a certificate whose only DNS SAN differs from its CN is not valid for the CN.
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/cn.key" \
    -subj /CN=cn-only.example.com -out "$TMP/cn.csr" 2>/dev/null
  printf 'subjectAltName=DNS:san.example.com\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' >"$TMP/cn.ext"
  timeout 20 openssl x509 -req -in "$TMP/cn.csr" -CA "$R/ca.crt" -CAkey "$R/ca.key" -CAcreateserial \
    -days 5 -extfile "$TMP/cn.ext" -out "$TMP/cn.crt" 2>/dev/null || fail "openssl x509 -req failed"
  ctls_expect 0 '.' verify "$TMP/cn.crt" --ca "$R/ca.crt" --host san.example.com
  ctls_expect 1 'host|name|mismatch' verify "$TMP/cn.crt" --ca "$R/ca.crt" --host cn-only.example.com
}

verify_time() {
  local c=$TMP/web/p0.pem na nb
  na=$(not_after "$c")
  nb=$(not_before "$c")
  ctls_expect 0 '.' verify "$c" --ca "$R/ca.crt" --untrusted "$I/ca.crt" --at "$(rfc3339 "$na")"  # notAfter inclusive
  ctls_expect 1 'expired' verify "$c" --ca "$R/ca.crt" --untrusted "$I/ca.crt" --at "$(rfc3339 $((na + 1)))"
  ctls_expect 1 'expired' verify "$c" --ca "$R/ca.crt" --untrusted "$I/ca.crt" --at "$(rfc3339 $((na + 86400 * 400)))"
  ctls_expect 1 'not yet valid|not valid before|before' verify "$c" --ca "$R/ca.crt" --untrusted "$I/ca.crt" \
    --at "$(rfc3339 $((nb - 60)))"
  ctls_expect 0 '.' verify "$c" --ca "$R/ca.crt" --untrusted "$I/ca.crt" --at "@$((nb + 10))"
  # openssl agrees about expiry at that time.
  ossl_verify_refuses 'expired' -attime $((na + 86400)) -CAfile "$R/ca.crt" -untrusted "$I/ca.crt" "$c"
  expect_fail 2,1 'time|at|invalid' -- ctls verify "$c" --ca "$R/ca.crt" --at "yesterday-ish"
}

verify_json_all_problems() {
  local c=$TMP/web/p0.pem na
  na=$(not_after "$c")
  ctls_expect 1 '.' verify "$c" --ca "$R/ca.crt" --untrusted "$I/ca.crt" --host wrong.example.com \
    --purpose client --at "$(rfc3339 $((na + 86400)))" --json
  timeout 20 python3 -m json.tool "$OUT" >/dev/null 2>"$TMP/vj.err" || fail "verify --json output is not JSON: $(head -c 300 "$OUT")"
  grep -Eiq 'expired' "$OUT" || fail "verify --json omits the expiry: $(head -c 800 "$OUT")"
  grep -Eiq 'host' "$OUT" || fail "verify --json omits the hostname mismatch: $(head -c 800 "$OUT")"
  grep -Eiq 'purpose|usage' "$OUT" || fail "verify --json omits the purpose problem: $(head -c 800 "$OUT")"
  note "all three problems reported"
  ctls_expect 0 '.' verify "$c" --ca "$R/ca.crt" --untrusted "$I/ca.crt" --json
  timeout 20 python3 -m json.tool "$OUT" >/dev/null 2>&1 || fail "verify --json (ok) is not JSON"
}

verify_crl() {
  local rc=$TMP/revoked/revoked.example.com.crt dc=$TMP/direct/direct.example.com.crt e=$TMP/crlca
  mkdir -p "$e"
  local serial exp
  serial=$(serial_hex "$rc")
  exp=$(date -u -d "@$(not_after "$rc")" +%y%m%d%H%M%SZ)
  printf 'R\t%s\t%s\t%s\tunknown\t/CN=revoked.example.com\n' "$exp" "$(date -u -d '-1 hour' +%y%m%d%H%M%SZ)" "$serial" >"$e/index.txt"
  echo 01 >"$e/crlnumber"
  cat >"$e/ca.cnf" <<EOF
[ ca ]
default_ca = CA_default
[ CA_default ]
database = $e/index.txt
crlnumber = $e/crlnumber
default_md = sha256
default_crl_days = 7
crl_extensions = crl_ext
[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF
  timeout 20 openssl ca -batch -config "$e/ca.cnf" -gencrl -cert "$R/ca.crt" -keyfile "$R/ca.key" \
    -out "$e/crl.pem" >"$e/log" 2>&1 || fail "openssl ca -gencrl failed: $(cat "$e/log")"
  # openssl's own judgement first.
  ossl_verify_refuses 'revoked' -crl_check -CRLfile "$e/crl.pem" -CAfile "$R/ca.crt" "$rc"
  ossl_verify -crl_check -CRLfile "$e/crl.pem" -CAfile "$R/ca.crt" "$dc"
  ctls_expect 1 'revoked' verify "$rc" --ca "$R/ca.crt" --crl "$e/crl.pem"
  ctls_expect 0 '.' verify "$dc" --ca "$R/ca.crt" --crl "$e/crl.pem"
  ctls_expect 0 '.' verify "$rc" --ca "$R/ca.crt"  # without the CRL
  # A CRL signed by another CA is not accepted as evidence either way.
  timeout 20 openssl ca -batch -config "$e/ca.cnf" -gencrl -cert "$TMP/other/ca.crt" \
    -keyfile "$TMP/other/ca.key" -out "$e/other-crl.pem" >/dev/null 2>&1 || fail "openssl ca -gencrl (other) failed"
  if ctls verify "$dc" --ca "$R/ca.crt" --crl "$e/other-crl.pem" >"$OUT" 2>"$ERR"; then
    note "a CRL from another CA is ignored"
  else
    note "a CRL from another CA is refused: $(cat "$OUT" "$ERR" | head -n2 | tr '\n' ' ')"
  fi
}

chain_order() {
  local w=$TMP/web
  cat "$w/p2.pem" "$w/p0.pem" "$w/p1.pem" >"$TMP/shuffled.pem"
  run ctls chain order "$TMP/shuffled.pem"
  cp "$OUT" "$TMP/ordered.pem"
  assert_eq "$(cert_count "$TMP/ordered.pem")" 3 "certificates printed by chain order"
  split_pem "$TMP/ordered.pem" "$TMP/ord"
  assert_eq "$(fp_colon "$TMP/ord0.pem")" "$(fp_colon "$w/p0.pem")" "chain order: first is the leaf"
  assert_eq "$(fp_colon "$TMP/ord1.pem")" "$(fp_colon "$I/ca.crt")" "chain order: second is the intermediate"
  assert_eq "$(fp_colon "$TMP/ord2.pem")" "$(fp_colon "$R/ca.crt")" "chain order: third is the root"
  assert_chain_order "$TMP/ordered.pem"
  cat "$w/p1.pem" "$w/p2.pem" "$w/p0.pem" >"$TMP/shuffled2.pem"
  run ctls chain order "$TMP/shuffled2.pem"
  cmp -s "$OUT" "$TMP/ordered.pem" || fail "chain order depends on the input order"
  # A missing link is reported.
  cat "$w/p2.pem" "$w/p0.pem" >"$TMP/gap.pem"
  expect_fail 1 'missing|incomplete|issuer|link' -- ctls chain order "$TMP/gap.pem"
  err_has gap.pem
}

key_match() {
  local w=$TMP/web
  ctls_expect 0 '.' key match --cert "$w/web.example.com.crt" --key "$w/web.example.com.key"
  ctls_expect 0 '.' key match --cert "$R/ca.crt" --key "$R/ca.key"
  expect_fail 1 'does not match|mismatch' -- ctls key match --cert "$w/web.example.com.crt" --key "$R/ca.key"
  expect_fail 1 'no such file|not found|does not exist|cannot (open|read)' -- ctls key match \
    --cert "$w/web.example.com.crt" --key "$TMP/nope.key"
  err_has nope.key
  # An openssl-made PKCS#1 RSA key and SEC1 EC key are read too.
  timeout 60 openssl genrsa -traditional -out "$TMP/pkcs1.key" 2048 2>/dev/null
  timeout 20 openssl req -x509 -new -key "$TMP/pkcs1.key" -subj /CN=p1 -days 2 -out "$TMP/pkcs1.crt"
  ctls_expect 0 '.' key match --cert "$TMP/pkcs1.crt" --key "$TMP/pkcs1.key"
  timeout 20 openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/sec1.key"
  timeout 20 openssl req -x509 -new -key "$TMP/sec1.key" -subj /CN=s1 -days 2 -out "$TMP/sec1.crt"
  grep -q 'BEGIN EC PRIVATE KEY' "$TMP/sec1.key" || fail "fixture error: not a SEC1 key"
  ctls_expect 0 '.' key match --cert "$TMP/sec1.crt" --key "$TMP/sec1.key"
  expect_fail 1 'does not match|mismatch' -- ctls key match --cert "$TMP/pkcs1.crt" --key "$TMP/sec1.key"
}

section "CAs and certificates for these tests" setup
section "inspect (text, --json, bundle, DER, CSR, key)" inspect
section "inspect shows the CRL and OCSP URLs (text, --json) as openssl reads them" inspect_urls
section "fingerprint matches openssl (colon and plain hex)" fingerprint
section "verify: chain, host, IP, purpose, no CN fallback" verify_basic
section "verify --at: notAfter inclusive, expired, not yet valid" verify_time
section "verify --json reports every problem" verify_json_all_problems
section "verify --crl with a CRL made by openssl ca" verify_crl
section "chain order of a shuffled bundle; missing link" chain_order
section "key match exit codes (PKCS#8, PKCS#1, SEC1)" key_match
finish
