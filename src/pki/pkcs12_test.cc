#include "pki/pkcs12.h"

#include <gtest/gtest.h>

#include "pki/test_pki_testutil.h"
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "ossl/ptr.h"

namespace clustertls::pki {
namespace {

using core::ErrorCode;

constexpr char kFixturePass[] = "fixture-pass";

std::string ReadP12Fixture(const std::string& name) {
  std::ifstream in(std::string(CTLS_TESTDATA_DIR) + "/keys/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct StackOfPkcs7Deleter {
  void operator()(STACK_OF(PKCS7) * s) const { sk_PKCS7_pop_free(s, PKCS7_free); }
};
struct StackOfSafebagDeleter {
  void operator()(STACK_OF(PKCS12_SAFEBAG) * s) const {
    sk_PKCS12_SAFEBAG_pop_free(s, PKCS12_SAFEBAG_free);
  }
};

// What the encryption AlgorithmIdentifier of a bag says.
struct PbeDescription {
  int scheme = NID_undef;  // NID_pbes2 or a PKCS#12 PBE
  int cipher = NID_undef;  // PBES2 only
  int kdf = NID_undef;
  int prf = NID_undef;
  long iterations = 0;
};

PbeDescription DescribePbe(const X509_ALGOR* alg) {
  PbeDescription out;
  const ASN1_OBJECT* oid = nullptr;
  int ptype = 0;
  const void* pval = nullptr;
  X509_ALGOR_get0(&oid, &ptype, &pval, alg);
  out.scheme = OBJ_obj2nid(oid);
  if (out.scheme != NID_pbes2 || ptype != V_ASN1_SEQUENCE) {
    return out;
  }
  const auto* seq = static_cast<const ASN1_STRING*>(pval);
  const unsigned char* p = ASN1_STRING_get0_data(seq);
  std::unique_ptr<PBE2PARAM, decltype(&PBE2PARAM_free)> pbe2(
      d2i_PBE2PARAM(nullptr, &p, ASN1_STRING_length(seq)), &PBE2PARAM_free);
  if (!pbe2) {
    return out;
  }
  out.cipher = OBJ_obj2nid(pbe2->encryption->algorithm);
  out.kdf = OBJ_obj2nid(pbe2->keyfunc->algorithm);
  if (out.kdf != NID_id_pbkdf2) {
    return out;
  }
  const ASN1_STRING* kseq = pbe2->keyfunc->parameter->value.sequence;
  p = ASN1_STRING_get0_data(kseq);
  std::unique_ptr<PBKDF2PARAM, decltype(&PBKDF2PARAM_free)> kdf(
      d2i_PBKDF2PARAM(nullptr, &p, ASN1_STRING_length(kseq)), &PBKDF2PARAM_free);
  if (!kdf) {
    return out;
  }
  out.prf = kdf->prf != nullptr ? OBJ_obj2nid(kdf->prf->algorithm) : NID_hmacWithSHA1;
  out.iterations = ASN1_INTEGER_get(kdf->iter);
  return out;
}

// The algorithms of a PKCS#12: MAC digest and iterations, and the PBE of every encrypted part.
struct Pkcs12Algorithms {
  int mac_digest = NID_undef;
  long mac_iterations = 0;
  std::vector<PbeDescription> cert_bags;  // encrypted PKCS#7 data holding the certificates
  std::vector<PbeDescription> key_bags;   // shrouded key bags
};

Pkcs12Algorithms InspectPkcs12(const std::string& der) {
  Pkcs12Algorithms out;
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  auto p12 = ossl::Own(d2i_PKCS12(nullptr, &p, static_cast<long>(der.size())));
  EXPECT_NE(p12, nullptr);
  if (!p12) {
    return out;
  }
  const X509_ALGOR* macalg = nullptr;
  const ASN1_INTEGER* iter = nullptr;
  PKCS12_get0_mac(nullptr, &macalg, nullptr, &iter, p12.get());
  if (macalg != nullptr) {
    const ASN1_OBJECT* oid = nullptr;
    X509_ALGOR_get0(&oid, nullptr, nullptr, macalg);
    out.mac_digest = OBJ_obj2nid(oid);
  }
  out.mac_iterations = iter != nullptr ? ASN1_INTEGER_get(iter) : 1;
  std::unique_ptr<STACK_OF(PKCS7), StackOfPkcs7Deleter> safes(PKCS12_unpack_authsafes(p12.get()));
  EXPECT_NE(safes, nullptr);
  for (int i = 0; safes && i < sk_PKCS7_num(safes.get()); ++i) {
    PKCS7* p7 = sk_PKCS7_value(safes.get(), i);
    int type = OBJ_obj2nid(p7->type);
    if (type == NID_pkcs7_encrypted) {
      out.cert_bags.push_back(DescribePbe(p7->d.encrypted->enc_data->algorithm));
    } else if (type == NID_pkcs7_data) {
      std::unique_ptr<STACK_OF(PKCS12_SAFEBAG), StackOfSafebagDeleter> bags(
          PKCS12_unpack_p7data(p7));
      for (int j = 0; bags && j < sk_PKCS12_SAFEBAG_num(bags.get()); ++j) {
        const PKCS12_SAFEBAG* bag = sk_PKCS12_SAFEBAG_value(bags.get(), j);
        if (PKCS12_SAFEBAG_get_nid(bag) == NID_pkcs8ShroudedKeyBag) {
          const X509_ALGOR* alg = nullptr;
          X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag), &alg, nullptr);
          out.key_bags.push_back(DescribePbe(alg));
        }
      }
    }
  }
  return out;
}

class Pkcs12Test : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = PrivateKey::Parse(ReadP12Fixture("chain-leaf.key"));
    ASSERT_TRUE(key) << key.error().message;
    key_.emplace(*key);
    auto leaf = Certificate::FromPem(ReadP12Fixture("chain-leaf.pem"));
    auto inter = Certificate::FromPem(ReadP12Fixture("chain-int.pem"));
    auto root = Certificate::FromPem(ReadP12Fixture("chain-root.pem"));
    ASSERT_TRUE(leaf && inter && root);
    leaf_.emplace(*leaf);
    chain_ = {*inter, *root};
  }
  std::optional<PrivateKey> key_;
  std::optional<Certificate> leaf_;
  std::vector<Certificate> chain_;
};

