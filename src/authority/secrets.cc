#include "authority/secrets.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <array>
#include <charconv>
#include <cstring>
#include <memory>

#include "core/encoding.h"
#include "ossl/error.h"

namespace clustertls::authority {

using core::ErrorCode;
using core::Result;

namespace {

struct KdfCtxDeleter {
  void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
};
struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
using KdfCtx = std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

// Algorithms are fetched once per process (thread-safe static initialisation) and never freed.
EVP_KDF* Scrypt() {
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "SCRYPT", nullptr);
  return kdf;
}
const EVP_MD* Sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}
const EVP_CIPHER* Aes256Gcm() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;
constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;
constexpr std::string_view kBlobMagic = "CTS1";
constexpr std::string_view kTokenPrefix = "ctls_";
constexpr std::size_t kTokenIdHexChars = 16;
constexpr std::size_t kTokenSecretChars = 43;

// scrypt bounds: RFC 7914 section 2 requires N a power of two > 1, r * p < 2^30. We refuse
// anything above ln=20 and more than ~1 GiB of memory, so a forged hash cannot exhaust the host.
constexpr int kMaxLog2N = 20;
constexpr int kMaxR = 32;
constexpr int kMaxP = 16;
constexpr std::uint64_t kMaxScryptMemory = (std::uint64_t{1} << 30) + (std::uint64_t{1} << 20);

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Base64 without padding (the PHC string format's encoding; base64url for tokens, RFC 4648
// section 5).
std::string Base64NoPad(std::span<const std::uint8_t> in, const char* alphabet) {
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    out.push_back(alphabet[v & 63]);
  }
  std::size_t rest = in.size() - i;
  if (rest == 1) {
    std::uint32_t v = std::uint32_t{in[i]} << 16;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
  } else if (rest == 2) {
    std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8);
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
  }
  return out;
}

// Strict decoder for standard base64; trailing '=' padding is accepted but not required.
// Returns false for any other character or an impossible length.
bool DecodeBase64(std::string_view in, std::vector<std::uint8_t>& out) {
  while (!in.empty() && in.back() == '=') {
    in.remove_suffix(1);
  }
  if (in.size() % 4 == 1) {
    return false;
  }
  out.clear();
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = core::Base64Value(c);
    if (v < 0) {
      return false;
    }
    acc = ((acc << 6) | static_cast<std::uint32_t>(v)) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  // Canonical encodings only: the unused low bits of the last character are zero.
  return (acc & ((1u << bits) - 1)) == 0;
}

bool ParseInt(std::string_view text, int& out) {
  if (text.empty() || text.size() > 9) {
    return false;
  }
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

// Splits on `sep`, keeping empty parts.
std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t pos = text.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, pos - start));
    start = pos + 1;
  }
}

bool CostAcceptable(int log2_n, int r, int p) {
  if (log2_n < 1 || log2_n > kMaxLog2N || r < 1 || r > kMaxR || p < 1 || p > kMaxP) {
    return false;
  }
  std::uint64_t n = std::uint64_t{1} << log2_n;
  std::uint64_t memory = 128 * std::uint64_t(r) * (n + 2) + 128 * std::uint64_t(r) * p;
  return memory <= kMaxScryptMemory;
}

// RFC 7914 scrypt through OpenSSL's EVP_KDF. Fails with kCrypto.
Result<void> RunScrypt(std::string_view password, std::span<const std::uint8_t> salt, int log2_n,
                       int r, int p, std::span<std::uint8_t> out) {
  if (Scrypt() == nullptr) {
    return ossl::Failure(ErrorCode::kCrypto, "scrypt is not available in this OpenSSL");
  }
  KdfCtx ctx(EVP_KDF_CTX_new(Scrypt()));
  if (!ctx) {
    return ossl::Failure(ErrorCode::kCrypto, "scrypt: cannot create a KDF context");
  }
  std::uint64_t n = std::uint64_t{1} << log2_n;
  std::uint32_t r32 = static_cast<std::uint32_t>(r);
  std::uint32_t p32 = static_cast<std::uint32_t>(p);
  std::uint64_t maxmem = kMaxScryptMemory + (std::uint64_t{1} << 20);
  // OSSL_PARAM wants non-const pointers; the KDF only reads them. An empty password or salt
  // still needs a valid pointer.
  static char empty = 0;
  char* pw = password.empty() ? &empty : const_cast<char*>(password.data());
  std::uint8_t* salt_ptr = salt.empty() ? reinterpret_cast<std::uint8_t*>(&empty)
                                        : const_cast<std::uint8_t*>(salt.data());
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, pw, password.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt_ptr, salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r32),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p32),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "scrypt derivation failed");
  }
  return {};
}

