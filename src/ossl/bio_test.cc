#include "ossl/bio.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <string>

namespace clustertls::ossl {
namespace {

// What OpenSSL's own PEM writer produces for the same bytes.
std::string OpenSslPem(const char* label, const std::string& der) {
  auto bio = WriteBio();
  EXPECT_GT(PEM_write_bio(bio.get(), label, "", reinterpret_cast<const unsigned char*>(der.data()),
                          static_cast<long>(der.size())),
            0);
  return BioContents(bio.get());
}

TEST(PemEncodeTest, IsByteForByteWhatPemWriteBioWrites) {
  for (std::size_t size : {1u, 2u, 3u, 47u, 48u, 49u, 95u, 96u, 97u, 1000u, 100000u}) {
    std::string der(size, '\0');
    for (std::size_t i = 0; i < size; ++i) {
      der[i] = static_cast<char>((i * 131 + 7) & 0xff);
    }
    EXPECT_EQ(PemEncode("X509 CRL", der), OpenSslPem("X509 CRL", der)) << "size " << size;
  }
}

TEST(PemEncodeTest, RoundTripsThroughReadPemBlocks) {
  std::string der = "\x30\x03\x0a\x01\x01";
  std::string pem = PemEncode("CERTIFICATE", der);
  EXPECT_EQ(pem, "-----BEGIN CERTIFICATE-----\nMAMKAQE=\n-----END CERTIFICATE-----\n");
  auto blocks = ReadPemBlocks(pem, {"CERTIFICATE"}, 10);
  ASSERT_TRUE(blocks);
  ASSERT_EQ(blocks->size(), 1u);
  EXPECT_EQ((*blocks)[0].der, der);
}

}  // namespace
}  // namespace clustertls::ossl
