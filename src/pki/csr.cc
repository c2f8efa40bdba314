#include "pki/csr.h"

#include <openssl/pem.h>

#include "ossl/bio.h"
#include "ossl/error.h"
#include "pki/extensions.h"
#include "pki/names.h"

namespace clustertls::pki {

namespace {

using core::ErrorCode;

bool LooksLikePem(std::string_view data) {
  return data.find("-----BEGIN") != std::string_view::npos;
}

}  // namespace

core::Result<Csr> Csr::Create(const PrivateKey& key, const CsrOptions& options) {
  if (options.common_name.empty()) {
    return core::Fail(ErrorCode::kInvalidArgument, "a CSR needs a common name");
  }
  CTLS_ASSIGN_OR_RETURN(SubjectAltNames sans, CanonicalSans(options.sans));
  std::string cn = options.common_name;
  if (IsIpAddress(cn) || CanonicalDnsName(cn).has_value()) {
    CTLS_RETURN_IF_ERROR(AddCommonNameToSans(cn, sans));
    cn = IsIpAddress(cn) ? *CanonicalIp(cn) : *CanonicalDnsName(cn);
  }
  CTLS_ASSIGN_OR_RETURN(ossl::Ptr<X509_NAME> subject,
                        internal::BuildSubject(options.subject_extra, cn));
  CTLS_ASSIGN_OR_RETURN(const EVP_MD* md, internal::SigningDigest(key.get()));

  auto req = ossl::Own(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_subject_name(req.get(), subject.get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot build the CSR");
  }
  // RFC 2986 4.1 / RFC 2985 5.4.2: requested extensions go in the extensionRequest attribute.
  CTLS_ASSIGN_OR_RETURN(ossl::Ptr<GENERAL_NAMES> names, internal::BuildGeneralNames(sans));
  if (names) {
    STACK_OF(X509_EXTENSION)* raw = nullptr;
    int added = X509V3_add1_i2d(&raw, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT);
    ossl::ExtensionStack exts(raw);
    if (added != 1 || X509_REQ_add_extensions(req.get(), exts.get()) != 1) {
      return ossl::Failure(ErrorCode::kCrypto, "cannot add subjectAltName to the CSR");
    }
  }
  if (X509_REQ_sign(req.get(), key.get(), md) <= 0) {
    return ossl::Failure(ErrorCode::kCrypto, "cannot sign the CSR");
  }
  return Csr(ossl::Share(std::move(req)));
}

core::Result<Csr> Csr::Parse(std::string_view data) {
  ossl::Ptr<X509_REQ> req;
  if (LooksLikePem(data)) {
    auto bio = ossl::ReadBio(data);
    // Reads "CERTIFICATE REQUEST" and "NEW CERTIFICATE REQUEST" blocks.
    req = ossl::Own(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
    if (!req) {
      return ossl::Failure(ErrorCode::kParse, "no valid PEM certificate request found");
    }
  } else {
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    req = ossl::Own(d2i_X509_REQ(nullptr, &p, static_cast<long>(data.size())));
    if (!req) {
      return ossl::Failure(ErrorCode::kParse, "not a PEM or DER certificate request");
    }
    if (p != reinterpret_cast<const unsigned char*>(data.data()) + data.size()) {
      return core::Fail(ErrorCode::kParse, "trailing bytes after the DER certificate request");
    }
  }
  if (X509_REQ_get_version(req.get()) != X509_REQ_VERSION_1) {
    return core::Fail(ErrorCode::kParse, "CSR version is not 1 (RFC 2986 4.1)");
  }
  EVP_PKEY* pkey = X509_REQ_get0_pubkey(req.get());
  if (pkey == nullptr) {
    return ossl::Failure(ErrorCode::kWeakKey, "CSR public key is of an unsupported type");
  }
  CTLS_RETURN_IF_ERROR(CheckKeyAcceptable(pkey));
  // Always verified: a Csr value that exists has a valid signature.
  if (X509_REQ_verify(req.get(), pkey) != 1) {
    return ossl::Failure(ErrorCode::kBadSignature, "CSR signature does not verify");
  }
  return Csr(ossl::Share(std::move(req)));
}

std::string Csr::ToPem() const {
  auto bio = ossl::WriteBio();
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), req_.get()) != 1) {
    ossl::ClearErrors();
    return {};
  }
  return ossl::BioContents(bio.get());
}

std::string Csr::ToDer() const { return ossl::ToDer(req_.get(), i2d_X509_REQ); }

std::string Csr::subject() const {
  return internal::NameToString(X509_REQ_get_subject_name(req_.get()));
}

std::string Csr::common_name() const {
  return internal::LastCommonName(X509_REQ_get_subject_name(req_.get()));
}

core::Result<SubjectAttributes> Csr::subject_attributes() const {
  return internal::ReadSubjectAttributes(X509_REQ_get_subject_name(req_.get()));
}

SubjectAltNames Csr::sans() const {
  ossl::ExtensionStack exts(X509_REQ_get_extensions(req_.get()));
  if (!exts) {
    ossl::ClearErrors();
    return {};
  }
  auto names = ossl::Own(static_cast<GENERAL_NAMES*>(
      X509V3_get_d2i(exts.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (!names) {
    ossl::ClearErrors();
    return {};
  }
  return internal::ReadGeneralNames(names.get());
}

PublicKey Csr::public_key() const { return PublicKey::FromEvp(X509_REQ_get0_pubkey(req_.get())); }

}  // namespace clustertls::pki