Result<void> Fill(core::Rng& rng, std::span<std::uint8_t> out) { return rng.Fill(out); }

Result<std::array<std::uint8_t, 32>> Sha256Of(std::span<const std::uint8_t> data) {
  std::array<std::uint8_t, 32> digest{};
  unsigned int len = 0;
  if (Sha256() == nullptr ||
      EVP_Digest(data.data(), data.size(), digest.data(), &len, Sha256(), nullptr) != 1 ||
      len != digest.size()) {
    return ossl::Failure(ErrorCode::kCrypto, "SHA-256 failed");
  }
  return digest;
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// Length-prefixed field encoding for the audit hash: 8-byte big-endian length, then the bytes.
void AppendU64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  }
}
void AppendField(std::string& out, std::string_view field) {
  AppendU64(out, field.size());
  out.append(field);
}

}  // namespace

Result<std::string> HashPassword(std::string_view password, core::Rng& rng,
                                 const PasswordHashOptions& options) {
  if (!CostAcceptable(options.log2_n, options.r, options.p)) {
    return core::Fail(ErrorCode::kInvalidArgument,
                      "scrypt cost out of range (ln 1-20, r 1-32, p 1-16, at most 1 GiB)");
  }
  std::array<std::uint8_t, kSaltBytes> salt{};
  CTLS_RETURN_IF_ERROR(Fill(rng, salt));
  std::array<std::uint8_t, kHashBytes> hash{};
  CTLS_RETURN_IF_ERROR(RunScrypt(password, salt, options.log2_n, options.r, options.p, hash));
  std::string out = "$scrypt$ln=" + std::to_string(options.log2_n) +
                    ",r=" + std::to_string(options.r) + ",p=" + std::to_string(options.p) + "$" +
                    Base64NoPad(salt, kBase64) + "$" + Base64NoPad(hash, kBase64);
  OPENSSL_cleanse(hash.data(), hash.size());
  return out;
}

bool VerifyPassword(std::string_view password, std::string_view encoded) {
  if (encoded.size() > 512) {
    return false;
  }
  std::vector<std::string_view> parts = Split(encoded, '$');
  if (parts.size() != 5 || !parts[0].empty() || parts[1] != "scrypt") {
    return false;
  }
  std::vector<std::string_view> cost = Split(parts[2], ',');
  if (cost.size() != 3 || !cost[0].starts_with("ln=") || !cost[1].starts_with("r=") ||
      !cost[2].starts_with("p=")) {
    return false;
  }
  int log2_n = 0;
  int r = 0;
  int p = 0;
  if (!ParseInt(cost[0].substr(3), log2_n) || !ParseInt(cost[1].substr(2), r) ||
      !ParseInt(cost[2].substr(2), p) || !CostAcceptable(log2_n, r, p)) {
    return false;
  }
  std::vector<std::uint8_t> salt;
  std::vector<std::uint8_t> expected;
  // The hash length is fixed: scrypt's output for a shorter length is a prefix of the longer
  // one, so accepting a truncated hash would weaken it.
  if (!DecodeBase64(parts[3], salt) || !DecodeBase64(parts[4], expected) || salt.empty() ||
      salt.size() > 64 || expected.size() != kHashBytes) {
    return false;
  }
  std::vector<std::uint8_t> actual(expected.size());
  if (!RunScrypt(password, salt, log2_n, r, p, actual)) {
    ossl::ClearErrors();
    return false;
  }
  bool same = CRYPTO_memcmp(actual.data(), expected.data(), expected.size()) == 0;
  OPENSSL_cleanse(actual.data(), actual.size());
  return same;
}

