#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

#include "ossl/ptr.h"

namespace clustertls::ossl {

// A read-only memory BIO over `data` (which must outlive the BIO).
Ptr<BIO> ReadBio(std::string_view data);

// An empty growable memory BIO for writing.
Ptr<BIO> WriteBio();

// The bytes written to a memory BIO so far.
std::string BioContents(BIO* bio);

// The PEM text of DER bytes under `label` (RFC 7468: "-----BEGIN <label>-----", base64 in
// 64-character lines, "-----END <label>-----", each line ending in "\n"), byte for byte what
// PEM_write_bio writes, without decoding the DER and without a BIO (one allocation, so a CRL of
// tens of megabytes is encoded in tens of milliseconds).
std::string PemEncode(std::string_view label, std::string_view der);

// One PEM block's body (DER) and its 1-based position among all blocks of the text.
struct PemBlock {
  int index = 0;
  std::string der;
};

// Reads, in order, the PEM blocks of `data` whose label is one of `labels` (other blocks are
// skipped), stopping after `max` of them. Fails with kParse ("PEM block N is corrupt or
// truncated") on a block that does not decode; returns an empty vector when none matched.
core::Result<std::vector<PemBlock>> ReadPemBlocks(std::string_view data,
                                                  std::initializer_list<std::string_view> labels,
                                                  std::size_t max);

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
