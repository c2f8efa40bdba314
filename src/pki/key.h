#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "ossl/ptr.h"

namespace clustertls::pki {

// The key types clustertls generates. EC P-256 is the default.
enum class KeyType { kEcP256, kEcP384, kRsa2048, kRsa3072, kRsa4096, kEd25519 };

// Parses "ec-p256" (also "p256", "ecdsa", "ec"), "ec-p384" ("p384"), "rsa-2048" ("rsa"),
// "rsa-3072", "rsa-4096", "ed25519". Fails with kInvalidArgument listing the accepted names.
core::Result<KeyType> ParseKeyType(std::string_view name);

// Canonical name, e.g. "ec-p256".
const char* KeyTypeName(KeyType type);

// Refuses keys clustertls does not accept, with a specific message (kWeakKey): RSA below 2048
// bits or with a public exponent other than 65537; EC keys on curves other than P-256/P-384 or
// with explicit parameters; DSA, DH and other types. Ed25519 is accepted.
core::Result<void> CheckKeyAcceptable(const EVP_PKEY* key);

// A public key: an immutable value sharing the underlying EVP_PKEY.
class PublicKey {
 public:
  // Takes a shared reference to `key` (EVP_PKEY_up_ref). A null `key` gives an empty key that
  // describes as "unknown", has no SPKI and matches nothing.
  static PublicKey FromEvp(EVP_PKEY* key);
  // Parses a DER SubjectPublicKeyInfo. Fails with kParse.
  static core::Result<PublicKey> FromSpkiDer(std::string_view der);

  // DER SubjectPublicKeyInfo.
  std::string SpkiDer() const;
  // "EC P-256", "EC P-384", "RSA 2048", "Ed25519".
  std::string Describe() const;
  // The KeyType of this key, if it is one clustertls generates (e.g. not an RSA 2560 or a P-521
  // key, nor an empty one).
  std::optional<KeyType> type() const;
  bool Equals(const PublicKey& other) const;
  EVP_PKEY* get() const { return key_.get(); }

 private:
  explicit PublicKey(std::shared_ptr<EVP_PKEY> key) : key_(std::move(key)) {}
  std::shared_ptr<EVP_PKEY> key_;
};

// A private key: an immutable value sharing the underlying EVP_PKEY. Never logged or printed.
class PrivateKey {
 public:
  // Generates a key with the CSPRNG. Fails with kCrypto.
  static core::Result<PrivateKey> Generate(KeyType type);
  // Takes a shared reference to `key` (EVP_PKEY_up_ref), which must hold a private key and not
  // be null. Does not run CheckKeyAcceptable: callers decide.
  static PrivateKey FromEvp(EVP_PKEY* key);

  // Parses PEM (PKCS#1 "RSA PRIVATE KEY", SEC1 "EC PRIVATE KEY", PKCS#8 "PRIVATE KEY", encrypted
  // PKCS#8 "ENCRYPTED PRIVATE KEY") or DER (PKCS#8, encrypted PKCS#8, PKCS#1, SEC1).
  // An encrypted key needs `passphrase`: without it kWrongPassphrase ("key is encrypted: a
  // passphrase is needed"), with a wrong one kWrongPassphrase. Not a key: kParse. The key is then
  // checked with CheckKeyAcceptable (kWeakKey).
  static core::Result<PrivateKey> Parse(std::string_view data,
                                        std::optional<std::string_view> passphrase = std::nullopt);

  // PKCS#8 PEM; with a passphrase, encrypted PKCS#8 (AES-256-CBC, PBKDF2-HMAC-SHA256 with a
  // high iteration count). An empty passphrase: kInvalidArgument. Fails with kCrypto.
  core::Result<std::string> ToPem(std::optional<std::string_view> passphrase = std::nullopt) const;
  // Unencrypted PKCS#8 DER.
  core::Result<std::string> ToDer() const;

  PublicKey public_key() const;
  // True if `pub` is this key's public half.
  bool Matches(const PublicKey& pub) const;
  std::string Describe() const { return public_key().Describe(); }
  EVP_PKEY* get() const { return key_.get(); }

 private:
  explicit PrivateKey(std::shared_ptr<EVP_PKEY> key) : key_(std::move(key)) {}
  std::shared_ptr<EVP_PKEY> key_;
};

}  // namespace clustertls::pki
