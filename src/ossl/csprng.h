#pragma once

#include "core/rng.h"

namespace clustertls::ossl {

// The OpenSSL CSPRNG (RAND_bytes). Thread-safe; the only Rng production code uses.
class Csprng final : public core::Rng {
 public:
  core::Result<void> Fill(std::span<std::uint8_t> out) override;
};

}  // namespace clustertls::ossl
