#!/usr/bin/env bash
# CA creation and certificate issuance (`ca init`, `ca intermediate`, `cert issue`, `csr create`,
# `csr sign`), judged by `openssl verify -x509_strict`, `openssl x509` and GnuTLS `certtool`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

SERVER_OID=1.3.6.1.5.5.7.3.1
CLIENT_OID=1.3.6.1.5.5.7.3.2

root_ca() {
  run ctls ca init --out "$TMP/root" --name "ITest Root CA"
  local c=$TMP/root/ca.crt k=$TMP/root/ca.key
  assert_mode 644 "$c"
  assert_key_file "$k"
  assert_grep '^-----BEGIN PRIVATE KEY-----$' "$k"  # unencrypted without --passphrase-file
  assert_eq "$(cert_count "$c")" 1 "certificates in ca.crt"
  assert_eq "$(cn_of "$c")" "ITest Root CA" "CA subject CN"
  assert_eq "$(subject_of "$c")" "$(issuer_of "$c")" "root is self-issued"
  assert_key_type "$c" ec-p256  # the default key type
  ext "$c" basicConstraints | grep >/dev/null 'critical' || fail "root BasicConstraints not critical"
  ext "$c" basicConstraints | grep >/dev/null 'CA:TRUE' || fail "root is not CA:TRUE"
  ext "$c" keyUsage | grep >/dev/null critical || fail "root KeyUsage not critical"
  ext "$c" keyUsage | grep >/dev/null 'Certificate Sign' || fail "root KeyUsage lacks keyCertSign"
  ext "$c" keyUsage | grep >/dev/null 'CRL Sign' || fail "root KeyUsage lacks cRLSign"
  ext "$c" subjectKeyIdentifier | grep >/dev/null . || fail "root has no SKI"
  [ "$(serial_bits "$c")" -ge 97 ] || fail "root serial too short: $(serial_hex "$c")"
  assert_key_matches "$c" "$k"
  [ $((($(not_after "$c") - $(date +%s)) / 86400)) -ge 365 ] || fail "root CA lives less than a year by default"
  ossl_verify -CAfile "$c" "$c"
  gnutls_verify "$c" "$c"
}

# issue_and_check KEYTYPE: a server certificate of that key type under the root.
issue_key_type() {
  local kt=$1 d=$TMP/kt-$1
  run ctls cert issue --ca-cert "$TMP/root/ca.crt" --ca-key "$TMP/root/ca.key" --name "node-$kt" \
    --dns "node-$kt.example.com" --dns localhost --ip 127.0.0.1 --ip ::1 --profile server \
    --key-type "$kt" --days 30 --out "$d"
  local c=$d/node-$kt.crt k=$d/node-$kt.key
  assert_mode 644 "$c"
  assert_key_file "$k"
  assert_key_type "$c" "$kt"
  assert_key_matches "$c" "$k"
  assert_leaf "$c" server "$TMP/root/ca.crt"
  assert_eq "$(cn_of "$c")" "node-$kt" "leaf CN"
  local want
  want=$(printf '%s\n' "DNS:node-$kt" "DNS:node-$kt.example.com" "DNS:localhost" \
    "IP Address:127.0.0.1" "IP Address:0:0:0:0:0:0:0:1" | sort)
  assert_eq "$(san_list "$c" | tr '\n' ' ')" "$(tr '\n' ' ' <<<"$want")" "SANs of node-$kt"
  [ "$(cert_count "$c")" -ge 1 ] || fail "no certificate in $c"
  assert_chain_order "$c"
  ossl_verify -purpose sslserver -verify_hostname "node-$kt.example.com" -CAfile "$TMP/root/ca.crt" "$c"
  ossl_verify -purpose sslserver -verify_ip 127.0.0.1 -CAfile "$TMP/root/ca.crt" "$c"
  ossl_verify_refuses 'hostname mismatch' -purpose sslserver -verify_hostname other.example.com \
    -CAfile "$TMP/root/ca.crt" "$c"
  ossl_verify_refuses '(unsuitable|unsupported) certificate purpose' -purpose sslclient \
    -CAfile "$TMP/root/ca.crt" "$c"
  gnutls_verify "$TMP/root/ca.crt" "$c" --verify-hostname "node-$kt.example.com" \
    --verify-purpose $SERVER_OID
  gnutls_refuses "$TMP/root/ca.crt" "$c" --verify-hostname "other.example.com"
}

