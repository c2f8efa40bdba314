#pragma once

// Signatures over application data (not X.509 structures) with the keys clustertls uses: the
// control plane's signed audit head. One EVP_DigestSign / EVP_DigestVerify pass, with the digest
// the key type signs certificates with (SigningDigest: SHA-256 for EC P-256 and RSA, SHA-384 for
// P-384, pure EdDSA for Ed25519; RSA PKCS#1 v1.5, ECDSA's DER Ecdsa-Sig-Value, RFC 5480 / RFC
// 8410). No crypto of our own.
//
// The caller domain-separates: `message` should begin with a fixed context string naming its
// purpose, so that a signature over it can never be taken for one over anything else the key
// signs.

#include <string>
#include <string_view>

#include "core/result.h"
#include "pki/key.h"

namespace clustertls::pki {

// Signs `message` with `key`. kUnsupported for a key type SigningDigest does not know, kCrypto
// if OpenSSL fails.
core::Result<std::string> SignData(const PrivateKey& key, std::string_view message);

// Checks that `signature` is `key`'s signature over `message` (as SignData makes it). kOk or
// kBadSignature ("signature does not verify"); kUnsupported for an unknown key type.
core::Result<void> VerifyData(const PublicKey& key, std::string_view message,
                              std::string_view signature);

}  // namespace clustertls::pki
