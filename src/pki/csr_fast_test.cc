#include "pki/csr_fast.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ossl/bio.h"
#include "ossl/csprng.h"
#include "pki/csr.h"
#include "pki/issuer.h"
#include "pki/key.h"
#include "pki/names.h"

namespace clustertls::pki {
namespace {

using core::ErrorCode;

const core::TimePoint kNow = *core::ParseTime("2025-06-01T12:00:00Z");

// A CSR laid out with plain OpenSSL calls, so that tests can ask for what Csr::Create never
// writes: odd curves, CA:TRUE and other extensions, names the issuer must refuse.
std::string RawCsrDer(EVP_PKEY* key, const std::string& cn, const std::string& san_conf,
                      bool extra_extensions = false) {
  auto req = ossl::Own(X509_REQ_new());
  EXPECT_EQ(X509_REQ_set_version(req.get(), X509_REQ_VERSION_1), 1);
  EXPECT_EQ(
      X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0),
      1);
  EXPECT_EQ(X509_REQ_set_pubkey(req.get(), key), 1);
  ossl::ExtensionStack exts(sk_X509_EXTENSION_new_null());
  auto add = [&](int nid, const char* value) {
    X509_EXTENSION* ext = X509V3_EXT_nconf_nid(nullptr, nullptr, nid, value);
    ASSERT_NE(ext, nullptr) << value;
    sk_X509_EXTENSION_push(exts.get(), ext);
  };
  if (!san_conf.empty()) {
    add(NID_subject_alt_name, san_conf.c_str());
  }
  if (extra_extensions) {
    add(NID_basic_constraints, "critical,CA:TRUE");
    add(NID_key_usage, "critical,keyCertSign,cRLSign");
    add(NID_ext_key_usage, "codeSigning");
    add(NID_netscape_comment, "copied?");
  }
  if (sk_X509_EXTENSION_num(exts.get()) > 0) {
    EXPECT_EQ(X509_REQ_add_extensions(req.get(), exts.get()), 1);
  }
  const EVP_MD* md = EVP_PKEY_is_a(key, "ED25519") ? nullptr : EVP_sha256();
  EXPECT_GT(X509_REQ_sign(req.get(), key, md), 0);
  return ossl::ToDer(req.get(), i2d_X509_REQ);
}

// One subject attribute of a raw CSR: OpenSSL's short name, the string type (MBSTRING_UTF8 to
// let OpenSSL check it, or a V_ASN1_* type to write the bytes as they are) and the value.
struct RawAttribute {
  std::string type;
  int string_type = MBSTRING_UTF8;
  std::string value;
};

// A CSR whose subject is `subject`, in that order, with no extension.
std::string RawSubjectCsrDer(EVP_PKEY* key, const std::vector<RawAttribute>& subject) {
  auto req = ossl::Own(X509_REQ_new());
  EXPECT_EQ(X509_REQ_set_version(req.get(), X509_REQ_VERSION_1), 1);
  for (const RawAttribute& a : subject) {
    EXPECT_EQ(X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), a.type.c_str(),
                                         a.string_type,
                                         reinterpret_cast<const unsigned char*>(a.value.data()),
                                         static_cast<int>(a.value.size()), -1, 0),
              1)
        << a.type;
  }
  EXPECT_EQ(X509_REQ_set_pubkey(req.get(), key), 1);
  EXPECT_GT(X509_REQ_sign(req.get(), key, EVP_sha256()), 0);
  return ossl::ToDer(req.get(), i2d_X509_REQ);
}

class CsrFastTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca_key = PrivateKey::Generate(KeyType::kEcP256);
    ASSERT_TRUE(ca_key) << ca_key.error().message;
    auto ca_cert = SelfSign(*ca_key,
                            {.profile = Profile::kRootCa,
                             .common_name = "Fast Path Test CA",
                             .validity = std::chrono::days(3650)},
                            kNow - std::chrono::hours(1), rng_);
    ASSERT_TRUE(ca_cert) << ca_cert.error().message;
    auto issuer = Issuer::Create(*ca_cert, *ca_key);
    ASSERT_TRUE(issuer) << issuer.error().message;
    issuer_.emplace(std::move(*issuer));
  }

  static PrivateKey Key(KeyType type) {
    auto key = PrivateKey::Generate(type);
    EXPECT_TRUE(key) << key.error().message;
    return *key;
  }

  std::string CsrDer(const PrivateKey& key) {
    auto csr = Csr::Create(key, {.common_name = "node1.example.com",
                                 .subject_extra = {{"O", "Example"}},
                                 .sans = {.dns = {"node1.example.com", "*.node1.example.com"},
                                          .ips = {"10.0.0.1", "2001:db8::1"},
                                          .uris = {"spiffe://example.com/node1"},
                                          .emails = {"ops@example.com"}}});
    EXPECT_TRUE(csr) << csr.error().message;
    return csr->ToDer();
  }

  // The slow path: Csr::Parse + Issuer::IssueFromCsr.
  core::Result<Certificate> Slow(std::string_view der, const IssueRequest& request) {
    CTLS_ASSIGN_OR_RETURN(Csr csr, Csr::Parse(der));
    return issuer_->IssueFromCsr(csr, request, kNow, rng_);
  }

  core::Result<Certificate> Fast(std::string_view der, const IssueRequest& request) {
    CTLS_ASSIGN_OR_RETURN(std::string cert_der,
                          IssueFromCsrDer(*issuer_, der, request, kNow, rng_));
    return Certificate::FromDer(cert_der);
  }

  // Both paths fail with the same code; returns it.
  ErrorCode BothFail(std::string_view der, const IssueRequest& request = {}) {
    auto slow = Slow(der, request);
    auto fast = Fast(der, request);
    EXPECT_FALSE(slow);
    EXPECT_FALSE(fast);
    if (slow || fast) {
      return ErrorCode::kInternal;
    }
    EXPECT_EQ(fast.error().code, slow.error().code) << fast.error().message;
    EXPECT_EQ(fast.error().message, slow.error().message);
    return fast.error().code;
  }

  ossl::Csprng rng_;
  std::optional<Issuer> issuer_;
};

// Every extension, in order, with criticality and value.
void ExpectSameExtensions(const Certificate& a, const Certificate& b) {
  ASSERT_EQ(X509_get_ext_count(a.get()), X509_get_ext_count(b.get()));
  for (int i = 0; i < X509_get_ext_count(a.get()); ++i) {
    X509_EXTENSION* ea = X509_get_ext(a.get(), i);
    X509_EXTENSION* eb = X509_get_ext(b.get(), i);
    EXPECT_EQ(OBJ_cmp(X509_EXTENSION_get_object(ea), X509_EXTENSION_get_object(eb)), 0) << i;
    EXPECT_EQ(X509_EXTENSION_get_critical(ea), X509_EXTENSION_get_critical(eb)) << i;
    EXPECT_EQ(ASN1_STRING_cmp(X509_EXTENSION_get_data(ea), X509_EXTENSION_get_data(eb)), 0) << i;
  }
}

void ExpectSameCertificate(const Certificate& fast, const Certificate& slow) {
  EXPECT_EQ(fast.subject(), slow.subject());
  EXPECT_EQ(fast.issuer(), slow.issuer());
  EXPECT_EQ(fast.common_name(), slow.common_name());
  EXPECT_EQ(fast.sans(), slow.sans());
  EXPECT_EQ(fast.not_before(), slow.not_before());
  EXPECT_EQ(fast.not_after(), slow.not_after());
  EXPECT_EQ(fast.is_ca(), slow.is_ca());
  EXPECT_EQ(fast.key_usages(), slow.key_usages());
  EXPECT_EQ(fast.extended_key_usages(), slow.extended_key_usages());
  EXPECT_EQ(fast.subject_key_id_hex(), slow.subject_key_id_hex());
  EXPECT_EQ(fast.authority_key_id_hex(), slow.authority_key_id_hex());
  EXPECT_EQ(fast.signature_algorithm(), slow.signature_algorithm());
  EXPECT_TRUE(fast.public_key().Equals(slow.public_key()));
  EXPECT_NE(fast.serial_hex(), slow.serial_hex());  // fresh random serials
  ExpectSameExtensions(fast, slow);
}

