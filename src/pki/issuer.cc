#include "pki/issuer.h"

#include <openssl/objects.h>

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include "core/encoding.h"
#include "ossl/bio.h"
#include "ossl/error.h"
#include "pki/extensions.h"
#include "pki/name_constraints.h"
#include "pki/names.h"

namespace clustertls::pki {

namespace internal {

// What is fixed per issuer, computed once by Issuer::Create (or per call by SelfSign).
struct IssuerState {
  ossl::Ptr<X509_NAME> name;   // the issued certificates' issuer; null when self-signed
  std::string key_id;          // the AKI keyIdentifier; empty when self-signed (= the SKI)
  const EVP_MD* md = nullptr;  // signing digest, fetched once; null for Ed25519
  // A DigestSign context initialised once with the issuer's key and digest, copied for each
  // signature (no per-call algorithm fetch). Only read after Create: safe to share.
  ossl::Ptr<EVP_MD_CTX> sign_template;
  bool self_signed = false;
  core::TimePoint not_before = core::TimePoint::min();
  core::TimePoint not_after = core::TimePoint::max();
  long path_len = -1;   // the issuer's pathLenConstraint, -1 if none
  std::string subject;  // for messages
  // The nameConstraints of the issuer and the chain above it (RFC 5280 4.2.1.10); empty, and
  // never consulted, when none of them has any.
  ChainNameConstraints name_constraints;
};

}  // namespace internal

namespace {

using core::ErrorCode;
using core::Fail;
using internal::IssuerState;

constexpr std::size_t kSerialBytes = 17;  // 136 bits, top byte in 0x01..0x7f: 128+ random bits

bool IsCaProfile(Profile p) { return p == Profile::kRootCa || p == Profile::kIntermediateCa; }

std::string Quoted(const std::string& subject) { return "\"" + subject + "\""; }

// A time as ASN1_TIME wants it; UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5).
bool SetTime(ASN1_TIME* t, core::TimePoint when) {
  return ASN1_TIME_set(t, static_cast<time_t>(when.time_since_epoch().count())) != nullptr;
}

core::TimePoint FromAsn1(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    ossl::ClearErrors();
    return core::TimePoint{};
  }
  return core::TimePoint(std::chrono::seconds(timegm(&tm)));
}

// The parts of a request checked and canonicalised against the profile.
struct Prepared {
  std::string common_name;  // canonical for leaves
  SubjectAltNames sans;
  std::vector<std::string> other_name_cns;  // checked, without duplicates
  std::optional<int> path_len;
  core::TimePoint not_before;
  core::TimePoint not_after;
};

std::size_t NameCount(const SubjectAltNames& sans) {
  return sans.dns.size() + sans.ips.size() + sans.uris.size() + sans.emails.size();
}

// A leaf's canonical CN, added to `sans` if it is not among them.
core::Result<std::string> AddLeafCommonName(const std::string& cn, SubjectAltNames& sans) {
  if (cn.find('@') != std::string::npos && !IsIpAddress(cn)) {
    CTLS_ASSIGN_OR_RETURN(std::string email, CanonicalEmail(cn));
    if (std::find(sans.emails.begin(), sans.emails.end(), email) == sans.emails.end()) {
      sans.emails.push_back(email);
    }
    return email;
  }
  CTLS_RETURN_IF_ERROR(AddCommonNameToSans(cn, sans));
  if (IsIpAddress(cn)) {
    return CanonicalIp(cn);
  }
  return CanonicalDnsName(cn);
}

// Leaves name a host, an IP or a mailbox: the CN is canonicalised and always among the SANs,
// kMaxSubjectAltNames names at most (counted before canonicalising too, so that a request with
// thousands of names costs nothing). A CA's CN is a label ("Example Root CA"), kept as given and
// not turned into a SAN.
core::Result<std::string> PrepareNames(const IssueRequest& request, SubjectAltNames& sans) {
  const std::string& cn = request.common_name;
  if (cn.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "a certificate needs a common name");
  }
  auto too_many = [](std::size_t n) {
    return Fail(ErrorCode::kInvalidArgument,
                std::to_string(n) + " subject alternative names: at most " +
                    std::to_string(kMaxSubjectAltNames) +
                    " per certificate (the common name counts as one)");
  };
  if (NameCount(request.sans) > kMaxSubjectAltNames) {
    return too_many(NameCount(request.sans));
  }
  CTLS_ASSIGN_OR_RETURN(sans, CanonicalSans(request.sans));
  if (IsCaProfile(request.profile)) {
    return cn;
  }
  CTLS_ASSIGN_OR_RETURN(std::string canonical_cn, AddLeafCommonName(cn, sans));
  if (NameCount(sans) > kMaxSubjectAltNames) {
    return too_many(NameCount(sans));
  }
  return canonical_cn;
}