key_types() {
  local kt
  for kt in ec-p256 ec-p384 rsa-2048 ed25519; do
    issue_key_type "$kt"
  done
}

# Elastic Defend needs RSA all the way: an RSA CA and an RSA leaf.
rsa_chain() {
  run ctls ca init --out "$TMP/rsaroot" --name "ITest RSA Root" --key-type rsa-3072
  assert_key_type "$TMP/rsaroot/ca.crt" rsa-3072
  run ctls cert issue --ca-cert "$TMP/rsaroot/ca.crt" --ca-key "$TMP/rsaroot/ca.key" \
    --name fleet-server --dns fleet.example.com --ip 192.0.2.1 --key-type rsa-2048 --out "$TMP/rsa"
  local c=$TMP/rsa/fleet-server.crt
  assert_key_type "$c" rsa-2048
  x509 "$c" -text | grep -E >/dev/null 'Signature Algorithm: sha(256|384|512)WithRSAEncryption' ||
    fail "fleet-server.crt is not signed with RSA/SHA-2: $(x509 "$c" -text | grep -m1 'Signature Algorithm')"
  assert_leaf "$c" server "$TMP/rsaroot/ca.crt"
  ext "$c" keyUsage | grep >/dev/null 'Key Encipherment' ||
    note "RSA server certificate without keyEncipherment (TLS 1.2 RSA key exchange unusable)"
  ossl_verify -purpose sslserver -verify_hostname fleet.example.com -CAfile "$TMP/rsaroot/ca.crt" "$c"
  ossl_verify -purpose sslserver -verify_ip 192.0.2.1 -CAfile "$TMP/rsaroot/ca.crt" "$c"
  gnutls_verify "$TMP/rsaroot/ca.crt" "$c" --verify-hostname fleet.example.com --verify-purpose $SERVER_OID
}

profiles() {
  local ca=$TMP/root/ca.crt key=$TMP/root/ca.key
  run ctls cert issue --ca-cert "$ca" --ca-key "$key" --name alice.example.com --profile client \
    --out "$TMP/prof"
  local c=$TMP/prof/alice.example.com.crt
  assert_leaf "$c" client "$ca"
  ossl_verify -purpose sslclient -CAfile "$ca" "$c"
  ossl_verify_refuses '(unsuitable|unsupported) certificate purpose' -purpose sslserver -CAfile "$ca" "$c"
  gnutls_verify "$ca" "$c" --verify-purpose $CLIENT_OID
  gnutls_refuses "$ca" "$c" --verify-purpose $SERVER_OID

  run ctls cert issue --ca-cert "$ca" --ca-key "$key" --name redis-1.example.com --profile peer \
    --dns redis-1.internal.example.com --out "$TMP/prof"
  c=$TMP/prof/redis-1.example.com.crt
  assert_leaf "$c" peer "$ca"
  ossl_verify -purpose sslserver -verify_hostname redis-1.internal.example.com -CAfile "$ca" "$c"
  ossl_verify -purpose sslclient -CAfile "$ca" "$c"
  gnutls_verify "$ca" "$c" --verify-purpose $SERVER_OID --verify-hostname redis-1.example.com
  gnutls_verify "$ca" "$c" --verify-purpose $CLIENT_OID

  # The default profile is server.
  run ctls cert issue --ca-cert "$ca" --ca-key "$key" --name default.example.com --out "$TMP/prof"
  assert_leaf "$TMP/prof/default.example.com.crt" server "$ca"
  # URI and e-mail SANs.
  run ctls cert issue --ca-cert "$ca" --ca-key "$key" --name svc.example.com --profile client \
    --uri spiffe://example.com/ns/default/sa/svc --email ops@example.com --out "$TMP/prof"
  c=$TMP/prof/svc.example.com.crt
  san_list "$c" | grep -x >/dev/null 'URI:spiffe://example.com/ns/default/sa/svc' || fail "URI SAN missing: $(san_list "$c" | tr '\n' ' ')"
  san_list "$c" | grep -x >/dev/null 'email:ops@example.com' || fail "email SAN missing: $(san_list "$c" | tr '\n' ' ')"
  ossl_verify -purpose sslclient -CAfile "$ca" "$c"
}