Result<std::string> GeneratePassword(core::Rng& rng) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  constexpr unsigned kAlphabetSize = sizeof(kAlphabet) - 1;  // 62
  constexpr unsigned kLimit = 256 - 256 % kAlphabetSize;     // 248: no modulo bias
  constexpr std::size_t kLength = 24;
  std::string out;
  std::array<std::uint8_t, 64> buf{};
  while (out.size() < kLength) {
    CTLS_RETURN_IF_ERROR(Fill(rng, buf));
    for (std::uint8_t b : buf) {
      if (b < kLimit && out.size() < kLength) {
        out.push_back(kAlphabet[b % kAlphabetSize]);
      }
    }
  }
  OPENSSL_cleanse(buf.data(), buf.size());
  return out;
}

Result<NewToken> GenerateToken(core::Rng& rng) {
  std::array<std::uint8_t, kTokenIdHexChars / 2> id{};
  std::array<std::uint8_t, 32> secret{};
  CTLS_RETURN_IF_ERROR(Fill(rng, id));
  CTLS_RETURN_IF_ERROR(Fill(rng, secret));
  NewToken t;
  t.id = core::Hex(id);
  t.token = std::string(kTokenPrefix) + t.id + "_" + Base64NoPad(secret, kBase64Url);
  OPENSSL_cleanse(secret.data(), secret.size());
  t.hash = TokenHash(t.token);
  if (t.hash.empty()) {
    return ossl::Failure(ErrorCode::kCrypto, "token: SHA-256 failed");
  }
  return t;
}

Result<std::string> TokenId(std::string_view token) {
  // The secret is base64url and may itself contain '_', so the shape is checked by position:
  // "ctls_" + 16 hex + "_" + 43 base64url.
  constexpr std::size_t kSize = kTokenPrefix.size() + kTokenIdHexChars + 1 + kTokenSecretChars;
  auto bad = [] {
    return core::Fail(ErrorCode::kInvalidArgument,
                      "token: not of the form ctls_<16 hex>_<43 base64url characters>");
  };
  if (token.size() != kSize || !token.starts_with(kTokenPrefix) ||
      token[kTokenPrefix.size() + kTokenIdHexChars] != '_') {
    return bad();
  }
  std::string_view id = token.substr(kTokenPrefix.size(), kTokenIdHexChars);
  for (char c : id) {
    if (!IsHexDigit(c) || (c >= 'A' && c <= 'F')) {
      return bad();
    }
  }
  for (char c : token.substr(kTokenPrefix.size() + kTokenIdHexChars + 1)) {
    if (!IsBase64UrlChar(c)) {
      return bad();
    }
  }
  return std::string(id);
}

std::string TokenHash(std::string_view token) {
  auto digest = Sha256Of(core::AsBytes(token));
  if (!digest) {
    // Never equal to a stored 64-character hash.
    ossl::ClearErrors();
    return {};
  }
  return core::Hex(*digest);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  if (a.empty()) {
    return true;
  }
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// --- SealingKey ---

Result<SealingKey> SealingKey::Generate(core::Rng& rng) {
  std::vector<std::uint8_t> key(kKeyBytes);
  CTLS_RETURN_IF_ERROR(Fill(rng, key));
  return SealingKey(std::move(key));
}

Result<SealingKey> SealingKey::FromHex(std::string_view text) {
  auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!text.empty() && is_space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_space(text.back())) {
    text.remove_suffix(1);
  }
  if (text.size() != kKeyBytes * 2) {
    return core::Fail(ErrorCode::kParse, "sealing key: expected 64 hex characters, found " +
                                             std::to_string(text.size()) + " characters");
  }
  std::vector<std::uint8_t> key(kKeyBytes);
  for (std::size_t i = 0; i < kKeyBytes; ++i) {
    char hi = text[2 * i];
    char lo = text[2 * i + 1];
    if (!IsHexDigit(hi) || !IsHexDigit(lo)) {
      OPENSSL_cleanse(key.data(), key.size());
      return core::Fail(ErrorCode::kParse, "sealing key: not hexadecimal");
    }
    key[i] = static_cast<std::uint8_t>((core::HexDigitValue(hi) << 4) | core::HexDigitValue(lo));
  }
  return SealingKey(std::move(key));
}

