#pragma once

#include <cstdint>
#include <span>

#include "core/result.h"

namespace clustertls::core {

// A source of randomness, passed in wherever randomness is used. Production code uses the
// OpenSSL CSPRNG (ossl::Csprng); nothing else is acceptable for serials or secrets.
class Rng {
 public:
  virtual ~Rng() = default;
  // Fills `out` with random bytes; fails with kCrypto if the generator is not seeded.
  virtual Result<void> Fill(std::span<std::uint8_t> out) = 0;
};

}  // namespace clustertls::core
