// ossl::ReadPemBlocks, the PEM reader behind every PEM input (CSRs in request bodies, bundles,
// keys): whatever it returns must survive PemEncode -> ReadPemBlocks unchanged.

#include "fuzz_check.h"
#include "ossl/bio.h"
#include "ossl/error.h"

using namespace clustertls;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::AsView(data, size);
  auto blocks = ossl::ReadPemBlocks(in, {"CERTIFICATE", "X509 CRL", "CERTIFICATE REQUEST"}, 8);
  ossl::ClearErrors();
  if (!blocks) {
    return 0;
  }
  FUZZ_CHECK(blocks->size() <= 8, "more blocks than asked for");
  int last = 0;
  for (const ossl::PemBlock& b : *blocks) {
    FUZZ_CHECK(b.index > last, "block indexes not increasing");
    last = b.index;
    auto again = ossl::ReadPemBlocks(ossl::PemEncode("CERTIFICATE", b.der), {"CERTIFICATE"}, 1);
    ossl::ClearErrors();
    FUZZ_CHECK(again.has_value() && again->size() == 1 && (*again)[0].der == b.der,
               "PemEncode -> ReadPemBlocks changed a block");
  }
  return 0;
}
