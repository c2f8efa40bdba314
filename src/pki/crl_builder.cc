#include "pki/crl_builder.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <chrono>
#include <cstring>

#include "core/encoding.h"
#include "ossl/error.h"
#include "pki/extensions.h"

namespace clustertls::pki {

namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;

struct ReasonName {
  RevocationReason reason;
  const char* name;
};

constexpr std::array<ReasonName, 10> kReasons = {{
    {RevocationReason::kUnspecified, "unspecified"},
    {RevocationReason::kKeyCompromise, "keyCompromise"},
    {RevocationReason::kCaCompromise, "cACompromise"},
    {RevocationReason::kAffiliationChanged, "affiliationChanged"},
    {RevocationReason::kSuperseded, "superseded"},
    {RevocationReason::kCessationOfOperation, "cessationOfOperation"},
    {RevocationReason::kCertificateHold, "certificateHold"},
    {RevocationReason::kRemoveFromCrl, "removeFromCRL"},
    {RevocationReason::kPrivilegeWithdrawn, "privilegeWithdrawn"},
    {RevocationReason::kAaCompromise, "aACompromise"},
}};

// --- minimal DER writing (X.690 section 10: definite lengths, minimal length octets) ---

void AppendLength(std::string& out, std::size_t len) {
  if (len < 0x80) {
    out.push_back(static_cast<char>(len));
    return;
  }
  int bytes = 0;
  for (std::size_t v = len; v != 0; v >>= 8) {
    ++bytes;
  }
  out.push_back(static_cast<char>(0x80 | bytes));
  for (int i = bytes - 1; i >= 0; --i) {
    out.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  }
}

std::size_t LengthSize(std::size_t len) {
  std::size_t n = 1;
  if (len >= 0x80) {
    for (std::size_t v = len; v != 0; v >>= 8) {
      ++n;
    }
  }
  return n;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// The content octets of the DER INTEGER for a positive serial written in hex. RFC 5280 4.1.2.2
// allows at most 20 octets (plus a sign octet).
Result<std::string> SerialContent(std::string_view hex) {
  if (hex.empty() || hex.size() > 42) {
    return Fail(ErrorCode::kInvalidArgument,
                "serial \"" + std::string(hex) + "\": expected 1 to 40 hex digits");
  }
  std::string bytes;
  bytes.reserve(hex.size() / 2 + 2);
  std::size_t i = 0;
  if (hex.size() % 2 == 1) {
    int d = HexDigit(hex[0]);
    if (d < 0) {
      return Fail(ErrorCode::kInvalidArgument, "serial \"" + std::string(hex) + "\" is not hex");
    }
    bytes.push_back(static_cast<char>(d));
    i = 1;
  }
  for (; i < hex.size(); i += 2) {
    int hi = HexDigit(hex[i]);
    int lo = HexDigit(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      return Fail(ErrorCode::kInvalidArgument, "serial \"" + std::string(hex) + "\" is not hex");
    }
    bytes.push_back(static_cast<char>(hi << 4 | lo));
  }
  std::size_t first = 0;
  while (first + 1 < bytes.size() && bytes[first] == 0) {
    ++first;
  }
  bytes.erase(0, first);
  if (static_cast<unsigned char>(bytes[0]) & 0x80) {
    bytes.insert(bytes.begin(), '\0');
  }
  return bytes;
}

void AppendTwoDigits(std::string& out, unsigned v) {
  out.push_back(static_cast<char>('0' + v / 10 % 10));
  out.push_back(static_cast<char>('0' + v % 10));
}

// RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; always Zulu, seconds.
void AppendTime(std::string& out, core::TimePoint t) {
  auto day = std::chrono::floor<std::chrono::days>(t);
  std::chrono::year_month_day ymd{day};
  std::chrono::hh_mm_ss hms{t - day};
  int year = static_cast<int>(ymd.year());
  bool utc = year >= 1950 && year < 2050;
  out.push_back(utc ? 0x17 : 0x18);
  out.push_back(utc ? 13 : 15);
  if (!utc) {
    AppendTwoDigits(out, static_cast<unsigned>(year / 100));
  }
  AppendTwoDigits(out, static_cast<unsigned>(year % 100));
  AppendTwoDigits(out, static_cast<unsigned>(ymd.month()));
  AppendTwoDigits(out, static_cast<unsigned>(ymd.day()));
  AppendTwoDigits(out, static_cast<unsigned>(hms.hours().count()));
  AppendTwoDigits(out, static_cast<unsigned>(hms.minutes().count()));
  AppendTwoDigits(out, static_cast<unsigned>(hms.seconds().count()));
  out.push_back('Z');
}

// RFC 5280 5.3.1 reasonCode entry extension: Extensions { Extension { id-ce-cRLReasons,
// OCTET STRING { ENUMERATED reason } } }.
void AppendReasonExtensions(std::string& out, RevocationReason reason) {
  const unsigned char ext[] = {0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d,
                               0x15, 0x04, 0x03, 0x0a, 0x01, static_cast<unsigned char>(reason)};
  out.append(reinterpret_cast<const char*>(ext), sizeof(ext));
}

// revokedCertificates (RFC 5280 5.1): SEQUENCE OF SEQUENCE { userCertificate, revocationDate,
// crlEntryExtensions OPTIONAL }.
Result<std::string> EncodeRevoked(std::span<const CrlEntry> entries) {
  std::string body;
  body.reserve(entries.size() * 56);
  std::string entry;
  for (const CrlEntry& e : entries) {
    CTLS_ASSIGN_OR_RETURN(std::string serial, SerialContent(e.serial_hex));
    entry.clear();
    entry.push_back(0x02);
    AppendLength(entry, serial.size());
    entry += serial;
    AppendTime(entry, e.revoked_at);
    if (e.reason != RevocationReason::kUnspecified) {
      AppendReasonExtensions(entry, e.reason);
    }
    body.push_back(0x30);
    AppendLength(body, entry.size());
    body += entry;
  }
  std::string out;
  out.reserve(body.size() + 6);
  out.push_back(0x30);
  AppendLength(out, body.size());
  out += body;
  return out;
}

// Reads one TLV header at `pos` of `der`: sets the tag, the header size and the content size.
bool ReadTlv(std::string_view der, std::size_t pos, unsigned char* tag, std::size_t* header,
             std::size_t* len) {
  if (pos + 2 > der.size()) {
    return false;
  }
  *tag = static_cast<unsigned char>(der[pos]);
  auto first = static_cast<unsigned char>(der[pos + 1]);
  if (first < 0x80) {
    *header = 2;
    *len = first;
  } else {
    std::size_t n = first & 0x7f;
    if (n == 0 || n > 4 || pos + 2 + n > der.size()) {
      return false;
    }
    *len = 0;
    for (std::size_t i = 0; i < n; ++i) {
      *len = (*len << 8) | static_cast<unsigned char>(der[pos + 2 + i]);
    }
    *header = 2 + n;
  }
  return pos + *header + *len <= der.size();
}

Result<ossl::Ptr<ASN1_TIME>> Asn1Time(core::TimePoint t) {
  auto time = ossl::Own(ASN1_TIME_set(nullptr, static_cast<time_t>(t.time_since_epoch().count())));
  if (!time) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot encode the CRL time");
  }
  return time;
}

}  // namespace