intermediate() {
  local root=$TMP/root/ca.crt rkey=$TMP/root/ca.key i=$TMP/int
  run ctls ca intermediate --ca-cert "$root" --ca-key "$rkey" --out "$i" --path-len 0 \
    --permitted-dns example.com
  assert_mode 644 "$i/ca.crt"
  assert_mode 644 "$i/chain.crt"
  assert_key_file "$i/ca.key"
  assert_eq "$(cert_count "$i/ca.crt")" 1 "certificates in intermediate ca.crt"
  assert_eq "$(cert_count "$i/chain.crt")" 2 "certificates in chain.crt (intermediate + root)"
  assert_chain_order "$i/chain.crt"
  split_pem "$i/chain.crt" "$TMP/int-chain"
  assert_eq "$(fp_colon "$TMP/int-chain0.pem")" "$(fp_colon "$i/ca.crt")" "chain.crt starts with the intermediate"
  assert_eq "$(fp_colon "$TMP/int-chain1.pem")" "$(fp_colon "$root")" "chain.crt ends with the root"
  local b n
  b=$(ext "$i/ca.crt" basicConstraints)
  grep -q critical <<<"$b" && grep -q 'CA:TRUE' <<<"$b" && grep -Eq 'pathlen: ?0' <<<"$b" ||
    fail "intermediate BasicConstraints should be critical, CA:TRUE, pathlen:0: $(tr -s ' \n' ' ' <<<"$b")"
  n=$(ext "$i/ca.crt" nameConstraints)
  grep -q critical <<<"$n" || note "nameConstraints not marked critical (RFC 5280 4.2.1.10 says MUST)"
  grep -q 'DNS:example.com' <<<"$n" || fail "intermediate lacks permitted DNS:example.com: $(tr -s ' \n' ' ' <<<"$n")"
  ext "$i/ca.crt" keyUsage | grep >/dev/null 'Certificate Sign' || fail "intermediate lacks keyCertSign"
  assert_key_matches "$i/ca.crt" "$i/ca.key"
  ossl_verify -CAfile "$root" "$i/ca.crt"
  [ "$(not_after "$i/ca.crt")" -le "$(not_after "$root")" ] || fail "intermediate outlives the root"

  # A leaf under the intermediate, issued with the intermediate's chain file.
  run ctls cert issue --ca-cert "$i/chain.crt" --ca-key "$i/ca.key" --name web.example.com \
    --dns www.example.com --profile server --out "$TMP/intleaf"
  local c=$TMP/intleaf/web.example.com.crt
  assert_leaf "$c" server "$i/ca.crt"
  assert_eq "$(cert_count "$c")" 3 "certificates in web.example.com.crt (leaf, intermediate, root)"
  assert_chain_order "$c"
  split_pem "$c" "$TMP/web"
  assert_eq "$(cn_of "$TMP/web0.pem")" web.example.com "first certificate is the leaf"
  assert_eq "$(fp_colon "$TMP/web1.pem")" "$(fp_colon "$i/ca.crt")" "second certificate is the intermediate"
  assert_eq "$(fp_colon "$TMP/web2.pem")" "$(fp_colon "$root")" "third certificate is the root"
  ossl_verify -purpose sslserver -verify_hostname www.example.com -CAfile "$root" -untrusted "$c" "$c"
  ossl_verify -purpose sslserver -verify_hostname web.example.com -CAfile "$root" -untrusted "$i/ca.crt" "$TMP/web0.pem"
  ossl_verify_refuses 'unable to get local issuer' -CAfile "$root" "$TMP/web0.pem"
  gnutls_verify "$root" "$c" --verify-hostname www.example.com --verify-purpose $SERVER_OID

  # With only the intermediate as --ca-cert, the file still starts with leaf then intermediate.
  run ctls cert issue --ca-cert "$i/ca.crt" --ca-key "$i/ca.key" --name api.example.com --out "$TMP/intleaf2"
  c=$TMP/intleaf2/api.example.com.crt
  assert_chain_order "$c"
  [ "$(cert_count "$c")" -ge 2 ] || fail "api.example.com.crt should hold the leaf and the intermediate"
  ossl_verify -purpose sslserver -verify_hostname api.example.com -CAfile "$root" -untrusted "$c" "$c"

  # A name outside the permitted subtree: clustertls refuses to issue it (see name_constraints).
  expect_fail 1 'DNS:evil\.other\.org is outside the name constraints of "CN=clustertls Intermediate CA"' \
    ctls cert issue --ca-cert "$i/chain.crt" --ca-key "$i/ca.key" --name evil.other.org \
    --out "$TMP/intevil"
  assert_dir_empty "$TMP/intevil"
  # Independently: a certificate for evil.other.org signed with the intermediate's key by
  # openssl itself must be refused by openssl verify (the constraint is effective).
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/evil.key" -subj /CN=evil.other.org -addext subjectAltName=DNS:evil.other.org \
    -out "$TMP/evil.csr" 2>/dev/null || fail "openssl req failed"
  printf 'subjectAltName=DNS:evil.other.org\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$TMP/evil.ext"
  timeout 20 openssl x509 -req -in "$TMP/evil.csr" -CA "$i/ca.crt" -CAkey "$i/ca.key" \
    -CAcreateserial -days 10 -extfile "$TMP/evil.ext" -out "$TMP/evil.crt" 2>/dev/null ||
    fail "openssl x509 -req with the intermediate's key failed"
  ossl_verify_refuses 'permitted subtree violation' -CAfile "$root" -untrusted "$i/ca.crt" "$TMP/evil.crt"

  # pathlen:0: a CA below this intermediate would be invalid; refusing to make it is better.
  if ctls ca intermediate --ca-cert "$i/chain.crt" --ca-key "$i/ca.key" --out "$TMP/int2" >"$OUT" 2>"$ERR"; then
    note "clustertls made a CA below a pathlen:0 intermediate (openssl would reject its leaves)"
  else
    note "clustertls refuses a CA below a pathlen:0 intermediate: $(head -n1 "$ERR")"
    assert_dir_empty "$TMP/int2"
  fi
}

