#pragma once

#include <string>
#include <string_view>

#include "ossl/ptr.h"

namespace clustertls::ossl {

// A read-only memory BIO over `data` (which must outlive the BIO).
Ptr<BIO> ReadBio(std::string_view data);

// An empty growable memory BIO for writing.
Ptr<BIO> WriteBio();

// The bytes written to a memory BIO so far.
std::string BioContents(BIO* bio);

// Encodes an OpenSSL ASN.1 object with its i2d function into a std::string ("" on failure).
template <typename T, typename Fn>
std::string ToDer(const T* obj, Fn i2d) {
  int len = i2d(obj, nullptr);
  if (len <= 0) {
    return {};
  }
  std::string out(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  if (i2d(obj, &p) != len) {
    return {};
  }
  return out;
}

}  // namespace clustertls::ossl
