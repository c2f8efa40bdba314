// Differential target: authority::SummarizeCertificateDer (a hand-written RFC 5280 walk used for
// the issuance records) against OpenSSL's d2i_X509 through pki::Certificate::FromDer. What the
// summary reads from a certificate OpenSSL also accepts must be what OpenSSL reads.

#include "authority/cert_summary.h"

#include "fuzz_check.h"
#include "ossl/error.h"
#include "pki/certificate.h"

using namespace clustertls;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::AsView(data, size);
  auto summary = authority::SummarizeCertificateDer(in);
  ossl::ClearErrors();
  if (!summary) {
    return 0;
  }
  (void)authority::SansJson(summary->sans);
  auto cert = pki::Certificate::FromDer(in);
  ossl::ClearErrors();
  if (!cert) {
    return 0;  // the summary is only ever run on certificates the CA has just signed
  }
  FUZZ_CHECK(summary->serial_hex == cert->serial_hex(),
             summary->serial_hex + " vs " + cert->serial_hex());
  FUZZ_CHECK(summary->common_name == cert->common_name(),
             summary->common_name + " vs " + cert->common_name());
  FUZZ_CHECK(summary->not_before == cert->not_before(), "notBefore differs");
  FUZZ_CHECK(summary->not_after == cert->not_after(), "notAfter differs");
  FUZZ_CHECK(summary->sans == cert->sans(), "SANs differ: " + authority::SansJson(summary->sans) +
                                                " vs " + authority::SansJson(cert->sans()));
  return 0;
}
