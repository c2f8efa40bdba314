#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "ossl/ptr.h"

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
  X509_CRL* get() const { return crl_.get(); }

 private:
  explicit Crl(std::shared_ptr<X509_CRL> crl) : crl_(std::move(crl)) {}
  std::shared_ptr<X509_CRL> crl_;
};

}  // namespace clustertls::pki