TEST_F(CsrFastTest, MatchesSlowPathForP256AndP384) {
  for (KeyType type : {KeyType::kEcP256, KeyType::kEcP384}) {
    SCOPED_TRACE(KeyTypeName(type));
    PrivateKey key = Key(type);
    std::string der = CsrDer(key);

    auto parsed = ParseCsrFast(der);  // the fast path really takes it
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->common_name, "node1.example.com");
    auto slow_csr = Csr::Parse(der);
    ASSERT_TRUE(slow_csr);
    EXPECT_EQ(parsed->sans, slow_csr->sans());
    EXPECT_EQ(ossl::ToDer(parsed->spki.get(), i2d_X509_PUBKEY), key.public_key().SpkiDer());

    IssueRequest request{.profile = Profile::kPeer,
                         .sans = {.dns = {"extra.example.com"}},
                         .validity = std::chrono::days(90)};
    auto fast = Fast(der, request);
    ASSERT_TRUE(fast) << fast.error().message;
    auto slow = Slow(der, request);
    ASSERT_TRUE(slow) << slow.error().message;
    ExpectSameCertificate(*fast, *slow);
    EXPECT_TRUE(fast->public_key().Equals(key.public_key()));
    EXPECT_TRUE(fast->IsSignedBy(issuer_->certificate()));
    EXPECT_EQ(fast->common_name(), "node1.example.com");
    EXPECT_EQ(fast->sans().dns, (std::vector<std::string>{"extra.example.com", "node1.example.com",
                                                          "*.node1.example.com"}));
    EXPECT_EQ(fast->sans().ips, (std::vector<std::string>{"10.0.0.1", "2001:db8::1"}));
    EXPECT_EQ(fast->not_after(), kNow + std::chrono::days(90));
  }
}

TEST_F(CsrFastTest, RequestCommonNameWinsOverTheCsrs) {
  PrivateKey key = Key(KeyType::kEcP256);
  std::string der = CsrDer(key);
  IssueRequest request{.profile = Profile::kServer, .common_name = "chosen.example.com"};
  auto fast = Fast(der, request);
  ASSERT_TRUE(fast) << fast.error().message;
  auto slow = Slow(der, request);
  ASSERT_TRUE(slow);
  EXPECT_EQ(fast->common_name(), "chosen.example.com");
  ExpectSameCertificate(*fast, *slow);
}

TEST_F(CsrFastTest, CopiesNothingButNamesFromTheCsr) {
  PrivateKey key = Key(KeyType::kEcP256);
  std::string der = RawCsrDer(key.get(), "web.example.com", "DNS:web.example.com",
                              /*extra_extensions=*/true);
  ASSERT_TRUE(ParseCsrFast(der));
  auto fast = Fast(der, {.profile = Profile::kServer});
  ASSERT_TRUE(fast) << fast.error().message;
  EXPECT_FALSE(fast->is_ca());
  EXPECT_EQ(fast->extended_key_usages(), std::vector<std::string>{"serverAuth"});
  EXPECT_EQ(fast->key_usages(), std::vector<std::string>{"digitalSignature"});
  EXPECT_EQ(X509_get_ext_by_NID(fast->get(), NID_netscape_comment, -1), -1);
  auto slow = Slow(der, {.profile = Profile::kServer});
  ASSERT_TRUE(slow);
  ExpectSameCertificate(*fast, *slow);
}

