#include "pki/key.h"

#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <array>
#include <cstring>
#include <utility>

#include "ossl/bio.h"
#include "ossl/error.h"

namespace clustertls::pki {

namespace {

using core::ErrorCode;
using core::Fail;

constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384;
constexpr unsigned long kRsaExponent = 65537;
// PBKDF2-HMAC-SHA256 iterations for encrypted PKCS#8 (OWASP 2023 recommends 600,000).
constexpr int kPbkdf2Iterations = 600000;
constexpr int kPbkdf2SaltBytes = 16;

// AES-256-CBC, fetched once.
const EVP_CIPHER* Aes256Cbc() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  return cipher;
}

std::string GroupName(const EVP_PKEY* key) {
  std::array<char, 80> name{};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name.data(), name.size(),
                                     &len) != 1) {
    ERR_clear_error();
    return {};
  }
  return std::string(name.data(), len);
}

// The NIST name of a curve ("P-256") when it has one, otherwise OpenSSL's name.
std::string DisplayCurveName(const std::string& group) {
  int nid = OBJ_sn2nid(group.c_str());
  if (nid == NID_undef) {
    nid = OBJ_txt2nid(group.c_str());
  }
  if (nid != NID_undef) {
    if (const char* nist = EC_curve_nid2nist(nid); nist != nullptr) {
      return nist;
    }
  }
  return group;
}

bool HasExplicitEcParameters(const EVP_PKEY* key) {
  std::array<char, 32> enc{};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_ENCODING, enc.data(), enc.size(),
                                     &len) != 1) {
    ERR_clear_error();
    // Without a readable encoding the group must at least have a name.
    return GroupName(key).empty();
  }
  return std::string_view(enc.data(), len) == OSSL_PKEY_EC_ENCODING_EXPLICIT;
}

// Records whether a decoder asked for the passphrase, and hands it out once.
struct PassphraseState {
  std::optional<std::string_view> passphrase;
  bool asked = false;
};

int DecoderPassphrase(char* pass, std::size_t pass_size, std::size_t* pass_len,
                      const OSSL_PARAM* /*params*/, void* arg) {
  auto* state = static_cast<PassphraseState*>(arg);
  state->asked = true;
  if (!state->passphrase.has_value() || state->passphrase->size() > pass_size) {
    return 0;
  }
  std::memcpy(pass, state->passphrase->data(), state->passphrase->size());
  *pass_len = state->passphrase->size();
  return 1;
}

int PemPassphrase(char* buf, int size, int /*rwflag*/, void* arg) {
  std::size_t len = 0;
  if (DecoderPassphrase(buf, static_cast<std::size_t>(size), &len, nullptr, arg) != 1) {
    return -1;
  }
  return static_cast<int>(len);
}

bool LooksLikePem(std::string_view data) {
  return data.find("-----BEGIN ") != std::string_view::npos;
}

// True if the key holds private material (a decoder may hand back a public key only).
bool HasPrivatePart(EVP_PKEY* key) {
  auto p8 = ossl::Own(EVP_PKEY2PKCS8(key));
  ERR_clear_error();
  return p8 != nullptr;
}

core::Result<ossl::Ptr<EVP_PKEY>> DecodePem(std::string_view data, PassphraseState& state) {
  auto bio = ossl::ReadBio(data);
  if (!bio) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot create a memory BIO");
  }
  auto key = ossl::Own(
      PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, PemPassphrase, &state, nullptr, nullptr));
  if (!key) {
    if (state.asked) {
      ossl::ClearErrors();
      if (!state.passphrase.has_value()) {
        return Fail(ErrorCode::kWrongPassphrase, "key is encrypted: a passphrase is needed");
      }
      return Fail(ErrorCode::kWrongPassphrase, "cannot decrypt the private key: wrong passphrase");
    }
    return ossl::Failure(ErrorCode::kParse, "no PEM private key found");
  }
  return key;
}