core::Result<std::optional<int>> PreparePathLen(const IssueRequest& request,
                                                const IssuerState& issuer) {
  if (!IsCaProfile(request.profile)) {
    if (request.path_len) {
      return Fail(ErrorCode::kInvalidArgument,
                  std::string("a path length applies only to CA profiles, not to ") +
                      ProfileName(request.profile));
    }
    return std::optional<int>();
  }
  if (request.path_len && *request.path_len < 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "path length " + std::to_string(*request.path_len) + " is negative");
  }
  if (issuer.self_signed || issuer.path_len < 0) {
    return request.path_len;
  }
  // RFC 5280 4.2.1.9: an issuer with pathLenConstraint n allows n more CAs below it.
  if (issuer.path_len == 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "issuer " + Quoted(issuer.subject) + " has path length 0: it cannot issue CAs");
  }
  const long allowed = issuer.path_len - 1;
  if (request.path_len && *request.path_len > allowed) {
    return Fail(ErrorCode::kInvalidArgument,
                "path length " + std::to_string(*request.path_len) + " is more than issuer " +
                    Quoted(issuer.subject) + " allows (at most " + std::to_string(allowed) + ")");
  }
  return request.path_len ? request.path_len : std::optional<int>(static_cast<int>(allowed));
}

core::Result<void> PrepareValidity(const IssueRequest& request, const IssuerState& issuer,
                                   core::TimePoint now, Prepared& out) {
  if (request.validity <= std::chrono::seconds(0)) {
    return Fail(ErrorCode::kInvalidArgument, "the validity must be positive");
  }
  out.not_before = now - kBackdate;
  out.not_after = now + request.validity;
  if (issuer.self_signed) {
    return {};
  }
  if (now < issuer.not_before) {
    return Fail(ErrorCode::kExpired, "issuer " + Quoted(issuer.subject) + " is not valid before " +
                                         core::FormatTime(issuer.not_before));
  }
  if (now > issuer.not_after) {
    return Fail(ErrorCode::kExpired, "issuer " + Quoted(issuer.subject) + " expired on " +
                                         core::FormatTime(issuer.not_after) + " (" +
                                         core::FormatDuration(now - issuer.not_after) + " ago)");
  }
  // A certificate never outlives its issuer.
  if (out.not_after > issuer.not_after) {
    auto left = issuer.not_after - now;
    return Fail(ErrorCode::kExpired,
                "requested validity (" + core::FormatDuration(request.validity) +
                    ") ends after the issuer " + Quoted(issuer.subject) + " expires on " +
                    core::FormatTime(issuer.not_after) + " (in " + core::FormatDuration(left) +
                    "); use at most " + core::FormatDuration(left));
  }
  // Never before the issuer itself (a CA made minutes ago).
  out.not_before = std::max(out.not_before, issuer.not_before);
  return {};
}

core::Result<Prepared> Prepare(const IssueRequest& request, const IssuerState& issuer,
                               core::TimePoint now) {
  if (request.profile == Profile::kRootCa && !issuer.self_signed) {
    return Fail(ErrorCode::kInvalidArgument,
                "the root-ca profile is for self-signed certificates; an issuer issues "
                "intermediate-ca certificates");
  }
  if (request.profile == Profile::kIntermediateCa && issuer.self_signed) {
    return Fail(ErrorCode::kInvalidArgument,
                "an intermediate-ca certificate is issued by a CA, not self-signed");
  }
  if (!request.name_constraints.empty() && request.profile != Profile::kIntermediateCa) {
    return Fail(ErrorCode::kInvalidArgument, std::string("name constraints apply only to the "
                                                         "intermediate-ca profile, not to ") +
                                                 ProfileName(request.profile));
  }
  Prepared out;
  CTLS_ASSIGN_OR_RETURN(out.common_name, PrepareNames(request, out.sans));
  if (!request.other_name_cns.empty()) {
    if (IsCaProfile(request.profile)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "otherName common names are for leaf certificates, not a CA");
    }
    for (const std::string& cn : request.other_name_cns) {
      CTLS_ASSIGN_OR_RETURN(std::string checked, CheckOtherNameCommonName(cn));
      if (std::find(out.other_name_cns.begin(), out.other_name_cns.end(), checked) ==
          out.other_name_cns.end()) {
        out.other_name_cns.push_back(std::move(checked));
      }
    }
    const std::size_t total = NameCount(out.sans) + out.other_name_cns.size();
    if (total > kMaxSubjectAltNames) {
      return Fail(ErrorCode::kInvalidArgument,
                  std::to_string(total) + " subject alternative names: at most " +
                      std::to_string(kMaxSubjectAltNames) +
                      " per certificate (the common name counts as one)");
    }
  }
  if (!issuer.name_constraints.empty()) {
    CTLS_RETURN_IF_ERROR(issuer.name_constraints.Check(
        out.sans, IsCaProfile(request.profile) ? std::string_view() : out.common_name));
  }
  if (request.check_names && !IsCaProfile(request.profile)) {
    CTLS_RETURN_IF_ERROR(request.check_names(out.sans));
  }
  CTLS_ASSIGN_OR_RETURN(out.path_len, PreparePathLen(request, issuer));
  CTLS_RETURN_IF_ERROR(PrepareValidity(request, issuer, now, out));
  return out;
}

// ---- extensions, each built as its OpenSSL structure ----

core::Result<void> Add(X509* x, int nid, void* value, bool critical, const char* what) {
  if (X509_add1_ext_i2d(x, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, std::string("cannot add the ") + what + " extension");
  }
  return {};
}

