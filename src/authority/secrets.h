#pragma once

// Secrets the control plane keeps: user passwords (hashed with scrypt, a memory-hard KDF),
// API tokens (random, stored as a SHA-256 hash), the sealing key that encrypts private keys at
// rest (AES-256-GCM), and the audit log's hash chain. Every primitive is OpenSSL's (EVP_KDF
// "SCRYPT", EVP_aes_256_gcm, SHA-256, CRYPTO_memcmp); nothing here is hand-written crypto.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/rng.h"
#include "store/store.h"

namespace clustertls::authority {

// scrypt cost (RFC 7914 section 2). The default takes 32 MiB and tens of milliseconds.
struct PasswordHashOptions {
  int log2_n = 15;
  int r = 8;
  int p = 1;
};

// Hashes `password` with a fresh 16-byte salt from `rng`. The result is self-describing:
// "$scrypt$ln=15,r=8,p=1$<salt base64>$<hash base64>" (32-byte hash). kCrypto on failure.
core::Result<std::string> HashPassword(std::string_view password, core::Rng& rng,
                                       const PasswordHashOptions& options = {});

// True if `password` matches `encoded` (from HashPassword); the comparison is constant-time.
// A malformed `encoded`, or a cost above ln=20, is false (never a crash).
bool VerifyPassword(std::string_view password, std::string_view encoded);

// A random password for generated accounts: 24 characters from [A-Za-z0-9] (~142 bits).
core::Result<std::string> GeneratePassword(core::Rng& rng);

// A new API token. `token` is what the user is shown once: "ctls_<id>_<secret>" where id is
// 16 hex characters and secret 43 base64url characters (256 bits). Only `hash` is stored.
struct NewToken {
  std::string id;
  std::string token;
  std::string hash;  // TokenHash(token)
};
core::Result<NewToken> GenerateToken(core::Rng& rng);

// Splits "ctls_<id>_<secret>" and returns the id; kInvalidArgument if the shape is wrong.
core::Result<std::string> TokenId(std::string_view token);

// SHA-256 of the whole token, lower-case hex. Tokens carry 256 random bits, so a fast hash is
// enough (a KDF would add nothing and cost every request).
std::string TokenHash(std::string_view token);

// Constant-time comparison of two strings (CRYPTO_memcmp; lengths compared first).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// The key that encrypts private keys and other secrets before they reach the store:
// AES-256-GCM with a random 12-byte nonce per message; `aad` binds a blob to its purpose (e.g.
// "ca:issuing", "named:api") so a blob cannot be moved to another record.
class SealingKey {
 public:
  // A new random key.
  static core::Result<SealingKey> Generate(core::Rng& rng);
  // Parses the key file's text: 64 hex characters (surrounding whitespace ignored); kParse.
  static core::Result<SealingKey> FromHex(std::string_view text);
  // 64 hex characters and a newline: the key file's content.
  std::string ToHex() const;

  // Blob layout: "CTS1" || nonce(12) || ciphertext || tag(16).
  core::Result<store::Blob> Seal(std::string_view plaintext, std::string_view aad,
                                 core::Rng& rng) const;
  // kWrongPassphrase if the tag does not verify (wrong key, wrong aad or tampered blob);
  // kParse if the blob is not in the layout above.
  core::Result<std::string> Open(std::span<const std::uint8_t> blob, std::string_view aad) const;

 private:
  explicit SealingKey(std::vector<std::uint8_t> key) : key_(std::move(key)) {}
  std::vector<std::uint8_t> key_;
};

// The audit chain's hash: SHA-256 (lower-case hex) over an unambiguous, length-prefixed
// encoding of seq, time, actor, action, target, source, details_json and prev_hash. Passed to
// Store::AppendAudit as the hasher.
std::string AuditHash(const store::AuditEntry& entry);

// Result of checking an audit log.
struct AuditCheck {
  bool ok = true;
  std::int64_t entries = 0;
  // When !ok: the first bad sequence number and why ("hash does not match its content",
  // "prev_hash does not match entry 4", "sequence gap: 5 follows 3", ...).
  std::int64_t first_bad_seq = 0;
  std::string problem{};
};

// Checks a log read in pages: Add() each entry in order, starting at seq 1; result() says
// whether it is an unbroken chain: seq 1, 2, 3... without gaps, each prev_hash the previous
// entry's hash, each hash AuditHash of its entry. After the first problem, Add() is a no-op.
class AuditVerifier {
 public:
  void Add(const store::AuditEntry& entry);
  const AuditCheck& result() const { return check_; }

 private:
  AuditCheck check_;
  std::string last_hash_;
};

}  // namespace clustertls::authority
