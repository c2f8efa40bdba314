#include "pki/crl_builder.h"

#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "pki/crl.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::pki {
namespace {

using std::chrono::days;
using std::chrono::hours;

std::string Hex(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02zX", i);
  return buf;
}

// Reads back the entries OpenSSL finds in `der`, checking its signature with `issuer`'s key.
struct ParsedEntry {
  std::string serial_hex;
  long reason = -1;  // -1: no reasonCode
  std::int64_t time = 0;
};
std::vector<ParsedEntry> ReadBack(const std::string& der, const Certificate& issuer) {
  Crl crl = Must(Crl::Parse(der));
  EXPECT_EQ(X509_CRL_verify(crl.get(), X509_get0_pubkey(issuer.get())), 1);
  std::vector<ParsedEntry> out;
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    X509_REVOKED* r = sk_X509_REVOKED_value(revoked, i);
    ParsedEntry e;
    auto bn = ossl::Own(ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(r), nullptr));
    char* hex = BN_bn2hex(bn.get());
    e.serial_hex = hex;
    OPENSSL_free(hex);
    auto* reason = static_cast<ASN1_ENUMERATED*>(
        X509_REVOKED_get_ext_d2i(r, NID_crl_reason, nullptr, nullptr));
    if (reason != nullptr) {
      e.reason = ASN1_ENUMERATED_get(reason);
      ASN1_ENUMERATED_free(reason);
    }
    time_t t = 0;
    struct tm tm {};
    ASN1_TIME_to_tm(X509_REVOKED_get0_revocationDate(r), &tm);
    t = timegm(&tm);
    e.time = t;
    out.push_back(e);
  }
  return out;
}

TEST(RevocationReasonTest, ParsesRfc5280NamesCaseInsensitively) {
  EXPECT_EQ(*ParseRevocationReason("keyCompromise"), RevocationReason::kKeyCompromise);
  EXPECT_EQ(*ParseRevocationReason("SUPERSEDED"), RevocationReason::kSuperseded);
  EXPECT_EQ(*ParseRevocationReason("cessationOfOperation"),
            RevocationReason::kCessationOfOperation);
  auto bad = ParseRevocationReason("stolen");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("keyCompromise"), std::string::npos);
  EXPECT_STREQ(RevocationReasonName(RevocationReason::kRemoveFromCrl), "removeFromCRL");
}

TEST(CrlBuilderTest, EntriesReasonsAndExtensionsReadBackThroughOpenSsl) {
  TestPki pki = MakeTestPki();
  std::vector<CrlEntry> entries = {
      {.serial_hex = "01", .revoked_at = pki.now - hours(1),
       .reason = RevocationReason::kKeyCompromise},
      {.serial_hex = "80", .revoked_at = pki.now - hours(2)},  // needs a sign octet
      {.serial_hex = "00ABCDEF0123456789ABCDEF0123456789", .revoked_at = pki.now,
       .reason = RevocationReason::kSuperseded},
  };
  std::string der = Must(BuildCrl(pki.intermediate, pki.intermediate_key, entries,
                                  {.this_update = pki.now,
                                   .next_update = pki.now + days(7),
                                   .crl_number = 42}));
  auto parsed = ReadBack(der, pki.intermediate);
  ASSERT_EQ(parsed.size(), 3u);
  EXPECT_EQ(parsed[0].serial_hex, "01");
  EXPECT_EQ(parsed[0].reason, 1);
  EXPECT_EQ(parsed[0].time, (pki.now - hours(1)).time_since_epoch().count());
  EXPECT_EQ(parsed[1].serial_hex, "80");
  EXPECT_EQ(parsed[1].reason, -1);  // unspecified: no reasonCode (RFC 5280 5.3.1)
  EXPECT_EQ(parsed[2].serial_hex, "ABCDEF0123456789ABCDEF0123456789");
  EXPECT_EQ(parsed[2].reason, 4);

  Crl crl = Must(Crl::Parse(der));
  EXPECT_EQ(X509_CRL_get_version(crl.get()), X509_CRL_VERSION_2);
  auto* number = static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, nullptr, nullptr));
  ASSERT_NE(number, nullptr);
  EXPECT_EQ(ASN1_INTEGER_get(number), 42);
  ASN1_INTEGER_free(number);
  auto* akid = static_cast<AUTHORITY_KEYID*>(
      X509_CRL_get_ext_d2i(crl.get(), NID_authority_key_identifier, nullptr, nullptr));
  ASSERT_NE(akid, nullptr);
  ASSERT_NE(akid->keyid, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(akid->keyid, X509_get0_subject_key_id(pki.intermediate.get())),
            0);
  AUTHORITY_KEYID_free(akid);
  EXPECT_EQ(crl.issuer(), pki.intermediate.subject());
}

TEST(CrlBuilderTest, EmptyCrlOmitsTheListAndVerifies) {
  TestPki pki = MakeTestPki();
  std::string der = Must(BuildCrl(pki.intermediate, pki.intermediate_key, {},
                                  {.this_update = pki.now, .next_update = pki.now + days(1)}));
  EXPECT_TRUE(ReadBack(der, pki.intermediate).empty());
}

TEST(CrlBuilderTest, EveryIssuerKeyTypeSigns) {
  for (KeyType type : {KeyType::kEcP384, KeyType::kRsa2048, KeyType::kEd25519}) {
    TestPki pki = MakeTestPki({.root_key_type = type, .intermediate_key_type = type});
    std::vector<CrlEntry> entries = {{.serial_hex = "1234", .revoked_at = pki.now}};
    std::string der = Must(BuildCrl(pki.intermediate, pki.intermediate_key, entries,
                                    {.this_update = pki.now, .next_update = pki.now + days(1)}));
    EXPECT_EQ(ReadBack(der, pki.intermediate).size(), 1u) << KeyTypeName(type);
  }
}

