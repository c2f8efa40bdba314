#include "pki/csr_fast.h"

#include <openssl/asn1t.h>
#include <openssl/objects.h>

#include <array>
#include <memory>
#include <string>

#include "ossl/error.h"
#include "pki/csr.h"
#include "pki/extensions.h"

// PKCS#10 (RFC 2986 4.1) as an OpenSSL ASN.1 template. It mirrors OpenSSL's own X509_REQ
// template (crypto/x509/x_req.c) except for the SubjectPublicKeyInfo, which is a plain
// SEQUENCE { AlgorithmIdentifier, BIT STRING } here: X509_PUBKEY's template decodes the key
// eagerly through the provider decoders, the cost this parser exists to avoid.
namespace {

struct FastSpkiSt {
  X509_ALGOR* algor;
  ASN1_BIT_STRING* public_key;
};

struct FastReqInfoSt {
  ASN1_ENCODING enc;  // the original DER, which the signature covers
  ASN1_INTEGER* version;
  X509_NAME* subject;
  FastSpkiSt* pubkey;
  STACK_OF(X509_ATTRIBUTE) * attributes;
};

struct FastReqSt {
  FastReqInfoSt* info;
  X509_ALGOR* sig_alg;
  ASN1_BIT_STRING* signature;
};

// OpenSSL's template macros are laid out as in OpenSSL's own sources.
// clang-format off
// SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
ASN1_SEQUENCE(FastSpkiSt) = {
    ASN1_SIMPLE(FastSpkiSt, algor, X509_ALGOR),
    ASN1_SIMPLE(FastSpkiSt, public_key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(FastSpkiSt)

// CertificationRequestInfo ::= SEQUENCE { version, subject Name, subjectPKInfo,
//   attributes [0] IMPLICIT SET OF Attribute }. As in OpenSSL, the attributes are OPTIONAL to
// accept the requests of broken encoders; the original encoding is kept (ASN1_SEQUENCE_enc).
ASN1_SEQUENCE_enc(FastReqInfoSt, enc, 0) = {
    ASN1_SIMPLE(FastReqInfoSt, version, ASN1_INTEGER),
    ASN1_SIMPLE(FastReqInfoSt, subject, X509_NAME),
    ASN1_SIMPLE(FastReqInfoSt, pubkey, FastSpkiSt),
    ASN1_IMP_SET_OF_OPT(FastReqInfoSt, attributes, X509_ATTRIBUTE, 0),
} static_ASN1_SEQUENCE_END_ref(FastReqInfoSt, FastReqInfoSt)

// CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature }
ASN1_SEQUENCE(FastReqSt) = {
    ASN1_SIMPLE(FastReqSt, info, FastReqInfoSt),
    ASN1_SIMPLE(FastReqSt, sig_alg, X509_ALGOR),
    ASN1_SIMPLE(FastReqSt, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(FastReqSt)
// clang-format on

}  // namespace

namespace clustertls::pki {
namespace {

struct FastReqDeleter {
  void operator()(FastReqSt* req) const {
    ASN1_item_free(reinterpret_cast<ASN1_VALUE*>(req), ASN1_ITEM_rptr(FastReqSt));
  }
};
using FastReqPtr = std::unique_ptr<FastReqSt, FastReqDeleter>;

core::Error NotFast(const char* why) {
  return core::Fail(core::ErrorCode::kUnsupported, std::string("not on the fast path: ") + why);
}

// The OpenSSL group name of the curves the fast path takes (key.cc accepts the same two).
const char* FastGroupName(int curve_nid) {
  switch (curve_nid) {
    case NID_X9_62_prime256v1:
      return SN_X9_62_prime256v1;
    case NID_secp384r1:
      return SN_secp384r1;
    default:
      return nullptr;
  }
}

// Digest names for ECDSA signatures (RFC 5758 3.2); EVP_DigestVerifyInit_ex takes a name.
const char* FastDigestName(int md_nid) {
  switch (md_nid) {
    case NID_sha256:
      return OSSL_DIGEST_NAME_SHA2_256;
    case NID_sha384:
      return OSSL_DIGEST_NAME_SHA2_384;
    case NID_sha512:
      return OSSL_DIGEST_NAME_SHA2_512;
    default:
      return nullptr;
  }
}

// The domain parameters of a fast-path curve as an EVP_PKEY, built once with EVP_PKEY_fromdata
// and never changed afterwards. Null if OpenSSL cannot build them.
EVP_PKEY* MakeCurveTemplate(const char* group) {
  std::array<OSSL_PARAM, 2> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(group), 0),
      OSSL_PARAM_construct_end(),
  };
  auto ctx = ossl::Own(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_KEY_PARAMETERS, params.data()) <= 0) {
    ossl::ClearErrors();
    return nullptr;
  }
  return key;
}

EVP_PKEY* CurveTemplate(int curve_nid) {
  // Immutable after construction (only ever copied); intentionally never freed.
  static EVP_PKEY* const p256 = MakeCurveTemplate(FastGroupName(NID_X9_62_prime256v1));
  static EVP_PKEY* const p384 = MakeCurveTemplate(FastGroupName(NID_secp384r1));
  return curve_nid == NID_X9_62_prime256v1 ? p256 : curve_nid == NID_secp384r1 ? p384 : nullptr;
}

// Builds the public key from its encoded point (RFC 5480 2.2) on a named curve: a copy of the
// curve's parameters with the point set, which costs a third of a full EVP_PKEY_fromdata (that
// builds the EC_GROUP from scratch for every key). OpenSSL checks that the point is on the
// curve (EC_KEY_oct2key -> EC_POINT_oct2point).
core::Result<ossl::Ptr<EVP_PKEY>> EcPublicKey(int curve_nid, const ASN1_BIT_STRING* bits) {
  const unsigned char* point = ASN1_STRING_get0_data(bits);
  std::size_t point_len = static_cast<std::size_t>(ASN1_STRING_length(bits));
  if (point_len == 0 || point[0] == 0x00) {
    return core::Fail(core::ErrorCode::kParse, "CSR public key is not a valid EC point");
  }
  EVP_PKEY* curve = CurveTemplate(curve_nid);
  if (curve == nullptr) {
    return core::Fail(core::ErrorCode::kCrypto, "cannot set up the EC curve parameters");
  }
  auto key = ossl::Own(EVP_PKEY_dup(curve));
  if (!key) {
    return ossl::Failure(core::ErrorCode::kCrypto, "cannot copy the EC curve parameters");
  }
  if (EVP_PKEY_set_octet_string_param(key.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                      point_len) != 1) {
    return ossl::Failure(core::ErrorCode::kParse, "CSR public key is not a valid EC point");
  }
  return key;
}

// The extensions of the extensionRequest attribute (RFC 2985 5.4.2), found the way
// X509_REQ_get_extensions finds them (also the Microsoft OID). Null if there are none.
core::Result<ossl::ExtensionStack> RequestedExtensions(const STACK_OF(X509_ATTRIBUTE) * attrs) {
  for (int nid : {NID_ext_req, NID_ms_ext_req}) {
    for (int i = 0; i < sk_X509_ATTRIBUTE_num(attrs); ++i) {
      X509_ATTRIBUTE* attr = sk_X509_ATTRIBUTE_value(attrs, i);
      if (OBJ_obj2nid(X509_ATTRIBUTE_get0_object(attr)) != nid) {
        continue;
      }
      const ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(attr, 0);
      if (value == nullptr || value->type != V_ASN1_SEQUENCE) {
        return core::Fail(core::ErrorCode::kParse, "CSR extensionRequest is malformed");
      }
      auto* exts = static_cast<STACK_OF(X509_EXTENSION)*>(
          ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(X509_EXTENSIONS), value));
      if (exts == nullptr) {
        return ossl::Failure(core::ErrorCode::kParse, "CSR extensionRequest is malformed");
      }
      return ossl::ExtensionStack(exts);
    }
  }
  return ossl::ExtensionStack();
}

// The requested SANs, read as Csr::sans reads them. Malformed or repeated SAN extensions are
// errors here (the slow path then decides).
core::Result<SubjectAltNames> RequestedSans(const STACK_OF(X509_ATTRIBUTE) * attrs) {
  CTLS_ASSIGN_OR_RETURN(ossl::ExtensionStack exts, RequestedExtensions(attrs));
  if (!exts) {
    return SubjectAltNames{};
  }
  int critical = 0;
  auto names = ossl::Own(static_cast<GENERAL_NAMES*>(
      X509V3_get_d2i(exts.get(), NID_subject_alt_name, &critical, nullptr)));
  if (!names) {
    if (critical == -1) {
      return SubjectAltNames{};  // no SAN extension
    }
    return ossl::Failure(core::ErrorCode::kParse, "CSR subjectAltName extension is malformed");
  }
  return internal::ReadGeneralNames(names.get());
}

}  // namespace

core::Result<FastCsr> ParseCsrFast(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const auto* end = p + der.size();
  FastReqPtr req(reinterpret_cast<FastReqSt*>(
      ASN1_item_d2i(nullptr, &p, static_cast<long>(der.size()), ASN1_ITEM_rptr(FastReqSt))));
  if (!req) {
    return ossl::Failure(core::ErrorCode::kParse, "not a DER certificate request");
  }
  if (p != end) {
    return core::Fail(core::ErrorCode::kParse, "trailing bytes after the DER certificate request");
  }
  const FastReqInfoSt* info = req->info;
  if (ASN1_INTEGER_get(info->version) != 0) {
    return NotFast("CSR version is not 1");
  }

  // Key: id-ecPublicKey with a named curve (RFC 5480 2.1.1); anything else (other types,
  // explicit parameters) goes through the slow path, which refuses what it must.
  const ASN1_OBJECT* key_oid = nullptr;
  int param_type = 0;
  const void* param = nullptr;
  X509_ALGOR_get0(&key_oid, &param_type, &param, info->pubkey->algor);
  if (OBJ_obj2nid(key_oid) != NID_X9_62_id_ecPublicKey) {
    return NotFast("key is not EC");
  }
  if (param_type != V_ASN1_OBJECT) {
    return NotFast("EC key without a named curve");
  }
  const int curve_nid = OBJ_obj2nid(static_cast<const ASN1_OBJECT*>(param));
  const char* group = FastGroupName(curve_nid);
  if (group == nullptr) {
    return NotFast("EC curve is not P-256 or P-384");
  }
  if (info->pubkey->public_key->flags & 0x07) {
    return core::Fail(core::ErrorCode::kParse, "CSR public key bit string has unused bits");
  }

  // Signature: ECDSA with SHA-2 (RFC 5758 3.2), over the original DER of the request info.
  const ASN1_OBJECT* sig_oid = nullptr;
  X509_ALGOR_get0(&sig_oid, nullptr, nullptr, req->sig_alg);
  int md_nid = NID_undef;
  int pkey_nid = NID_undef;
  if (OBJ_find_sigid_algs(OBJ_obj2nid(sig_oid), &md_nid, &pkey_nid) == 0 ||
      pkey_nid != NID_X9_62_id_ecPublicKey) {
    return NotFast("signature algorithm is not ECDSA");
  }
  const char* digest = FastDigestName(md_nid);
  if (digest == nullptr) {
    return NotFast("ECDSA digest is not SHA-256/384/512");
  }
  if (req->signature->flags & 0x07) {
    return core::Fail(core::ErrorCode::kBadSignature,
                      "CSR signature does not verify (bit string has unused bits)");
  }
  if (info->enc.enc == nullptr || info->enc.len <= 0) {
    return core::Fail(core::ErrorCode::kInternal, "CSR request info encoding was not kept");
  }
  CTLS_ASSIGN_OR_RETURN(ossl::Ptr<EVP_PKEY> key, EcPublicKey(curve_nid, info->pubkey->public_key));
  // The one authority on acceptable keys, as for Csr::Parse (P-256/P-384 pass by construction).
  CTLS_RETURN_IF_ERROR(CheckKeyAcceptable(key.get()));
  auto md_ctx = ossl::Own(EVP_MD_CTX_new());
  if (!md_ctx || EVP_DigestVerifyInit_ex(md_ctx.get(), nullptr, digest, nullptr, nullptr, key.get(),
                                         nullptr) <= 0) {
    return ossl::Failure(core::ErrorCode::kCrypto, "cannot set up CSR signature verification");
  }
  if (EVP_DigestVerify(md_ctx.get(), ASN1_STRING_get0_data(req->signature),
                       static_cast<std::size_t>(ASN1_STRING_length(req->signature)), info->enc.enc,
                       static_cast<std::size_t>(info->enc.len)) != 1) {
    ossl::ClearErrors();
    return core::Fail(core::ErrorCode::kBadSignature, "CSR signature does not verify");
  }

  FastCsr csr;
  csr.common_name = internal::LastCommonName(info->subject);
  CTLS_ASSIGN_OR_RETURN(csr.subject_attributes, internal::ReadSubjectAttributes(info->subject));
  CTLS_ASSIGN_OR_RETURN(csr.sans, RequestedSans(info->attributes));
  // Hand the key on as it was encoded: algorithm identifier and bit string, copied, not decoded.
  // The OIDs are OpenSSL's static objects of the NIDs checked above.
  csr.spki = ossl::Own(X509_PUBKEY_new());
  const ASN1_BIT_STRING* key_bits = info->pubkey->public_key;
  auto* bits = static_cast<unsigned char*>(
      OPENSSL_memdup(ASN1_STRING_get0_data(key_bits), ASN1_STRING_length(key_bits)));
  if (!csr.spki || bits == nullptr ||
      X509_PUBKEY_set0_param(csr.spki.get(), OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
                             OBJ_nid2obj(curve_nid), bits, ASN1_STRING_length(key_bits)) != 1) {
    OPENSSL_free(bits);
    return ossl::Failure(core::ErrorCode::kCrypto, "cannot copy the CSR public key");
  }
  return csr;
}

core::Result<std::string> IssueFromCsrDer(const Issuer& issuer, std::string_view csr_der,
                                          const IssueRequest& request, core::TimePoint now,
                                          core::Rng& rng) {
  return IssueFromCsrDer(issuer, csr_der, request, now, rng, nullptr);
}

core::Result<std::string> IssueFromCsrDer(const Issuer& issuer, std::string_view csr_der,
                                          const IssueRequest& request, core::TimePoint now,
                                          core::Rng& rng, IssuedFacts* facts) {
  auto fast = ParseCsrFast(csr_der);
  if (!fast) {
    // Other key types, and every failure: the slow path decides, so errors are its own.
    ossl::ClearErrors();
    CTLS_ASSIGN_OR_RETURN(Csr csr, Csr::Parse(csr_der));
    CTLS_ASSIGN_OR_RETURN(Certificate cert, issuer.IssueFromCsr(csr, request, now, rng));
    if (facts != nullptr) {
      *facts = IssuedFacts{.serial_hex = cert.serial_hex(),
                           .common_name = cert.common_name(),
                           .sans = cert.sans(),
                           .not_before = cert.not_before(),
                           .not_after = cert.not_after()};
    }
    return cert.ToDer();
  }
  // Issuer::IssueFromCsr is MergeCsrRequest + the IssueDer pipeline: the same two steps here.
  return issuer.IssueDer(
      MergeCsrRequest(request, fast->common_name, fast->subject_attributes, fast->sans),
      fast->spki.get(), now, rng, facts);
}

}  // namespace clustertls::pki
