#!/usr/bin/env bash
# Encodings: PKCS#12 (read by `openssl pkcs12`, GnuTLS and, when present, Java's keytool), the
# elasticsearch-certutil zip layout, DER/PEM conversion.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

setup_ca() {
  run ctls ca init --out "$TMP/ca" --name "ITest Formats CA"
  run ctls ca intermediate --ca-cert "$TMP/ca/ca.crt" --ca-key "$TMP/ca/ca.key" --out "$TMP/int"
}

pkcs12() {
  printf 'p12 secret\n' >"$TMP/p12.pass"
  run ctls cert issue --ca-cert "$TMP/int/chain.crt" --ca-key "$TMP/int/ca.key" --name es-node \
    --dns es-node.example.com --format p12 --p12-passphrase-file "$TMP/p12.pass" --out "$TMP/p12"
  local p=$TMP/p12/es-node.p12
  assert_mode 600 "$p"  # it holds the private key
  timeout 20 openssl pkcs12 -in "$p" -info -nokeys -passin "file:$TMP/p12.pass" -out "$TMP/p12.info.pem" \
    2>"$TMP/p12.info" || fail "openssl pkcs12 -info cannot read es-node.p12: $(head -c 500 "$TMP/p12.info")"
  note "openssl pkcs12 -info: $(tr '\n' ';' <"$TMP/p12.info")"
  assert_grep 'Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC' "$TMP/p12.info"
  assert_grep 'PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC' "$TMP/p12.info"
  assert_grep '^MAC: sha(256|384|512)' "$TMP/p12.info"
  assert_not_grep 'RC2|3DES|DES-EDE|pbeWithSHA1|40-bit' "$TMP/p12.info"
  # The passphrase file's trailing newline is not part of the passphrase.
  timeout 20 openssl pkcs12 -in "$p" -noout -passin 'pass:p12 secret' 2>/dev/null ||
    fail "openssl cannot open es-node.p12 with 'p12 secret'"
  if timeout 20 openssl pkcs12 -in "$p" -noout -passin 'pass:wrong' 2>/dev/null; then
    fail "openssl opened es-node.p12 with a wrong passphrase"
  fi
  # Elastic's documented conversion commands.
  timeout 20 openssl pkcs12 -in "$p" -out "$TMP/p12.leaf.pem" -clcerts -nokeys -passin "file:$TMP/p12.pass" 2>/dev/null ||
    fail "openssl pkcs12 -clcerts failed"
  timeout 20 openssl pkcs12 -in "$p" -out "$TMP/p12.cas.pem" -cacerts -nokeys -passin "file:$TMP/p12.pass" 2>/dev/null ||
    fail "openssl pkcs12 -cacerts failed"
  timeout 20 openssl pkcs12 -in "$p" -out "$TMP/p12.key.pem" -nocerts -nodes -passin "file:$TMP/p12.pass" 2>/dev/null ||
    fail "openssl pkcs12 -nocerts failed"
  assert_eq "$(cert_count "$TMP/p12.leaf.pem")" 1 "leaf certificates in the PKCS#12"
  [ "$(cert_count "$TMP/p12.cas.pem")" -ge 1 ] || fail "the PKCS#12 holds no CA certificate"
  assert_eq "$(cn_of "$TMP/p12.leaf.pem")" es-node "CN of the PKCS#12 leaf"
  assert_leaf "$TMP/p12.leaf.pem" server "$TMP/int/ca.crt"
  assert_key_matches "$TMP/p12.leaf.pem" "$TMP/p12.key.pem"
  ossl_verify -purpose sslserver -verify_hostname es-node.example.com -CAfile "$TMP/ca/ca.crt" \
    -untrusted "$TMP/p12.cas.pem" "$TMP/p12.leaf.pem"
  # GnuTLS reads it too.
  timeout 20 certtool --p12-info --inder --infile "$p" --password 'p12 secret' >"$TMP/p12.gnutls" 2>&1 ||
    fail "certtool --p12-info cannot read es-node.p12: $(head -c 500 "$TMP/p12.gnutls")"
  assert_grep 'AES-256-CBC' "$TMP/p12.gnutls"
  assert_grep 'Type: PKCS #8 Encrypted key|PKCS #8' "$TMP/p12.gnutls"
  # Java (Elasticsearch's runtime), when installed.
  if command -v keytool >/dev/null 2>&1; then
    timeout 60 keytool -list -v -storetype PKCS12 -keystore "$p" -storepass 'p12 secret' >"$TMP/p12.keytool" 2>&1 ||
      fail "keytool cannot read es-node.p12: $(head -c 800 "$TMP/p12.keytool")"
    assert_grep 'PrivateKeyEntry' "$TMP/p12.keytool"
    assert_grep 'CN=es-node' "$TMP/p12.keytool"
    note "keytool lists the PrivateKeyEntry"
  else
    note "keytool not installed: the Java check was not run"
  fi
}