passphrases() {
  printf 's3cret pass\n' >"$TMP/ca.pass"  # one trailing newline, ignored
  run ctls ca init --out "$TMP/pca" --name "ITest Protected CA" --passphrase-file "$TMP/ca.pass"
  local k=$TMP/pca/ca.key
  assert_key_file "$k"
  assert_grep '^-----BEGIN ENCRYPTED PRIVATE KEY-----$' "$k"
  timeout 20 openssl asn1parse -in "$k" >"$TMP/pca.asn1" || fail "openssl asn1parse cannot read $k"
  assert_grep 'PBES2' "$TMP/pca.asn1"
  assert_grep 'PBKDF2|scrypt' "$TMP/pca.asn1"
  assert_grep 'aes-256-(cbc|gcm)' "$TMP/pca.asn1"
  timeout 20 openssl pkey -in "$k" -passin 'pass:s3cret pass' -noout 2>/dev/null ||
    fail "openssl cannot decrypt ca.key with the passphrase without its trailing newline"
  if timeout 20 openssl pkey -in "$k" -passin 'pass:s3cret pass
' -noout 2>/dev/null; then
    fail "the trailing newline of the passphrase file was made part of the passphrase"
  fi
  assert_key_matches "$TMP/pca/ca.crt" "$k" -passin 'pass:s3cret pass'

  # The same passphrase without a newline works too; a leaf key can be encrypted as well.
  printf 's3cret pass' >"$TMP/ca.pass2"
  printf 'leaf pass\n' >"$TMP/leaf.pass"
  run ctls cert issue --ca-cert "$TMP/pca/ca.crt" --ca-key "$k" --ca-passphrase-file "$TMP/ca.pass2" \
    --name db.example.com --key-passphrase-file "$TMP/leaf.pass" --out "$TMP/pleaf"
  local lk=$TMP/pleaf/db.example.com.key
  assert_key_file "$lk"
  assert_grep '^-----BEGIN ENCRYPTED PRIVATE KEY-----$' "$lk"
  assert_key_matches "$TMP/pleaf/db.example.com.crt" "$lk" -passin 'pass:leaf pass'
  ossl_verify -purpose sslserver -verify_hostname db.example.com -CAfile "$TMP/pca/ca.crt" "$TMP/pleaf/db.example.com.crt"
}