std::string SealingKey::ToHex() const { return core::Hex(key_) + "\n"; }

Result<store::Blob> SealingKey::Seal(std::string_view plaintext, std::string_view aad,
                                     core::Rng& rng) const {
  if (Aes256Gcm() == nullptr) {
    return ossl::Failure(ErrorCode::kCrypto, "AES-256-GCM is not available in this OpenSSL");
  }
  if (plaintext.size() > (std::size_t{1} << 30)) {
    return core::Fail(ErrorCode::kInvalidArgument, "seal: plaintext larger than 1 GiB");
  }
  store::Blob blob(kBlobMagic.size() + kNonceBytes + plaintext.size() + kTagBytes);
  std::memcpy(blob.data(), kBlobMagic.data(), kBlobMagic.size());
  std::uint8_t* nonce = blob.data() + kBlobMagic.size();
  std::uint8_t* ct = nonce + kNonceBytes;
  std::uint8_t* tag = ct + plaintext.size();
  CTLS_RETURN_IF_ERROR(Fill(rng, std::span<std::uint8_t>(nonce, kNonceBytes)));

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  // The default GCM IV length is 12 bytes (NIST SP 800-38D section 8.2).
  if (!ctx || EVP_EncryptInit_ex2(ctx.get(), Aes256Gcm(), key_.data(), nonce, nullptr) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "seal: cannot initialise AES-256-GCM");
  }
  if (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                                        reinterpret_cast<const unsigned char*>(aad.data()),
                                        static_cast<int>(aad.size())) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "seal: AAD rejected");
  }
  int written = 0;
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), ct, &len,
                          reinterpret_cast<const unsigned char*>(plaintext.data()),
                          static_cast<int>(plaintext.size())) != 1) {
      return ossl::Failure(ErrorCode::kCrypto, "seal: encryption failed");
    }
    written = len;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), ct + written, &len) != 1 ||
      static_cast<std::size_t>(written + len) != plaintext.size()) {
    return ossl::Failure(ErrorCode::kCrypto, "seal: encryption failed");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagBytes), tag) !=
      1) {
    return ossl::Failure(ErrorCode::kCrypto, "seal: cannot read the GCM tag");
  }
  return blob;
}

Result<std::string> SealingKey::Open(std::span<const std::uint8_t> blob,
                                     std::string_view aad) const {
  if (Aes256Gcm() == nullptr) {
    return ossl::Failure(ErrorCode::kCrypto, "AES-256-GCM is not available in this OpenSSL");
  }
  constexpr std::size_t kOverhead = kBlobMagic.size() + kNonceBytes + kTagBytes;
  if (blob.size() < kOverhead ||
      std::memcmp(blob.data(), kBlobMagic.data(), kBlobMagic.size()) != 0) {
    return core::Fail(ErrorCode::kParse,
                      "sealed blob: not in the CTS1 layout (magic, 12-byte nonce, ciphertext, "
                      "16-byte tag), " +
                          std::to_string(blob.size()) + " bytes");
  }
  const std::uint8_t* nonce = blob.data() + kBlobMagic.size();
  const std::uint8_t* ct = nonce + kNonceBytes;
  std::size_t ct_size = blob.size() - kOverhead;
  const std::uint8_t* tag = ct + ct_size;
  if (ct_size > (std::size_t{1} << 30)) {
    return core::Fail(ErrorCode::kParse, "sealed blob: larger than 1 GiB");
  }

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex2(ctx.get(), Aes256Gcm(), key_.data(), nonce, nullptr) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "open: cannot initialise AES-256-GCM");
  }
  if (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                                        reinterpret_cast<const unsigned char*>(aad.data()),
                                        static_cast<int>(aad.size())) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "open: AAD rejected");
  }
  std::string plaintext(ct_size, '\0');
  int written = 0;
  if (ct_size > 0) {
    if (EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()), &len, ct,
                          static_cast<int>(ct_size)) != 1) {
      return ossl::Failure(ErrorCode::kCrypto, "open: decryption failed");
    }
    written = len;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagBytes),
                          const_cast<std::uint8_t*>(tag)) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "open: cannot set the GCM tag");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()) + written,
                          &len) != 1) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    ossl::ClearErrors();
    return core::Fail(ErrorCode::kWrongPassphrase,
                      "sealed blob does not open: wrong sealing key, wrong purpose (aad) or "
                      "tampered data");
  }
  return plaintext;
}

