#include "pki/key.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "ossl/bio.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::pki {
namespace {

using core::ErrorCode;

std::string ReadKeyFixture(const std::string& name) {
  std::ifstream in(std::string(CTLS_TESTDATA_DIR) + "/keys/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

constexpr char kFixturePass[] = "fixture-pass";

// ---- Key type names ----

TEST(KeyTypeTest, ParsesCanonicalNamesAndAliases) {
  EXPECT_EQ(*ParseKeyType("ec-p256"), KeyType::kEcP256);
  EXPECT_EQ(*ParseKeyType("p256"), KeyType::kEcP256);
  EXPECT_EQ(*ParseKeyType("ecdsa"), KeyType::kEcP256);
  EXPECT_EQ(*ParseKeyType("ec"), KeyType::kEcP256);
  EXPECT_EQ(*ParseKeyType("ec-p384"), KeyType::kEcP384);
  EXPECT_EQ(*ParseKeyType("p384"), KeyType::kEcP384);
  EXPECT_EQ(*ParseKeyType("rsa"), KeyType::kRsa2048);
  EXPECT_EQ(*ParseKeyType("rsa-2048"), KeyType::kRsa2048);
  EXPECT_EQ(*ParseKeyType("rsa-3072"), KeyType::kRsa3072);
  EXPECT_EQ(*ParseKeyType("rsa-4096"), KeyType::kRsa4096);
  EXPECT_EQ(*ParseKeyType("ed25519"), KeyType::kEd25519);
  for (KeyType t : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048, KeyType::kRsa3072,
                    KeyType::kRsa4096, KeyType::kEd25519}) {
    EXPECT_EQ(*ParseKeyType(KeyTypeName(t)), t);
  }
}

TEST(KeyTypeTest, RefusesUnknownNameListingAccepted) {
  auto r = ParseKeyType("rsa-1024");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("'rsa-1024'"), std::string::npos);
  EXPECT_NE(r.error().message.find("ec-p256, ec-p384, rsa-2048"), std::string::npos);
}

// ---- Generation and round trips, for every key type ----

struct GenCase {
  KeyType type;
  const char* describe;
};

class KeyGenerateTest : public ::testing::TestWithParam<GenCase> {};

TEST_P(KeyGenerateTest, GeneratesAcceptableKeyThatRoundTrips) {
  auto key = PrivateKey::Generate(GetParam().type);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->Describe(), GetParam().describe);
  EXPECT_EQ(key->public_key().type(), GetParam().type);
  EXPECT_TRUE(CheckKeyAcceptable(key->get()));

