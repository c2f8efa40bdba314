// pki::ParseOcspRequest: the body of POST /ocsp and GET /ocsp/{base64} on the public listener,
// read from anyone on the network (RFC 6960 section 4.1).

#include "fuzz_check.h"
#include "ossl/error.h"
#include "pki/ocsp.h"

using namespace clustertls;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto request = pki::ParseOcspRequest(fuzz::AsView(data, size));
  ossl::ClearErrors();
  if (!request) {
    return 0;
  }
  FUZZ_CHECK(!request->ids.empty(), "a request without a CertID was accepted");
  for (const pki::OcspCertId& id : request->ids) {
    FUZZ_CHECK(!id.der.empty(), "a CertID without its DER");
    FUZZ_CHECK(!id.serial_hex.empty(), "a CertID without a serial");
  }
  if (request->nonce) {
    // The extnValue: an OCTET STRING header (2 or 3 bytes) and 1..128 octets.
    FUZZ_CHECK(
        request->nonce->size() >= 3 && request->nonce->size() <= pki::kMaxOcspNonceLength + 3,
        "nonce of " + std::to_string(request->nonce->size()) + " bytes accepted");
  }
  return 0;
}