// RFC 5280 4.2.1.9, always critical.
core::Result<void> AddBasicConstraints(X509* x, bool ca, std::optional<int> path_len) {
  auto bc = ossl::Own(BASIC_CONSTRAINTS_new());
  if (!bc) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot allocate BasicConstraints");
  }
  bc->ca = ca ? 0xff : 0;
  if (ca && path_len) {
    bc->pathlen = ASN1_INTEGER_new();
    if (bc->pathlen == nullptr || ASN1_INTEGER_set(bc->pathlen, *path_len) != 1) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot set the path length");
    }
  }
  return Add(x, NID_basic_constraints, bc.get(), true, "basicConstraints");
}

// RFC 5280 4.2.1.3, always critical. Bits: 0 digitalSignature, 2 keyEncipherment,
// 5 keyCertSign, 6 cRLSign.
core::Result<void> AddKeyUsage(X509* x, Profile profile, bool rsa_subject) {
  std::vector<int> bits;
  if (IsCaProfile(profile)) {
    bits = {0, 5, 6};
  } else if (profile == Profile::kOcspSigner || profile == Profile::kAuditSigner || !rsa_subject) {
    bits = {0};
  } else {
    bits = {0, 2};  // RSA key transport in TLS 1.2 RSA key exchange
  }
  auto ku = ossl::Own(ASN1_BIT_STRING_new());
  if (!ku) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot allocate KeyUsage");
  }
  for (int bit : bits) {
    if (ASN1_BIT_STRING_set_bit(ku.get(), bit, 1) != 1) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot set a KeyUsage bit");
    }
  }
  return Add(x, NID_key_usage, ku.get(), true, "keyUsage");
}

// RFC 5280 4.2.1.12; CAs carry none.
core::Result<void> AddExtendedKeyUsage(X509* x, Profile profile) {
  std::vector<int> nids;
  switch (profile) {
    case Profile::kServer:
      nids = {NID_server_auth};
      break;
    case Profile::kClient:
      nids = {NID_client_auth};
      break;
    case Profile::kPeer:
      nids = {NID_server_auth, NID_client_auth};
      break;
    case Profile::kOcspSigner:
      nids = {NID_OCSP_sign};
      break;
    case Profile::kAuditSigner:
      break;  // the private purpose below, alone
    case Profile::kRootCa:
    case Profile::kIntermediateCa:
      return {};
  }
  auto eku = ossl::Own(sk_ASN1_OBJECT_new_null());
  if (!eku) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot allocate ExtendedKeyUsage");
  }
  for (int nid : nids) {
    if (sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(nid)) <= 0) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot build ExtendedKeyUsage");
    }
  }
  if (profile == Profile::kAuditSigner) {
    // Not a registered NID: a new object, owned by the stack once pushed.
    auto oid = ossl::Own(OBJ_txt2obj(std::string(kAuditSigningEkuOid).c_str(), 1));
    if (!oid || sk_ASN1_OBJECT_push(eku.get(), oid.get()) <= 0) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot build ExtendedKeyUsage");
    }
    oid.release();
  }
  return Add(x, NID_ext_key_usage, eku.get(), false, "extendedKeyUsage");
}

core::Result<void> AddKeyIds(X509* x, const std::string& subject_key_id,
                             const std::string& authority_key_id) {
  // RFC 5280 4.2.1.2.
  auto ski = ossl::Own(ASN1_OCTET_STRING_new());
  if (!ski || ASN1_OCTET_STRING_set(ski.get(),
                                    reinterpret_cast<const unsigned char*>(subject_key_id.data()),
                                    static_cast<int>(subject_key_id.size())) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot build the subject key identifier");
  }
  CTLS_RETURN_IF_ERROR(
      Add(x, NID_subject_key_identifier, ski.get(), false, "subjectKeyIdentifier"));
  // RFC 5280 4.2.1.1: the issuer's key identifier (its own for a self-signed certificate).
  auto aki = ossl::Own(AUTHORITY_KEYID_new());
  if (!aki) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot allocate the authority key identifier");
  }
  aki->keyid = ASN1_OCTET_STRING_new();
  if (aki->keyid == nullptr ||
      ASN1_OCTET_STRING_set(aki->keyid,
                            reinterpret_cast<const unsigned char*>(authority_key_id.data()),
                            static_cast<int>(authority_key_id.size())) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot build the authority key identifier");
  }
  return Add(x, NID_authority_key_identifier, aki.get(), false, "authorityKeyIdentifier");
}