TEST_F(Pkcs12Test, ModernRoundTrip) {
  auto der = BuildPkcs12(*key_, *leaf_, chain_, "s3cret", {.friendly_name = "leaf"});
  ASSERT_TRUE(der) << der.error().message;
  auto back = ParsePkcs12(*der, "s3cret");
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_TRUE(back->key.has_value());
  ASSERT_TRUE(back->certificate.has_value());
  EXPECT_TRUE(back->key->Matches(leaf_->public_key()));
  EXPECT_TRUE(back->certificate->Equals(*leaf_));
  ASSERT_EQ(back->chain.size(), 2u);
  EXPECT_TRUE(back->chain[0].Equals(chain_[0]));
  EXPECT_TRUE(back->chain[1].Equals(chain_[1]));
}

// RFC 7292 with RFC 8018 PBES2: AES-256-CBC, PBKDF2-HMAC-SHA256, SHA-256 MAC, high counts.
TEST_F(Pkcs12Test, ModernUsesAes256Pbkdf2AndSha256Mac) {
  auto der = BuildPkcs12(*key_, *leaf_, chain_, "s3cret");
  ASSERT_TRUE(der);
  Pkcs12Algorithms algs = InspectPkcs12(*der);
  EXPECT_EQ(algs.mac_digest, NID_sha256);
  EXPECT_GE(algs.mac_iterations, 100000);
  ASSERT_EQ(algs.cert_bags.size(), 1u);
  ASSERT_EQ(algs.key_bags.size(), 1u);
  for (const auto& pbe : {algs.cert_bags[0], algs.key_bags[0]}) {
    EXPECT_EQ(pbe.scheme, NID_pbes2);
    EXPECT_EQ(pbe.cipher, NID_aes_256_cbc);
    EXPECT_EQ(pbe.kdf, NID_id_pbkdf2);
    EXPECT_EQ(pbe.prf, NID_hmacWithSHA256);
    EXPECT_GE(pbe.iterations, 100000);
  }
}

TEST_F(Pkcs12Test, LegacyUses3desAndSha1Mac) {
  auto der = BuildPkcs12(*key_, *leaf_, {}, "s3cret", {.legacy = true});
  ASSERT_TRUE(der) << der.error().message;
  Pkcs12Algorithms algs = InspectPkcs12(*der);
  EXPECT_EQ(algs.mac_digest, NID_sha1);
  ASSERT_EQ(algs.cert_bags.size(), 1u);
  ASSERT_EQ(algs.key_bags.size(), 1u);
  EXPECT_EQ(algs.cert_bags[0].scheme, NID_pbe_WithSHA1And3_Key_TripleDES_CBC);
  EXPECT_EQ(algs.key_bags[0].scheme, NID_pbe_WithSHA1And3_Key_TripleDES_CBC);
  auto back = ParsePkcs12(*der, "s3cret");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->certificate->Equals(*leaf_));
  EXPECT_TRUE(back->chain.empty());
}

