#!/usr/bin/env bash
# `cert generate` (Redis' generate_self_signed_certs.sh) and `cert bulk` (certutil --in
# instances.yml --multiple), judged by openssl and GnuTLS.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

TYPES="cm api proxy syncer metrics"

# expected_sans FQDN...: the Redis SAN layout, as openssl prints it, sorted.
expected_sans() {
  local f
  for f in "$@"; do
    printf 'DNS:%s\nDNS:*.%s\nDNS:internal.%s\nDNS:*.internal.%s\n' "$f" "$f" "$f" "$f"
  done | sort -u
}

generate_self_signed() {
  run ctls cert generate --fqdn "a.example.com b.example.com" --type all --out "$TMP/gen"
  local t c k
  for t in $TYPES; do
    c=$TMP/gen/${t}_cert.pem
    k=$TMP/gen/${t}_key.pem
    assert_mode 644 "$c"
    assert_key_file "$k"
    assert_key_matches "$c" "$k"
    assert_eq "$(san_list "$c" | tr '\n' ' ')" "$(expected_sans a.example.com b.example.com | tr '\n' ' ')" "SANs of ${t}_cert.pem"
    local e
    e=$(ext "$c" extendedKeyUsage)
    grep -q 'TLS Web Server Authentication' <<<"$e" && grep -q 'TLS Web Client Authentication' <<<"$e" ||
      fail "${t}_cert.pem lacks the peer EKU (serverAuth + clientAuth): $(tr -s ' \n' ' ' <<<"$e")"
    ext "$c" basicConstraints | grep >/dev/null 'CA:FALSE' || fail "${t}_cert.pem is not CA:FALSE"
    assert_cn_in_san "$c"
    # Self-signed, as Redis' script makes them: subject = issuer, and its own trust anchor.
    assert_eq "$(issuer_of "$c")" "$(subject_of "$c")" "${t}_cert.pem is self-issued"
    ossl_verify -purpose sslserver -verify_hostname "x.internal.b.example.com" -CAfile "$c" "$c"
    ossl_verify -purpose sslclient -CAfile "$c" "$c"
    # (GnuTLS' certtool accepts no CA:FALSE certificate as an anchor, so openssl alone judges.)
    ossl_verify_refuses 'hostname mismatch' -verify_hostname "x.y.a.example.com" -CAfile "$c" "$c"
  done
  assert_eq "$(ls "$TMP/gen" | wc -l)" 10 "files written by --type all"
  # Each certificate has its own key.
  assert_eq "$(for t in $TYPES; do pubkey_of_cert "$TMP/gen/${t}_cert.pem" | tr -d '\n'; echo; done | sort | uniq -d | wc -l)" 0 \
    "distinct keys across types"
  # Validity: --days.
  run ctls cert generate --fqdn "c.example.com" --type api --days 90 --out "$TMP/gen90"
  assert_eq "$(ls "$TMP/gen90" | tr '\n' ' ')" "api_cert.pem api_key.pem " "files of --type api"
  local left=$((($(not_after "$TMP/gen90/api_cert.pem") - $(date +%s)) / 86400))
  [ "$left" -ge 89 ] && [ "$left" -le 90 ] || fail "--days 90 gave $left days"
  assert_eq "$(san_list "$TMP/gen90/api_cert.pem" | tr '\n' ' ')" "$(expected_sans c.example.com | tr '\n' ' ')" "SANs for one FQDN"
}

generate_with_ca() {
  run ctls ca init --out "$TMP/ca" --name "ITest Redis CA"
  run ctls cert generate --fqdn "redis.example.com" --type proxy --ca-cert "$TMP/ca/ca.crt" \
    --ca-key "$TMP/ca/ca.key" --out "$TMP/genca"
  local c=$TMP/genca/proxy_cert.pem
  assert_leaf "$c" peer "$TMP/ca/ca.crt"
  ossl_verify -purpose sslserver -verify_hostname db1.internal.redis.example.com -CAfile "$TMP/ca/ca.crt" -untrusted "$c" "$c"
  ossl_verify -purpose sslclient -CAfile "$TMP/ca/ca.crt" -untrusted "$c" "$c"
  gnutls_verify "$TMP/ca/ca.crt" "$c" --verify-hostname redis.example.com
  assert_eq "$(san_list "$c" | tr '\n' ' ')" "$(expected_sans redis.example.com | tr '\n' ' ')" "SANs of proxy_cert.pem"
}

