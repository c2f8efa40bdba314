#include "pki/certificate.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <utility>

#include "core/encoding.h"
#include "ossl/bio.h"
#include "ossl/error.h"
#include "pki/asn1_time.h"
#include "pki/extensions.h"

namespace clustertls::pki {

namespace {

using core::ErrorCode;
using core::Fail;

// SHA-256, fetched once.
const EVP_MD* Sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

// Flags for one-line RFC 2253 names, keeping UTF-8 readable instead of escaping each byte.
constexpr unsigned long kNameFlags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;

std::string NameToString(const X509_NAME* name) {
  if (name == nullptr) {
    return {};
  }
  auto bio = ossl::WriteBio();
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, kNameFlags) < 0) {
    ossl::ClearErrors();
    return {};
  }
  return ossl::BioContents(bio.get());
}

std::string Asn1StringBytes(const ASN1_STRING* s) {
  if (s == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
}

std::string ObjectName(const ASN1_OBJECT* obj) {
  int nid = OBJ_obj2nid(obj);
  if (nid != NID_undef) {
    if (const char* sn = OBJ_nid2sn(nid); sn != nullptr) {
      return sn;
    }
  }
  std::array<char, 128> buf{};
  int len = OBJ_obj2txt(buf.data(), static_cast<int>(buf.size()), obj, 1);
  if (len <= 0) {
    return "unknown";
  }
  return buf.data();
}

// RFC 5280 section 4.2.1.3: the KeyUsage bits, in bit order (bit n is entry n).
constexpr std::pair<std::uint32_t, const char*> kKeyUsageBits[] = {
    {KU_DIGITAL_SIGNATURE, "digitalSignature"},
    {KU_NON_REPUDIATION, "nonRepudiation"},
    {KU_KEY_ENCIPHERMENT, "keyEncipherment"},
    {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
    {KU_KEY_AGREEMENT, "keyAgreement"},
    {KU_KEY_CERT_SIGN, "keyCertSign"},
    {KU_CRL_SIGN, "cRLSign"},
    {KU_ENCIPHER_ONLY, "encipherOnly"},
    {KU_DECIPHER_ONLY, "decipherOnly"},
};

// The kParse of an extension X509_get_ext_d2i found but could not return: `crit` is -2 when it
// appears more than once (RFC 5280 4.2 allows one), else it did not decode.
core::Error ExtensionError(const char* extension, int crit) {
  if (crit == -2) {
    return core::Fail(core::ErrorCode::kParse,
                      std::string("the ") + extension + " extension appears more than once");
  }
  return core::Fail(core::ErrorCode::kParse,
                    std::string("the ") + extension + " extension does not decode");
}

core::Result<Certificate> ParseDer(std::string_view der, const std::string& what) {
  const auto* begin = reinterpret_cast<const unsigned char*>(der.data());
  const auto* p = begin;
  auto x509 = ossl::Own(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!x509) {
    return ossl::Failure(ErrorCode::kParse, what + " is not a valid DER certificate");
  }
  if (p != begin + der.size()) {
    return Fail(ErrorCode::kParse, what + " has trailing data after the DER certificate");
  }
  return Certificate::Adopt(std::move(x509));
}

bool LooksLikePem(std::string_view data) {
  return data.find("-----BEGIN ") != std::string_view::npos;
}

// Iterates the PEM blocks of `data`, collecting certificates; stops after `max` of them.
core::Result<std::vector<Certificate>> ParsePemCertificates(std::string_view data,
                                                            std::size_t max) {
  CTLS_ASSIGN_OR_RETURN(auto blocks,
                        ossl::ReadPemBlocks(data, {PEM_STRING_X509, PEM_STRING_X509_OLD}, max));
  std::vector<Certificate> out;
  for (const ossl::PemBlock& block : blocks) {
    CTLS_ASSIGN_OR_RETURN(
        Certificate cert,
        ParseDer(block.der, "PEM block " + std::to_string(block.index) + " (CERTIFICATE)"));
    out.push_back(std::move(cert));
  }
  if (out.empty()) {
    return Fail(ErrorCode::kParse, "no PEM certificate found");
  }
  return out;
}

}  // namespace

Fingerprint Sha256Fingerprint(std::string_view der) {
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  if (Sha256() == nullptr ||
      EVP_Digest(der.data(), der.size(), digest.data(), &len, Sha256(), nullptr) != 1) {
    ossl::ClearErrors();
    return {};
  }
  std::span<const std::uint8_t> bytes(digest.data(), len);
  return Fingerprint{.colon = core::ColonHex(bytes), .hex = core::Hex(bytes)};
}

Certificate Certificate::Adopt(ossl::Ptr<X509> x509) {
  return Certificate(ossl::Share(std::move(x509)));
}

core::Result<Certificate> Certificate::FromDer(std::string_view der) {
  if (der.empty()) {
    return Fail(ErrorCode::kParse, "empty input: not a DER certificate");
  }
  return ParseDer(der, "input");
}

core::Result<Certificate> Certificate::FromPem(std::string_view pem) {
  if (!LooksLikePem(pem)) {
    return Fail(ErrorCode::kParse, "no PEM certificate found");
  }
  CTLS_ASSIGN_OR_RETURN(std::vector<Certificate> certs, ParsePemCertificates(pem, 1));
  return certs.front();
}

core::Result<std::vector<Certificate>> Certificate::ParseAll(std::string_view data) {
  if (data.empty()) {
    return Fail(ErrorCode::kParse, "empty input: no certificate found");
  }
  if (LooksLikePem(data)) {
    return ParsePemCertificates(data, static_cast<std::size_t>(-1));
  }
  CTLS_ASSIGN_OR_RETURN(Certificate cert, ParseDer(data, "input"));
  return std::vector<Certificate>{std::move(cert)};
}

std::string Certificate::ToDer() const { return ossl::ToDer(x509_.get(), i2d_X509); }

std::string Certificate::ToPem() const {
  auto bio = ossl::WriteBio();
  if (!bio || PEM_write_bio_X509(bio.get(), x509_.get()) != 1) {
    ossl::ClearErrors();
    return {};
  }
  return ossl::BioContents(bio.get());
}

std::string Certificate::subject() const {
  return NameToString(X509_get_subject_name(x509_.get()));
}

std::string Certificate::issuer() const { return NameToString(X509_get_issuer_name(x509_.get())); }

std::string Certificate::common_name() const {
  const X509_NAME* name = X509_get_subject_name(x509_.get());
  int last = -1;
  for (int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) {
    last = i;
  }
  if (last < 0) {
    return {};
  }
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, last));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) {
    ossl::ClearErrors();
    return {};
  }
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