zip_bundle() {
  run ctls cert issue --ca-cert "$TMP/ca/ca.crt" --ca-key "$TMP/ca/ca.key" --name fleet-server \
    --dns fleet.example.com --ip 192.0.2.1 --format zip --out "$TMP/zip"
  local z=$TMP/zip/fleet-server.zip
  assert_mode 600 "$z"  # it holds the private key
  timeout 20 unzip -Z1 "$z" >"$TMP/zip.list" 2>&1 || fail "unzip cannot list fleet-server.zip: $(head -c 300 "$TMP/zip.list")"
  note "zip members: $(tr '\n' ' ' <"$TMP/zip.list")"
  timeout 20 unzip -tq "$z" >/dev/null 2>&1 || fail "unzip -t finds fleet-server.zip corrupt"
  local m
  for m in ca/ca.crt fleet-server/fleet-server.crt fleet-server/fleet-server.key; do
    grep -qx "$m" "$TMP/zip.list" || fail "fleet-server.zip lacks $m"
  done
  assert_not_grep 'ca/ca\.key' "$TMP/zip.list"  # a certificate bundle never carries the CA key
  assert_not_grep '^/|\.\./' "$TMP/zip.list"
  mkdir -p "$TMP/unz"
  (cd "$TMP/unz" && timeout 20 unzip -q "$z") || fail "unzip failed"
  local d=$TMP/unz
  assert_eq "$(fp_colon "$d/ca/ca.crt")" "$(fp_colon "$TMP/ca/ca.crt")" "ca/ca.crt of the zip"
  assert_leaf "$d/fleet-server/fleet-server.crt" server "$TMP/ca/ca.crt"
  assert_key_matches "$d/fleet-server/fleet-server.crt" "$d/fleet-server/fleet-server.key"
  assert_mode 600 "$d/fleet-server/fleet-server.key"  # Unix mode stored in the zip
  ossl_verify -purpose sslserver -verify_hostname fleet.example.com -CAfile "$d/ca/ca.crt" \
    "$d/fleet-server/fleet-server.crt"
  ossl_verify -purpose sslserver -verify_ip 192.0.2.1 -CAfile "$d/ca/ca.crt" "$d/fleet-server/fleet-server.crt"
  gnutls_verify "$d/ca/ca.crt" "$d/fleet-server/fleet-server.crt" --verify-hostname fleet.example.com

  # Under an intermediate, ca/ca.crt is the root and the leaf file carries the chain.
  run ctls cert issue --ca-cert "$TMP/int/chain.crt" --ca-key "$TMP/int/ca.key" --name kibana \
    --dns kibana.example.com --format zip --out "$TMP/zip2"
  mkdir -p "$TMP/unz2"
  (cd "$TMP/unz2" && timeout 20 unzip -q "$TMP/zip2/kibana.zip") || fail "unzip kibana.zip failed"
  assert_chain_order "$TMP/unz2/kibana/kibana.crt"
  ossl_verify -purpose sslserver -verify_hostname kibana.example.com -CAfile "$TMP/unz2/ca/ca.crt" \
    -untrusted "$TMP/unz2/kibana/kibana.crt" "$TMP/unz2/kibana/kibana.crt"
}

