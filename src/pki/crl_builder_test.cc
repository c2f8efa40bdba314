#include "pki/crl_builder.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
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

// The TBSCertList's raw bytes: the first element of the CertificateList SEQUENCE.
std::string RawTbs(const std::string& der) {
  auto header = [&](std::size_t pos, std::size_t* len) {
    auto first = static_cast<unsigned char>(der.at(pos + 1));
    if (first < 0x80) {
      *len = first;
      return std::size_t{2};
    }
    std::size_t n = first & 0x7f;
    *len = 0;
    for (std::size_t i = 0; i < n; ++i) {
      *len = *len << 8 | static_cast<unsigned char>(der.at(pos + 2 + i));
    }
    return 2 + n;
  };
  std::size_t len = 0;
  std::size_t outer = header(0, &len);
  EXPECT_EQ(outer + len, der.size());
  std::size_t tbs_header = header(outer, &len);
  return der.substr(outer, tbs_header + len);
}

template <typename T, typename I2d>
std::string ToDer(T* object, I2d i2d) {
  unsigned char* p = nullptr;
  int n = i2d(object, &p);
  EXPECT_GT(n, 0);
  std::string out(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
  OPENSSL_free(p);
  return out;
}

// The entry as OpenSSL's ASN.1 encoder writes it, from OpenSSL objects: the reference the
// direct encoder (CrlEntryEncoder) must match octet for octet.
std::string OpensslEntry(const CrlEntry& e) {
  std::unique_ptr<X509_REVOKED, void (*)(X509_REVOKED*)> revoked(X509_REVOKED_new(),
                                                                 X509_REVOKED_free);
  BIGNUM* bn = nullptr;
  EXPECT_GT(BN_hex2bn(&bn, e.serial_hex.c_str()), 0) << e.serial_hex;
  auto serial = ossl::Own(BN_to_ASN1_INTEGER(bn, nullptr));
  BN_free(bn);
  auto time = ossl::Own(ASN1_TIME_set(nullptr, e.revoked_at.time_since_epoch().count()));
  EXPECT_EQ(X509_REVOKED_set_serialNumber(revoked.get(), serial.get()), 1);
  EXPECT_EQ(X509_REVOKED_set_revocationDate(revoked.get(), time.get()), 1);
  if (e.reason != RevocationReason::kUnspecified) {
    auto code = ossl::Own(ASN1_ENUMERATED_new());
    ASN1_ENUMERATED_set(code.get(), static_cast<long>(e.reason));
    EXPECT_EQ(X509_REVOKED_add1_ext_i2d(revoked.get(), NID_crl_reason, code.get(), 0, 0), 1);
  }
  return ToDer<X509_REVOKED>(revoked.get(), i2d_X509_REVOKED);
}

TEST(CrlBuilderTest, EncoderMatchesOpensslsEncodingOctetForOctet) {
  TestPki pki = MakeTestPki();
  using std::chrono::seconds;
  const core::TimePoint t2049 = core::TimePoint(seconds(2524607999));  // 2049-12-31 23:59:59
  const core::TimePoint t1949 = core::TimePoint(seconds(-631152001));  // 1949-12-31 23:59:59
  const std::vector<std::string> serials = {
      "0", "00", "1", "7F", "80", "FF", "0080", "00000001", "abcdef", "FEDCBA9876543210",
      "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", "8000000000000000000000000000000000",
      "00FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", "123", "0F0", "F"};
  const RevocationReason reasons[] = {
      RevocationReason::kUnspecified,          RevocationReason::kKeyCompromise,
      RevocationReason::kCaCompromise,         RevocationReason::kAffiliationChanged,
      RevocationReason::kSuperseded,           RevocationReason::kCessationOfOperation,
      RevocationReason::kCertificateHold,      RevocationReason::kRemoveFromCrl,
      RevocationReason::kPrivilegeWithdrawn,   RevocationReason::kAaCompromise};
  const core::TimePoint times[] = {pki.now, pki.now, pki.now + seconds(1), pki.now + days(1),
                                   t2049, t2049 + seconds(1), t1949, t1949 + seconds(1),
                                   core::TimePoint{}, pki.now - seconds(86399)};
  std::vector<CrlEntry> entries;
  for (std::size_t i = 0; i < 200; ++i) {
    entries.push_back({.serial_hex = serials[i % serials.size()],
                       .revoked_at = times[i % std::size(times)],
                       .reason = reasons[i % std::size(reasons)]});
  }
  std::string der = Must(BuildCrl(pki.intermediate, pki.intermediate_key, entries,
                                  {.this_update = pki.now, .next_update = pki.now + days(7)}));

  // revokedCertificates as OpenSSL encodes the same entries, in the TBSCertList right before
  // crlExtensions ([0]).
  std::string list;
  for (const CrlEntry& e : entries) {
    list += OpensslEntry(e);
  }
  std::string expected_list = "\x30\x82";
  expected_list.push_back(static_cast<char>(list.size() >> 8));
  expected_list.push_back(static_cast<char>(list.size() & 0xff));
  ASSERT_LT(list.size(), 65536u);
  expected_list += list;
  std::string tbs = RawTbs(der);
  std::size_t at = tbs.find(expected_list);
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(static_cast<unsigned char>(tbs.at(at + expected_list.size())), 0xa0);

  // OpenSSL's re-encoding of the parsed TBSCertList (i2d_re_* ignores the cached encoding) is
  // our TBSCertList, and the signature verifies.
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  auto crl = ossl::Own(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
  ASSERT_TRUE(crl);
  EXPECT_EQ(X509_CRL_verify(crl.get(), X509_get0_pubkey(pki.intermediate.get())), 1);
  EXPECT_EQ(ToDer<X509_CRL>(crl.get(), i2d_re_X509_CRL_tbs), tbs);
  EXPECT_EQ(ToDer<X509_CRL>(crl.get(), i2d_X509_CRL), der);

  // The encoder used directly gives the same CRL content.
  CrlEntryEncoder encoder;  // no size hint: the buffer grows
  for (const CrlEntry& e : entries) {
    ASSERT_TRUE(encoder.Add(e.serial_hex, e.revoked_at, e.reason));
  }
  EXPECT_EQ(encoder.size(), entries.size());
  std::string direct = Must(BuildEncodedCrl(pki.intermediate, pki.intermediate_key,
                                            std::move(encoder),
                                            {.this_update = pki.now,
                                             .next_update = pki.now + days(7)}));
  EXPECT_EQ(RawTbs(direct), tbs);

  // Bad serials are refused by Add, naming them; the encoder stays usable.
  CrlEntryEncoder refusing;
  for (const char* bad : {"", "12XZ", "G", "0x12", "1234567890123456789012345678901234567890123"}) {
    auto r = refusing.Add(bad, pki.now, RevocationReason::kUnspecified);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, core::ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("serial \"" + std::string(bad) + "\""), std::string::npos);
  }
  EXPECT_EQ(refusing.size(), 0u);
  ASSERT_TRUE(refusing.Add("01", pki.now, RevocationReason::kSuperseded));
  auto one = ReadBack(Must(BuildEncodedCrl(pki.intermediate, pki.intermediate_key,
                                           std::move(refusing),
                                           {.this_update = pki.now,
                                            .next_update = pki.now + days(1)})),
                      pki.intermediate);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].reason, 4);
}

