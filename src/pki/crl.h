#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "ossl/ptr.h"
#include "pki/certificate.h"
#include "pki/crl_builder.h"

namespace clustertls::pki {

// An X.509 CRL: an immutable value sharing the underlying X509_CRL.
class Crl {
 public:
  // Parses one PEM ("X509 CRL") or DER CRL. Fails with kParse.
  static core::Result<Crl> Parse(std::string_view data);
  // Parses every CRL of a PEM bundle, or one DER CRL.
  static core::Result<std::vector<Crl>> ParseAll(std::string_view data);

  std::string ToDer() const;
  std::string ToPem() const;
  std::string issuer() const;
  // thisUpdate (RFC 5280 section 5.1.2.4).
  core::TimePoint this_update() const;
  // nextUpdate (section 5.1.2.5); nullopt when the CRL has none.
  std::optional<core::TimePoint> next_update() const;
  // The cRLNumber extension (section 5.2.3) in decimal (it may exceed 64 bits); nullopt when
  // absent.
  std::optional<std::string> crl_number() const;
  // The signature algorithm's long name, e.g. "ecdsa-with-SHA256".
  std::string signature_algorithm() const;
  // How many certificates the CRL lists.
  std::size_t revoked_count() const;
  // The revoked certificates in the order listed: serial (as `openssl x509 -serial` prints it),
  // revocation date and reasonCode (section 5.3.1; kUnspecified when absent). kParse naming the
  // entry for a reasonCode that is not an RFC 5280 reason.
  core::Result<std::vector<CrlEntry>> entries() const;
  // True if `issuer` is named as this CRL's issuer and its key verifies the signature.
  bool IsSignedBy(const Certificate& issuer) const;
  X509_CRL* get() const { return crl_.get(); }

 private:
  explicit Crl(std::shared_ptr<X509_CRL> crl) : crl_(std::move(crl)) {}
  std::shared_ptr<X509_CRL> crl_;
};

}  // namespace clustertls::pki
