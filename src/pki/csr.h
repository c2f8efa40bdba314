#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "ossl/ptr.h"
#include "pki/certificate.h"
#include "pki/key.h"

namespace clustertls::pki {

struct CsrOptions {
  std::string common_name{};
  SubjectAttributes subject_extra{};  // placed before the CN
  SubjectAltNames sans{};             // canonicalised; the CN is added when it is a name
};

// A PKCS#10 certificate signing request: an immutable value. A Csr that exists has a verified
// signature: parsing always checks it.
class Csr {
 public:
  // Builds and signs a CSR with `key` (SHA-256, or pure Ed25519). Names are canonicalised
  // (kInvalidName on a bad one).
  static core::Result<Csr> Create(const PrivateKey& key, const CsrOptions& options);
  // Parses a PEM ("CERTIFICATE REQUEST" / "NEW CERTIFICATE REQUEST") or DER CSR and verifies its
  // signature (kBadSignature: "CSR signature does not verify"). The key is checked with
  // CheckKeyAcceptable (kWeakKey). Not a CSR: kParse.
  static core::Result<Csr> Parse(std::string_view data);

  std::string ToPem() const;
  std::string ToDer() const;

  std::string subject() const;
  std::string common_name() const;
  // The subject's C, ST, L, O, OU and DC in subject order (internal::ReadSubjectAttributes: other
  // attributes are skipped, values not yet checked). kParse if a value is not text.
  core::Result<SubjectAttributes> subject_attributes() const;
  // The requested SANs (from the extensionRequest attribute), as written in the CSR.
  SubjectAltNames sans() const;
  PublicKey public_key() const;
  X509_REQ* get() const { return req_.get(); }

 private:
  explicit Csr(std::shared_ptr<X509_REQ> req) : req_(std::move(req)) {}
  std::shared_ptr<X509_REQ> req_;
};

}  // namespace clustertls::pki