// --- audit chain ---

std::string AuditHash(const store::AuditEntry& entry) {
  std::string buf = "clustertls-audit-v1";
  AppendU64(buf, static_cast<std::uint64_t>(entry.seq));
  AppendU64(buf, static_cast<std::uint64_t>(entry.time.time_since_epoch().count()));
  AppendField(buf, entry.actor);
  AppendField(buf, entry.action);
  AppendField(buf, entry.target);
  AppendField(buf, entry.source);
  AppendField(buf, entry.details_json);
  AppendField(buf, entry.prev_hash);
  auto digest = Sha256Of(core::AsBytes(buf));
  if (!digest) {
    ossl::ClearErrors();
    return {};
  }
  return core::Hex(*digest);
}

void AuditVerifier::Add(const store::AuditEntry& entry) {
  if (!check_.ok) {
    return;
  }
  std::int64_t expected_seq = check_.entries + 1;
  auto fail = [&](std::string problem) {
    check_.ok = false;
    check_.first_bad_seq = entry.seq;
    check_.problem = std::move(problem);
  };
  if (entry.seq != expected_seq) {
    if (check_.entries == 0) {
      fail("sequence starts at " + std::to_string(entry.seq) + ", not 1");
    } else if (entry.seq > expected_seq) {
      fail("sequence gap: " + std::to_string(entry.seq) + " follows " +
           std::to_string(check_.entries));
    } else {
      fail("sequence out of order: " + std::to_string(entry.seq) + " follows " +
           std::to_string(check_.entries));
    }
    return;
  }
  if (!ConstantTimeEquals(entry.prev_hash, last_hash_)) {
    fail(check_.entries == 0 ? std::string("prev_hash of the first entry is not empty")
                             : "prev_hash does not match entry " + std::to_string(check_.entries));
    return;
  }
  std::string computed = AuditHash(entry);
  if (computed.empty() || !ConstantTimeEquals(entry.hash, computed)) {
    fail("hash does not match its content");
    return;
  }
  for (const ExpectedHead& head : heads_) {
    if (head.seq == entry.seq && entry.hash != head.hash) {
      fail(AuditRewrittenProblem(head.description, entry.seq, entry.hash));
      check_.truncated = true;
      return;
    }
  }
  check_.entries = entry.seq;
  last_hash_ = entry.hash;
}

void AuditVerifier::ExpectHead(std::int64_t seq, std::string hash, std::string description) {
  heads_.push_back(
      ExpectedHead{.seq = seq, .hash = std::move(hash), .description = std::move(description)});
}

AuditCheck AuditVerifier::Finish() const {
  AuditCheck out = check_;
  if (!out.ok) {
    return out;
  }
  for (const ExpectedHead& head : heads_) {
    if (head.seq > out.entries) {
      out.ok = false;
      out.truncated = true;
      out.first_bad_seq = out.entries + 1;
      out.problem = AuditTruncatedProblem(head.description, out.entries);
      return out;
    }
  }
  return out;
}

std::string AuditTruncatedProblem(std::string_view head, std::int64_t last_seq) {
  return "audit log truncated: " + std::string(head) + " is past the log's last entry " +
         std::to_string(last_seq);
}

std::string AuditRewrittenProblem(std::string_view head, std::int64_t seq, std::string_view hash) {
  return "audit log truncated or rewritten: entry " + std::to_string(seq) + " has hash " +
         std::string(hash) + ", not that of " + std::string(head);
}

}  // namespace clustertls::authority
