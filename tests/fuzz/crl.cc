// pki::Crl's readers (Parse, ParseAll: `inspect`, `verify --crl`, the offline CA) and the
// accessors on what they accept.

#include "pki/crl.h"

#include "fuzz_check.h"
#include "ossl/error.h"

using namespace clustertls;

namespace {

void Touch(const pki::Crl& crl) {
  (void)crl.ToDer();
  (void)crl.ToPem();
  (void)crl.issuer();
  (void)crl.this_update();
  (void)crl.next_update();
  (void)crl.crl_number();
  (void)crl.signature_algorithm();
  const std::size_t count = crl.revoked_count();
  if (auto entries = crl.entries()) {
    FUZZ_CHECK(entries->size() == count, "entries() and revoked_count() disagree");
  }
  ossl::ClearErrors();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::AsView(data, size);
  if (auto crl = pki::Crl::Parse(in)) {
    Touch(*crl);
  }
  ossl::ClearErrors();
  if (auto all = pki::Crl::ParseAll(in)) {
    for (const auto& c : *all) {
      Touch(c);
    }
  }
  ossl::ClearErrors();
  return 0;
}