  auto pem = key->ToPem();
  ASSERT_TRUE(pem);
  EXPECT_EQ(pem->rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
  auto from_pem = PrivateKey::Parse(*pem);
  ASSERT_TRUE(from_pem) << from_pem.error().message;
  EXPECT_TRUE(from_pem->Matches(key->public_key()));
  EXPECT_EQ(from_pem->Describe(), GetParam().describe);

  auto der = key->ToDer();
  ASSERT_TRUE(der);
  auto from_der = PrivateKey::Parse(*der);
  ASSERT_TRUE(from_der) << from_der.error().message;
  EXPECT_TRUE(from_der->Matches(key->public_key()));
  EXPECT_EQ(*from_der->ToDer(), *der);

  auto spki = PublicKey::FromSpkiDer(key->public_key().SpkiDer());
  ASSERT_TRUE(spki);
  EXPECT_TRUE(spki->Equals(key->public_key()));
  EXPECT_EQ(spki->Describe(), GetParam().describe);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, KeyGenerateTest,
                         ::testing::Values(GenCase{KeyType::kEcP256, "EC P-256"},
                                           GenCase{KeyType::kEcP384, "EC P-384"},
                                           GenCase{KeyType::kRsa2048, "RSA 2048"},
                                           GenCase{KeyType::kRsa3072, "RSA 3072"},
                                           GenCase{KeyType::kRsa4096, "RSA 4096"},
                                           GenCase{KeyType::kEd25519, "Ed25519"}),
                         [](const auto& info) {
                           std::string name = KeyTypeName(info.param.type);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(KeyTest, GeneratedKeysDiffer) {
  auto a = PrivateKey::Generate(KeyType::kEcP256);
  auto b = PrivateKey::Generate(KeyType::kEcP256);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(a->Matches(b->public_key()));
  EXPECT_FALSE(a->public_key().Equals(b->public_key()));
  EXPECT_TRUE(a->Matches(a->public_key()));
}

TEST(KeyTest, MatchesIsFalseAcrossKeyTypes) {
  auto ec = PrivateKey::Generate(KeyType::kEcP256);
  auto ed = PrivateKey::Generate(KeyType::kEd25519);
  ASSERT_TRUE(ec && ed);
  EXPECT_FALSE(ec->Matches(ed->public_key()));
  EXPECT_FALSE(ed->Matches(ec->public_key()));
}

// ---- Encrypted PKCS#8 ----

class EncryptedKeyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    key_ = new PrivateKey(*PrivateKey::Generate(KeyType::kEcP256));
    pem_ = new std::string(*key_->ToPem("correct horse"));
  }
  static void TearDownTestSuite() {
    delete key_;
    delete pem_;
  }
  static PrivateKey* key_;
  static std::string* pem_;
};
PrivateKey* EncryptedKeyTest::key_ = nullptr;
std::string* EncryptedKeyTest::pem_ = nullptr;

TEST_F(EncryptedKeyTest, WritesEncryptedPkcs8) {
  EXPECT_EQ(pem_->rfind("-----BEGIN ENCRYPTED PRIVATE KEY-----\n", 0), 0u);
}

TEST_F(EncryptedKeyTest, RoundTripsWithPassphrase) {
  auto back = PrivateKey::Parse(*pem_, "correct horse");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->Matches(key_->public_key()));
}

TEST_F(EncryptedKeyTest, MissingPassphraseIsReported) {
  auto r = PrivateKey::Parse(*pem_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kWrongPassphrase);
  EXPECT_EQ(r.error().message, "key is encrypted: a passphrase is needed");
}

TEST_F(EncryptedKeyTest, WrongPassphraseIsReported) {
  auto r = PrivateKey::Parse(*pem_, "battery staple");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kWrongPassphrase);
  EXPECT_NE(r.error().message.find("wrong passphrase"), std::string::npos);
}