Result<RevocationReason> ParseRevocationReason(std::string_view name) {
  std::string lower = core::AsciiLower(name);
  std::string names;
  for (const ReasonName& r : kReasons) {
    if (lower == core::AsciiLower(r.name)) {
      return r.reason;
    }
    names += (names.empty() ? "" : ", ") + std::string(r.name);
  }
  return Fail(ErrorCode::kInvalidArgument,
              "unknown revocation reason \"" + std::string(name) + "\" (RFC 5280 5.3.1: " + names +
                  ")");
}

const char* RevocationReasonName(RevocationReason reason) {
  for (const ReasonName& r : kReasons) {
    if (r.reason == reason) {
      return r.name;
    }
  }
  return "unspecified";
}

Result<std::string> BuildCrl(const Certificate& issuer, const PrivateKey& issuer_key,
                             std::span<const CrlEntry> entries, const CrlOptions& options) {
  X509* ca = issuer.get();
  if (!issuer.is_ca()) {
    return Fail(ErrorCode::kNotCa, "the CRL issuer " + issuer.subject() + " is not a CA");
  }
  if ((X509_get_extension_flags(ca) & EXFLAG_KUSAGE) != 0 &&
      (X509_get_key_usage(ca) & KU_CRL_SIGN) == 0) {
    return Fail(ErrorCode::kNotCa,
                "the CRL issuer " + issuer.subject() + " may not sign CRLs (no cRLSign key usage)");
  }
  if (!issuer_key.Matches(issuer.public_key())) {
    return Fail(ErrorCode::kKeyMismatch, "the CRL signing key does not match " + issuer.subject());
  }
  if (options.next_update <= options.this_update) {
    return Fail(ErrorCode::kInvalidArgument, "CRL nextUpdate must be after thisUpdate");
  }
  if (options.crl_number < 0) {
    return Fail(ErrorCode::kInvalidArgument, "CRL number must not be negative");
  }
  CTLS_ASSIGN_OR_RETURN(const EVP_MD* md, internal::SigningDigest(issuer_key.get()));

  // The frame, built and signed by OpenSSL, with no entries.
  auto crl = ossl::Own(X509_CRL_new());
  if (!crl || X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca)) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot build the CRL");
  }
  CTLS_ASSIGN_OR_RETURN(auto this_update, Asn1Time(options.this_update));
  CTLS_ASSIGN_OR_RETURN(auto next_update, Asn1Time(options.next_update));
  if (X509_CRL_set1_lastUpdate(crl.get(), this_update.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next_update.get()) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot set the CRL times");
  }
  // RFC 5280 5.2.1: authorityKeyIdentifier (the issuer's subjectKeyIdentifier).
  std::string key_id;
  if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(ca); ski != nullptr) {
    key_id.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ski)),
                  static_cast<std::size_t>(ASN1_STRING_length(ski)));
  } else {
    CTLS_ASSIGN_OR_RETURN(key_id, internal::KeyIdentifier(X509_get_X509_PUBKEY(ca)));
  }
  auto akid = ossl::Own(AUTHORITY_KEYID_new());
  if (!akid) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot build the CRL's authorityKeyIdentifier");
  }
  akid->keyid = ASN1_OCTET_STRING_new();
  if (akid->keyid == nullptr ||
      ASN1_OCTET_STRING_set(akid->keyid, reinterpret_cast<const unsigned char*>(key_id.data()),
                            static_cast<int>(key_id.size())) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_authority_key_identifier, akid.get(), 0,
                            X509V3_ADD_DEFAULT) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot add the CRL's authorityKeyIdentifier");
  }
  // RFC 5280 5.2.3: cRLNumber.
  auto number = ossl::Own(ASN1_STRING_type_new(V_ASN1_INTEGER));
  if (!number || ASN1_INTEGER_set_int64(number.get(), options.crl_number) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, X509V3_ADD_DEFAULT) !=
          1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot add the CRL number");
  }
  if (X509_CRL_sign(crl.get(), issuer_key.get(), md) <= 0) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot sign the CRL");
  }
  std::string frame_tbs;
  {
    unsigned char* p = nullptr;
    int n = i2d_re_X509_CRL_tbs(crl.get(), &p);
    if (n > 0 && p != nullptr) {
      frame_tbs.assign(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
    }
    OPENSSL_free(p);
  }
  const ASN1_BIT_STRING* frame_sig = nullptr;
  const X509_ALGOR* sig_alg = nullptr;
  X509_CRL_get0_signature(crl.get(), &frame_sig, &sig_alg);
  std::string sig_alg_der = internal::ToDerOnePass(sig_alg, i2d_X509_ALGOR);
  if (frame_tbs.empty() || sig_alg_der.empty()) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot encode the CRL");
  }

  // Splice revokedCertificates in before crlExtensions ([0]) of the TBSCertList (RFC 5280 5.1).
  unsigned char tag = 0;
  std::size_t header = 0;
  std::size_t len = 0;
  if (!ReadTlv(frame_tbs, 0, &tag, &header, &len) || tag != 0x30 ||
      header + len != frame_tbs.size()) {
    return Fail(ErrorCode::kInternal, "unexpected TBSCertList encoding");
  }
  std::size_t insert_at = frame_tbs.size();
  for (std::size_t pos = header; pos < frame_tbs.size();) {
    unsigned char child_tag = 0;
    std::size_t child_header = 0;
    std::size_t child_len = 0;
    if (!ReadTlv(frame_tbs, pos, &child_tag, &child_header, &child_len)) {
      return Fail(ErrorCode::kInternal, "unexpected TBSCertList encoding");
    }
    if (child_tag == 0xa0) {
      insert_at = pos;
      break;
    }
    pos += child_header + child_len;
  }
  std::string revoked;
  if (!entries.empty()) {
    CTLS_ASSIGN_OR_RETURN(revoked, EncodeRevoked(entries));
  }
  std::size_t content_len = len + revoked.size();
  std::string tbs;
  tbs.reserve(content_len + 8);
  tbs.push_back(0x30);
  AppendLength(tbs, content_len);
  tbs.append(frame_tbs, header, insert_at - header);
  tbs += revoked;
  tbs.append(frame_tbs, insert_at, std::string::npos);

  auto mctx = ossl::Own(EVP_MD_CTX_new());
  std::size_t sig_len = 0;
  if (!mctx || EVP_DigestSignInit(mctx.get(), nullptr, md, nullptr, issuer_key.get()) != 1 ||
      EVP_DigestSign(mctx.get(), nullptr, &sig_len,
                     reinterpret_cast<const unsigned char*>(tbs.data()), tbs.size()) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot sign the CRL");
  }
  std::string sig(sig_len, '\0');
  if (EVP_DigestSign(mctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                     reinterpret_cast<const unsigned char*>(tbs.data()), tbs.size()) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot sign the CRL");
  }
  sig.resize(sig_len);

  // CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
  std::size_t bits_len = sig.size() + 1;
  std::size_t total = tbs.size() + sig_alg_der.size() + 1 + LengthSize(bits_len) + bits_len;
  std::string out;
  out.reserve(total + 8);
  out.push_back(0x30);
  AppendLength(out, total);
  out += tbs;
  out += sig_alg_der;
  out.push_back(0x03);
  AppendLength(out, bits_len);
  out.push_back('\0');
  out += sig;
  return out;
}

}  // namespace clustertls::pki