convert() {
  run ctls cert issue --ca-cert "$TMP/ca/ca.crt" --ca-key "$TMP/ca/ca.key" --name conv.example.com \
    --out "$TMP/conv"
  local c=$TMP/conv/conv.example.com.crt
  split_pem "$c" "$TMP/conv/part"
  timeout 20 openssl x509 -in "$TMP/conv/part0.pem" -outform DER -out "$TMP/conv/ref.der"
  # PEM -> DER
  run ctls convert "$TMP/conv/part0.pem" --to der --out "$TMP/conv/leaf.der"
  cmp -s "$TMP/conv/leaf.der" "$TMP/conv/ref.der" || fail "convert --to der differs from openssl's DER"
  # DER -> PEM
  run ctls convert "$TMP/conv/ref.der" --to pem --out "$TMP/conv/leaf.pem"
  timeout 20 openssl x509 -in "$TMP/conv/leaf.pem" -outform DER | cmp -s - "$TMP/conv/ref.der" ||
    fail "convert --to pem does not round-trip the DER certificate"
  assert_mode 644 "$TMP/conv/leaf.pem"
  # Key PEM -> DER: still the same key for openssl, and 0600.
  run ctls convert "$TMP/conv/conv.example.com.key" --to der --out "$TMP/conv/key.der"
  assert_mode 600 "$TMP/conv/key.der"
  timeout 20 openssl pkey -inform DER -in "$TMP/conv/key.der" -pubout >"$TMP/conv/key.pub" 2>/dev/null ||
    fail "openssl cannot read the DER key written by convert"
  pubkey_of_cert "$c" | cmp -s - "$TMP/conv/key.pub" || fail "the converted key does not match"
  # PEM cert + key -> PKCS#12.
  printf 'conv\n' >"$TMP/conv.pass"
  run ctls convert "$c" --to p12 --key "$TMP/conv/conv.example.com.key" \
    --passphrase-file "$TMP/conv.pass" --out "$TMP/conv/conv.p12"
  assert_mode 600 "$TMP/conv/conv.p12"
  timeout 20 openssl pkcs12 -in "$TMP/conv/conv.p12" -info -nokeys -passin "file:$TMP/conv.pass" \
    -out "$TMP/conv/p12.pem" 2>"$TMP/conv/p12.info" || fail "openssl cannot read conv.p12: $(head -c 300 "$TMP/conv/p12.info")"
  assert_grep 'AES-256-CBC' "$TMP/conv/p12.info"
  assert_not_grep 'RC2|3DES' "$TMP/conv/p12.info"
  assert_eq "$(fp_colon "$TMP/conv/p12.pem")" "$(fp_colon "$TMP/conv/part0.pem")" "certificate inside conv.p12"
  # PKCS#12 made by openssl -> PEM certificate(s) and key.
  timeout 20 openssl pkcs12 -export -in "$TMP/conv/part0.pem" -inkey "$TMP/conv/conv.example.com.key" \
    -certfile "$TMP/ca/ca.crt" -passout "file:$TMP/conv.pass" -out "$TMP/conv/ossl.p12" || fail "openssl pkcs12 -export failed"
  run ctls convert "$TMP/conv/ossl.p12" --to pem --passphrase-file "$TMP/conv.pass" \
    --key "$TMP/conv/from-p12.key" --out "$TMP/conv/from-p12.pem"
  assert_mode 600 "$TMP/conv/from-p12.key"
  assert_eq "$(fp_colon "$TMP/conv/from-p12.pem")" "$(fp_colon "$TMP/conv/part0.pem")" "first certificate out of ossl.p12"
  assert_key_matches "$TMP/conv/part0.pem" "$TMP/conv/from-p12.key"
  # Wrong PKCS#12 passphrase: exit 1, nothing written.
  printf 'nope\n' >"$TMP/conv.wrong"
  expect_fail 1 'passphrase|password|MAC' -- ctls convert "$TMP/conv/ossl.p12" --to pem \
    --passphrase-file "$TMP/conv.wrong" --key "$TMP/conv/w.key" --out "$TMP/conv/w.pem"
  err_has ossl.p12
  assert_no_file "$TMP/conv/w.key"
  assert_no_file "$TMP/conv/w.pem"
}

section "CA and intermediate for these tests" setup_ca
section "PKCS#12: AES-256-CBC/PBKDF2, read by openssl, GnuTLS, keytool" pkcs12
section "zip bundle in the elasticsearch-certutil layout" zip_bundle
section "convert PEM <-> DER, cert+key -> PKCS#12" convert
finish