// An otherName GeneralName (RFC 5280 4.2.1.6: OtherName ::= SEQUENCE { type-id OID,
// value [0] EXPLICIT ANY }) with type-id id-at-commonName and a UTF8String value: the encoding
// elasticsearch-certutil's CertGenUtils.createCommonName gives an instances.yml `cn`.
core::Result<ossl::Ptr<GENERAL_NAME>> OtherNameCommonName(const std::string& cn) {
  auto gn = ossl::Own(GENERAL_NAME_new());
  auto value = ossl::Own(ASN1_TYPE_new());
  auto utf8 = ossl::Own(ASN1_UTF8STRING_new());
  ASN1_OBJECT* type_id = OBJ_nid2obj(NID_commonName);  // static: not freed
  if (!gn || !value || !utf8 || type_id == nullptr ||
      ASN1_STRING_set(utf8.get(), cn.data(), static_cast<int>(cn.size())) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot build an otherName common name");
  }
  ASN1_TYPE_set(value.get(), V_ASN1_UTF8STRING, utf8.release());
  if (GENERAL_NAME_set0_othername(gn.get(), type_id, value.get()) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot build an otherName common name");
  }
  value.release();
  return gn;
}

// RFC 5280 4.2.1.6: critical only if the subject is empty, which it never is here.
core::Result<void> AddSubjectAltNames(X509* x, const SubjectAltNames& sans,
                                      const std::vector<std::string>& other_name_cns) {
  CTLS_ASSIGN_OR_RETURN(ossl::Ptr<GENERAL_NAMES> names, internal::BuildGeneralNames(sans));
  if (!names && !other_name_cns.empty()) {
    names = ossl::Own(GENERAL_NAMES_new());
    if (!names) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot allocate subjectAltName");
    }
  }
  if (!names) {
    return {};
  }
  for (const std::string& cn : other_name_cns) {
    CTLS_ASSIGN_OR_RETURN(ossl::Ptr<GENERAL_NAME> gn, OtherNameCommonName(cn));
    if (sk_GENERAL_NAME_push(names.get(), gn.get()) <= 0) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot build subjectAltName");
    }
    gn.release();
  }
  return Add(x, NID_subject_alt_name, names.get(), false, "subjectAltName");
}

core::Result<std::vector<std::string>> CanonicalUrls(const std::vector<std::string>& urls) {
  std::vector<std::string> out;
  for (const auto& url : urls) {
    CTLS_ASSIGN_OR_RETURN(std::string c, CanonicalUri(url));
    out.push_back(std::move(c));
  }
  return out;
}

// RFC 5280 4.2.1.13: one DistributionPoint whose fullName lists every URL.
core::Result<void> AddCrlDistributionPoints(X509* x, const std::vector<std::string>& urls) {
  if (urls.empty()) {
    return {};
  }
  CTLS_ASSIGN_OR_RETURN(std::vector<std::string> canonical, CanonicalUrls(urls));
  auto names = ossl::Own(GENERAL_NAMES_new());
  auto points = ossl::Own(sk_DIST_POINT_new_null());
  auto point = ossl::Own(DIST_POINT_new());
  if (!names || !points || !point) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot allocate CRL distribution points");
  }
  for (const auto& url : canonical) {
    auto gn = internal::UriName(url);
    if (!gn || sk_GENERAL_NAME_push(names.get(), gn.get()) <= 0) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot build CRL distribution points");
    }
    gn.release();
  }
  point->distpoint = DIST_POINT_NAME_new();
  if (point->distpoint == nullptr) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot build CRL distribution points");
  }
  point->distpoint->type = 0;  // fullName
  point->distpoint->name.fullname = names.release();
  if (sk_DIST_POINT_push(points.get(), point.get()) <= 0) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot build CRL distribution points");
  }
  point.release();
  return Add(x, NID_crl_distribution_points, points.get(), false, "cRLDistributionPoints");
}

// RFC 5280 4.2.2.1: id-ad-ocsp access descriptions.
core::Result<void> AddOcspUrls(X509* x, const std::vector<std::string>& urls) {
  if (urls.empty()) {
    return {};
  }
  CTLS_ASSIGN_OR_RETURN(std::vector<std::string> canonical, CanonicalUrls(urls));
  auto aia = ossl::Own(sk_ACCESS_DESCRIPTION_new_null());
  if (!aia) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot allocate authorityInfoAccess");
  }
  for (const auto& url : canonical) {
    auto ad = ossl::Own(ACCESS_DESCRIPTION_new());
    auto gn = internal::UriName(url);
    if (!ad || !gn) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot build authorityInfoAccess");
    }
    ASN1_OBJECT_free(ad->method);
    ad->method = OBJ_nid2obj(NID_ad_OCSP);
    GENERAL_NAME_free(ad->location);
    ad->location = gn.release();
    if (sk_ACCESS_DESCRIPTION_push(aia.get(), ad.get()) <= 0) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot build authorityInfoAccess");
    }
    ad.release();
  }
  return Add(x, NID_info_access, aia.get(), false, "authorityInfoAccess");
}

// One subtree of RFC 5280 4.2.1.10: a dNSName ("example.com" covers it and its subdomains;
// ".example.com" only the subdomains) or an iPAddress of address and mask.
core::Result<ossl::Ptr<GENERAL_SUBTREE>> DnsSubtree(const std::string& name) {
  std::string_view body = name;
  const bool dot = !body.empty() && body.front() == '.';
  if (dot) {
    body.remove_prefix(1);
  }
  CTLS_ASSIGN_OR_RETURN(std::string canonical, CanonicalDnsName(body, /*allow_wildcard=*/false));
  auto subtree = ossl::Own(GENERAL_SUBTREE_new());
  auto ia5 = ossl::Own(ASN1_IA5STRING_new());
  std::string value = (dot ? "." : "") + canonical;
  if (!subtree || !ia5 ||
      ASN1_STRING_set(ia5.get(), value.data(), static_cast<int>(value.size())) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot build a name constraint");
  }
  GENERAL_NAME_set0_value(subtree->base, GEN_DNS, ia5.release());
  return subtree;
}