// Redis' and RabbitMQ's workflows: C, ST, L, O, OU and DC reach the certificate, in the CSR's order
// and the CN last, the same on both paths; other attributes are dropped.
TEST_F(CsrFastTest, KeepsTheDistinguishedNameOnBothPaths) {
  PrivateKey key = Key(KeyType::kEcP256);
  std::string der = RawSubjectCsrDer(key.get(), {{"C", MBSTRING_UTF8, "US"},
                                                 {"ST", MBSTRING_UTF8, "California"},
                                                 {"L", MBSTRING_UTF8, "San Francisco"},
                                                 {"O", MBSTRING_UTF8, "Example"},
                                                 {"OU", MBSTRING_UTF8, "ops"},
                                                 {"OU", MBSTRING_UTF8, "Zürich"},
                                                 {"emailAddress", MBSTRING_UTF8, "ops@example.com"},
                                                 {"DC", MBSTRING_UTF8, "example"},
                                                 {"serialNumber", MBSTRING_UTF8, "42"},
                                                 {"CN", MBSTRING_UTF8, "client1.example.com"}});
  auto parsed = ParseCsrFast(der);  // the fast path takes it: no fallback
  ASSERT_TRUE(parsed) << parsed.error().message;
  const SubjectAttributes want = {{"C", "US"},      {"ST", "California"}, {"L", "San Francisco"},
                                  {"O", "Example"}, {"OU", "ops"},        {"OU", "Zürich"},
                                  {"DC", "example"}};
  EXPECT_EQ(parsed->subject_attributes, want);
  auto csr = Csr::Parse(der);
  ASSERT_TRUE(csr);
  EXPECT_EQ(*csr->subject_attributes(), want);

  for (Profile profile : {Profile::kClient, Profile::kServer}) {
    auto fast = Fast(der, {.profile = profile});
    ASSERT_TRUE(fast) << fast.error().message;
    auto slow = Slow(der, {.profile = profile});
    ASSERT_TRUE(slow) << slow.error().message;
    ExpectSameCertificate(*fast, *slow);
    EXPECT_EQ(fast->subject(),
              "CN=client1.example.com,DC=example,OU=Zürich,OU=ops,O=Example,L=San Francisco,"
              "ST=California,C=US");
    EXPECT_EQ(ossl::ToDer(X509_get_subject_name(fast->get()), i2d_X509_NAME),
              ossl::ToDer(X509_get_subject_name(slow->get()), i2d_X509_NAME));
    // X.520: C is a PrintableString, DC an IA5String (RFC 4519); the others are UTF8String.
    const X509_NAME* subject = X509_get_subject_name(fast->get());
    ASSERT_EQ(X509_NAME_entry_count(subject), 8);
    EXPECT_EQ(ASN1_STRING_type(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, 6))),
              V_ASN1_IA5STRING);
    EXPECT_EQ(ASN1_STRING_type(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, 0))),
              V_ASN1_PRINTABLESTRING);
    EXPECT_EQ(ASN1_STRING_type(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, 3))),
              V_ASN1_UTF8STRING);
  }

  // The CN comes last even when the CSR puts it first; the others keep their order.
  std::string cn_first = RawSubjectCsrDer(key.get(), {{"CN", MBSTRING_UTF8, "a.example.com"},
                                                      {"O", MBSTRING_UTF8, "Example"},
                                                      {"C", MBSTRING_UTF8, "US"}});
  auto fast = Fast(cn_first, {});
  auto slow = Slow(cn_first, {});
  ASSERT_TRUE(fast && slow);
  EXPECT_EQ(fast->subject(), "CN=a.example.com,C=US,O=Example");
  ExpectSameCertificate(*fast, *slow);

  // Attributes of the request win over the CSR's, as its CN does.
  fast = Fast(der, {.subject_extra = {{"O", "Chosen"}}});
  slow = Slow(der, {.subject_extra = {{"O", "Chosen"}}});
  ASSERT_TRUE(fast && slow);
  EXPECT_EQ(fast->subject(), "CN=client1.example.com,O=Chosen");
  ExpectSameCertificate(*fast, *slow);
}

