#include "pki/crl.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "pki/certificate.h"

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

}  // namespace
}  // namespace clustertls::pki