// An issuer name (about 5.6 KB) longer than the room the encoder leaves in front of the entries.
TEST(CrlBuilderTest, LongIssuerNameStillEncodes) {
  PrivateKey key = Must(PrivateKey::Generate(KeyType::kEcP256));
  auto x = ossl::Own(X509_new());
  X509_NAME* name = X509_get_subject_name(x.get());
  for (int i = 0; i < 85; ++i) {
    std::string ou = std::string(60, 'u') + std::to_string(i);
    ASSERT_EQ(X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC,
                                         reinterpret_cast<const unsigned char*>(ou.c_str()), -1,
                                         -1, 0),
              1);
  }
  auto bc = ossl::Own(BASIC_CONSTRAINTS_new());
  bc->ca = 1;
  ASSERT_EQ(X509_set_version(x.get(), X509_VERSION_3), 1);
  ASSERT_EQ(ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 7), 1);
  ASSERT_EQ(X509_set_issuer_name(x.get(), name), 1);
  ASSERT_TRUE(X509_time_adj_ex(X509_getm_notBefore(x.get()), 0, 0, nullptr));
  ASSERT_TRUE(X509_time_adj_ex(X509_getm_notAfter(x.get()), 30, 0, nullptr));
  ASSERT_EQ(X509_set_pubkey(x.get(), key.get()), 1);
  ASSERT_EQ(X509_add1_ext_i2d(x.get(), NID_basic_constraints, bc.get(), 1, 0), 1);
  ASSERT_GT(X509_sign(x.get(), key.get(), EVP_sha256()), 0);
  Certificate issuer = Must(Certificate::FromDer(ToDer<X509>(x.get(), i2d_X509)));
  ASSERT_GT(issuer.subject().size(), 5000u);

  const core::TimePoint now = kTestReferenceTime;
  std::vector<CrlEntry> entries;
  for (std::size_t i = 1; i <= 3000; ++i) {
    char serial[16];
    std::snprintf(serial, sizeof serial, "%04zXAB", i);
    entries.push_back({.serial_hex = serial, .revoked_at = now,
                       .reason = RevocationReason::kKeyCompromise});
  }
  std::string der = Must(BuildCrl(issuer, key, entries,
                                  {.this_update = now, .next_update = now + days(1)}));
  auto parsed = ReadBack(der, issuer);
  ASSERT_EQ(parsed.size(), entries.size());
  EXPECT_EQ(parsed.back().serial_hex, "0BB8AB");
  EXPECT_EQ(Must(Crl::Parse(der)).issuer(), issuer.subject());
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