TEST_F(CsrFastTest, RefusesBadSubjectAttributesTheSameOnBothPaths) {
  PrivateKey key = Key(KeyType::kEcP256);
  const RawAttribute cn{"CN", MBSTRING_UTF8, "a.example.com"};
  struct Case {
    RawAttribute attribute;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"C", V_ASN1_PRINTABLESTRING, "USA"},
            "subject attribute C \"USA\": a country must be 2 letters"},
           {{"C", V_ASN1_PRINTABLESTRING, "us"}, "subject attribute C \"us\""},
           {{"O", V_ASN1_UTF8STRING, std::string(65, 'o')}, "65 characters, more than 64"},
           {{"L", V_ASN1_UTF8STRING, std::string(129, 'l')}, "129 characters, more than 128"},
           {{"OU", V_ASN1_UTF8STRING,
             "a\x01"
             "b"},
            "subject attribute OU \"a\\x01b\": contains a control"},
           {{"ST", V_ASN1_UTF8STRING, ""}, "subject attribute ST is empty"},
           {{"DC", V_ASN1_IA5STRING, "example.com"},
            "subject attribute DC \"example.com\": a domain component is one DNS label"},
       }) {
    SCOPED_TRACE(c.message);
    std::string der = RawSubjectCsrDer(key.get(), {c.attribute, cn});
    ASSERT_TRUE(ParseCsrFast(der));  // well-formed and signed: the issuer refuses it
    EXPECT_EQ(BothFail(der), ErrorCode::kInvalidArgument);
    auto fast = Fast(der, {});
    ASSERT_FALSE(fast);
    EXPECT_THAT(fast.error().message, ::testing::HasSubstr(c.message));
  }
  // More OUs than kMaxSubjectAttributeRepeats.
  std::vector<RawAttribute> many(kMaxSubjectAttributeRepeats + 1, {"OU", MBSTRING_UTF8, "x"});
  many.push_back(cn);
  EXPECT_EQ(BothFail(RawSubjectCsrDer(key.get(), many)), ErrorCode::kInvalidArgument);
}

TEST_F(CsrFastTest, RefusesABadSignature) {
  PrivateKey key = Key(KeyType::kEcP256);
  std::string der = CsrDer(key);
  // The last byte is the end of the ECDSA signature's s.
  std::string bad_sig = der;
  bad_sig.back() = static_cast<char>(bad_sig.back() ^ 0x01);
  auto parsed = ParseCsrFast(bad_sig);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, ErrorCode::kBadSignature);
  EXPECT_EQ(BothFail(bad_sig), ErrorCode::kBadSignature);

  // A signed field changed after signing: "node1" becomes "node2" in the subject.
  std::string bad_body = der;
  std::size_t at = bad_body.find("node1.example.com");
  ASSERT_NE(at, std::string::npos);
  bad_body[at + 4] = '2';
  parsed = ParseCsrFast(bad_body);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, ErrorCode::kBadSignature);
  EXPECT_EQ(BothFail(bad_body), ErrorCode::kBadSignature);
}

TEST_F(CsrFastTest, RefusesWeakCurvesThroughTheSlowPath) {
  for (const char* curve : {"secp256k1", "P-521", "P-224"}) {
    SCOPED_TRACE(curve);
    auto key = ossl::Own(EVP_EC_gen(curve));
    ASSERT_TRUE(key);
    std::string der = RawCsrDer(key.get(), "weak.example.com", "DNS:weak.example.com");
    auto parsed = ParseCsrFast(der);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().code, ErrorCode::kUnsupported);
    EXPECT_EQ(BothFail(der), ErrorCode::kWeakKey);
  }
}

TEST_F(CsrFastTest, RefusesExplicitCurveParametersThroughTheSlowPath) {
  PrivateKey p256 = Key(KeyType::kEcP256);
  auto key = ossl::Own(EVP_PKEY_dup(p256.get()));
  ASSERT_TRUE(key);
  ASSERT_EQ(EVP_PKEY_set_utf8_string_param(key.get(), OSSL_PKEY_PARAM_EC_ENCODING,
                                           OSSL_PKEY_EC_ENCODING_EXPLICIT),
            1);
  std::string der = RawCsrDer(key.get(), "explicit.example.com", "");
  auto parsed = ParseCsrFast(der);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, ErrorCode::kUnsupported);
  EXPECT_EQ(BothFail(der), ErrorCode::kWeakKey);
}

TEST_F(CsrFastTest, OtherKeyTypesTakeTheSlowPath) {
  for (KeyType type : {KeyType::kEd25519, KeyType::kRsa2048}) {
    SCOPED_TRACE(KeyTypeName(type));
    PrivateKey key = Key(type);
    std::string der = CsrDer(key);
    auto parsed = ParseCsrFast(der);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().code, ErrorCode::kUnsupported);
    auto fast = Fast(der, {.profile = Profile::kClient});
    ASSERT_TRUE(fast) << fast.error().message;
    EXPECT_TRUE(fast->public_key().Equals(key.public_key()));
    auto slow = Slow(der, {.profile = Profile::kClient});
    ASSERT_TRUE(slow);
    ExpectSameCertificate(*fast, *slow);
  }
}

