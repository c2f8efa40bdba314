#include "pki/ocsp.h"

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include <array>

#include "ossl/error.h"
#include "pki/extensions.h"

namespace clustertls::pki {

namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;

const EVP_MD* Sha1() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  return md;
}

const EVP_MD* Sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

std::string Bytes(const ASN1_STRING* s) {
  if (s == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
}

std::string Digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (md == nullptr || EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

Result<ossl::Ptr<ASN1_TIME>> Asn1Time(core::TimePoint t) {
  auto time = ossl::Own(ASN1_TIME_set(nullptr, static_cast<time_t>(t.time_since_epoch().count())));
  if (!time) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot encode an OCSP time");
  }
  return time;
}

}  // namespace

Result<OcspRequest> ParseOcspRequest(std::string_view der) {
  if (der.empty()) {
    return Fail(ErrorCode::kParse, "empty OCSP request");
  }
  const auto* begin = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* p = begin;
  auto req = ossl::Own(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(der.size())));
  if (!req) {
    return ossl::Failure(ErrorCode::kParse, "not a DER OCSP request");
  }
  if (p != begin + der.size()) {
    return Fail(ErrorCode::kParse, "trailing data after the OCSP request");
  }
  int count = OCSP_request_onereq_count(req.get());
  if (count <= 0) {
    return Fail(ErrorCode::kParse, "the OCSP request holds no CertID");
  }
  OcspRequest out;
  out.ids.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    OCSP_CERTID* cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req.get(), i));
    ASN1_OCTET_STRING* name_hash = nullptr;
    ASN1_OBJECT* md = nullptr;
    ASN1_OCTET_STRING* key_hash = nullptr;
    ASN1_INTEGER* serial = nullptr;
    if (cid == nullptr || OCSP_id_get0_info(&name_hash, &md, &key_hash, &serial, cid) != 1) {
      return ossl::Failure(ErrorCode::kParse, "malformed CertID in the OCSP request");
    }
    OcspCertId id;
    switch (OBJ_obj2nid(md)) {
      case NID_sha1:
        id.hash = OcspHash::kSha1;
        break;
      case NID_sha256:
        id.hash = OcspHash::kSha256;
        break;
      default:
        return Fail(ErrorCode::kUnsupported,
                    "OCSP CertID hash algorithm is neither SHA-1 nor SHA-256");
    }
    id.issuer_name_hash = Bytes(name_hash);
    id.issuer_key_hash = Bytes(key_hash);
    id.serial_hex = SerialHex(serial);
    id.der = internal::ToDerOnePass(cid, i2d_OCSP_CERTID);
    if (id.der.empty()) {
      return ossl::Failure(ErrorCode::kParse, "cannot re-encode the OCSP CertID");
    }
    out.ids.push_back(std::move(id));
  }
  // RFC 6960 section 4.4.1 as RFC 9654 section 2.1 replaces it: the extnValue holds the DER
  // of Nonce ::= OCTET STRING (SIZE(1..128)); a request whose nonce is empty or longer is
  // refused (malformedRequest). The extnValue is echoed as it came.
  int idx = OCSP_REQUEST_get_ext_by_NID(req.get(), NID_id_pkix_OCSP_Nonce, -1);
  if (idx >= 0) {
    if (OCSP_REQUEST_get_ext_by_NID(req.get(), NID_id_pkix_OCSP_Nonce, idx) >= 0) {
      return Fail(ErrorCode::kParse, "the OCSP request holds more than one nonce extension");
    }
    std::string value = Bytes(X509_EXTENSION_get_data(OCSP_REQUEST_get_ext(req.get(), idx)));
    const auto* v = reinterpret_cast<const unsigned char*>(value.data());
    const unsigned char* q = v;
    auto nonce = ossl::Own(d2i_ASN1_OCTET_STRING(nullptr, &q, static_cast<long>(value.size())));
    if (!nonce || q != v + value.size()) {
      ossl::ClearErrors();
      return Fail(ErrorCode::kParse,
                  "the OCSP nonce extension's value is not a DER OCTET STRING (RFC 9654 2.1)");
    }
    const int length = ASN1_STRING_length(nonce.get());
    if (length < 1 || static_cast<std::size_t>(length) > kMaxOcspNonceLength) {
      return Fail(ErrorCode::kParse, "the OCSP nonce is " + std::to_string(length) +
                                         " octets; RFC 9654 2.1 allows 1 to " +
                                         std::to_string(kMaxOcspNonceLength));
    }
    out.nonce = std::move(value);
  }
  return out;
}

bool OcspIssuerHashes::Matches(const OcspCertId& id) const {
  if (id.hash == OcspHash::kSha1) {
    return id.issuer_name_hash == sha1_name && id.issuer_key_hash == sha1_key;
  }
  return id.issuer_name_hash == sha256_name && id.issuer_key_hash == sha256_key;
}

