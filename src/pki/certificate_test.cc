#include "pki/certificate.h"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "pki/test_pki_testutil.h"

namespace clustertls::pki {
namespace {

using core::ErrorCode;

std::string ReadCertFixture(const std::string& name) {
  std::ifstream in(std::string(CTLS_TESTDATA_DIR) + "/keys/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// "key=value" lines written by gen.sh from `openssl x509` output.
std::map<std::string, std::string> ReadExpect(const std::string& name) {
  std::map<std::string, std::string> out;
  std::istringstream in(ReadCertFixture(name));
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) {
      out[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  return out;
}

Certificate MustParse(const std::string& fixture) {
  auto cert = Certificate::FromPem(ReadCertFixture(fixture));
  EXPECT_TRUE(cert) << fixture << ": " << cert.error().message;
  return *cert;
}

// ---- Every accessor on an openssl-made self-signed certificate ----

class SelfSignedCertificateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    expect_ = ReadExpect("selfsigned-san.expect");
    ASSERT_EQ(expect_.size(), 7u);
    auto cert = Certificate::FromPem(ReadCertFixture("selfsigned-san.pem"));
    ASSERT_TRUE(cert) << cert.error().message;
    cert_.emplace(*cert);
  }
  std::map<std::string, std::string> expect_;
  std::optional<Certificate> cert_;
};

TEST_F(SelfSignedCertificateTest, NamesAndSerialMatchOpenssl) {
  EXPECT_EQ(cert_->subject(), expect_["subject"]);
  EXPECT_EQ(cert_->subject(), "CN=server.example.com,O=Example Org,C=DE");
  EXPECT_EQ(cert_->issuer(), expect_["issuer"]);
  EXPECT_EQ(cert_->common_name(), "server.example.com");
  EXPECT_EQ(cert_->serial_hex(), expect_["serial"]);
  EXPECT_EQ(cert_->serial_hex(), "0A1B2C3D4E5F");
  EXPECT_EQ(cert_->signature_algorithm(), expect_["signature"]);
}

TEST_F(SelfSignedCertificateTest, ValidityMatchesOpenssl) {
  EXPECT_EQ(cert_->not_before().time_since_epoch().count(), std::stoll(expect_["not_before"]));
  EXPECT_EQ(cert_->not_after().time_since_epoch().count(), std::stoll(expect_["not_after"]));
  EXPECT_LT(cert_->not_before(), cert_->not_after());
}

TEST_F(SelfSignedCertificateTest, SubjectAltNamesOfEveryKind) {
  SubjectAltNames sans = cert_->sans();
  EXPECT_EQ(sans.dns, (std::vector<std::string>{"server.example.com", "*.example.com"}));
  EXPECT_EQ(sans.ips, (std::vector<std::string>{"192.0.2.10", "2001:db8::1"}));
  EXPECT_EQ(sans.uris, (std::vector<std::string>{"spiffe://example.com/server"}));
  EXPECT_EQ(sans.emails, (std::vector<std::string>{"admin@example.com"}));
  EXPECT_FALSE(sans.empty());
}

TEST_F(SelfSignedCertificateTest, ExtensionsAndKey) {
  EXPECT_FALSE(cert_->is_ca());
  EXPECT_EQ(cert_->path_len(), std::nullopt);
  EXPECT_EQ(cert_->extended_key_usages(), (std::vector<std::string>{"serverAuth", "clientAuth"}));
  EXPECT_EQ(cert_->key_usages(), (std::vector<std::string>{"digitalSignature", "keyAgreement"}));
  EXPECT_EQ(cert_->subject_key_id_hex().size(), 40u);  // openssl's SHA-1 key identifier
  EXPECT_EQ(cert_->public_key().Describe(), "EC P-256");
  auto key = PrivateKey::Parse(ReadCertFixture("ec-p256-sec1.pem"));
  ASSERT_TRUE(key);
  EXPECT_TRUE(key->Matches(cert_->public_key()));
}

TEST_F(SelfSignedCertificateTest, FingerprintMatchesOpenssl) {
  Fingerprint fp = cert_->fingerprint();
  EXPECT_EQ(fp.colon, expect_["sha256"]);
  std::string plain;
  for (char c : expect_["sha256"]) {
    if (c != ':') {
      plain.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  EXPECT_EQ(fp.hex, plain);
  EXPECT_EQ(fp.hex.size(), 64u);
}

TEST_F(SelfSignedCertificateTest, SelfIssuedAndSelfSigned) {
  EXPECT_TRUE(cert_->IsSelfIssued());
  EXPECT_TRUE(cert_->IsSignedBy(*cert_));
  EXPECT_TRUE(cert_->Equals(*cert_));
}

TEST_F(SelfSignedCertificateTest, DerAndPemRoundTripByteForByte) {
  std::string der = ReadCertFixture("selfsigned-san.der");
  EXPECT_EQ(cert_->ToDer(), der);
  EXPECT_EQ(cert_->ToPem(), ReadCertFixture("selfsigned-san.pem"));
  auto from_der = Certificate::FromDer(der);
  ASSERT_TRUE(from_der);
  EXPECT_TRUE(from_der->Equals(*cert_));
  auto all = Certificate::ParseAll(der);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_TRUE(all->front().Equals(*cert_));
}

// ---- A root -> intermediate -> leaf chain made with openssl ----

TEST(CertificateChainTest, CaFlagsPathLengthsAndUsages) {
  Certificate root = MustParse("chain-root.pem");
  Certificate inter = MustParse("chain-int.pem");
  Certificate leaf = MustParse("chain-leaf.pem");
  EXPECT_TRUE(root.is_ca());
  EXPECT_EQ(root.path_len(), 1);
  EXPECT_TRUE(inter.is_ca());
  EXPECT_EQ(inter.path_len(), 0);
  EXPECT_FALSE(leaf.is_ca());
  EXPECT_EQ(leaf.path_len(), std::nullopt);
  EXPECT_EQ(root.key_usages(), (std::vector<std::string>{"keyCertSign", "cRLSign"}));
  EXPECT_TRUE(root.extended_key_usages().empty());
  EXPECT_TRUE(root.sans().empty());
  EXPECT_EQ(leaf.extended_key_usages(), (std::vector<std::string>{"serverAuth"}));
  EXPECT_EQ(leaf.sans().dns, (std::vector<std::string>{"leaf.example.com"}));
  EXPECT_EQ(root.serial_hex(), "01");
  EXPECT_EQ(leaf.serial_hex(), "03");
  EXPECT_EQ(root.common_name(), "Fixture Root CA");
  EXPECT_EQ(inter.subject(), "CN=Fixture Intermediate CA,O=Fixture");
  EXPECT_EQ(leaf.issuer(), inter.subject());
}

TEST(CertificateChainTest, KeysAndSignatureAlgorithms) {
  Certificate root = MustParse("chain-root.pem");
  Certificate inter = MustParse("chain-int.pem");
  Certificate leaf = MustParse("chain-leaf.pem");
  EXPECT_EQ(root.public_key().Describe(), "RSA 2048");
  EXPECT_EQ(inter.public_key().Describe(), "EC P-384");
  EXPECT_EQ(leaf.public_key().Describe(), "EC P-256");
  EXPECT_EQ(root.signature_algorithm(), "sha256WithRSAEncryption");
  EXPECT_EQ(inter.signature_algorithm(), "sha256WithRSAEncryption");
  EXPECT_EQ(leaf.signature_algorithm(), "ecdsa-with-SHA384");
}

TEST(CertificateChainTest, KeyIdentifiersMatchOpenssl) {
  auto expect = ReadExpect("chain-leaf.expect");
  Certificate inter = MustParse("chain-int.pem");
  Certificate leaf = MustParse("chain-leaf.pem");
  EXPECT_EQ(leaf.subject_key_id_hex(), expect["ski"]);
  EXPECT_EQ(leaf.authority_key_id_hex(), expect["aki"]);
  EXPECT_EQ(leaf.authority_key_id_hex(), inter.subject_key_id_hex());
}

TEST(CertificateChainTest, IsSignedByChecksNameAndSignature) {
  Certificate root = MustParse("chain-root.pem");
  Certificate inter = MustParse("chain-int.pem");
  Certificate leaf = MustParse("chain-leaf.pem");
  Certificate other = MustParse("selfsigned-san.pem");
  EXPECT_TRUE(leaf.IsSignedBy(inter));
  EXPECT_TRUE(inter.IsSignedBy(root));
  EXPECT_TRUE(root.IsSignedBy(root));
  EXPECT_FALSE(leaf.IsSignedBy(root));
  EXPECT_FALSE(inter.IsSignedBy(leaf));
  EXPECT_FALSE(leaf.IsSignedBy(other));
  EXPECT_TRUE(root.IsSelfIssued());
  EXPECT_FALSE(leaf.IsSelfIssued());
  EXPECT_FALSE(leaf.Equals(inter));
}

TEST(CertificateChainTest, SignatureIsCheckedNotOnlyTheName) {
  // Flip one bit of the leaf's signature: the issuer name still matches, the signature does not.
  std::string der = MustParse("chain-leaf.pem").ToDer();
  der[der.size() - 5] = static_cast<char>(der[der.size() - 5] ^ 0x01);
  auto tampered = Certificate::FromDer(der);
  ASSERT_TRUE(tampered) << tampered.error().message;
  EXPECT_FALSE(tampered->IsSignedBy(MustParse("chain-int.pem")));
}

// ---- Where the certificate says its CRL and OCSP responder are ----

// What `openssl x509 -noout <flags>` prints for `cert`.
std::string OpensslX509(const Certificate& cert, const std::string& flags) {
  CommandResult r =
      RunCommand("printf '%s' '" + cert.ToPem() + "' | openssl x509 -noout " + flags + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

TEST(CertificateRevocationUrlsTest, TwoOfEachInOrderAsOpensslReadsThem) {
  TestPki pki = MakeTestPki();
  TestLeaf leaf = IssueLeaf(
      pki.issuing,
      {.common_name = "urls.example.com",
       .crl_urls = {"http://ca.example.com:9080/v1/crl", "http://backup.example.com/issuing.crl"},
       .ocsp_urls = {"http://ca.example.com:9080/ocsp", "http://ocsp2.example.com/"}});
  EXPECT_EQ(leaf.cert.crl_urls(),
            (std::vector<std::string>{"http://ca.example.com:9080/v1/crl",
                                      "http://backup.example.com/issuing.crl"}));
  EXPECT_EQ(leaf.cert.ocsp_urls(), (std::vector<std::string>{"http://ca.example.com:9080/ocsp",
                                                             "http://ocsp2.example.com/"}));
  // Independent judge: openssl's list of OCSP URIs and its text of both extensions.
  EXPECT_EQ(OpensslX509(leaf.cert, "-ocsp_uri"),
            "http://ca.example.com:9080/ocsp\nhttp://ocsp2.example.com/\n");
  std::string text = OpensslX509(leaf.cert, "-ext crlDistributionPoints");
  std::size_t first = text.find("URI:http://ca.example.com:9080/v1/crl");
  std::size_t second = text.find("URI:http://backup.example.com/issuing.crl");
  ASSERT_NE(first, std::string::npos) << text;
  ASSERT_NE(second, std::string::npos) << text;
  EXPECT_LT(first, second) << text;
}

TEST(CertificateRevocationUrlsTest, OneOfEach) {
  TestPki pki = MakeTestPki();
  TestLeaf leaf = IssueLeaf(pki.issuing, {.common_name = "one.example.com",
                                          .crl_urls = {"http://ca.example.com/int.crl"},
                                          .ocsp_urls = {"http://ocsp.example.com"}});
  EXPECT_EQ(leaf.cert.crl_urls(), std::vector<std::string>{"http://ca.example.com/int.crl"});
  EXPECT_EQ(leaf.cert.ocsp_urls(), std::vector<std::string>{"http://ocsp.example.com"});
  EXPECT_EQ(OpensslX509(leaf.cert, "-ocsp_uri"), "http://ocsp.example.com\n");
}

TEST(CertificateRevocationUrlsTest, NoneWhenAbsent) {
  TestPki pki = MakeTestPki();
  TestLeaf leaf = IssueLeaf(pki, "plain.example.com");
  EXPECT_TRUE(leaf.cert.crl_urls().empty());
  EXPECT_TRUE(leaf.cert.ocsp_urls().empty());
  EXPECT_EQ(OpensslX509(leaf.cert, "-ocsp_uri"), "");
  EXPECT_TRUE(pki.root.crl_urls().empty());
  EXPECT_TRUE(pki.root.ocsp_urls().empty());
  // Only one of the two.
  TestLeaf crl_only = IssueLeaf(pki.issuing, {.common_name = "crl-only.example.com",
                                              .crl_urls = {"http://ca.example.com/int.crl"}});
  EXPECT_EQ(crl_only.cert.crl_urls(), std::vector<std::string>{"http://ca.example.com/int.crl"});
  EXPECT_TRUE(crl_only.cert.ocsp_urls().empty());
}

// An openssl-made certificate with several DistributionPoints and access descriptions, some of
// them not URIs: only the URIs of fullNames and of id-ad-ocsp are returned, in order.
TEST(CertificateRevocationUrlsTest, OtherNameFormsAndAccessMethodsAreSkipped) {
  const std::string config =
      "[req]\\ndistinguished_name=dn\\nprompt=no\\nx509_extensions=ext\\n"
      "[dn]\\nCN=forms.example.com\\n"
      "[ext]\\ncrlDistributionPoints=URI:http://a.example.com/1.crl,DNS:crl.example.com,dp,"
      "URI:http://b.example.com/2.crl\\n"
      "authorityInfoAccess=caIssuers;URI:http://ca.example.com/ca.crt,"
      "OCSP;URI:http://o1.example.com,OCSP;DNS:o.example.com,OCSP;URI:http://o2.example.com/ocsp"
      "\\n[dp]\\nrelativename=rdn\\n[rdn]\\nCN=crl1\\n";
  CommandResult made = RunCommand(
      "printf '" + config +
      "' | openssl req -x509 -config /dev/stdin -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
      "-nodes -keyout /dev/null -days 1 2>/dev/null");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  Certificate cert = Must(Certificate::FromPem(made.output), "openssl-made certificate");
  std::string text = OpensslX509(cert, "-ext crlDistributionPoints,authorityInfoAccess");
  ASSERT_NE(text.find("Relative Name"), std::string::npos) << text;
  ASSERT_NE(text.find("DNS:crl.example.com"), std::string::npos) << text;
  ASSERT_NE(text.find("CA Issuers - URI:http://ca.example.com/ca.crt"), std::string::npos) << text;

  EXPECT_EQ(cert.crl_urls(),
            (std::vector<std::string>{"http://a.example.com/1.crl", "http://b.example.com/2.crl"}));
  EXPECT_EQ(cert.ocsp_urls(),
            (std::vector<std::string>{"http://o1.example.com", "http://o2.example.com/ocsp"}));
  EXPECT_EQ(OpensslX509(cert, "-ocsp_uri"), "http://o1.example.com\nhttp://o2.example.com/ocsp\n");
}

// ---- keyUsage / extendedKeyUsage as extensions: absent, present, malformed ----

using UsageList = std::optional<std::vector<std::string>>;

TEST(CertificateUsageExtensionTest, ProfilesAsIssued) {
  TestPki pki = MakeTestPki();
  TestLeaf peer = IssueLeaf(pki, "peer.example.com", Profile::kPeer);
  EXPECT_EQ(Must(peer.cert.extended_key_usage_extension()),
            UsageList({"serverAuth", "clientAuth"}));
  EXPECT_EQ(Must(peer.cert.key_usage_extension()), UsageList({"digitalSignature"}));
  TestLeaf rsa = IssueLeaf(pki, "rsa.example.com", Profile::kServer, KeyType::kRsa2048);
  EXPECT_EQ(Must(rsa.cert.extended_key_usage_extension()), UsageList({"serverAuth"}));
  EXPECT_EQ(Must(rsa.cert.key_usage_extension()),
            UsageList({"digitalSignature", "keyEncipherment"}));
  // A CA carries no extendedKeyUsage: absent, not an empty list.
  EXPECT_EQ(Must(pki.root.extended_key_usage_extension()), std::nullopt);
  EXPECT_EQ(Must(pki.root.key_usage_extension()),
            UsageList({"digitalSignature", "keyCertSign", "cRLSign"}));
  // The list forms agree with the older accessors.
  EXPECT_EQ(*Must(peer.cert.key_usage_extension()), peer.cert.key_usages());
  EXPECT_EQ(*Must(peer.cert.extended_key_usage_extension()), peer.cert.extended_key_usages());
}

TEST(CertificateUsageExtensionTest, EditedUsagesAsOpensslPrintsThem) {
  TestPki pki = MakeTestPki();
  TestLeaf leaf = IssueLeaf(pki, "edit.example.com", Profile::kPeer);
  Certificate none =
      EditExtensions(leaf.cert, {.key_usage = "", .extended_key_usage = ""}, pki.intermediate_key);
  EXPECT_EQ(Must(none.extended_key_usage_extension()), std::nullopt);
  EXPECT_EQ(Must(none.key_usage_extension()), std::nullopt);
  EXPECT_TRUE(none.IsSignedBy(pki.intermediate));

  Certificate odd = EditExtensions(leaf.cert,
                                   {.key_usage = "critical,keyEncipherment,keyAgreement",
                                    .extended_key_usage = "clientAuth,anyExtendedKeyUsage,1.2.3.4"},
                                   pki.intermediate_key);
  EXPECT_EQ(Must(odd.extended_key_usage_extension()),
            UsageList({"clientAuth", "anyExtendedKeyUsage", "1.2.3.4"}));
  EXPECT_EQ(Must(odd.key_usage_extension()), UsageList({"keyEncipherment", "keyAgreement"}));
  std::string text = OpensslX509(odd, "-ext keyUsage,extendedKeyUsage");
  EXPECT_NE(text.find("Key Encipherment, Key Agreement"), std::string::npos) << text;
  EXPECT_NE(text.find("TLS Web Client Authentication, Any Extended Key Usage, 1.2.3.4"),
            std::string::npos)
      << text;
}

// A copy of `cert` with one more extension `nid` whose value is the raw bytes `der`.
Certificate WithRawExtension(const Certificate& cert, int nid, std::string_view der) {
  auto x = ossl::Own(X509_dup(cert.get()));
  auto value = ossl::Own(ASN1_OCTET_STRING_new());
  EXPECT_TRUE(x && value);
  EXPECT_EQ(ASN1_OCTET_STRING_set(value.get(), reinterpret_cast<const unsigned char*>(der.data()),
                                  static_cast<int>(der.size())),
            1);
  auto ext = ossl::Own(X509_EXTENSION_create_by_NID(nullptr, nid, 0, value.get()));
  EXPECT_TRUE(ext);
  EXPECT_EQ(X509_add_ext(x.get(), ext.get(), -1), 1);
  return Certificate::Adopt(std::move(x));
}

TEST(CertificateUsageExtensionTest, MalformedOrRepeatedIsAParseError) {
  TestPki pki = MakeTestPki();
  TestLeaf leaf = IssueLeaf(pki, "bad.example.com", Profile::kPeer);
  Certificate bare =
      EditExtensions(leaf.cert, {.key_usage = "", .extended_key_usage = ""}, pki.intermediate_key);
  using namespace std::string_literals;
  // A NULL where a SEQUENCE OF OBJECT IDENTIFIER / a BIT STRING belongs.
  Certificate bad_eku = WithRawExtension(bare, NID_ext_key_usage, "\x05\x00"s);
  auto eku = bad_eku.extended_key_usage_extension();
  ASSERT_FALSE(eku);
  EXPECT_EQ(eku.error().code, ErrorCode::kParse);
  EXPECT_EQ(eku.error().message, "the extendedKeyUsage extension does not decode");
  EXPECT_TRUE(bad_eku.extended_key_usages().empty());  // the list form cannot tell
  Certificate bad_ku = WithRawExtension(bare, NID_key_usage, "\x05\x00"s);
  auto ku = bad_ku.key_usage_extension();
  ASSERT_FALSE(ku);
  EXPECT_EQ(ku.error().message, "the keyUsage extension does not decode");

  // Twice the same extension (RFC 5280 4.2: at most one instance).
  Certificate twice = WithRawExtension(leaf.cert, NID_ext_key_usage,
                                       "\x30\x0a\x06\x08\x2b\x06\x01\x05\x05\x07\x03\x02"s);
  auto repeated = twice.extended_key_usage_extension();
  ASSERT_FALSE(repeated);
  EXPECT_EQ(repeated.error().code, ErrorCode::kParse);
  EXPECT_EQ(repeated.error().message, "the extendedKeyUsage extension appears more than once");
}

// ---- Bundles ----

TEST(CertificateBundleTest, ParseAllKeepsOrderAndSkipsOtherBlocks) {
  auto certs = Certificate::ParseAll(ReadCertFixture("bundle-mixed.pem"));
  ASSERT_TRUE(certs) << certs.error().message;
  ASSERT_EQ(certs->size(), 3u);
  EXPECT_TRUE((*certs)[0].Equals(MustParse("chain-leaf.pem")));
  EXPECT_TRUE((*certs)[1].Equals(MustParse("chain-int.pem")));
  EXPECT_TRUE((*certs)[2].Equals(MustParse("chain-root.pem")));
  auto first = Certificate::FromPem(ReadCertFixture("bundle-mixed.pem"));
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->Equals((*certs)[0]));
}

TEST(CertificateBundleTest, ToPemBundleRoundTrips) {
  auto certs = Certificate::ParseAll(ReadCertFixture("bundle-mixed.pem"));
  ASSERT_TRUE(certs);
  std::string bundle = ToPemBundle(*certs);
  EXPECT_EQ(bundle, ReadCertFixture("chain-leaf.pem") + ReadCertFixture("chain-int.pem") +
                        ReadCertFixture("chain-root.pem"));
  auto again = Certificate::ParseAll(bundle);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE((*again)[i].Equals((*certs)[i]));
  }
}

TEST(CertificateBundleTest, AcceptsCrlfLineEndings) {
  std::string crlf;
  for (char c : ReadCertFixture("bundle-mixed.pem")) {
    if (c == '\n') {
      crlf += "\r\n";
    } else {
      crlf.push_back(c);
    }
  }
  auto certs = Certificate::ParseAll(crlf);
  ASSERT_TRUE(certs) << certs.error().message;
  ASSERT_EQ(certs->size(), 3u);
  EXPECT_TRUE((*certs)[2].Equals(MustParse("chain-root.pem")));
  auto key = PrivateKey::Parse(crlf);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_TRUE(key->Matches((*certs)[0].public_key()));
}

TEST(CertificateBundleTest, CopiesShareTheCertificate) {
  Certificate a = MustParse("chain-leaf.pem");
  Certificate b = a;
  EXPECT_EQ(a.get(), b.get());
  EXPECT_TRUE(a.Equals(b));
}

// ---- Bad input ----

void ExpectCertParseError(const core::Result<std::vector<Certificate>>& r, const std::string& what,
                          const std::string& message_part = "") {
  ASSERT_FALSE(r) << what << " was accepted";
  EXPECT_EQ(r.error().code, ErrorCode::kParse) << what;
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
  EXPECT_NE(r.error().message.find(message_part), std::string::npos)
      << what << ": " << r.error().message;
}

TEST(CertificateParseErrorTest, EmptyAndGarbage) {
  ExpectCertParseError(Certificate::ParseAll(""), "empty input");
  ExpectCertParseError(Certificate::ParseAll("hello world\n"), "text", "not a valid DER");
  ExpectCertParseError(Certificate::ParseAll("-----BEGIN NOTHING-----\n"), "broken PEM");
  ExpectCertParseError(Certificate::ParseAll(ReadCertFixture("ec-p256-sec1.pem")),
                       "a key, no certificate", "no PEM certificate found");
  auto pem = Certificate::FromPem("not pem at all");
  ASSERT_FALSE(pem);
  EXPECT_EQ(pem.error().code, ErrorCode::kParse);
  EXPECT_EQ(pem.error().message, "no PEM certificate found");
  auto der = Certificate::FromDer("");
  ASSERT_FALSE(der);
  EXPECT_EQ(der.error().code, ErrorCode::kParse);
  auto pem_as_der = Certificate::FromDer(ReadCertFixture("chain-leaf.pem"));
  ASSERT_FALSE(pem_as_der);
  EXPECT_EQ(pem_as_der.error().code, ErrorCode::kParse);
}

TEST(CertificateParseErrorTest, TruncatedAndTrailingDer) {
  std::string der = ReadCertFixture("selfsigned-san.der");
  ExpectCertParseError(Certificate::ParseAll(der.substr(0, der.size() / 2)), "truncated DER",
                       "not a valid DER certificate");
  ExpectCertParseError(Certificate::ParseAll(der.substr(0, der.size() - 1)), "DER minus a byte");
  ExpectCertParseError(Certificate::ParseAll(der + std::string("\0\0", 2)), "trailing bytes",
                       "trailing data");
  auto r = Certificate::FromDer(der + "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kParse);
}

TEST(CertificateParseErrorTest, TruncatedPem) {
  std::string leaf = ReadCertFixture("chain-leaf.pem");
  std::string inter = ReadCertFixture("chain-int.pem");
  // The END line is missing.
  ExpectCertParseError(Certificate::ParseAll(leaf.substr(0, leaf.size() / 2)), "truncated PEM",
                       "PEM block 1");
  // The second block lost its end: the error names it.
  ExpectCertParseError(Certificate::ParseAll(leaf + inter.substr(0, inter.size() / 2)),
                       "bundle with a truncated second block", "PEM block 2");
  // The base64 is well-formed but the DER inside is cut short.
  std::string cut = inter.substr(0, inter.size() / 2);
  cut = cut.substr(0, cut.rfind('\n') + 1) + "-----END CERTIFICATE-----\n";
  ExpectCertParseError(Certificate::ParseAll(leaf + cut), "bundle with a cut DER",
                       "PEM block 2 (CERTIFICATE) is not a valid DER certificate");
  auto first = Certificate::FromPem(cut);
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().code, ErrorCode::kParse);
}

TEST(CertificateParseErrorTest, CorruptBase64) {
  std::string leaf = ReadCertFixture("chain-leaf.pem");
  std::string bad = leaf;
  bad[bad.find('\n') + 5] = '!';
  ExpectCertParseError(Certificate::ParseAll(bad), "bad base64", "PEM block 1");
}

TEST(FingerprintTest, Sha256KnownAnswer) {
  // FIPS 180-2 appendix B.1: SHA-256("abc").
  Fingerprint fp = Sha256Fingerprint("abc");
  EXPECT_EQ(fp.hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(fp.colon.substr(0, 12), "BA:78:16:BF:");
  EXPECT_EQ(fp.colon.size(), 32u * 3 - 1);
}

}  // namespace
}  // namespace clustertls::pki