validity() {
  local now c
  now=$(date +%s)
  run ctls cert issue --ca-cert "$TMP/root/ca.crt" --ca-key "$TMP/root/ca.key" --name short.example.com \
    --days 30 --out "$TMP/val"
  c=$TMP/val/short.example.com.crt
  local nb na
  nb=$(not_before "$c")
  na=$(not_after "$c")
  [ "$nb" -le "$now" ] || fail "notBefore is in the future"
  [ $((now - nb)) -le 3600 ] || fail "notBefore is backdated by $((now - nb))s (a few minutes expected)"
  [ $((now - nb)) -ge 60 ] || note "notBefore backdated by only $((now - nb))s"
  local days=$(((na - now) / 3600))
  [ "$days" -ge $((30 * 24 - 2)) ] && [ "$days" -le $((30 * 24 + 1)) ] ||
    fail "--days 30 gave a certificate valid for $days more hours"
  [ "$na" -le "$(not_after "$TMP/root/ca.crt")" ] || fail "leaf outlives its CA"
  # Modes do not depend on the umask: keys 0600, certificates 0644.
  (umask 000 && run ctls cert issue --ca-cert "$TMP/root/ca.crt" --ca-key "$TMP/root/ca.key" \
    --name open.example.com --out "$TMP/umask000") || exit 1
  assert_mode 600 "$TMP/umask000/open.example.com.key"
  assert_mode 644 "$TMP/umask000/open.example.com.crt"
  (umask 077 && run ctls cert issue --ca-cert "$TMP/root/ca.crt" --ca-key "$TMP/root/ca.key" \
    --name closed.example.com --out "$TMP/umask077") || exit 1
  assert_mode 600 "$TMP/umask077/closed.example.com.key"
  assert_mode 644 "$TMP/umask077/closed.example.com.crt"
}

