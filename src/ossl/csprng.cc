#include "ossl/csprng.h"

#include <openssl/rand.h>

#include "ossl/error.h"

namespace clustertls::ossl {

core::Result<void> Csprng::Fill(std::span<std::uint8_t> out) {
  if (out.empty()) {
    return {};
  }
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return Failure(core::ErrorCode::kCrypto, "the random number generator failed");
  }
  return {};
}

}  // namespace clustertls::ossl