std::string SerialHex(const ASN1_INTEGER* serial) {
  std::string bytes = Asn1StringBytes(serial);
  std::string out =
      (serial != nullptr && ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER) ? "-" : "";
  if (bytes.empty()) {
    return out + "00";
  }
  static constexpr char kDigits[] = "0123456789ABCDEF";
  for (unsigned char b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::string Certificate::serial_hex() const {
  return SerialHex(X509_get0_serialNumber(x509_.get()));
}

core::TimePoint Certificate::not_before() const {
  return internal::ToTimePoint(X509_get0_notBefore(x509_.get()));
}

core::TimePoint Certificate::not_after() const {
  return internal::ToTimePoint(X509_get0_notAfter(x509_.get()));
}

SubjectAltNames Certificate::sans() const {
  auto names = ossl::Own(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(x509_.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (!names) {
    ossl::ClearErrors();
    return {};
  }
  return internal::ReadGeneralNames(names.get());
}

bool Certificate::is_ca() const { return (X509_get_extension_flags(x509_.get()) & EXFLAG_CA) != 0; }

std::optional<long> Certificate::path_len() const {
  if (!is_ca()) {
    return std::nullopt;
  }
  long len = X509_get_pathlen(x509_.get());
  if (len < 0) {
    return std::nullopt;
  }
  return len;
}

std::vector<std::string> Certificate::extended_key_usages() const {
  std::vector<std::string> out;
  auto eku = ossl::Own(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(x509_.get(), NID_ext_key_usage, nullptr, nullptr)));
  if (!eku) {
    ossl::ClearErrors();
    return out;
  }
  for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
    out.push_back(ObjectName(sk_ASN1_OBJECT_value(eku.get(), i)));
  }
  return out;
}

std::vector<std::string> Certificate::key_usages() const {
  std::vector<std::string> out;
  if ((X509_get_extension_flags(x509_.get()) & EXFLAG_KUSAGE) == 0) {
    return out;
  }
  std::uint32_t usage = X509_get_key_usage(x509_.get());
  for (const auto& [bit, name] : kKeyUsageBits) {
    if ((usage & bit) != 0) {
      out.emplace_back(name);
    }
  }
  return out;
}

core::Result<std::optional<std::vector<std::string>>> Certificate::extended_key_usage_extension()
    const {
  int crit = -1;
  auto eku = ossl::Own(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(x509_.get(), NID_ext_key_usage, &crit, nullptr)));
  if (!eku) {
    ossl::ClearErrors();
    if (crit == -1) {
      return std::optional<std::vector<std::string>>();
    }
    return ExtensionError("extendedKeyUsage", crit);
  }
  std::vector<std::string> out;
  for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
    out.push_back(ObjectName(sk_ASN1_OBJECT_value(eku.get(), i)));
  }
  return std::optional(std::move(out));
}

