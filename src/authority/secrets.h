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
  // When !ok because the log does not reach a signed head it was checked against
  // (AuditVerifier::ExpectHead): `problem` is then the whole line, AuditTruncatedProblem's or
  // AuditRewrittenProblem's.
  bool truncated = false;
};

// "audit log truncated: <head> is past the log's last entry <last_seq>", where `head` describes
// a signed head (DescribeAuditHead: "the signed head (entry 45, hash ..., signed at ...)").
std::string AuditTruncatedProblem(std::string_view head, std::int64_t last_seq);
// "audit log truncated or rewritten: entry <seq> has hash <hash>, not that of <head>": the log
// reaches the head's entry but holds another one there (rows deleted, then others appended, or
// the chain recomputed).
std::string AuditRewrittenProblem(std::string_view head, std::int64_t seq, std::string_view hash);

// Checks a log read in pages: Add() each entry in order, starting at seq 1; result() says
// whether it is an unbroken chain so far: seq 1, 2, 3... without gaps, each prev_hash the
// previous entry's hash, each hash AuditHash of its entry. After the first problem, Add() is a
// no-op. The chain proves order and content, not length: a log whose last entries were deleted
// is still an unbroken chain. ExpectHead() closes that gap with a signed head.
class AuditVerifier {
 public:
  // Before the first Add(): the log must reach entry `seq` and that entry's hash must be `hash`
  // (a head signed earlier, described by `description` in the problem line). May be called for
  // several heads.
  void ExpectHead(std::int64_t seq, std::string hash, std::string description);
  void Add(const store::AuditEntry& entry);
  // The chain so far (for stopping early while paging).
  const AuditCheck& result() const { return check_; }
  // After the last Add(): result(), and, when it is ok, whether the log reached every expected
  // head (`truncated` when not).
  AuditCheck Finish() const;

 private:
  struct ExpectedHead {
    std::int64_t seq = 0;
    std::string hash;
    std::string description;
  };
  AuditCheck check_;
  std::string last_hash_;
  std::vector<ExpectedHead> heads_;
};

}  // namespace clustertls::authority