core::Result<ossl::Ptr<GENERAL_SUBTREE>> IpSubtree(const std::string& cidr) {
  CTLS_ASSIGN_OR_RETURN(IpNetwork net, ParseCidr(cidr));
  std::string bytes = net.address + net.mask;
  auto subtree = ossl::Own(GENERAL_SUBTREE_new());
  auto octets = ossl::Own(ASN1_OCTET_STRING_new());
  if (!subtree || !octets ||
      ASN1_OCTET_STRING_set(octets.get(), reinterpret_cast<const unsigned char*>(bytes.data()),
                            static_cast<int>(bytes.size())) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot build a name constraint");
  }
  GENERAL_NAME_set0_value(subtree->base, GEN_IPADD, octets.release());
  return subtree;
}

core::Result<STACK_OF(GENERAL_SUBTREE) *> Subtrees(const std::vector<std::string>& dns,
                                                   const std::vector<std::string>& ips) {
  if (dns.empty() && ips.empty()) {
    return nullptr;
  }
  struct Free {
    void operator()(STACK_OF(GENERAL_SUBTREE) * s) const {
      sk_GENERAL_SUBTREE_pop_free(s, GENERAL_SUBTREE_free);
    }
  };
  std::unique_ptr<STACK_OF(GENERAL_SUBTREE), Free> out(sk_GENERAL_SUBTREE_new_null());
  if (!out) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot allocate name constraints");
  }
  auto push = [&](ossl::Ptr<GENERAL_SUBTREE> subtree) -> core::Result<void> {
    if (sk_GENERAL_SUBTREE_push(out.get(), subtree.get()) <= 0) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot build name constraints");
    }
    subtree.release();
    return {};
  };
  for (const auto& name : dns) {
    CTLS_ASSIGN_OR_RETURN(ossl::Ptr<GENERAL_SUBTREE> subtree, DnsSubtree(name));
    CTLS_RETURN_IF_ERROR(push(std::move(subtree)));
  }
  for (const auto& cidr : ips) {
    CTLS_ASSIGN_OR_RETURN(ossl::Ptr<GENERAL_SUBTREE> subtree, IpSubtree(cidr));
    CTLS_RETURN_IF_ERROR(push(std::move(subtree)));
  }
  return out.release();
}

// RFC 5280 4.2.1.10: conforming CAs MUST mark this extension critical.
core::Result<void> AddNameConstraints(X509* x, const NameConstraints& constraints) {
  if (constraints.empty()) {
    return {};
  }
  auto nc = ossl::Own(NAME_CONSTRAINTS_new());
  if (!nc) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot allocate name constraints");
  }
  CTLS_ASSIGN_OR_RETURN(nc->permittedSubtrees,
                        Subtrees(constraints.permitted_dns, constraints.permitted_ip));
  CTLS_ASSIGN_OR_RETURN(nc->excludedSubtrees,
                        Subtrees(constraints.excluded_dns, constraints.excluded_ip));
  return Add(x, NID_name_constraints, nc.get(), true, "nameConstraints");
}

// RFC 6960 4.2.2.2.1: clients need not check the revocation of the OCSP signer itself.
core::Result<void> AddOcspNoCheck(X509* x) {
  ASN1_NULL* null = ASN1_NULL_new();  // ASN1_NULL is an int: no ossl::Ptr for it
  if (null == nullptr) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot allocate id-pkix-ocsp-nocheck");
  }
  core::Result<void> added = Add(x, NID_id_pkix_OCSP_noCheck, null, false, "id-pkix-ocsp-nocheck");
  ASN1_NULL_free(null);
  return added;
}