write_instances() {
  cat >"$1" <<'EOF'
# elasticsearch-certutil --in instances.yml format
instances:
  - name: "node1"
    ip:
      - "192.0.2.1"
    dns:
      - "node1.elastic.test.com"
  - name: "node2"
    dns:
      - "node2.elastic.test.com"
      - "node2"
    ip: [ "192.0.2.2", "2001:db8::2" ]
  - name: "kibana"
    dns: [ "kibana.elastic.test.com" ]
EOF
}

bulk() {
  run ctls ca init --out "$TMP/bca" --name "ITest Bulk CA"
  write_instances "$TMP/instances.yml"
  run ctls cert bulk --in "$TMP/instances.yml" --ca-cert "$TMP/bca/ca.crt" --ca-key "$TMP/bca/ca.key" \
    --out "$TMP/bulk"
  local d=$TMP/bulk n
  assert_eq "$(fp_colon "$d/ca/ca.crt")" "$(fp_colon "$TMP/bca/ca.crt")" "ca/ca.crt of the bulk output"
  assert_no_file "$d/ca/ca.key"
  for n in node1 node2 kibana; do
    assert_mode 644 "$d/$n/$n.crt"
    assert_key_file "$d/$n/$n.key"
    assert_key_matches "$d/$n/$n.crt" "$d/$n/$n.key"
    assert_leaf "$d/$n/$n.crt" server "$TMP/bca/ca.crt"
    assert_eq "$(cn_of "$d/$n/$n.crt")" "$n" "CN of $n"
  done
  ossl_verify -purpose sslserver -verify_hostname node1.elastic.test.com -CAfile "$d/ca/ca.crt" "$d/node1/node1.crt"
  ossl_verify -purpose sslserver -verify_ip 192.0.2.1 -CAfile "$d/ca/ca.crt" "$d/node1/node1.crt"
  ossl_verify -purpose sslserver -verify_ip 2001:db8::2 -CAfile "$d/ca/ca.crt" "$d/node2/node2.crt"
  ossl_verify -purpose sslserver -verify_hostname node2 -CAfile "$d/ca/ca.crt" "$d/node2/node2.crt"
  ossl_verify_refuses 'IP address mismatch' -verify_ip 192.0.2.1 -CAfile "$d/ca/ca.crt" "$d/node2/node2.crt"
  gnutls_verify "$d/ca/ca.crt" "$d/kibana/kibana.crt" --verify-hostname kibana.elastic.test.com
  # Names per instance, and nothing else.
  assert_eq "$(san_list "$d/node2/node2.crt" | tr '\n' ' ')" \
    "DNS:node2 DNS:node2.elastic.test.com IP Address:192.0.2.2 IP Address:2001:DB8:0:0:0:0:0:2 " "SANs of node2"

  # The same as one zip.
  run ctls cert bulk --in "$TMP/instances.yml" --ca-cert "$TMP/bca/ca.crt" --ca-key "$TMP/bca/ca.key" \
    --out "$TMP/bundle/certs.zip"
  assert_mode 600 "$TMP/bundle/certs.zip"
  timeout 20 unzip -Z1 "$TMP/bundle/certs.zip" | grep -v '/$' | sort >"$TMP/bulk.list" || fail "unzip -Z1 failed"
  assert_eq "$(tr '\n' ' ' <"$TMP/bulk.list")" \
    "ca/ca.crt kibana/kibana.crt kibana/kibana.key node1/node1.crt node1/node1.key node2/node2.crt node2/node2.key " \
    "members of certs.zip"
  mkdir -p "$TMP/bunz"
  (cd "$TMP/bunz" && timeout 20 unzip -q "$TMP/bundle/certs.zip") || fail "unzip certs.zip failed"
  for n in node1 node2 kibana; do
    ossl_verify -purpose sslserver -verify_hostname "$n.elastic.test.com" -CAfile "$TMP/bunz/ca/ca.crt" "$TMP/bunz/$n/$n.crt"
    assert_key_matches "$TMP/bunz/$n/$n.crt" "$TMP/bunz/$n/$n.key"
    assert_mode 600 "$TMP/bunz/$n/$n.key"
  done
  # Output without a terminal: no progress bar escape sequences on stderr.
  if grep -q $'\r\|\x1b\[' "$ERR"; then
    fail "progress bar drawn although stderr is not a terminal"
  fi
  # With a terminal (script(1) gives it a pseudo-terminal): a progress bar up to 3/3.
  if command -v script >/dev/null 2>&1; then
    timeout 60 script -qec "$(printf '%q ' "$CTLS" cert bulk --in "$TMP/instances.yml" --ca-cert "$TMP/bca/ca.crt" \
      --ca-key "$TMP/bca/ca.key" --out "$TMP/bulktty")" /dev/null >"$TMP/tty.log" 2>&1 ||
      fail "cert bulk under a pseudo-terminal failed: $(head -c 500 "$TMP/tty.log")"
    grep -q $'\r' "$TMP/tty.log" && grep -q '3/3' "$TMP/tty.log" ||
      fail "no progress bar on a terminal: $(head -c 500 "$TMP/tty.log" | cat -v)"
    assert_file "$TMP/bulktty/node2/node2.crt"
    note "progress bar drawn on a terminal"
  else
    note "script(1) not installed: the terminal progress bar was not checked"
  fi
}