core::Result<ossl::Ptr<EVP_PKEY>> DecodeDer(std::string_view data, PassphraseState& state) {
  EVP_PKEY* raw = nullptr;
  auto dctx = std::unique_ptr<OSSL_DECODER_CTX, decltype(&OSSL_DECODER_CTX_free)>(
      OSSL_DECODER_CTX_new_for_pkey(&raw, "DER", nullptr, nullptr, EVP_PKEY_KEYPAIR, nullptr,
                                    nullptr),
      &OSSL_DECODER_CTX_free);
  if (!dctx) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot create a key decoder");
  }
  if (OSSL_DECODER_CTX_set_passphrase_cb(dctx.get(), DecoderPassphrase, &state) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot set the key decoder's passphrase callback");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t len = data.size();
  int ok = OSSL_DECODER_from_data(dctx.get(), &p, &len);
  auto key = ossl::Own(raw);
  if (ok != 1 || !key) {
    if (state.asked) {
      ossl::ClearErrors();
      if (!state.passphrase.has_value()) {
        return Fail(ErrorCode::kWrongPassphrase, "key is encrypted: a passphrase is needed");
      }
      return Fail(ErrorCode::kWrongPassphrase, "cannot decrypt the private key: wrong passphrase");
    }
    return ossl::Failure(ErrorCode::kParse, "not a private key (neither PEM nor DER)");
  }
  if (len != 0) {
    return Fail(ErrorCode::kParse, "trailing data after the DER private key");
  }
  return key;
}

}  // namespace

core::Result<KeyType> ParseKeyType(std::string_view name) {
  struct Alias {
    std::string_view name;
    KeyType type;
  };
  static constexpr Alias kAliases[] = {
      {"ec-p256", KeyType::kEcP256},   {"p256", KeyType::kEcP256},
      {"ecdsa", KeyType::kEcP256},     {"ec", KeyType::kEcP256},
      {"ec-p384", KeyType::kEcP384},   {"p384", KeyType::kEcP384},
      {"rsa-2048", KeyType::kRsa2048}, {"rsa", KeyType::kRsa2048},
      {"rsa-3072", KeyType::kRsa3072}, {"rsa-4096", KeyType::kRsa4096},
      {"ed25519", KeyType::kEd25519},
  };
  for (const auto& alias : kAliases) {
    if (alias.name == name) {
      return alias.type;
    }
  }
  return Fail(ErrorCode::kInvalidArgument,
              "unknown key type '" + std::string(name) +
                  "' (accepted: ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096, ed25519)");
}

const char* KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kEcP256:
      return "ec-p256";
    case KeyType::kEcP384:
      return "ec-p384";
    case KeyType::kRsa2048:
      return "rsa-2048";
    case KeyType::kRsa3072:
      return "rsa-3072";
    case KeyType::kRsa4096:
      return "rsa-4096";
    case KeyType::kEd25519:
      return "ed25519";
  }
  return "unknown";
}

core::Result<void> CheckKeyAcceptable(const EVP_PKEY* key) {
  if (key == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "no key given");
  }
  if (EVP_PKEY_is_a(key, "RSA")) {
    int bits = EVP_PKEY_get_bits(key);
    if (bits < kMinRsaBits) {
      return Fail(ErrorCode::kWeakKey, "RSA key of " + std::to_string(bits) +
                                           " bits is too small (minimum " +
                                           std::to_string(kMinRsaBits) + ")");
    }
    if (bits > kMaxRsaBits) {
      return Fail(ErrorCode::kWeakKey, "RSA key of " + std::to_string(bits) +
                                           " bits is too large (maximum " +
                                           std::to_string(kMaxRsaBits) + ")");
    }
    BIGNUM* e_raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e_raw) != 1) {
      return ossl::Failure(ErrorCode::kWeakKey, "cannot read the RSA public exponent");
    }
    auto e = ossl::Own(e_raw);
    if (!BN_is_word(e.get(), kRsaExponent)) {
      std::string shown;
      if (char* dec = BN_bn2dec(e.get()); dec != nullptr) {
        shown = dec;
        OPENSSL_free(dec);
      }
      if (shown.size() > 24) {
        shown = shown.substr(0, 20) + "...";
      }
      return Fail(ErrorCode::kWeakKey,
                  "RSA public exponent " + shown + " is refused (only 65537 is accepted)");
    }
    return {};
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    if (HasExplicitEcParameters(key)) {
      return Fail(ErrorCode::kWeakKey,
                  "EC key with explicit curve parameters is refused (use a named curve: "
                  "P-256 or P-384)");
    }
    std::string group = GroupName(key);
    std::string shown = DisplayCurveName(group);
    if (shown != "P-256" && shown != "P-384") {
      return Fail(ErrorCode::kWeakKey, "EC curve " +
                                           (shown.empty() ? std::string("(unknown)") : shown) +
                                           " is not supported (use P-256 or P-384)");
    }
    return {};
  }
  if (EVP_PKEY_is_a(key, "ED25519")) {
    return {};
  }
  const char* type = EVP_PKEY_get0_type_name(key);
  return Fail(ErrorCode::kWeakKey, std::string(type != nullptr ? type : "unknown") +
                                       " keys are not supported (use EC P-256, EC P-384, "
                                       "RSA 2048+ or Ed25519)");
}

