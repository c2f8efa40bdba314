#include "pki/crl_builder.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>

#include "core/encoding.h"
#include "ossl/error.h"
#include "pki/extensions.h"

namespace clustertls::pki {

namespace {

using core::Error;
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

// Hex digit values, -1 for any other octet: a table, as random serials make the branches of a
// range test unpredictable.
constexpr std::array<signed char, 256> kHexValue = [] {
  std::array<signed char, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = c >= '0' && c <= '9'   ? static_cast<signed char>(c - '0')
           : c >= 'a' && c <= 'f' ? static_cast<signed char>(c - 'a' + 10)
           : c >= 'A' && c <= 'F' ? static_cast<signed char>(c - 'A' + 10)
                                  : static_cast<signed char>(-1);
  }
  return t;
}();

int HexDigit(char c) { return kHexValue[static_cast<unsigned char>(c)]; }

Error BadSerial(std::string_view hex, const char* why) {
  return Fail(ErrorCode::kInvalidArgument, "serial \"" + std::string(hex) + "\"" + why);
}

// Writes two decimal digits.
char* TwoDigits(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10 % 10);
  p[1] = static_cast<char>('0' + v % 10);
  return p + 2;
}

// RFC 5280 5.3.1 reasonCode entry extension: Extensions { Extension { id-ce-cRLReasons,
// OCTET STRING { ENUMERATED reason } } }; the last octet is the reason.
constexpr unsigned char kReasonExtension[] = {0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55,
                                              0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01, 0x00};

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


CrlEntryEncoder::CrlEntryEncoder(std::size_t expected_entries) {
  // An entry is 37 to 57 octets (a 136-bit serial with a reasonCode: 53).
  buf_.resize(kPrefix + expected_entries * 56 + 256);
}

Result<void> CrlEntryEncoder::Add(std::string_view serial_hex, core::TimePoint revoked_at,
                                  RevocationReason reason) {
  // userCertificate: the DER INTEGER of a positive serial (RFC 5280 4.1.2.2: at most 20
  // octets, plus a sign octet; 42 digits tolerate leading zeros).
  if (serial_hex.empty() || serial_hex.size() > 42) {
    return BadSerial(serial_hex, ": expected 1 to 40 hex digits");
  }
  unsigned char raw[22];
  std::size_t n = 0;
  std::size_t i = 0;
  if (serial_hex.size() % 2 == 1) {
    int d = HexDigit(serial_hex[0]);
    if (d < 0) {
      return BadSerial(serial_hex, " is not hex");
    }
    raw[n++] = static_cast<unsigned char>(d);
    i = 1;
  }
  int bad = 0;  // negative once any digit is not hex: one test after the loop
  for (; i < serial_hex.size(); i += 2) {
    int hi = HexDigit(serial_hex[i]);
    int lo = HexDigit(serial_hex[i + 1]);
    bad |= hi | lo;
    raw[n++] = static_cast<unsigned char>(hi << 4 | lo);
  }
  if (bad < 0) {
    return BadSerial(serial_hex, " is not hex");
  }
  std::size_t first = 0;
  while (first + 1 < n && raw[first] == 0) {
    ++first;
  }
  const bool sign_octet = (raw[first] & 0x80) != 0;
  const std::size_t serial_len = n - first + (sign_octet ? 1 : 0);

  // revocationDate (RFC 5280 4.1.2.5): UTCTime through 2049, GeneralizedTime from 2050; Zulu,
  // seconds. Encoded again only when the second changes; the date only when the day does.
  const std::int64_t secs = revoked_at.time_since_epoch().count();
  if (secs != last_secs_) {
    std::int64_t day = secs / 86400;
    std::int64_t sod = secs % 86400;
    if (sod < 0) {
      sod += 86400;
      --day;
    }
    char* t = reinterpret_cast<char*>(last_time_);
    if (day != last_day_) {
      std::chrono::year_month_day ymd{std::chrono::sys_days(std::chrono::days(day))};
      const int year = static_cast<int>(ymd.year());
      const bool utc = year >= 1950 && year < 2050;
      char* p = t;
      *p++ = static_cast<char>(utc ? 0x17 : 0x18);
      *p++ = static_cast<char>(utc ? 13 : 15);
      if (!utc) {
        p = TwoDigits(p, static_cast<unsigned>(year / 100));
      }
      p = TwoDigits(p, static_cast<unsigned>(year % 100));
      p = TwoDigits(p, static_cast<unsigned>(ymd.month()));
      p = TwoDigits(p, static_cast<unsigned>(ymd.day()));
      last_time_len_ = static_cast<std::size_t>(p - t) + 7;  // + hhmmss + 'Z'
      last_day_ = day;
    }
    char* p = t + last_time_len_ - 7;
    p = TwoDigits(p, static_cast<unsigned>(sod / 3600));
    p = TwoDigits(p, static_cast<unsigned>(sod / 60 % 60));
    p = TwoDigits(p, static_cast<unsigned>(sod % 60));
    *p = 'Z';
    last_secs_ = secs;
  }

  const bool has_reason = reason != RevocationReason::kUnspecified;
  // At most 2 + 22 + 17 + 14 = 55 octets: a one-octet length.
  const std::size_t content =
      2 + serial_len + last_time_len_ + (has_reason ? sizeof(kReasonExtension) : 0);
  if (buf_.size() < used_ + 2 + content) {
    buf_.resize(std::max(buf_.size() * 2, used_ + 2 + content));
  }
  char* p = buf_.data() + used_;
  *p++ = 0x30;
  *p++ = static_cast<char>(content);
  *p++ = 0x02;
  *p++ = static_cast<char>(serial_len);
  if (sign_octet) {
    *p++ = 0;
  }
  std::memcpy(p, raw + first, n - first);
  p += n - first;
  std::memcpy(p, last_time_, last_time_len_);
  p += last_time_len_;
  if (has_reason) {
    std::memcpy(p, kReasonExtension, sizeof(kReasonExtension));
    p[sizeof(kReasonExtension) - 1] = static_cast<char>(reason);
    p += sizeof(kReasonExtension);
  }
  used_ = static_cast<std::size_t>(p - buf_.data());
  ++count_;
  return {};
}