TEST(CrlBuilderTest, ManyEntriesUseLongFormLengths) {
  TestPki pki = MakeTestPki();
  std::vector<CrlEntry> entries;
  for (std::size_t i = 1; i <= 20000; ++i) {
    entries.push_back({.serial_hex = Hex(i) + "C0FFEE", .revoked_at = pki.now,
                       .reason = RevocationReason::kCessationOfOperation});
  }
  std::string der = Must(BuildCrl(pki.intermediate, pki.intermediate_key, entries,
                                  {.this_update = pki.now, .next_update = pki.now + days(7)}));
  auto parsed = ReadBack(der, pki.intermediate);
  ASSERT_EQ(parsed.size(), entries.size());
  EXPECT_EQ(parsed.back().serial_hex, Hex(20000) + "C0FFEE");
}

TEST(CrlBuilderTest, RefusesBadInput) {
  TestPki pki = MakeTestPki();
  CrlOptions ok{.this_update = pki.now, .next_update = pki.now + days(1)};
  std::vector<CrlEntry> bad_serial = {{.serial_hex = "12XZ", .revoked_at = pki.now}};
  auto r = BuildCrl(pki.intermediate, pki.intermediate_key, bad_serial, ok);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("12XZ"), std::string::npos);

  std::vector<CrlEntry> empty_serial = {{.serial_hex = "", .revoked_at = pki.now}};
  EXPECT_FALSE(BuildCrl(pki.intermediate, pki.intermediate_key, empty_serial, ok));

  auto backwards = BuildCrl(pki.intermediate, pki.intermediate_key, {},
                            {.this_update = pki.now, .next_update = pki.now});
  ASSERT_FALSE(backwards);
  EXPECT_EQ(backwards.error().code, core::ErrorCode::kInvalidArgument);

  auto mismatch = BuildCrl(pki.intermediate, pki.root_key, {}, ok);
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, core::ErrorCode::kKeyMismatch);

  TestLeaf leaf = IssueLeaf(pki, "leaf.example.com");
  auto not_ca = BuildCrl(leaf.cert, leaf.key, {}, ok);
  ASSERT_FALSE(not_ca);
  EXPECT_EQ(not_ca.error().code, core::ErrorCode::kNotCa);
}

// `openssl verify -crl_check` judges our CRL: the revoked leaf is refused, the other accepted;
// `openssl crl` reads it and checks its signature.
TEST(CrlBuilderTest, OpensslVerifyHonoursTheCrl) {
  TestPki pki = MakeTestPki();
  TestLeaf revoked = IssueLeaf(pki, "revoked.example.com");
  TestLeaf good = IssueLeaf(pki, "good.example.com");
  std::vector<CrlEntry> entries = {{.serial_hex = revoked.cert.serial_hex(),
                                    .revoked_at = pki.now,
                                    .reason = RevocationReason::kKeyCompromise}};
  std::string der = Must(BuildCrl(pki.intermediate, pki.intermediate_key, entries,
                                  {.this_update = pki.now - hours(1),
                                   .next_update = pki.now + days(7),
                                   .crl_number = 7}));
  auto dir = std::filesystem::temp_directory_path() /
             ("ctls-crl-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& data) {
    std::ofstream(dir / name, std::ios::binary) << data;
    return (dir / name).string();
  };
  std::string crl_pem = Must(Crl::Parse(der)).ToPem();
  std::string ca = write("ca.pem", pki.root.ToPem());
  std::string untrusted = write("int.pem", pki.intermediate.ToPem());
  std::string crl = write("crl.pem", crl_pem);
  std::string bad = write("bad.pem", revoked.cert.ToPem());
  std::string ok = write("ok.pem", good.cert.ToPem());
  std::string at = " -attime " + std::to_string(pki.now.time_since_epoch().count());
  std::string base = "openssl verify -crl_check -CAfile " + ca + " -untrusted " + untrusted +
                     " -CRLfile " + crl + at + " ";
  CommandResult refused = RunCommand(base + bad + " 2>&1");
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("revoked"), std::string::npos) << refused.output;
  CommandResult accepted = RunCommand(base + ok + " 2>&1");
  EXPECT_EQ(accepted.exit_code, 0) << accepted.output;
  CommandResult text = RunCommand("openssl crl -in " + crl + " -CAfile " + untrusted +
                                  " -noout -text 2>&1");
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("verify OK"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("Key Compromise"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("X509v3 CRL Number"), std::string::npos) << text.output;
  // GnuTLS parses it too, and checks its signature against the issuing CA.
  CommandResult gnutls = RunCommand("certtool --crl-info --infile " + crl + " 2>&1");
  EXPECT_EQ(gnutls.exit_code, 0) << gnutls.output;
  EXPECT_NE(gnutls.output.find("Revoked certificates (1)"), std::string::npos) << gnutls.output;
  // certtool checks freshness against the wall clock (it has no -attime): a CRL valid for ten
  // years from the reference time.
  std::string long_crl = write(
      "long.pem", Must(Crl::Parse(Must(BuildCrl(pki.intermediate, pki.intermediate_key, entries,
                                                {.this_update = pki.now - hours(1),
                                                 .next_update = pki.now + days(3650),
                                                 .crl_number = 8}))))
                      .ToPem());
  CommandResult gnutls_verify = RunCommand("certtool --verify-crl --load-ca-certificate " +
                                           untrusted + " --infile " + long_crl + " 2>&1");
  EXPECT_EQ(gnutls_verify.exit_code, 0) << gnutls_verify.output;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace clustertls::pki