// ---- PublicKey ----

PublicKey PublicKey::FromEvp(EVP_PKEY* key) {
  if (key == nullptr) {
    // Defensive: an empty key that describes as "unknown", encodes to "" and matches nothing.
    return PublicKey(ossl::Share(ossl::Own(EVP_PKEY_new())));
  }
  EVP_PKEY_up_ref(key);
  return PublicKey(ossl::Share(ossl::Own(key)));
}

core::Result<PublicKey> PublicKey::FromSpkiDer(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  auto key = ossl::Own(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (!key) {
    return ossl::Failure(ErrorCode::kParse, "not a DER SubjectPublicKeyInfo");
  }
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return Fail(ErrorCode::kParse, "trailing data after the DER SubjectPublicKeyInfo");
  }
  return PublicKey(ossl::Share(std::move(key)));
}

std::string PublicKey::SpkiDer() const { return ossl::ToDer(key_.get(), i2d_PUBKEY); }

std::string PublicKey::Describe() const {
  EVP_PKEY* key = key_.get();
  if (EVP_PKEY_is_a(key, "RSA")) {
    return "RSA " + std::to_string(EVP_PKEY_get_bits(key));
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    std::string group = GroupName(key);
    return "EC " + (group.empty() ? std::string("(explicit parameters)") : DisplayCurveName(group));
  }
  if (EVP_PKEY_is_a(key, "ED25519")) {
    return "Ed25519";
  }
  const char* type = EVP_PKEY_get0_type_name(key);
  return type != nullptr ? type : "unknown";
}

std::optional<KeyType> PublicKey::type() const {
  EVP_PKEY* key = key_.get();
  if (key == nullptr) {
    return std::nullopt;
  }
  if (EVP_PKEY_is_a(key, "RSA")) {
    switch (EVP_PKEY_get_bits(key)) {
      case 2048:
        return KeyType::kRsa2048;
      case 3072:
        return KeyType::kRsa3072;
      case 4096:
        return KeyType::kRsa4096;
      default:
        return std::nullopt;
    }
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    const std::string group = GroupName(key);
    if (group == "prime256v1") {
      return KeyType::kEcP256;
    }
    if (group == "secp384r1") {
      return KeyType::kEcP384;
    }
    return std::nullopt;
  }
  if (EVP_PKEY_is_a(key, "ED25519")) {
    return KeyType::kEd25519;
  }
  return std::nullopt;
}

bool PublicKey::Equals(const PublicKey& other) const {
  return EVP_PKEY_eq(key_.get(), other.key_.get()) == 1;
}

// ---- PrivateKey ----

core::Result<PrivateKey> PrivateKey::Generate(KeyType type) {
  EVP_PKEY* raw = nullptr;
  switch (type) {
    case KeyType::kEcP256:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyType::kEcP384:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
      break;
    case KeyType::kRsa2048:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048));
      break;
    case KeyType::kRsa3072:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(3072));
      break;
    case KeyType::kRsa4096:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(4096));
      break;
    case KeyType::kEd25519:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
  }
  auto key = ossl::Own(raw);
  if (!key) {
    return ossl::Failure(ErrorCode::kCrypto,
                         std::string("cannot generate a ") + KeyTypeName(type) + " key");
  }
  return PrivateKey(ossl::Share(std::move(key)));
}