# The example of Elastic's documentation (elasticsearch-certutil, "Using elasticsearch-certutil in
# Silent Mode", docs/reference/commands/certutil.asciidoc), verbatim, through to the layout
# certutil writes with --pem: a folder <filename>/ holding <filename>.crt and <filename>.key.
bulk_elastic_example() {
  run ctls ca init --out "$TMP/eca" --name "ITest Elastic CA"
  cat >"$TMP/instances.yml" <<'EOF'
instances:
  - name: "node1"
    ip:
      - "192.0.2.1"
    dns:
      - "node1.mydomain.com"
  - name: "node2"
    ip:
      - "192.0.2.2"
      - "198.51.100.1"
  - name: "node3"
  - name: "node4"
    dns:
      - "node4.mydomain.com"
      - "node4.internal"
  - name: "CN=node5,OU=IT,DC=mydomain,DC=com"
    filename: "node5"
EOF
  run ctls cert bulk --in "$TMP/instances.yml" --ca-cert "$TMP/eca/ca.crt" --ca-key "$TMP/eca/ca.key" \
    --out "$TMP/elastic.zip"
  # Every member, directory entries included, in the order written.
  timeout 20 unzip -Z1 "$TMP/elastic.zip" >"$TMP/elastic.list" || fail "unzip -Z1 failed"
  assert_eq "$(tr '\n' ' ' <"$TMP/elastic.list")" \
    "ca/ ca/ca.crt node1/ node1/node1.crt node1/node1.key node2/ node2/node2.crt node2/node2.key node3/ node3/node3.crt node3/node3.key node4/ node4/node4.crt node4/node4.key node5/ node5/node5.crt node5/node5.key " \
    "members of the zip (unzip -Z1)"
  # Listed into a file first: `unzip -l | grep -q` fails under pipefail when grep stops reading
  # early and unzip gets SIGPIPE.
  timeout 20 unzip -l "$TMP/elastic.zip" >"$TMP/elastic.l" || fail "unzip -l failed"
  grep -q ' node5/node5\.crt$' "$TMP/elastic.l" || fail "unzip -l does not list node5/node5.crt"
  mkdir -p "$TMP/eun"
  (cd "$TMP/eun" && timeout 20 unzip -q "$TMP/elastic.zip") || fail "unzip failed"
  local d=$TMP/eun n
  for n in node1 node2 node3 node4 node5; do
    assert_key_matches "$d/$n/$n.crt" "$d/$n/$n.key"
    assert_leaf "$d/$n/$n.crt" server "$TMP/eca/ca.crt"
  done
  # The subject: CN=<name>, or the DN as written (openssl's RFC 2253 form is the same string).
  assert_eq "$(subject_of "$d/node1/node1.crt")" "CN=node1" "subject of node1"
  assert_eq "$(subject_of "$d/node5/node5.crt")" "CN=node5,OU=IT,DC=mydomain,DC=com" "subject of node5"
  assert_eq "$(timeout 20 openssl x509 -in "$d/node5/node5.crt" -noout -subject -nameopt oneline)" \
    "subject=DC = com, DC = mydomain, OU = IT, CN = node5" "RDN order of node5 (X.500, CN last)"
  # The SANs: dns and ip, and the CN (clustertls always adds it; certutil does not).
  assert_eq "$(san_list "$d/node1/node1.crt" | tr '\n' ' ')" \
    "DNS:node1 DNS:node1.mydomain.com IP Address:192.0.2.1 " "SANs of node1"
  assert_eq "$(san_list "$d/node2/node2.crt" | tr '\n' ' ')" \
    "DNS:node2 IP Address:192.0.2.2 IP Address:198.51.100.1 " "SANs of node2"
  assert_eq "$(san_list "$d/node3/node3.crt" | tr '\n' ' ')" "DNS:node3 " "SANs of node3"
  assert_eq "$(san_list "$d/node5/node5.crt" | tr '\n' ' ')" "DNS:node5 " "SANs of node5"
  ossl_verify -purpose sslserver -verify_hostname node4.internal -CAfile "$d/ca/ca.crt" "$d/node4/node4.crt"
  ossl_verify -purpose sslserver -verify_ip 198.51.100.1 -CAfile "$d/ca/ca.crt" "$d/node2/node2.crt"
  gnutls_verify "$d/ca/ca.crt" "$d/node5/node5.crt" --verify-hostname node5

  # The same into a directory: the same files.
  run ctls cert bulk --in "$TMP/instances.yml" --ca-cert "$TMP/eca/ca.crt" --ca-key "$TMP/eca/ca.key" \
    --out "$TMP/edir"
  assert_eq "$(cd "$TMP/edir" && find . -type f | sort | tr '\n' ' ')" \
    "./ca/ca.crt ./node1/node1.crt ./node1/node1.key ./node2/node2.crt ./node2/node2.key ./node3/node3.crt ./node3/node3.key ./node4/node4.crt ./node4/node4.key ./node5/node5.crt ./node5/node5.key " \
    "files of the directory output"
  assert_mode 600 "$TMP/edir/node5/node5.key"

  # certutil's `cn`: otherName SAN entries (type-id commonName, a UTF8String), as
  # CertGenUtils.createCommonName writes them for Elasticsearch's trust restrictions.
  cat >"$TMP/cn.yml" <<'EOF'
instances:
  - name: "es1.mydomain.com"
    filename: "es1"
    dns: [ "es1.mydomain.com" ]
    cn: [ "es1", "es1.cluster" ]
EOF
  run ctls cert bulk --in "$TMP/cn.yml" --ca-cert "$TMP/eca/ca.crt" --ca-key "$TMP/eca/ca.key" --out "$TMP/ecn"
  local c=$TMP/ecn/es1/es1.crt
  assert_eq "$(cn_of "$c")" "es1.mydomain.com" "CN of es1 (the name)"
  timeout 20 openssl x509 -in "$c" -outform DER -out "$TMP/es1.der" || fail "cannot convert es1.crt to DER"
  local off
  off=$(timeout 20 openssl asn1parse -inform DER -in "$TMP/es1.der" |
    grep -A1 ':X509v3 Subject Alternative Name' | tail -1 | sed -E 's/^ *([0-9]+):.*/\1/')
  [ -n "$off" ] || fail "no subjectAltName in es1.crt"
  timeout 20 openssl asn1parse -inform DER -in "$TMP/es1.der" -strparse "$off" >"$TMP/san.asn1" ||
    fail "openssl asn1parse -strparse $off failed"
  # [2] dNSName, then [0] otherName { OID commonName, [0] { UTF8String } } per cn.
  assert_eq "$(sed -E 's/^ *[0-9]+:d=[0-9]+ +hl=[0-9]+ +l= *[0-9]+ (prim|cons): *//; s/ +:/:/; s/ +$//' "$TMP/san.asn1" | tr '\n' '|')" \
    "SEQUENCE|cont [ 2 ]|cont [ 0 ]|OBJECT:commonName|cont [ 0 ]|UTF8STRING:es1|cont [ 0 ]|OBJECT:commonName|cont [ 0 ]|UTF8STRING:es1.cluster|" \
    "subjectAltName of es1 (openssl asn1parse)"
  assert_eq "$(san_list "$c" | tr '\n' '|')" \
    "DNS:es1.mydomain.com|othername: commonName::es1|othername: commonName::es1.cluster|" \
    "subjectAltName of es1 (openssl x509 -text)"
  ossl_verify -purpose sslserver -verify_hostname es1.mydomain.com -CAfile "$TMP/eca/ca.crt" "$c"
}