namespace {

Result<void> CheckCrlInput(const Certificate& issuer, const PrivateKey& issuer_key,
                           const CrlOptions& options) {
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
  return {};
}

// Writes a DER length (X.690 10.1: minimal octets) at `p`; returns the end.
char* PutLength(char* p, std::size_t len) {
  std::string s;
  AppendLength(s, len);
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

}  // namespace

Result<std::string> BuildCrl(const Certificate& issuer, const PrivateKey& issuer_key,
                             std::span<const CrlEntry> entries, const CrlOptions& options) {
  CTLS_RETURN_IF_ERROR(CheckCrlInput(issuer, issuer_key, options));
  CrlEntryEncoder encoder(entries.size());
  for (const CrlEntry& e : entries) {
    CTLS_RETURN_IF_ERROR(encoder.Add(e.serial_hex, e.revoked_at, e.reason));
  }
  return BuildEncodedCrl(issuer, issuer_key, std::move(encoder), options);
}

Result<std::string> BuildEncodedCrl(const Certificate& issuer, const PrivateKey& issuer_key,
                                    CrlEntryEncoder entries, const CrlOptions& options) {
  CTLS_RETURN_IF_ERROR(CheckCrlInput(issuer, issuer_key, options));
  X509* ca = issuer.get();
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
  // Signing the empty frame sets its signature algorithm (and costs one signature of a few
  // hundred octets); the TBSCertList is then re-encoded with the entries and signed below.
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

  // revokedCertificates goes before crlExtensions ([0]) of the TBSCertList (RFC 5280 5.1).
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
  const std::string_view head(frame_tbs.data() + header, insert_at - header);
  const std::string_view tail(frame_tbs.data() + insert_at, frame_tbs.size() - insert_at);

  // The entries sit at buf[prefix, body_end). In front of them, in the room left by the
  // encoder: CertificateList's header, TBSCertList's header, the frame up to crlExtensions and
  // revokedCertificates' header; after them the rest of the frame, the signature algorithm and
  // the signature. Only the final move to the front copies the entries.
  std::string& buf = entries.buf_;
  std::size_t prefix = CrlEntryEncoder::kPrefix;
  const std::size_t body_len = entries.used_ - prefix;
  const bool listed = entries.count_ > 0;
  const std::size_t list_header = listed ? 1 + LengthSize(body_len) : 0;
  const std::size_t tbs_content = len + list_header + body_len;
  const std::size_t tbs_header = 1 + LengthSize(tbs_content);
  const std::size_t needed = 6 + tbs_header + head.size() + list_header;
  if (needed > prefix) {
    // An issuer name of several kilobytes: make room (one copy of the entries).
    std::string bigger(needed, '\0');
    bigger.append(buf, prefix, body_len);
    buf = std::move(bigger);
    prefix = needed;
  }
  buf.resize(prefix + body_len);
  const std::size_t tbs_start = prefix - list_header - head.size() - tbs_header;
  char* p = buf.data() + tbs_start;
  *p++ = 0x30;
  p = PutLength(p, tbs_content);
  std::memcpy(p, head.data(), head.size());
  p += head.size();
  if (listed) {
    *p++ = 0x30;
    p = PutLength(p, body_len);
  }
  buf.append(tail);
  const std::size_t tbs_size = buf.size() - tbs_start;

  auto mctx = ossl::Own(EVP_MD_CTX_new());
  const auto* tbs = reinterpret_cast<const unsigned char*>(buf.data() + tbs_start);
  std::size_t sig_len = 0;
  if (!mctx || EVP_DigestSignInit(mctx.get(), nullptr, md, nullptr, issuer_key.get()) != 1 ||
      EVP_DigestSign(mctx.get(), nullptr, &sig_len, tbs, tbs_size) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot sign the CRL");
  }
  std::string sig(sig_len, '\0');
  if (EVP_DigestSign(mctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len, tbs,
                     tbs_size) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot sign the CRL");
  }
  sig.resize(sig_len);

  // CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
  const std::size_t bits_len = sig.size() + 1;
  const std::size_t total =
      tbs_size + sig_alg_der.size() + 1 + LengthSize(bits_len) + bits_len;
  buf += sig_alg_der;
  buf.push_back(0x03);
  AppendLength(buf, bits_len);
  buf.push_back('\0');
  buf += sig;
  const std::size_t start = tbs_start - 1 - LengthSize(total);
  p = buf.data() + start;
  *p++ = 0x30;
  PutLength(p, total);
  buf.erase(0, start);
  return std::move(buf);
}

}  // namespace clustertls::pki
