// pki::PrivateKey::Parse (PEM or DER: PKCS#1, SEC1, PKCS#8 and encrypted PKCS#8, with and
// without a passphrase) and PublicKey::FromSpkiDer, on keys users hand to the CLI and the
// server (PUT /v1/cluster/update_cert). What is accepted must survive ToDer -> Parse.

#include "fuzz_check.h"
#include "ossl/error.h"
#include "pki/key.h"

using namespace clustertls;

namespace {

void RoundTrip(const pki::PrivateKey& key) {
  auto der = key.ToDer();
  FUZZ_CHECK(der.has_value(), "ToDer failed: " + der.error().message);
  auto again = pki::PrivateKey::Parse(*der);
  FUZZ_CHECK(again.has_value(), "the key's own DER is refused: " + again.error().message);
  FUZZ_CHECK(again->Matches(key.public_key()), "the key changed through its DER");
  ossl::ClearErrors();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::AsView(data, size);
  if (auto key = pki::PrivateKey::Parse(in)) {
    RoundTrip(*key);
  }
  ossl::ClearErrors();
  if (auto key = pki::PrivateKey::Parse(in, "fixture-pass")) {
    RoundTrip(*key);
  }
  ossl::ClearErrors();
  if (auto pub = pki::PublicKey::FromSpkiDer(in)) {
    (void)pub->Describe();
    (void)pub->type();
    FUZZ_CHECK(!pub->SpkiDer().empty(), "an accepted SPKI with no DER");
  }
  ossl::ClearErrors();
  return 0;
}
