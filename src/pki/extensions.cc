#include "pki/extensions.h"

#include <arpa/inet.h>
#include <openssl/objects.h>

#include <algorithm>
#include <cstring>

#include "ossl/bio.h"
#include "ossl/error.h"
#include "pki/names.h"

namespace clustertls::pki::internal {

namespace {

using core::ErrorCode;

// Algorithms fetched once per process (immutable after the first call; never freed).
const EVP_MD* FetchedDigest(const char* name) { return EVP_MD_fetch(nullptr, name, nullptr); }

const EVP_MD* Sha1() {
  static const EVP_MD* md = FetchedDigest("SHA1");
  return md;
}
const EVP_MD* Sha256() {
  static const EVP_MD* md = FetchedDigest("SHA256");
  return md;
}
const EVP_MD* Sha384() {
  static const EVP_MD* md = FetchedDigest("SHA384");
  return md;
}

std::string Bytes(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
}

ossl::Ptr<GENERAL_NAME> Ia5Name(int type, std::string_view value) {
  auto gn = ossl::Own(GENERAL_NAME_new());
  auto ia5 = ossl::Own(ASN1_IA5STRING_new());
  if (!gn || !ia5 ||
      ASN1_STRING_set(ia5.get(), value.data(), static_cast<int>(value.size())) != 1) {
    return nullptr;
  }
  GENERAL_NAME_set0_value(gn.get(), type, ia5.release());
  return gn;
}

bool HasControlCharacter(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

}  // namespace

core::Result<ossl::Ptr<X509_NAME>> BuildSubject(const SubjectAttributes& extra,
                                                std::string_view common_name) {
  auto name = ossl::Own(X509_NAME_new());
  if (!name) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot allocate a name");
  }
  CTLS_RETURN_IF_ERROR(AppendSubject(name.get(), extra, common_name));
  return name;
}

core::Result<void> AppendSubject(X509_NAME* name, const SubjectAttributes& extra,
                                 std::string_view common_name) {
  auto add = [&](int nid, const std::string& label, std::string_view value) -> core::Result<void> {
    if (value.empty()) {
      return core::Fail(ErrorCode::kInvalidArgument, "subject attribute " + label + " is empty");
    }
    if (HasControlCharacter(value)) {
      return core::Fail(ErrorCode::kInvalidArgument, "subject attribute " + label + " value " +
                                                         QuoteName(value) +
                                                         " contains a control character");
    }
    // MBSTRING_UTF8 makes OpenSSL check the UTF-8 and the X.520 size limits.
    if (X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.data()),
                                   static_cast<int>(value.size()), -1, 0) != 1) {
      std::string why = nid == NID_countryName ? " (a country is 2 letters, e.g. \"US\")" : "";
      return ossl::Failure(ErrorCode::kInvalidArgument,
                           "subject attribute " + label + " value " + QuoteName(value) +
                               " is refused (too long or not valid UTF-8)" + why);
    }
    return {};
  };
  if (!extra.empty()) {
    CTLS_ASSIGN_OR_RETURN(SubjectAttributes canonical, CanonicalSubjectAttributes(extra));
    for (const auto& [label, value] : canonical) {
      CTLS_RETURN_IF_ERROR(add(OBJ_sn2nid(label.c_str()), label, value));
    }
  }
  return add(NID_commonName, "CN", common_name);
}

std::string NameToString(const X509_NAME* name) {
  auto bio = ossl::WriteBio();
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    ossl::ClearErrors();
    return {};
  }
  return ossl::BioContents(bio.get());
}

std::string LastCommonName(const X509_NAME* name) {
  int index = -1;
  for (int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) {
    index = i;
  }
  if (index < 0) {
    return {};
  }
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index)));
  if (len < 0) {
    ossl::ClearErrors();
    return {};
  }
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

core::Result<SubjectAttributes> ReadSubjectAttributes(const X509_NAME* name) {
  SubjectAttributes out;
  const int count = X509_NAME_entry_count(name);
  for (int i = 0; i < count; ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    const char* label = nullptr;
    switch (OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry))) {
      case NID_countryName:
        label = "C";
        break;
      case NID_stateOrProvinceName:
        label = "ST";
        break;
      case NID_localityName:
        label = "L";
        break;
      case NID_organizationName:
        label = "O";
        break;
      case NID_organizationalUnitName:
        label = "OU";
        break;
      case NID_domainComponent:
        label = "DC";
        break;
      default:
        continue;
    }
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
    if (len < 0) {
      return ossl::Failure(ErrorCode::kParse, std::string("subject attribute ") + label +
                                                  " cannot be converted to UTF-8");
    }
    out.emplace_back(label,
                     std::string(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len)));
    OPENSSL_free(utf8);
  }
  return out;
}

