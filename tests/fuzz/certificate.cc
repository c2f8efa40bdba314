// pki::Certificate's readers (FromDer, FromPem, ParseAll: uploaded chains, bundles, inspect) and
// every accessor on what they accept.

#include "pki/certificate.h"

#include "fuzz_check.h"
#include "ossl/error.h"

using namespace clustertls;

namespace {

void Touch(const pki::Certificate& c) {
  (void)c.subject();
  (void)c.issuer();
  (void)c.common_name();
  FUZZ_CHECK(!c.serial_hex().empty(), "empty serial");
  (void)c.not_before();
  (void)c.not_after();
  (void)c.sans();
  (void)c.is_ca();
  (void)c.path_len();
  (void)c.extended_key_usages();
  (void)c.key_usages();
  (void)c.extended_key_usage_extension();
  (void)c.key_usage_extension();
  (void)c.crl_urls();
  (void)c.ocsp_urls();
  (void)c.subject_key_id_hex();
  (void)c.authority_key_id_hex();
  (void)c.signature_algorithm();
  (void)c.public_key().Describe();
  (void)c.fingerprint();
  (void)c.IsSelfIssued();
  (void)c.IsSignedBy(c);
  (void)c.ToPem();
  ossl::ClearErrors();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::AsView(data, size);
  if (auto der = pki::Certificate::FromDer(in)) {
    Touch(*der);
    // OpenSSL re-encodes what it does not cache (the signature BIT STRING's unused bits are
    // cleared), so ToDer need not give the input back; it must give a certificate back.
    auto again = pki::Certificate::FromDer(der->ToDer());
    FUZZ_CHECK(again.has_value(), "FromDer refuses ToDer's output: " + again.error().message);
  }
  ossl::ClearErrors();
  if (auto pem = pki::Certificate::FromPem(in)) {
    Touch(*pem);
  }
  ossl::ClearErrors();
  if (auto all = pki::Certificate::ParseAll(in)) {
    FUZZ_CHECK(!all->empty(), "ParseAll succeeded with no certificate");
    for (const auto& c : *all) {
      Touch(c);
    }
  }
  ossl::ClearErrors();
  return 0;
}