csr_flow() {
  local ca=$TMP/root/ca.crt key=$TMP/root/ca.key
  run ctls csr create --name app.example.com --dns app.example.com --dns app2.example.com \
    --ip 10.1.2.3 --out "$TMP/csr"
  assert_mode 644 "$TMP/csr/app.example.com.csr"
  assert_key_file "$TMP/csr/app.example.com.key"
  timeout 20 openssl req -in "$TMP/csr/app.example.com.csr" -noout -verify >/dev/null 2>&1 ||
    fail "openssl req -verify refuses the CSR made by csr create"
  timeout 20 openssl req -in "$TMP/csr/app.example.com.csr" -noout -subject | grep >/dev/null 'CN *= *app.example.com' ||
    fail "CSR subject lacks CN=app.example.com"
  run ctls csr sign --csr "$TMP/csr/app.example.com.csr" --ca-cert "$ca" --ca-key "$key" \
    --profile client --out "$TMP/csr/app.example.com.crt"
  local c=$TMP/csr/app.example.com.crt
  assert_mode 644 "$c"
  assert_leaf "$c" client "$ca"
  assert_key_matches "$c" "$TMP/csr/app.example.com.key"
  san_list "$c" | grep -x >/dev/null 'DNS:app2.example.com' || fail "SAN from the CSR missing: $(san_list "$c" | tr '\n' ' ')"
  san_list "$c" | grep -x >/dev/null 'IP Address:10.1.2.3' || fail "IP SAN from the CSR missing"
  ossl_verify -purpose sslclient -CAfile "$ca" "$c"

  # A CSR made by openssl itself (RSA, PKCS#1 key file), signed as a server certificate.
  timeout 60 openssl genrsa -traditional -out "$TMP/ossl.key" 2048 2>/dev/null || fail "openssl genrsa failed"
  timeout 20 openssl req -new -key "$TMP/ossl.key" -subj "/O=ITest/CN=legacy.example.com" \
    -addext "subjectAltName=DNS:legacy.example.com,DNS:Legacy2.Example.COM." -out "$TMP/ossl.csr" ||
    fail "openssl req failed"
  run ctls csr sign --csr "$TMP/ossl.csr" --ca-cert "$ca" --ca-key "$key" --profile server \
    --out "$TMP/ossl.crt"
  assert_leaf "$TMP/ossl.crt" server "$ca"
  san_list "$TMP/ossl.crt" | grep -x >/dev/null 'DNS:legacy2.example.com' ||
    fail "the CSR's DNS name was not canonicalised (lower case, no trailing dot): $(san_list "$TMP/ossl.crt" | tr '\n' ' ')"
  ossl_verify -purpose sslserver -verify_hostname legacy2.example.com -CAfile "$ca" "$TMP/ossl.crt"
  gnutls_verify "$ca" "$TMP/ossl.crt" --verify-hostname legacy.example.com
}

# `ca intermediate --permitted-dns/--permitted-ip`: the issuer refuses names outside the
# constraints, naming them, and writes nothing; names inside verify with openssl and GnuTLS.
name_constraints() {
  local root=$TMP/root/ca.crt rkey=$TMP/root/ca.key i=$TMP/ncint
  run ctls ca intermediate --ca-cert "$root" --ca-key "$rkey" --out "$i" --name "NC Int CA" \
    --permitted-dns example.com --permitted-ip 127.0.0.0/8 --excluded-dns bad.example.com
  local flags=(--ca-cert "$i/chain.crt" --ca-key "$i/ca.key")
  expect_fail 1 '^clustertls: error: DNS:evil\.org is outside the name constraints of "CN=NC Int CA" \(permitted DNS: example\.com\)' \
    ctls cert issue "${flags[@]}" --name evil.org --out "$TMP/nc-evil"
  assert_dir_empty "$TMP/nc-evil"
  expect_fail 1 'IP:10\.1\.2\.3 is outside the name constraints of "CN=NC Int CA" \(permitted IP: 127\.0\.0\.0/8\)' \
    ctls cert issue "${flags[@]}" --name a.example.com --ip 10.1.2.3 --out "$TMP/nc-ip"
  assert_dir_empty "$TMP/nc-ip"
  expect_fail 1 'DNS:x\.bad\.example\.com is outside .*\(excluded DNS: bad\.example\.com\)' \
    ctls cert issue "${flags[@]}" --name x.bad.example.com --out "$TMP/nc-excl"
  assert_dir_empty "$TMP/nc-excl"
  # *.example.com would also match the excluded bad.example.com.
  expect_fail 1 'DNS:\*\.example\.com may match names outside the name constraints' \
    ctls cert issue "${flags[@]}" --name a.example.com --dns '*.example.com' --out "$TMP/nc-wild"
  assert_dir_empty "$TMP/nc-wild"
  # csr sign too, naming the CSR.
  run ctls csr create --name evil.org --out "$TMP/nc-csr"
  expect_fail 1 'nc-csr/evil\.org\.csr: DNS:evil\.org is outside' \
    ctls csr sign --csr "$TMP/nc-csr/evil.org.csr" "${flags[@]}" --out "$TMP/nc-csr/evil.org.crt"
  assert_no_file "$TMP/nc-csr/evil.org.crt"
  # Inside: issued, and openssl accepts it with the root trusted and the intermediate untrusted.
  run ctls cert issue "${flags[@]}" --name a.example.com --ip 127.0.0.5 --out "$TMP/nc-ok"
  local c=$TMP/nc-ok/a.example.com.crt
  ossl_verify -purpose sslserver -verify_ip 127.0.0.5 -CAfile "$root" -untrusted "$i/ca.crt" "$c"
  gnutls_verify "$root" "$c" --verify-hostname a.example.com
}

