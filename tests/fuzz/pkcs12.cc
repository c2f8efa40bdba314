// pki::ParsePkcs12: a PKCS#12 file given to `clustertls` to import (RFC 7292), with the
// fixtures' passphrase so that valid files get past the MAC into the bags.

#include "pki/pkcs12.h"

#include "fuzz_check.h"
#include "ossl/error.h"

using namespace clustertls;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto contents = pki::ParsePkcs12(fuzz::AsView(data, size), "fixture-pass");
  ossl::ClearErrors();
  if (contents && contents->key && contents->certificate) {
    (void)contents->key->Matches(contents->certificate->public_key());
    (void)contents->certificate->subject();
  }
  ossl::ClearErrors();
  return 0;
}