core::Result<std::optional<std::vector<std::string>>> Certificate::key_usage_extension() const {
  int crit = -1;
  auto ku = ossl::Own(
      static_cast<ASN1_BIT_STRING*>(X509_get_ext_d2i(x509_.get(), NID_key_usage, &crit, nullptr)));
  if (!ku) {
    ossl::ClearErrors();
    if (crit == -1) {
      return std::optional<std::vector<std::string>>();
    }
    return ExtensionError("keyUsage", crit);
  }
  std::vector<std::string> out;
  for (std::size_t n = 0; n < std::size(kKeyUsageBits); ++n) {
    if (ASN1_BIT_STRING_get_bit(ku.get(), static_cast<int>(n)) == 1) {
      out.emplace_back(kKeyUsageBits[n].second);
    }
  }
  return std::optional(std::move(out));
}

std::vector<std::string> Certificate::crl_urls() const {
  std::vector<std::string> out;
  auto points = ossl::Own(static_cast<CRL_DIST_POINTS*>(
      X509_get_ext_d2i(x509_.get(), NID_crl_distribution_points, nullptr, nullptr)));
  if (!points) {
    ossl::ClearErrors();
    return out;
  }
  // RFC 5280 4.2.1.13: a DistributionPoint names its CRL by fullName (type 0) or by a name
  // relative to the issuer (type 1, no URI).
  for (int i = 0; i < sk_DIST_POINT_num(points.get()); ++i) {
    const DIST_POINT* point = sk_DIST_POINT_value(points.get(), i);
    if (point->distpoint == nullptr || point->distpoint->type != 0) {
      continue;
    }
    SubjectAltNames names = internal::ReadGeneralNames(point->distpoint->name.fullname);
    for (std::string& uri : names.uris) {
      out.push_back(std::move(uri));
    }
  }
  return out;
}

std::vector<std::string> Certificate::ocsp_urls() const {
  std::vector<std::string> out;
  auto aia = ossl::Own(static_cast<AUTHORITY_INFO_ACCESS*>(
      X509_get_ext_d2i(x509_.get(), NID_info_access, nullptr, nullptr)));
  if (!aia) {
    ossl::ClearErrors();
    return out;
  }
  // RFC 5280 4.2.2.1: accessMethod id-ad-ocsp, accessLocation a uniformResourceIdentifier.
  for (int i = 0; i < sk_ACCESS_DESCRIPTION_num(aia.get()); ++i) {
    const ACCESS_DESCRIPTION* ad = sk_ACCESS_DESCRIPTION_value(aia.get(), i);
    if (OBJ_obj2nid(ad->method) == NID_ad_OCSP && ad->location != nullptr &&
        ad->location->type == GEN_URI) {
      out.push_back(Asn1StringBytes(ad->location->d.uniformResourceIdentifier));
    }
  }
  return out;
}

std::string Certificate::subject_key_id_hex() const {
  return core::Hex(core::AsBytes(Asn1StringBytes(X509_get0_subject_key_id(x509_.get()))));
}

std::string Certificate::authority_key_id_hex() const {
  return core::Hex(core::AsBytes(Asn1StringBytes(X509_get0_authority_key_id(x509_.get()))));
}

std::string Certificate::signature_algorithm() const {
  int nid = X509_get_signature_nid(x509_.get());
  if (nid != NID_undef) {
    if (const char* ln = OBJ_nid2ln(nid); ln != nullptr) {
      return ln;
    }
  }
  const X509_ALGOR* alg = nullptr;
  X509_get0_signature(nullptr, &alg, x509_.get());
  if (alg == nullptr) {
    return "unknown";
  }
  const ASN1_OBJECT* obj = nullptr;
  X509_ALGOR_get0(&obj, nullptr, nullptr, alg);
  return obj != nullptr ? ObjectName(obj) : "unknown";
}

PublicKey Certificate::public_key() const {
  EVP_PKEY* key = X509_get0_pubkey(x509_.get());
  if (key == nullptr) {
    // The key's algorithm is unknown to OpenSSL: an empty key that matches nothing.
    ossl::ClearErrors();
  }
  return PublicKey::FromEvp(key);
}

Fingerprint Certificate::fingerprint() const { return Sha256Fingerprint(ToDer()); }

bool Certificate::IsSelfIssued() const {
  return X509_NAME_cmp(X509_get_subject_name(x509_.get()), X509_get_issuer_name(x509_.get())) == 0;
}

bool Certificate::IsSignedBy(const Certificate& issuer) const {
  if (X509_NAME_cmp(X509_get_issuer_name(x509_.get()), X509_get_subject_name(issuer.get())) != 0) {
    return false;
  }
  EVP_PKEY* key = X509_get0_pubkey(issuer.get());
  if (key == nullptr) {
    ossl::ClearErrors();
    return false;
  }
  bool ok = X509_verify(x509_.get(), key) == 1;
  ossl::ClearErrors();
  return ok;
}

bool Certificate::Equals(const Certificate& other) const {
  return X509_cmp(x509_.get(), other.get()) == 0;
}

std::string ToPemBundle(const std::vector<Certificate>& certs) {
  std::string out;
  for (const auto& cert : certs) {
    out += cert.ToPem();
  }
  return out;
}

}  // namespace clustertls::pki