# Redis' and RabbitMQ's workflows: C, ST, L, O and OU of a CSR reach the certificate (RabbitMQ's
# EXTERNAL mechanism maps the whole DN to a user name); --subject writes them.
subject_dn() {
  local ca=$TMP/root/ca.crt key=$TMP/root/ca.key
  local subj='/C=US/ST=California/L=San Francisco/O=Example/OU=ops/CN=client1.example.com'
  local want='CN=client1.example.com,OU=ops,O=Example,L=San Francisco,ST=California,C=US'
  # An EC CSR (the fast parser) and an RSA one (OpenSSL's parser) by openssl req.
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/dn-ec.key" -subj "$subj" -out "$TMP/dn-ec.csr" 2>/dev/null || fail "openssl req failed"
  timeout 60 openssl req -new -newkey rsa:2048 -nodes -keyout "$TMP/dn-rsa.key" -subj "$subj" \
    -out "$TMP/dn-rsa.csr" 2>/dev/null || fail "openssl req (RSA) failed"
  local kt
  for kt in ec rsa; do
    run ctls csr sign --csr "$TMP/dn-$kt.csr" --ca-cert "$ca" --ca-key "$key" --profile client \
      --out "$TMP/dn-$kt.crt"
    assert_eq "$(dn_of "$TMP/dn-$kt.crt")" "$want" "subject of the certificate for the $kt CSR"
    ossl_verify -purpose sslclient -CAfile "$ca" "$TMP/dn-$kt.crt"
    gnutls_verify "$ca" "$TMP/dn-$kt.crt" --verify-purpose $CLIENT_OID
  done
  # Other attributes are dropped (DC is kept); the CN comes last whatever the CSR's order.
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/dn-odd.key" -subj '/CN=odd.example.com/emailAddress=ops@example.com/O=Example/DC=example/C=DE' \
    -out "$TMP/dn-odd.csr" 2>/dev/null || fail "openssl req failed"
  run ctls csr sign --csr "$TMP/dn-odd.csr" --ca-cert "$ca" --ca-key "$key" --out "$TMP/dn-odd.crt"
  assert_eq "$(dn_of "$TMP/dn-odd.crt")" 'CN=odd.example.com,C=DE,DC=example,O=Example' \
    "subject without emailAddress, DC kept"
  # A lower-case country is refused, naming it.
  timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/dn-bad.key" -subj '/C=us/CN=bad.example.com' -out "$TMP/dn-bad.csr" 2>/dev/null ||
    fail "openssl req failed"
  expect_fail 1 'subject attribute C "us": a country must be 2 letters, upper case' \
    ctls csr sign --csr "$TMP/dn-bad.csr" --ca-cert "$ca" --ca-key "$key" --out "$TMP/dn-bad.crt"
  assert_no_file "$TMP/dn-bad.crt"

  # csr create --subject: openssl reads the subject back, and the signed certificate keeps it.
  run ctls csr create --name client2.example.com --out "$TMP/dn-create" \
    --subject '/C=US/ST=California/L=San Francisco/O=Example/OU=ops'
  timeout 20 openssl req -in "$TMP/dn-create/client2.example.com.csr" -noout -verify >/dev/null 2>&1 ||
    fail "openssl req -verify refuses the CSR made with --subject"
  assert_eq "$(timeout 20 openssl req -in "$TMP/dn-create/client2.example.com.csr" -noout -subject -nameopt RFC2253)" \
    'subject=CN=client2.example.com,OU=ops,O=Example,L=San Francisco,ST=California,C=US' "CSR subject"
  # cert issue --subject in the RFC 4514 form (most significant last).
  run ctls cert issue --ca-cert "$ca" --ca-key "$key" --name client3.example.com --profile client \
    --subject 'OU=ops,O=Example\, Inc.,C=US' --out "$TMP/dn-issue"
  assert_eq "$(dn_of "$TMP/dn-issue/client3.example.com.crt")" 'CN=client3.example.com,OU=ops,O=Example\, Inc.,C=US' \
    "subject from --subject"
  ossl_verify -purpose sslclient -CAfile "$ca" "$TMP/dn-issue/client3.example.com.crt"
  # Bad --subject values: exit 1 naming the attribute, or 2 for a CN that is not --name.
  expect_fail 1 'subject attribute C "USA"' ctls cert issue --ca-cert "$ca" --ca-key "$key" \
    --name c4.example.com --subject '/C=USA' --out "$TMP/dn-bad1"
  expect_fail 1 'unknown subject attribute "emailAddress"' ctls cert issue --ca-cert "$ca" \
    --ca-key "$key" --name c4.example.com --subject '/emailAddress=a@example.com' --out "$TMP/dn-bad2"
  expect_fail 1 'subject attribute OU .*65 characters, more than 64' ctls cert issue --ca-cert "$ca" \
    --ca-key "$key" --name c4.example.com --subject "/OU=$(printf 'x%.0s' {1..65})" --out "$TMP/dn-bad3"
  expect_fail 2 '--subject names CN=other\.example\.com, but the common name is c4\.example\.com' \
    ctls cert issue --ca-cert "$ca" --ca-key "$key" --name c4.example.com \
    --subject '/O=Example/CN=other.example.com' --out "$TMP/dn-bad4"
  local d
  for d in dn-bad1 dn-bad2 dn-bad3 dn-bad4; do
    assert_dir_empty "$TMP/$d"
  done
}