TEST_F(Pkcs12Test, WrongPassphraseIsReported) {
  auto der = BuildPkcs12(*key_, *leaf_, chain_, "s3cret");
  ASSERT_TRUE(der);
  auto r = ParsePkcs12(*der, "guess");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kWrongPassphrase);
  EXPECT_NE(r.error().message.find("wrong passphrase"), std::string::npos);
  auto empty = ParsePkcs12(*der, "");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kWrongPassphrase);
}

TEST_F(Pkcs12Test, RefusesEmptyPassphraseAndMismatchedKey) {
  auto empty = BuildPkcs12(*key_, *leaf_, chain_, "");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
  auto other = PrivateKey::Generate(KeyType::kEcP256);
  ASSERT_TRUE(other);
  auto mismatch = BuildPkcs12(*other, *leaf_, chain_, "s3cret");
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, ErrorCode::kKeyMismatch);
}

TEST_F(Pkcs12Test, RefusesNonPkcs12Input) {
  auto der = BuildPkcs12(*key_, *leaf_, chain_, "s3cret");
  ASSERT_TRUE(der);
  for (const std::string& bad : {std::string(), std::string("garbage"),
                                 der->substr(0, der->size() / 2), *der + "x", leaf_->ToDer()}) {
    auto r = ParsePkcs12(bad, "s3cret");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kParse) << r.error().message;
  }
}

// PKCS#12 files written by `openssl pkcs12 -export` (gen.sh), modern and legacy.
TEST_F(Pkcs12Test, ReadsOpensslMadeFiles) {
  for (const char* file : {"leaf-modern.p12", "leaf-3des.p12"}) {
    std::string der = ReadP12Fixture(file);
    auto r = ParsePkcs12(der, kFixturePass);
    ASSERT_TRUE(r) << file << ": " << r.error().message;
    ASSERT_TRUE(r->key && r->certificate) << file;
    EXPECT_TRUE(r->key->Matches(leaf_->public_key())) << file;
    EXPECT_TRUE(r->certificate->Equals(*leaf_)) << file;
    ASSERT_EQ(r->chain.size(), 1u) << file;
    EXPECT_TRUE(r->chain[0].Equals(chain_[0])) << file;
    auto wrong = ParsePkcs12(der, "nope");
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().code, ErrorCode::kWrongPassphrase) << file;
  }
}

TEST(Pkcs12WeakKeyTest, RefusesAWeakKeyInside) {
  auto r = ParsePkcs12(ReadP12Fixture("weak-rsa1024.p12"), kFixturePass);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kWeakKey);
  EXPECT_NE(r.error().message.find("RSA key of 1024 bits is too small"), std::string::npos)
      << r.error().message;
}

// The openssl CLI (OpenSSL 3, no legacy provider) reads what we write and names its algorithms.
TEST_F(Pkcs12Test, OpensslCliReadsModernPkcs12) {
  auto der = BuildPkcs12(*key_, *leaf_, chain_, "s3cret", {.friendly_name = "my leaf"});
  ASSERT_TRUE(der);
  char path[] = "/tmp/ctls-p12test-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, der->data(), der->size()), static_cast<ssize_t>(der->size()));
  ::close(fd);
  std::string cmd =
      std::string("openssl pkcs12 -in ") + path + " -info -nokeys -passin pass:s3cret 2>&1";
  CommandResult run = RunCommand(cmd);
  const std::string& out = run.output;
  int status = run.exit_code;
  ::unlink(path);
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("MAC: sha256"), std::string::npos) << out;
  EXPECT_NE(out.find("PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC"), std::string::npos) << out;
  EXPECT_NE(out.find("Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC"), std::string::npos) << out;
  EXPECT_NE(out.find("PRF hmacWithSHA256"), std::string::npos) << out;
  EXPECT_NE(out.find("friendlyName: my leaf"), std::string::npos) << out;
  EXPECT_NE(out.find(leaf_->ToPem()), std::string::npos);
  EXPECT_NE(out.find(chain_[1].ToPem()), std::string::npos);
}

}  // namespace
}  // namespace clustertls::pki