// Copies the algorithm and key bits of `from` into `to` without decoding the key.
core::Result<void> CopySpki(const X509_PUBKEY* from, X509_PUBKEY* to) {
  ASN1_OBJECT* alg = nullptr;
  const unsigned char* bits = nullptr;
  int bits_len = 0;
  X509_ALGOR* algor = nullptr;
  if (from == nullptr || X509_PUBKEY_get0_param(&alg, &bits, &bits_len, &algor, from) != 1) {
    return ossl::Failure(ErrorCode::kInvalidArgument, "no subject public key");
  }
  const ASN1_OBJECT* param_obj = nullptr;
  int param_type = V_ASN1_UNDEF;
  const void* param = nullptr;
  X509_ALGOR_get0(&param_obj, &param_type, &param, algor);
  void* param_copy = nullptr;
  if (param_type == V_ASN1_OBJECT) {
    param_copy = OBJ_dup(static_cast<const ASN1_OBJECT*>(param));
  } else if (param_type != V_ASN1_UNDEF && param_type != V_ASN1_NULL) {
    param_copy = ASN1_STRING_dup(static_cast<const ASN1_STRING*>(param));
  }
  auto* bits_copy = static_cast<unsigned char*>(OPENSSL_memdup(bits, bits_len));
  ASN1_OBJECT* alg_copy = OBJ_dup(alg);
  if (bits_copy == nullptr || alg_copy == nullptr ||
      (param_copy == nullptr && param_type != V_ASN1_UNDEF && param_type != V_ASN1_NULL) ||
      X509_PUBKEY_set0_param(to, alg_copy, param_type, param_copy, bits_copy, bits_len) != 1) {
    OPENSSL_free(bits_copy);
    ASN1_OBJECT_free(alg_copy);
    if (param_type == V_ASN1_OBJECT) {
      ASN1_OBJECT_free(static_cast<ASN1_OBJECT*>(param_copy));
    } else {
      ASN1_STRING_free(static_cast<ASN1_STRING*>(param_copy));
    }
    return ossl::Failure(ErrorCode::kCrypto, "cannot copy the subject public key");
  }
  return {};
}

bool IsRsaSpki(const X509_PUBKEY* spki) {
  ASN1_OBJECT* alg = nullptr;
  return X509_PUBKEY_get0_param(&alg, nullptr, nullptr, nullptr, spki) == 1 &&
         OBJ_obj2nid(alg) == NID_rsaEncryption;
}

// The SubjectPublicKeyInfo of `key`. EC and Ed25519 keys are laid out directly from their
// parameters (RFC 5480 2, RFC 8410 4), which is much cheaper than OpenSSL's generic encoder;
// other keys go through X509_PUBKEY_set.
core::Result<ossl::Ptr<X509_PUBKEY>> SpkiOf(EVP_PKEY* key) {
  auto spki = ossl::Own(X509_PUBKEY_new());
  if (!spki) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot allocate a public key");
  }
  std::array<unsigned char, 256> buf{};
  std::size_t len = 0;
  int alg_nid = NID_undef;
  int param_type = V_ASN1_UNDEF;
  ASN1_OBJECT* param = nullptr;
  if (EVP_PKEY_is_a(key, "EC")) {
    std::array<char, 64> group{};
    std::size_t group_len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(),
                                       &group_len) == 1 &&
        EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf.data(),
                                        buf.size(), &len) == 1) {
      alg_nid = NID_X9_62_id_ecPublicKey;
      param_type = V_ASN1_OBJECT;
      param = OBJ_nid2obj(OBJ_txt2nid(group.data()));
    }
  } else if (EVP_PKEY_is_a(key, "ED25519")) {
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, buf.data(), buf.size(),
                                        &len) == 1) {
      alg_nid = NID_ED25519;
    }
  }
  if (alg_nid != NID_undef && (param_type == V_ASN1_UNDEF || param != nullptr)) {
    auto* bits = static_cast<unsigned char*>(OPENSSL_memdup(buf.data(), len));
    if (bits != nullptr && X509_PUBKEY_set0_param(spki.get(), OBJ_nid2obj(alg_nid), param_type,
                                                  param, bits, static_cast<int>(len)) == 1) {
      return spki;
    }
    OPENSSL_free(bits);
  }
  ossl::ClearErrors();
  X509_PUBKEY* raw = nullptr;
  if (X509_PUBKEY_set(&raw, key) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot encode the subject public key");
  }
  return ossl::Own(raw);
}

// A DigestSign context for `key` and `md` (null md: pure EdDSA), to be copied per signature.
ossl::Ptr<EVP_MD_CTX> MakeSignTemplate(EVP_PKEY* key, const EVP_MD* md) {
  auto ctx = ossl::Own(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key) != 1) {
    ossl::ClearErrors();
    return nullptr;
  }
  return ctx;
}

core::Result<void> Sign(X509* x, const IssuerState& issuer, EVP_PKEY* key) {
  if (issuer.sign_template) {
    auto ctx = ossl::Own(EVP_MD_CTX_new());
    if (ctx && EVP_MD_CTX_copy_ex(ctx.get(), issuer.sign_template.get()) == 1 &&
        X509_sign_ctx(x, ctx.get()) > 0) {
      return {};
    }
  } else if (X509_sign(x, key, issuer.md) > 0) {
    return {};
  }
  return ossl::Failure(ErrorCode::kCrypto, "cannot sign the certificate");
}