ossl::Ptr<GENERAL_NAME> UriName(std::string_view uri) { return Ia5Name(GEN_URI, uri); }

core::Result<ossl::Ptr<GENERAL_NAMES>> BuildGeneralNames(const SubjectAltNames& sans) {
  if (sans.empty()) {
    return ossl::Ptr<GENERAL_NAMES>();
  }
  auto names = ossl::Own(GENERAL_NAMES_new());
  if (!names) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot allocate subjectAltName");
  }
  auto push = [&](ossl::Ptr<GENERAL_NAME> gn) -> core::Result<void> {
    if (!gn || sk_GENERAL_NAME_push(names.get(), gn.get()) <= 0) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot build subjectAltName");
    }
    gn.release();
    return {};
  };
  for (const auto& dns : sans.dns) {
    CTLS_RETURN_IF_ERROR(push(Ia5Name(GEN_DNS, dns)));
  }
  for (const auto& ip : sans.ips) {
    CTLS_ASSIGN_OR_RETURN(std::string bytes, IpAddressBytes(ip));
    auto gn = ossl::Own(GENERAL_NAME_new());
    auto octets = ossl::Own(ASN1_OCTET_STRING_new());
    if (!gn || !octets ||
        ASN1_OCTET_STRING_set(octets.get(), reinterpret_cast<const unsigned char*>(bytes.data()),
                              static_cast<int>(bytes.size())) != 1) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot build subjectAltName");
    }
    GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, octets.release());
    CTLS_RETURN_IF_ERROR(push(std::move(gn)));
  }
  for (const auto& uri : sans.uris) {
    CTLS_RETURN_IF_ERROR(push(Ia5Name(GEN_URI, uri)));
  }
  for (const auto& email : sans.emails) {
    CTLS_RETURN_IF_ERROR(push(Ia5Name(GEN_EMAIL, email)));
  }
  return names;
}

SubjectAltNames ReadGeneralNames(const GENERAL_NAMES* names) {
  SubjectAltNames sans;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    switch (gn->type) {
      case GEN_DNS:
        sans.dns.push_back(Bytes(gn->d.dNSName));
        break;
      case GEN_URI:
        sans.uris.push_back(Bytes(gn->d.uniformResourceIdentifier));
        break;
      case GEN_EMAIL:
        sans.emails.push_back(Bytes(gn->d.rfc822Name));
        break;
      case GEN_IPADD: {
        std::string bytes = Bytes(gn->d.iPAddress);
        char text[INET6_ADDRSTRLEN];
        int af = bytes.size() == 4 ? AF_INET : (bytes.size() == 16 ? AF_INET6 : -1);
        if (af > 0 && inet_ntop(af, bytes.data(), text, sizeof text) != nullptr) {
          sans.ips.emplace_back(text);
        } else {
          // Kept so that the issuer refuses it by name rather than dropping it silently.
          sans.ips.push_back("<" + std::to_string(bytes.size()) + "-byte address>");
        }
        break;
      }
      default:
        break;
    }
  }
  return sans;
}

core::Result<const EVP_MD*> SigningDigest(const EVP_PKEY* key) {
  const EVP_MD* md = nullptr;
  if (EVP_PKEY_is_a(key, "ED25519")) {
    return md;
  }
  if (EVP_PKEY_is_a(key, "RSA")) {
    md = Sha256();
  } else if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {0};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) != 1) {
      return ossl::Failure(ErrorCode::kUnsupported, "EC key without a named curve");
    }
    // RFC 5480 4: the digest matches the curve's strength.
    md = std::strcmp(group, SN_secp384r1) == 0 ? Sha384() : Sha256();
  } else {
    return core::Fail(ErrorCode::kUnsupported, "unsupported signing key type");
  }
  if (md == nullptr) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot fetch the signing digest");
  }
  return md;
}

core::Result<std::string> KeyIdentifier(const X509_PUBKEY* spki) {
  const unsigned char* bits = nullptr;
  int len = 0;
  if (spki == nullptr || X509_PUBKEY_get0_param(nullptr, &bits, &len, nullptr, spki) != 1 ||
      Sha1() == nullptr) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot read the public key");
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(bits, static_cast<std::size_t>(len), digest, &digest_len, Sha1(), nullptr) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot hash the public key");
  }
  return std::string(reinterpret_cast<char*>(digest), digest_len);
}

}  // namespace clustertls::pki::internal