// RFC 8018: PBES2 with PBKDF2-HMAC-SHA256 (>= 600000 iterations, 16-byte salt) and AES-256-CBC.
TEST_F(EncryptedKeyTest, UsesPbes2Pbkdf2Sha256Aes256) {
  auto bio = ossl::ReadBio(*pem_);
  auto sig = ossl::Own(PEM_read_bio_PKCS8(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_NE(sig, nullptr);
  const X509_ALGOR* alg = nullptr;
  X509_SIG_get0(sig.get(), &alg, nullptr);
  const ASN1_OBJECT* oid = nullptr;
  int ptype = 0;
  const void* pval = nullptr;
  X509_ALGOR_get0(&oid, &ptype, &pval, alg);
  ASSERT_EQ(OBJ_obj2nid(oid), NID_pbes2);
  ASSERT_EQ(ptype, V_ASN1_SEQUENCE);
  const auto* pbes2_param = static_cast<const ASN1_STRING*>(pval);
  const unsigned char* p = ASN1_STRING_get0_data(pbes2_param);
  std::unique_ptr<PBE2PARAM, decltype(&PBE2PARAM_free)> pbe2(
      d2i_PBE2PARAM(nullptr, &p, ASN1_STRING_length(pbes2_param)), &PBE2PARAM_free);
  ASSERT_NE(pbe2, nullptr);
  EXPECT_EQ(OBJ_obj2nid(pbe2->encryption->algorithm), NID_aes_256_cbc);
  ASSERT_EQ(OBJ_obj2nid(pbe2->keyfunc->algorithm), NID_id_pbkdf2);
  const ASN1_STRING* kdf_param = pbe2->keyfunc->parameter->value.sequence;
  p = ASN1_STRING_get0_data(kdf_param);
  std::unique_ptr<PBKDF2PARAM, decltype(&PBKDF2PARAM_free)> kdf(
      d2i_PBKDF2PARAM(nullptr, &p, ASN1_STRING_length(kdf_param)), &PBKDF2PARAM_free);
  ASSERT_NE(kdf, nullptr);
  ASSERT_NE(kdf->prf, nullptr);
  EXPECT_EQ(OBJ_obj2nid(kdf->prf->algorithm), NID_hmacWithSHA256);
  EXPECT_GE(ASN1_INTEGER_get(kdf->iter), 600000);
  EXPECT_EQ(kdf->salt->type, V_ASN1_OCTET_STRING);
  EXPECT_EQ(ASN1_STRING_length(kdf->salt->value.octet_string), 16);
}

TEST_F(EncryptedKeyTest, TwoEncryptionsUseFreshSaltAndIv) {
  auto again = key_->ToPem("correct horse");
  ASSERT_TRUE(again);
  EXPECT_NE(*again, *pem_);
}

// The openssl CLI (an independent implementation) decrypts what we wrote.
TEST_F(EncryptedKeyTest, OpensslCliDecryptsIt) {
  char path[] = "/tmp/ctls-keytest-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, pem_->data(), pem_->size()), static_cast<ssize_t>(pem_->size()));
  ::close(fd);
  std::string cmd = std::string("openssl pkey -in ") + path +
                    " -passin 'pass:correct horse' -pubout -outform DER 2>/dev/null";
  CommandResult run = RunCommand(cmd);
  const std::string& out = run.output;
  int status = run.exit_code;
  ::unlink(path);
  ASSERT_EQ(status, 0) << "openssl pkey could not read the encrypted key";
  EXPECT_EQ(out, key_->public_key().SpkiDer());
}

TEST(KeyTest, RefusesEmptyPassphraseWhenWriting) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  ASSERT_TRUE(key);
  auto r = key->ToPem("");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST(KeyTest, PassphraseOnUnencryptedKeyIsIgnored) {
  auto r = PrivateKey::Parse(ReadKeyFixture("ec-p256-sec1.pem"), "unused");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->Describe(), "EC P-256");
}

// ---- Fixtures made by the openssl CLI (tests/fixtures/keys/gen.sh) ----

struct FixtureCase {
  const char* file;
  const char* describe;
  bool encrypted;
};

class KeyFixtureTest : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(KeyFixtureTest, ParsesOpensslFixture) {
  const auto& c = GetParam();
  std::string data = ReadKeyFixture(c.file);
  ASSERT_FALSE(data.empty());
  auto key = c.encrypted ? PrivateKey::Parse(data, kFixturePass) : PrivateKey::Parse(data);
  ASSERT_TRUE(key) << c.file << ": " << key.error().message;
  EXPECT_EQ(key->Describe(), c.describe);
  if (c.encrypted) {
    auto none = PrivateKey::Parse(data);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code, ErrorCode::kWrongPassphrase);
    EXPECT_EQ(none.error().message, "key is encrypted: a passphrase is needed");
    auto wrong = PrivateKey::Parse(data, "not-the-pass");
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().code, ErrorCode::kWrongPassphrase);
  }
}

INSTANTIATE_TEST_SUITE_P(Openssl, KeyFixtureTest,
                         ::testing::Values(FixtureCase{"rsa2048-pkcs1.pem", "RSA 2048", false},
                                           FixtureCase{"rsa2048-pkcs1.der", "RSA 2048", false},
                                           FixtureCase{"rsa2048-pkcs8.pem", "RSA 2048", false},
                                           FixtureCase{"rsa2048-pkcs8-enc.pem", "RSA 2048", true},
                                           FixtureCase{"rsa2048-pkcs8-enc.der", "RSA 2048", true},
                                           FixtureCase{"rsa2048-pkcs1-enc.pem", "RSA 2048", true},
                                           FixtureCase{"ec-p256-sec1.pem", "EC P-256", false},
                                           FixtureCase{"ec-p256-sec1.der", "EC P-256", false},
                                           FixtureCase{"ec-p256-sec1-params.pem", "EC P-256",
                                                       false},
                                           FixtureCase{"ec-p256-pkcs8.der", "EC P-256", false},
                                           FixtureCase{"ec-p384-pkcs8.pem", "EC P-384", false},
                                           FixtureCase{"ec-p384-pkcs8-enc.der", "EC P-384", true},
                                           FixtureCase{"ed25519-pkcs8.pem", "Ed25519", false}));