bulk_bad() {
  run ctls ca init --out "$TMP/bca2" --name "ITest Bulk CA 2"
  # One invalid name anywhere: nothing at all is written.
  cat >"$TMP/bad.yml" <<'EOF'
instances:
  - name: good
    dns: [ good.example.com ]
  - name: bad
    dns: [ "bad..example.com" ]
EOF
  expect_fail 1 'bad\.\.example\.com' -- ctls cert bulk --in "$TMP/bad.yml" --ca-cert "$TMP/bca2/ca.crt" \
    --ca-key "$TMP/bca2/ca.key" --out "$TMP/bulkbad"
  err_has bad.yml
  assert_dir_empty "$TMP/bulkbad"
  # A NUL inside a name (YAML "\0" escape).
  printf 'instances:\n  - name: nul\n    dns: [ "a\\0b.example.com" ]\n' >"$TMP/nul.yml"
  expect_fail 1 'invalid|control|NUL|character' -- ctls cert bulk --in "$TMP/nul.yml" --ca-cert "$TMP/bca2/ca.crt" \
    --ca-key "$TMP/bca2/ca.key" --out "$TMP/bulknul"
  assert_dir_empty "$TMP/bulknul"
  # Not YAML / wrong shape.
  printf 'instances: [ {name: x, dns: [ a.example.com ]\n' >"$TMP/broken.yml"
  expect_fail 1 'broken.yml' -- ctls cert bulk --in "$TMP/broken.yml" --ca-cert "$TMP/bca2/ca.crt" \
    --ca-key "$TMP/bca2/ca.key" --out "$TMP/bulkbroken.zip"
  assert_no_file "$TMP/bulkbroken.zip"
  # A filename that is a path, or a DN name without a filename: refused, nothing written.
  printf 'instances:\n  - name: a.example.com\n    filename: "../evil"\n' >"$TMP/travf.yml"
  expect_fail 1 'filename: must be' -- ctls cert bulk --in "$TMP/travf.yml" --ca-cert "$TMP/bca2/ca.crt" \
    --ca-key "$TMP/bca2/ca.key" --out "$TMP/bulktravf/x"
  assert_dir_empty "$TMP/bulktravf"
  printf 'instances:\n  - name: "CN=node5,OU=IT"\n' >"$TMP/dn.yml"
  expect_fail 1 'a distinguished name needs a "filename" field' -- ctls cert bulk --in "$TMP/dn.yml" \
    --ca-cert "$TMP/bca2/ca.crt" --ca-key "$TMP/bca2/ca.key" --out "$TMP/bulkdn.zip"
  assert_no_file "$TMP/bulkdn.zip"
  # A path-traversal instance name.
  printf 'instances:\n  - name: "../evil"\n    dns: [ evil.example.com ]\n' >"$TMP/trav.yml"
  expect_fail 1 'evil' -- ctls cert bulk --in "$TMP/trav.yml" --ca-cert "$TMP/bca2/ca.crt" \
    --ca-key "$TMP/bca2/ca.key" --out "$TMP/bulktrav/x"
  assert_dir_empty "$TMP/bulktrav"
  assert_no_file "$TMP/bulktrav/evil"
}

section "cert generate, self-signed, Redis SAN layout, all types" generate_self_signed
section "cert generate under a CA" generate_with_ca
section "cert bulk from instances.yml (directory and zip)" bulk
section "cert bulk from Elastic's documented instances.yml (filename, a DN name, cn)" bulk_elastic_example
section "cert bulk with bad instances: nothing written" bulk_bad
finish
