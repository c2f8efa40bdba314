// Differential target: the fast CSR parser (pki::ParseCsrFast) against the OpenSSL path
// (pki::Csr::Parse) on the same bytes. The server takes the fast path's fields when it accepts
// (pki::IssueFromCsrDer), so what the fast path accepts the OpenSSL path must accept with the same
// subject CN and attributes, SANs and public key. A fast-path refusal other than kUnsupported
// ("not on the fast path") must be an OpenSSL refusal too: a signature or an encoding that one
// accepts and the other does not would make the answer depend on the path taken.

#include "pki/csr.h"

#include <openssl/x509.h>

#include "fuzz_check.h"
#include "ossl/bio.h"
#include "ossl/error.h"
#include "pki/csr_fast.h"

using namespace clustertls;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::AsView(data, size);
  auto fast = pki::ParseCsrFast(in);
  ossl::ClearErrors();
  auto slow = pki::Csr::Parse(in);
  ossl::ClearErrors();
  if (fast) {
    FUZZ_CHECK(slow.has_value(), "the fast path accepts, OpenSSL refuses: " + slow.error().message);
    FUZZ_CHECK(fast->common_name == slow->common_name(),
               fast->common_name + " vs " + slow->common_name());
    auto attributes = slow->subject_attributes();
    FUZZ_CHECK(attributes.has_value(), "OpenSSL path: " + attributes.error().message);
    FUZZ_CHECK(*attributes == fast->subject_attributes, "subject attributes differ");
    FUZZ_CHECK(slow->sans() == fast->sans, "SANs differ");
    FUZZ_CHECK(ossl::ToDer(fast->spki.get(), i2d_X509_PUBKEY) == slow->public_key().SpkiDer(),
               "public keys differ");
    return 0;
  }
  if (slow && fast.error().code != core::ErrorCode::kUnsupported) {
    // The fast path reads DER only; a PEM (or BER that OpenSSL re-encodes) is not comparable.
    FUZZ_CHECK(slow->ToDer() != in,
               "OpenSSL accepts a DER CSR the fast path refuses: " + fast.error().message);
  }
  return 0;
}