TEST(KeyFixtureEncodingsTest, EveryEncodingOfTheSameKeyMatches) {
  auto pkcs1 = PrivateKey::Parse(ReadKeyFixture("rsa2048-pkcs1.pem"));
  ASSERT_TRUE(pkcs1);
  for (const char* f : {"rsa2048-pkcs1.der", "rsa2048-pkcs8.pem"}) {
    auto other = PrivateKey::Parse(ReadKeyFixture(f));
    ASSERT_TRUE(other) << f;
    EXPECT_TRUE(other->Matches(pkcs1->public_key())) << f;
  }
  for (const char* f :
       {"rsa2048-pkcs8-enc.pem", "rsa2048-pkcs8-enc.der", "rsa2048-pkcs1-enc.pem"}) {
    auto other = PrivateKey::Parse(ReadKeyFixture(f), kFixturePass);
    ASSERT_TRUE(other) << f;
    EXPECT_TRUE(other->Matches(pkcs1->public_key())) << f;
  }
  auto sec1 = PrivateKey::Parse(ReadKeyFixture("ec-p256-sec1.pem"));
  ASSERT_TRUE(sec1);
  for (const char* f : {"ec-p256-sec1.der", "ec-p256-pkcs8.der"}) {
    auto other = PrivateKey::Parse(ReadKeyFixture(f));
    ASSERT_TRUE(other) << f;
    EXPECT_TRUE(other->Matches(sec1->public_key())) << f;
  }
  EXPECT_FALSE(sec1->Matches(pkcs1->public_key()));
  // Re-encoding to PKCS#8 DER gives what `openssl pkcs8 -topk8 -nocrypt` wrote.
  EXPECT_EQ(*sec1->ToDer(), ReadKeyFixture("ec-p256-pkcs8.der"));
}

// A PEM file holding certificates and a key (as some servers want it): the key is found.
TEST(KeyFixtureEncodingsTest, FindsTheKeyAmongCertificates) {
  auto key = PrivateKey::Parse(ReadKeyFixture("bundle-mixed.pem"));
  ASSERT_TRUE(key) << key.error().message;
  auto alone = PrivateKey::Parse(ReadKeyFixture("chain-leaf.key"));
  ASSERT_TRUE(alone);
  EXPECT_TRUE(key->Matches(alone->public_key()));
}

struct WeakCase {
  const char* file;
  const char* message;
};

class WeakKeyFixtureTest : public ::testing::TestWithParam<WeakCase> {};

TEST_P(WeakKeyFixtureTest, RefusesWithSpecificMessage) {
  auto r = PrivateKey::Parse(ReadKeyFixture(GetParam().file));
  ASSERT_FALSE(r) << GetParam().file << " was accepted";
  EXPECT_EQ(r.error().code, ErrorCode::kWeakKey);
  EXPECT_NE(r.error().message.find(GetParam().message), std::string::npos)
      << "message: " << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Openssl, WeakKeyFixtureTest,
    ::testing::Values(WeakCase{"weak-rsa1024.pem",
                               "RSA key of 1024 bits is too small (minimum 2048)"},
                      WeakCase{"weak-rsa2048-e3.pem", "RSA public exponent 3 is refused"},
                      WeakCase{"weak-secp256k1.pem", "EC curve secp256k1 is not supported"},
                      WeakCase{"weak-ec-explicit.pem", "explicit curve parameters"},
                      WeakCase{"weak-dsa.pem", "DSA keys are not supported"},
                      WeakCase{"weak-x25519.pem", "X25519 keys are not supported"}));