OcspIssuerHashes IssuerHashes(const Certificate& issuer) {
  std::string name =
      internal::ToDerOnePass(X509_get_subject_name(issuer.get()), i2d_X509_NAME);
  const ASN1_BIT_STRING* key = X509_get0_pubkey_bitstr(issuer.get());
  std::string key_bits = Bytes(key);
  return OcspIssuerHashes{.sha1_name = Digest(Sha1(), name),
                          .sha1_key = Digest(Sha1(), key_bits),
                          .sha256_name = Digest(Sha256(), name),
                          .sha256_key = Digest(Sha256(), key_bits)};
}

Result<std::string> BuildOcspResponse(const OcspSigner& signer,
                                      std::span<const OcspSingleResponse> answers,
                                      const std::optional<std::string>& nonce) {
  if (answers.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "an OCSP response needs at least one answer");
  }
  auto basic = ossl::Own(OCSP_BASICRESP_new());
  if (!basic) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot allocate an OCSP response");
  }
  for (const OcspSingleResponse& a : answers) {
    if (a.id == nullptr) {
      return Fail(ErrorCode::kInvalidArgument, "an OCSP answer has no CertID");
    }
    const auto* p = reinterpret_cast<const unsigned char*>(a.id->der.data());
    auto cid = ossl::Own(d2i_OCSP_CERTID(nullptr, &p, static_cast<long>(a.id->der.size())));
    if (!cid) {
      return ossl::Failure(ErrorCode::kInvalidArgument, "an OCSP answer's CertID is malformed");
    }
    CTLS_ASSIGN_OR_RETURN(auto this_update, Asn1Time(a.this_update));
    CTLS_ASSIGN_OR_RETURN(auto next_update, Asn1Time(a.next_update));
    int status = V_OCSP_CERTSTATUS_UNKNOWN;
    int reason = OCSP_REVOKED_STATUS_NOSTATUS;
    ossl::Ptr<ASN1_TIME> revoked_at;
    if (a.status == OcspCertStatus::kGood) {
      status = V_OCSP_CERTSTATUS_GOOD;
    } else if (a.status == OcspCertStatus::kRevoked) {
      status = V_OCSP_CERTSTATUS_REVOKED;
      CTLS_ASSIGN_OR_RETURN(revoked_at, Asn1Time(a.revoked_at));
      if (a.reason != RevocationReason::kUnspecified) {
        reason = static_cast<int>(a.reason);
      }
    }
    if (OCSP_basic_add1_status(basic.get(), cid.get(), status, reason, revoked_at.get(),
                               this_update.get(), next_update.get()) == nullptr) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot add an OCSP answer");
    }
  }
  if (nonce.has_value()) {
    auto value = ossl::Own(ASN1_STRING_type_new(V_ASN1_OCTET_STRING));
    if (!value ||
        ASN1_OCTET_STRING_set(value.get(), reinterpret_cast<const unsigned char*>(nonce->data()),
                              static_cast<int>(nonce->size())) != 1) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot copy the OCSP nonce");
    }
    auto ext = ossl::Own(
        X509_EXTENSION_create_by_NID(nullptr, NID_id_pkix_OCSP_Nonce, 0, value.get()));
    if (!ext || OCSP_BASICRESP_add_ext(basic.get(), ext.get(), -1) != 1) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot echo the OCSP nonce");
    }
  }
  CTLS_ASSIGN_OR_RETURN(const EVP_MD* md, internal::SigningDigest(signer.key.get()));
  // ResponderID byKey (RFC 6960 4.2.2.3); the responder certificate is included (4.2.2.2).
  if (OCSP_basic_sign(basic.get(), signer.certificate.get(), signer.key.get(), md, nullptr,
                      OCSP_RESPID_KEY) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot sign the OCSP response");
  }
  auto response =
      ossl::Own(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic.get()));
  if (!response) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot build the OCSP response");
  }
  std::string der = internal::ToDerOnePass(response.get(), i2d_OCSP_RESPONSE);
  if (der.empty()) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot encode the OCSP response");
  }
  return der;
}

const std::string& OcspErrorResponse(OcspErrorStatus status) {
  static const std::array<std::string, 7> kResponses = [] {
    std::array<std::string, 7> out;
    for (int s = 1; s < 7; ++s) {
      auto resp = ossl::Own(OCSP_response_create(s, nullptr));
      if (resp) {
        out[static_cast<std::size_t>(s)] = internal::ToDerOnePass(resp.get(), i2d_OCSP_RESPONSE);
      }
    }
    return out;
  }();
  return kResponses[static_cast<std::size_t>(status)];
}

}  // namespace clustertls::pki