// The one issuance pipeline (Issue, IssueFromCsr, IssueDer, SelfSign): check and canonicalise
// the request, lay out the TBSCertificate with the profile's extensions, sign, encode.
core::Result<std::string> IssueWith(const IssuerState& issuer, EVP_PKEY* signing_key,
                                    const IssueRequest& request, const X509_PUBKEY* subject_spki,
                                    core::TimePoint now, core::Rng& rng,
                                    IssuedFacts* facts = nullptr) {
  CTLS_ASSIGN_OR_RETURN(Prepared prepared, Prepare(request, issuer, now));
  CTLS_ASSIGN_OR_RETURN(std::string key_id, internal::KeyIdentifier(subject_spki));

  // RFC 5280 4.1.2.2: positive, at most 20 octets; CA/Browser Forum: 64+ bits of CSPRNG output.
  std::array<std::uint8_t, kSerialBytes> serial{};
  CTLS_RETURN_IF_ERROR(rng.Fill(serial));
  serial[0] &= 0x7f;
  if (serial[0] == 0) {
    serial[0] = 0x01;
  }

  auto x = ossl::Own(X509_new());
  if (!x || X509_set_version(x.get(), X509_VERSION_3) != 1 ||
      ASN1_STRING_set(X509_get_serialNumber(x.get()), serial.data(),
                      static_cast<int>(serial.size())) != 1 ||
      !SetTime(X509_getm_notBefore(x.get()), prepared.not_before) ||
      !SetTime(X509_getm_notAfter(x.get()), prepared.not_after)) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot lay out the certificate");
  }
  // The subject is built in place (no copy); the issuer name is the precomputed one.
  CTLS_RETURN_IF_ERROR(internal::AppendSubject(X509_get_subject_name(x.get()),
                                               request.subject_extra, prepared.common_name));
  if (X509_set_issuer_name(
          x.get(), issuer.self_signed ? X509_get_subject_name(x.get()) : issuer.name.get()) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot set the issuer name");
  }
  CTLS_RETURN_IF_ERROR(CopySpki(subject_spki, X509_get_X509_PUBKEY(x.get())));

  const bool ca = IsCaProfile(request.profile);
  CTLS_RETURN_IF_ERROR(AddBasicConstraints(x.get(), ca, prepared.path_len));
  CTLS_RETURN_IF_ERROR(AddKeyUsage(x.get(), request.profile, IsRsaSpki(subject_spki)));
  CTLS_RETURN_IF_ERROR(AddExtendedKeyUsage(x.get(), request.profile));
  CTLS_RETURN_IF_ERROR(AddKeyIds(x.get(), key_id, issuer.self_signed ? key_id : issuer.key_id));
  CTLS_RETURN_IF_ERROR(AddSubjectAltNames(x.get(), prepared.sans, prepared.other_name_cns));
  CTLS_RETURN_IF_ERROR(AddCrlDistributionPoints(x.get(), request.crl_urls));
  CTLS_RETURN_IF_ERROR(AddOcspUrls(x.get(), request.ocsp_urls));
  if (request.profile == Profile::kIntermediateCa) {
    CTLS_RETURN_IF_ERROR(AddNameConstraints(x.get(), request.name_constraints));
  }
  if (request.profile == Profile::kOcspSigner) {
    CTLS_RETURN_IF_ERROR(AddOcspNoCheck(x.get()));
  }

  CTLS_RETURN_IF_ERROR(Sign(x.get(), issuer, signing_key));
  std::string der = internal::ToDerOnePass(x.get(), i2d_X509);
  if (der.empty()) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot encode the certificate");
  }
  if (facts != nullptr) {
    *facts = IssuedFacts{.serial_hex = SerialHex(X509_get0_serialNumber(x.get())),
                         .common_name = std::move(prepared.common_name),
                         .sans = std::move(prepared.sans),
                         .not_before = prepared.not_before,
                         .not_after = prepared.not_after};
  }
  return der;
}

core::Result<Certificate> ToCertificate(core::Result<std::string> der) {
  if (!der) {
    return der.error();
  }
  return Certificate::FromDer(*der);
}

}  // namespace

core::Result<Profile> ParseProfile(std::string_view name) {
  static constexpr std::array<Profile, 7> kAll = {
      Profile::kRootCa, Profile::kIntermediateCa, Profile::kServer,     Profile::kClient,
      Profile::kPeer,   Profile::kOcspSigner,     Profile::kAuditSigner};
  for (Profile p : kAll) {
    if (name == ProfileName(p)) {
      return p;
    }
  }
  return Fail(ErrorCode::kInvalidArgument,
              "unknown profile " + QuoteName(name) +
                  " (use root-ca, intermediate-ca, server, client, peer, ocsp-signer or "
                  "audit-signer)");
}

const char* ProfileName(Profile profile) {
  switch (profile) {
    case Profile::kRootCa:
      return "root-ca";
    case Profile::kIntermediateCa:
      return "intermediate-ca";
    case Profile::kServer:
      return "server";
    case Profile::kClient:
      return "client";
    case Profile::kPeer:
      return "peer";
    case Profile::kOcspSigner:
      return "ocsp-signer";
    case Profile::kAuditSigner:
      return "audit-signer";
  }
  return "unknown";
}

IssueRequest MergeCsrRequest(const IssueRequest& request, std::string_view csr_common_name,
                             const SubjectAttributes& csr_subject_attributes,
                             const SubjectAltNames& csr_sans) {
  IssueRequest merged = request;
  if (merged.common_name.empty()) {
    merged.common_name = std::string(csr_common_name);
  }
  if (merged.subject_extra.empty()) {
    merged.subject_extra = csr_subject_attributes;
  }
  auto append = [](std::vector<std::string>& to, const std::vector<std::string>& from) {
    to.insert(to.end(), from.begin(), from.end());
  };
  append(merged.sans.dns, csr_sans.dns);
  append(merged.sans.ips, csr_sans.ips);
  append(merged.sans.uris, csr_sans.uris);
  append(merged.sans.emails, csr_sans.emails);
  return merged;
}