TEST(CheckKeyAcceptableTest, AppliesToPublicKeysToo) {
  std::string pem = ReadKeyFixture("weak-rsa1024.pem");
  auto bio = ossl::ReadBio(pem);
  auto key = ossl::Own(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_NE(key, nullptr);
  auto spki = PublicKey::FromSpkiDer(PublicKey::FromEvp(key.get()).SpkiDer());
  ASSERT_TRUE(spki);
  auto r = CheckKeyAcceptable(spki->get());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kWeakKey);
  EXPECT_EQ(spki->Describe(), "RSA 1024");
  EXPECT_FALSE(CheckKeyAcceptable(nullptr));
}

// ---- Not a key ----

void ExpectParseError(const std::string& data, const std::string& what) {
  auto r = PrivateKey::Parse(data);
  ASSERT_FALSE(r) << what << " was accepted";
  EXPECT_EQ(r.error().code, ErrorCode::kParse) << what << ": " << r.error().message;
  EXPECT_FALSE(r.error().message.empty());
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
}

TEST(KeyParseErrorTest, GarbageEmptyAndNonKeys) {
  ExpectParseError("", "empty input");
  ExpectParseError("this is not a key", "text");
  ExpectParseError(std::string("\x30\x82\x01\x00garbage", 12), "bad DER");
  ExpectParseError("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n", "bad base64");
  ExpectParseError(ReadKeyFixture("rsa2048-pub.pem"), "a public key");
  ExpectParseError(ReadKeyFixture("selfsigned-san.pem"), "a certificate");
}

TEST(KeyParseErrorTest, TruncatedPemAndDer) {
  std::string pem = ReadKeyFixture("rsa2048-pkcs1.pem");
  ExpectParseError(pem.substr(0, pem.size() / 2), "truncated PEM");
  std::string der = ReadKeyFixture("rsa2048-pkcs1.der");
  ExpectParseError(der.substr(0, der.size() / 2), "truncated DER");
  std::string p8 = ReadKeyFixture("ec-p256-pkcs8.der");
  ExpectParseError(p8.substr(0, p8.size() - 1), "truncated PKCS#8 DER");
  ExpectParseError(p8 + "trailing", "PKCS#8 DER with trailing bytes");
}

TEST(KeyParseErrorTest, ErrorsNeverEchoKeyMaterial) {
  std::string pem = ReadKeyFixture("rsa2048-pkcs1.pem");
  std::string truncated = pem.substr(0, pem.size() / 2);
  // A base64 line of the key body.
  std::string line = pem.substr(pem.find('\n') + 1, 40);
  for (const auto& data : {truncated, pem.substr(0, pem.size() - 40)}) {
    auto r = PrivateKey::Parse(data);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message.find(line), std::string::npos);
    EXPECT_EQ(r.error().detail.find(line), std::string::npos);
  }
}

TEST(PublicKeyTest, NullEvpGivesAnEmptyKeyThatMatchesNothing) {
  PublicKey empty = PublicKey::FromEvp(nullptr);
  ASSERT_NE(empty.get(), nullptr);
  EXPECT_EQ(empty.SpkiDer(), "");
  EXPECT_EQ(empty.Describe(), "unknown");
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  ASSERT_TRUE(key);
  EXPECT_FALSE(key->Matches(empty));
  EXPECT_FALSE(empty.Equals(key->public_key()));
}

TEST(PublicKeyTest, SpkiParseErrors) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  ASSERT_TRUE(key);
  std::string spki = key->public_key().SpkiDer();
  EXPECT_FALSE(PublicKey::FromSpkiDer(""));
  EXPECT_FALSE(PublicKey::FromSpkiDer(spki.substr(0, spki.size() - 3)));
  auto trailing = PublicKey::FromSpkiDer(spki + "x");
  ASSERT_FALSE(trailing);
  EXPECT_EQ(trailing.error().code, ErrorCode::kParse);
}

}  // namespace
}  // namespace clustertls::pki
