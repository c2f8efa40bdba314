#include "pki/crl.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "pki/certificate.h"
#include "pki/crl_builder.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::pki {
namespace {

using core::ErrorCode;

std::string ReadCrlFixture(const std::string& name) {
  std::ifstream in(std::string(CTLS_TESTDATA_DIR) + "/keys/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(CrlTest, ParsesOpensslPemCrl) {
  auto crl = Crl::Parse(ReadCrlFixture("crl-int.pem"));
  ASSERT_TRUE(crl) << crl.error().message;
  EXPECT_EQ(crl->issuer(), "CN=Fixture Intermediate CA,O=Fixture");
  EXPECT_EQ(crl->ToDer(), ReadCrlFixture("crl-int.der"));
  EXPECT_EQ(crl->ToPem(), ReadCrlFixture("crl-int.pem"));
}

TEST(CrlTest, ParsesOpensslDerCrlAndKeepsItsContent) {
  auto crl = Crl::Parse(ReadCrlFixture("crl-int.der"));
  ASSERT_TRUE(crl) << crl.error().message;
  // The CRL is the intermediate's and revokes the leaf (serial 03), as gen.sh made it.
  auto inter = Certificate::FromPem(ReadCrlFixture("chain-int.pem"));
  ASSERT_TRUE(inter);
  EXPECT_EQ(crl->issuer(), inter->subject());
  EXPECT_EQ(X509_CRL_verify(crl->get(), inter->public_key().get()), 1);
  auto leaf = Certificate::FromPem(ReadCrlFixture("chain-leaf.pem"));
  ASSERT_TRUE(leaf);
  X509_REVOKED* revoked = nullptr;
  EXPECT_EQ(X509_CRL_get0_by_cert(crl->get(), &revoked, leaf->get()), 1);
  EXPECT_EQ(X509_CRL_get0_by_cert(crl->get(), &revoked, inter->get()), 0);
}

TEST(CrlTest, ParseAllReadsEveryCrlOfABundleAndSkipsOtherBlocks) {
  std::string pem = ReadCrlFixture("crl-int.pem");
  std::string bundle = pem + ReadCrlFixture("chain-leaf.pem") + pem;
  auto crls = Crl::ParseAll(bundle);
  ASSERT_TRUE(crls) << crls.error().message;
  ASSERT_EQ(crls->size(), 2u);
  EXPECT_EQ((*crls)[0].ToDer(), (*crls)[1].ToDer());
  auto one = Crl::ParseAll(ReadCrlFixture("crl-int.der"));
  ASSERT_TRUE(one);
  EXPECT_EQ(one->size(), 1u);
  auto first = Crl::Parse(bundle);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->ToDer(), (*crls)[0].ToDer());
}

void ExpectCrlParseError(const std::string& data, const std::string& what,
                         const std::string& part = "") {
  auto one = Crl::Parse(data);
  ASSERT_FALSE(one) << what << " was accepted";
  EXPECT_EQ(one.error().code, ErrorCode::kParse) << what;
  EXPECT_NE(one.error().message.find(part), std::string::npos)
      << what << ": " << one.error().message;
  auto all = Crl::ParseAll(data);
  ASSERT_FALSE(all) << what << " was accepted by ParseAll";
  EXPECT_EQ(all.error().code, ErrorCode::kParse) << what;
}

TEST(CrlTest, RefusesBadInput) {
  std::string pem = ReadCrlFixture("crl-int.pem");
  std::string der = ReadCrlFixture("crl-int.der");
  ExpectCrlParseError("", "empty input");
  ExpectCrlParseError("garbage", "garbage", "not a valid DER CRL");
  ExpectCrlParseError(der.substr(0, der.size() / 2), "truncated DER", "not a valid DER CRL");
  ExpectCrlParseError(der + "x", "trailing bytes", "trailing data");
  ExpectCrlParseError(pem.substr(0, pem.size() / 2), "truncated PEM", "PEM block 1");
  ExpectCrlParseError(ReadCrlFixture("chain-leaf.pem"), "a certificate", "no PEM CRL found");
  ExpectCrlParseError(ReadCrlFixture("selfsigned-san.der"), "a DER certificate");
}

TEST(CrlTest, AccessorsReadAnOpensslCaCrl) {
  // gen.sh: `openssl ca -gencrl` with crlnumber 01, 30 days, the leaf (03) revoked for
  // keyCompromise.
  for (const char* file : {"crl-int.pem", "crl-int.der"}) {
    auto crl = Crl::Parse(ReadCrlFixture(file));
    ASSERT_TRUE(crl) << crl.error().message;
    EXPECT_EQ(crl->crl_number(), std::optional<std::string>("1")) << file;
    EXPECT_EQ(crl->signature_algorithm(), "ecdsa-with-SHA384") << file;
    ASSERT_TRUE(crl->next_update().has_value());
    EXPECT_EQ(*crl->next_update() - crl->this_update(), std::chrono::days(30)) << file;
    EXPECT_EQ(crl->revoked_count(), 1u);
    auto entries = crl->entries();
    ASSERT_TRUE(entries) << entries.error().message;
    ASSERT_EQ(entries->size(), 1u);
    EXPECT_EQ((*entries)[0].serial_hex, "03");
    EXPECT_EQ((*entries)[0].reason, RevocationReason::kKeyCompromise);
    EXPECT_EQ((*entries)[0].revoked_at, crl->this_update());
  }
}

TEST(CrlTest, AccessorsReadBackWhatBuildCrlWrote) {
  TestPki pki = MakeTestPki();
  const core::TimePoint revoked = pki.now - std::chrono::hours(3);
  std::vector<CrlEntry> written = {
      {.serial_hex = "0A1B", .revoked_at = revoked, .reason = RevocationReason::kSuperseded},
      {.serial_hex = "00FF", .revoked_at = revoked},
      {.serial_hex = "7C2D9E0F11223344556677889900AABBCCDDEEFF",
       .revoked_at = pki.now,
       .reason = RevocationReason::kAaCompromise},
  };
  std::string der =
      Must(BuildCrl(pki.intermediate, pki.intermediate_key, written,
                    {.this_update = pki.now,
                     .next_update = pki.now + std::chrono::days(7),
                     .crl_number = 9223372036854775807}));
  Crl crl = Must(Crl::Parse(der));
  EXPECT_EQ(crl.issuer(), pki.intermediate.subject());
  EXPECT_EQ(crl.this_update(), pki.now);
  EXPECT_EQ(crl.next_update(), std::optional<core::TimePoint>(pki.now + std::chrono::days(7)));
  EXPECT_EQ(crl.crl_number(), std::optional<std::string>("9223372036854775807"));
  EXPECT_EQ(crl.signature_algorithm(), "ecdsa-with-SHA256");
  EXPECT_EQ(crl.revoked_count(), 3u);
  std::vector<CrlEntry> read = Must(crl.entries());
  ASSERT_EQ(read.size(), 3u);
  EXPECT_EQ(read[0].serial_hex, "0A1B");
  EXPECT_EQ(read[0].reason, RevocationReason::kSuperseded);
  EXPECT_EQ(read[0].revoked_at, revoked);
  EXPECT_EQ(read[1].serial_hex, "FF");  // DER drops the leading zero octet, as openssl prints it
  EXPECT_EQ(read[1].reason, RevocationReason::kUnspecified);
  EXPECT_EQ(read[2].serial_hex, "7C2D9E0F11223344556677889900AABBCCDDEEFF");
  EXPECT_EQ(read[2].reason, RevocationReason::kAaCompromise);
  EXPECT_EQ(read[2].revoked_at, pki.now);
}

TEST(CrlTest, EmptyCrlWithoutNumberOrNextUpdate) {
  // A v1-style CRL made with OpenSSL's own API: no extensions, no nextUpdate, no entries.
  TestPki pki = MakeTestPki();
  auto x = ossl::Own(X509_CRL_new());
  ASSERT_TRUE(x);
  ASSERT_EQ(X509_CRL_set_issuer_name(x.get(), X509_get_subject_name(pki.intermediate.get())), 1);
  auto t = ossl::Own(ASN1_TIME_set(nullptr, static_cast<time_t>(pki.now.time_since_epoch().count())));
  ASSERT_EQ(X509_CRL_set1_lastUpdate(x.get(), t.get()), 1);
  ASSERT_GT(X509_CRL_sign(x.get(), pki.intermediate_key.get(), EVP_sha256()), 0);
  unsigned char* der = nullptr;
  int len = i2d_X509_CRL(x.get(), &der);
  ASSERT_GT(len, 0);
  std::string bytes(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  Crl crl = Must(Crl::Parse(bytes));
  EXPECT_EQ(crl.this_update(), pki.now);
  EXPECT_FALSE(crl.next_update().has_value());
  EXPECT_FALSE(crl.crl_number().has_value());
  EXPECT_EQ(crl.revoked_count(), 0u);
  EXPECT_TRUE(Must(crl.entries()).empty());
}

}  // namespace
}  // namespace clustertls::pki