PrivateKey PrivateKey::FromEvp(EVP_PKEY* key) {
  if (key == nullptr) {
    return PrivateKey(ossl::Share(ossl::Own(EVP_PKEY_new())));
  }
  EVP_PKEY_up_ref(key);
  return PrivateKey(ossl::Share(ossl::Own(key)));
}

core::Result<PrivateKey> PrivateKey::Parse(std::string_view data,
                                           std::optional<std::string_view> passphrase) {
  if (data.empty()) {
    return Fail(ErrorCode::kParse, "empty input: not a private key");
  }
  PassphraseState state{.passphrase = passphrase};
  ossl::ClearErrors();
  auto decoded = LooksLikePem(data) ? DecodePem(data, state) : DecodeDer(data, state);
  if (!decoded) {
    return decoded.error();
  }
  ossl::Ptr<EVP_PKEY> key = std::move(decoded).value();
  if (!HasPrivatePart(key.get())) {
    return Fail(ErrorCode::kParse, "the input holds a public key, not a private key");
  }
  CTLS_RETURN_IF_ERROR(CheckKeyAcceptable(key.get()));
  return PrivateKey(ossl::Share(std::move(key)));
}

core::Result<std::string> PrivateKey::ToPem(std::optional<std::string_view> passphrase) const {
  auto p8inf = ossl::Own(EVP_PKEY2PKCS8(key_.get()));
  if (!p8inf) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot encode the private key as PKCS#8");
  }
  // A secure-memory BIO: its buffer is cleared when freed.
  auto bio = ossl::Own(BIO_new(BIO_s_secmem()));
  if (!bio) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot create a memory BIO");
  }
  if (!passphrase.has_value()) {
    if (PEM_write_bio_PKCS8_PRIV_KEY_INFO(bio.get(), p8inf.get()) != 1) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot write the private key as PEM");
    }
    return ossl::BioContents(bio.get());
  }
  if (passphrase->empty()) {
    return Fail(ErrorCode::kInvalidArgument, "the key passphrase is empty");
  }
  if (Aes256Cbc() == nullptr) {
    return ossl::Failure(ErrorCode::kCrypto, "AES-256-CBC is not available");
  }
  // RFC 8018 section 6.2 (PBES2) with PBKDF2-HMAC-SHA256 and a random salt and IV.
  auto pbe =
      ossl::Own(PKCS5_pbe2_set_iv_ex(Aes256Cbc(), kPbkdf2Iterations, nullptr, kPbkdf2SaltBytes,
                                     nullptr, NID_hmacWithSHA256, nullptr));
  if (!pbe) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot set up PBES2 encryption");
  }
  auto sig = ossl::Own(PKCS8_set0_pbe_ex(passphrase->data(), static_cast<int>(passphrase->size()),
                                         p8inf.get(), pbe.get(), nullptr, nullptr));
  if (!sig) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot encrypt the private key");
  }
  (void)pbe.release();  // owned by `sig` now
  if (PEM_write_bio_PKCS8(bio.get(), sig.get()) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot write the encrypted private key as PEM");
  }
  return ossl::BioContents(bio.get());
}

core::Result<std::string> PrivateKey::ToDer() const {
  auto p8inf = ossl::Own(EVP_PKEY2PKCS8(key_.get()));
  if (!p8inf) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot encode the private key as PKCS#8");
  }
  std::string der = ossl::ToDer(p8inf.get(), i2d_PKCS8_PRIV_KEY_INFO);
  if (der.empty()) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot encode the private key as DER");
  }
  return der;
}

PublicKey PrivateKey::public_key() const { return PublicKey::FromEvp(key_.get()); }

bool PrivateKey::Matches(const PublicKey& pub) const {
  return EVP_PKEY_eq(key_.get(), pub.get()) == 1;
}

}  // namespace clustertls::pki