# dn_of CERT: the subject as openssl prints it in RFC 2253 form.
dn_of() { timeout 20 openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'; }

serials() {
  local f max=0 n=0 b
  : >"$TMP/serials"
  while IFS= read -r f; do
    serial_hex "$f" >>"$TMP/serials"
    b=$(serial_bits "$f")
    [ "$b" -gt "$max" ] && max=$b
    n=$((n + 1))
  done < <(find "$TMP" -name '*.crt' ! -name 'chain.crt' ! -name 'evil.crt' -newer "$TMP/root/ca.key")
  [ "$n" -ge 5 ] || fail "too few certificates to judge serials ($n)"
  assert_eq "$(sort "$TMP/serials" | uniq -d | head -n1)" "" "duplicate serial among $n certificates"
  [ "$max" -ge 121 ] || fail "the longest of $n serials has $max bits: serials are not 128-bit random"
  note "$n certificates, distinct serials, longest $max bits"
}

section "ca init (root CA, defaults)" root_ca
section "cert issue with EC P-256/P-384, RSA 2048, Ed25519" key_types
section "RSA CA and RSA leaf (Elastic Defend)" rsa_chain
section "profiles server/client/peer, URI and e-mail SANs" profiles
section "ca intermediate with path length and name constraints" intermediate
section "passphrase-protected CA and leaf keys" passphrases
section "validity: --days, backdated notBefore; modes under any umask" validity
section "csr create / csr sign, openssl-made CSR" csr_flow
section "name constraints are enforced when issuing" name_constraints
section "subject DN: C, ST, L, O, OU, DC from CSRs and --subject" subject_dn
section "serial numbers (128-bit random, distinct)" serials
finish