TEST_F(CsrFastTest, RevalidatesNames) {
  PrivateKey key = Key(KeyType::kEcP256);
  for (const auto& [cn, san] : std::vector<std::pair<std::string, std::string>>{
           {"ok.example.com", "DNS:*.*.example.com"},
           {"ok.example.com", "DNS:bad_label.example.com"},
           {"ok.example.com", "DNS:" + std::string(64, 'a') + ".example.com"},
           {"under_score.example.com", ""},
       }) {
    SCOPED_TRACE(cn + " " + san);
    std::string der = RawCsrDer(key.get(), cn, san);
    ASSERT_TRUE(ParseCsrFast(der));  // well-formed and signed: names are the issuer's concern
    EXPECT_EQ(BothFail(der, {.profile = Profile::kServer}), ErrorCode::kInvalidName);
  }
}

TEST_F(CsrFastTest, GarbageAndTruncatedDerAreParseErrors) {
  PrivateKey key = Key(KeyType::kEcP256);
  std::string der = CsrDer(key);
  std::vector<std::string> inputs = {"",
                                     "garbage",
                                     std::string(300, '\0'),
                                     std::string(300, '\xff'),
                                     der + std::string(1, '\0'),
                                     issuer_->certificate().ToDer()};
  for (std::size_t len = 0; len < der.size(); ++len) {
    inputs.push_back(der.substr(0, len));
  }
  for (const std::string& input : inputs) {
    SCOPED_TRACE("input of " + std::to_string(input.size()) + " bytes");
    auto parsed = ParseCsrFast(input);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().code, ErrorCode::kParse);
    auto fast = IssueFromCsrDer(*issuer_, input, {}, kNow, rng_);
    ASSERT_FALSE(fast);
    EXPECT_EQ(fast.error().code, ErrorCode::kParse) << fast.error().message;
  }
}

TEST_F(CsrFastTest, PointNotOnTheCurveIsRefused) {
  PrivateKey key = Key(KeyType::kEcP256);
  std::string der = CsrDer(key);
  // The uncompressed point follows the id-ecPublicKey/prime256v1 algorithm identifier: change
  // its last byte (y), which takes it off the curve.
  std::string spki = key.public_key().SpkiDer();
  std::size_t at = der.find(spki);
  ASSERT_NE(at, std::string::npos);
  std::string bad = der;
  bad[at + spki.size() - 1] = static_cast<char>(bad[at + spki.size() - 1] ^ 0x01);
  auto parsed = ParseCsrFast(bad);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, ErrorCode::kParse);
  auto fast = Fast(bad, {});
  ASSERT_FALSE(fast);
  auto slow = Slow(bad, {});
  ASSERT_FALSE(slow);
  EXPECT_EQ(fast.error().code, slow.error().code);
}

// IssuedFacts are what a parser reads back from the certificate, on the fast path (P-256) and
// on the slow path (Ed25519), with every kind of SAN (IPv6 included).
TEST_F(CsrFastTest, IssuedFactsMatchTheCertificate) {
  for (KeyType type : {KeyType::kEcP256, KeyType::kEd25519}) {
    const std::string csr = CsrDer(Key(type));
    IssuedFacts facts;
    auto der =
        IssueFromCsrDer(*issuer_, csr, {.validity = std::chrono::days(30)}, kNow, rng_, &facts);
    ASSERT_TRUE(der) << der.error().message;
    auto cert = Certificate::FromDer(*der);
    ASSERT_TRUE(cert) << cert.error().message;
    EXPECT_EQ(facts.serial_hex, cert->serial_hex());
    EXPECT_EQ(facts.common_name, cert->common_name());
    EXPECT_EQ(facts.sans.dns, cert->sans().dns);
    EXPECT_EQ(facts.sans.ips, cert->sans().ips);
    EXPECT_EQ(facts.sans.uris, cert->sans().uris);
    EXPECT_EQ(facts.sans.emails, cert->sans().emails);
    EXPECT_EQ(facts.not_before, cert->not_before());
    EXPECT_EQ(facts.not_after, cert->not_after());
    EXPECT_EQ(facts.not_after, kNow + std::chrono::days(30));
  }
}

}  // namespace
}  // namespace clustertls::pki