core::Result<Issuer> Issuer::Create(Certificate ca_cert, PrivateKey ca_key,
                                    std::vector<Certificate> chain) {
  X509* x = ca_cert.get();
  auto state = std::make_shared<IssuerState>();
  state->subject = internal::NameToString(X509_get_subject_name(x));
  const std::uint32_t flags = X509_get_extension_flags(x);
  if ((flags & EXFLAG_BCONS) == 0 || (flags & EXFLAG_CA) == 0) {
    return Fail(ErrorCode::kNotCa, "certificate " + Quoted(state->subject) +
                                       " is not a CA (no BasicConstraints CA:TRUE)");
  }
  if ((flags & EXFLAG_KUSAGE) != 0 && (X509_get_key_usage(x) & KU_KEY_CERT_SIGN) == 0) {
    return Fail(ErrorCode::kNotCa, "certificate " + Quoted(state->subject) +
                                       " may not sign certificates (KeyUsage lacks keyCertSign)");
  }
  EVP_PKEY* cert_key = X509_get0_pubkey(x);
  if (cert_key == nullptr || EVP_PKEY_eq(cert_key, ca_key.get()) != 1) {
    ossl::ClearErrors();
    return Fail(ErrorCode::kKeyMismatch,
                "the private key does not match certificate " + Quoted(state->subject));
  }
  CTLS_ASSIGN_OR_RETURN(state->md, internal::SigningDigest(ca_key.get()));
  state->name = ossl::Own(X509_NAME_dup(X509_get_subject_name(x)));
  if (!state->name) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot copy the issuer name");
  }
  if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(x); ski != nullptr) {
    state->key_id.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ski)),
                         static_cast<std::size_t>(ASN1_STRING_length(ski)));
  } else {
    CTLS_ASSIGN_OR_RETURN(state->key_id, internal::KeyIdentifier(X509_get_X509_PUBKEY(x)));
  }
  state->sign_template = MakeSignTemplate(ca_key.get(), state->md);
  if (!state->sign_template) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot set up signing with the issuer key");
  }
  state->not_before = FromAsn1(X509_get0_notBefore(x));
  state->not_after = FromAsn1(X509_get0_notAfter(x));
  state->path_len = X509_get_pathlen(x);
  std::vector<const X509*> cas{x};
  for (const Certificate& above : chain) {
    cas.push_back(above.get());
  }
  CTLS_ASSIGN_OR_RETURN(state->name_constraints, ChainNameConstraints::Read(cas));
  return Issuer(std::move(ca_cert), std::move(ca_key), std::move(chain), std::move(state));
}

core::Result<std::string> Issuer::IssueDer(const IssueRequest& request,
                                           const X509_PUBKEY* subject_spki, core::TimePoint now,
                                           core::Rng& rng) const {
  return IssueWith(*state_, key_.get(), request, subject_spki, now, rng);
}

core::Result<std::string> Issuer::IssueDer(const IssueRequest& request,
                                           const X509_PUBKEY* subject_spki, core::TimePoint now,
                                           core::Rng& rng, IssuedFacts* facts) const {
  return IssueWith(*state_, key_.get(), request, subject_spki, now, rng, facts);
}

core::Result<Certificate> Issuer::Issue(const IssueRequest& request, const PublicKey& subject_key,
                                        core::TimePoint now, core::Rng& rng) const {
  CTLS_RETURN_IF_ERROR(CheckKeyAcceptable(subject_key.get()));
  CTLS_ASSIGN_OR_RETURN(ossl::Ptr<X509_PUBKEY> spki, SpkiOf(subject_key.get()));
  return ToCertificate(IssueDer(request, spki.get(), now, rng));
}

core::Result<Certificate> Issuer::IssueFromCsr(const Csr& csr, const IssueRequest& request,
                                               core::TimePoint now, core::Rng& rng) const {
  // A Csr has a verified signature and an acceptable key (Csr::Parse / Csr::Create). Only its
  // CN, C, ST, L, O, OU and SANs are taken; IssueWith re-validates them.
  CTLS_ASSIGN_OR_RETURN(SubjectAttributes attributes, csr.subject_attributes());
  IssueRequest merged = MergeCsrRequest(request, csr.common_name(), attributes, csr.sans());
  return ToCertificate(IssueDer(merged, X509_REQ_get_X509_PUBKEY(csr.get()), now, rng));
}

core::Result<Certificate> SelfSign(const PrivateKey& key, const IssueRequest& request,
                                   core::TimePoint now, core::Rng& rng) {
  IssuerState self;
  self.self_signed = true;
  CTLS_ASSIGN_OR_RETURN(self.md, internal::SigningDigest(key.get()));
  CTLS_ASSIGN_OR_RETURN(ossl::Ptr<X509_PUBKEY> spki, SpkiOf(key.get()));
  return ToCertificate(IssueWith(self, key.get(), request, spki.get(), now, rng));
}

}  // namespace clustertls::pki
