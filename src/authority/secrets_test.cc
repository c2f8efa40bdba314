#include "authority/secrets.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "ossl/csprng.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;

constexpr PasswordHashOptions kFast{.log2_n = 10, .r = 8, .p = 1};

class FailingRng final : public core::Rng {
 public:
  core::Result<void> Fill(std::span<std::uint8_t>) override {
    return core::Fail(ErrorCode::kCrypto, "not seeded");
  }
};

TEST(PasswordTest, RoundTripAtDefaultCost) {
  ossl::Csprng rng;
  auto encoded = HashPassword("correct horse battery staple", rng);
  ASSERT_TRUE(encoded) << encoded.error().message;
  EXPECT_TRUE(encoded->starts_with("$scrypt$ln=15,r=8,p=1$")) << *encoded;
  EXPECT_TRUE(VerifyPassword("correct horse battery staple", *encoded));
  EXPECT_FALSE(VerifyPassword("correct horse battery stapl", *encoded));
}

TEST(PasswordTest, RoundTripAndWrongPassword) {
  ossl::Csprng rng;
  auto encoded = HashPassword("s3cret", rng, kFast);
  ASSERT_TRUE(encoded) << encoded.error().message;
  EXPECT_TRUE(encoded->starts_with("$scrypt$ln=10,r=8,p=1$"));
  EXPECT_TRUE(VerifyPassword("s3cret", *encoded));
  EXPECT_FALSE(VerifyPassword("s3creT", *encoded));
  EXPECT_FALSE(VerifyPassword("", *encoded));
  EXPECT_FALSE(VerifyPassword("s3cret ", *encoded));
}

TEST(PasswordTest, SaltIsFreshEachTime) {
  ossl::Csprng rng;
  auto a = HashPassword("same", rng, kFast);
  auto b = HashPassword("same", rng, kFast);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(VerifyPassword("same", *a));
  EXPECT_TRUE(VerifyPassword("same", *b));
}

TEST(PasswordTest, EmptyPasswordHashesAndVerifies) {
  ossl::Csprng rng;
  auto encoded = HashPassword("", rng, kFast);
  ASSERT_TRUE(encoded);
  EXPECT_TRUE(VerifyPassword("", *encoded));
  EXPECT_FALSE(VerifyPassword("x", *encoded));
}

TEST(PasswordTest, MatchesRfc7914TestVector) {
  // RFC 7914 section 12, second vector: P="password", S="NaCl", N=1024, r=8, p=16. Its first
  // 32 bytes are the 32-byte output (the last step is PBKDF2 with c=1, prefix-stable).
  // Salt "NaCl" = base64 "TmFDbA".
  std::string encoded = "$scrypt$ln=10,r=8,p=16$TmFDbA$/bq+HJ00cgB4VucZDQHp/nxq18vII3gw53N2Y0s3MWI";
  EXPECT_TRUE(VerifyPassword("password", encoded));
  EXPECT_FALSE(VerifyPassword("Password", encoded));
}

TEST(PasswordTest, MalformedEncodingsAreFalseNotCrashes) {
  ossl::Csprng rng;
  auto good = HashPassword("pw", rng, kFast);
  ASSERT_TRUE(good);
  std::string g = *good;
  const std::vector<std::string> bad = {
      "",
      "$",
      "$$$$",
      "scrypt",
      "$scrypt$",
      "$bcrypt$ln=10,r=8,p=1$AAAA$AAAA",
      "$scrypt$ln=10,r=8$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      "$scrypt$ln=x,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      "$scrypt$ln=-1,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      "$scrypt$ln=0,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      "$scrypt$ln=10,r=0,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      "$scrypt$ln=10,r=8,p=0$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      "$scrypt$ln=10,r=8,p=1$$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      "$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$",
      "$scrypt$ln=10,r=8,p=1$A!AA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      "$scrypt$ln=10,r=8,p=1$AAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      "$scrypt$ln=99999999999999999999,r=8,p=1$AAAA$AAAA",
      g + "$",
      g.substr(0, g.size() - 1),
      g.substr(0, g.size() - 2),
      g.substr(0, g.size() - 1) + "B",  // non-canonical last character
      g + "AAAA",                       // a longer hash
      g.substr(0, g.size() / 2),
      std::string(100000, '$'),
      std::string("$scrypt$ln=10,r=8,p=1$\0AAA$AAAA", 32),
  };
  for (const auto& e : bad) {
    EXPECT_FALSE(VerifyPassword("pw", e)) << e.substr(0, 80);
  }
}

TEST(PasswordTest, AbsurdCostIsRefusedQuickly) {
  // ln=21 (2 GiB with r=8) and ln=30 must be refused without running scrypt.
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(VerifyPassword(
      "pw",
      "$scrypt$ln=30,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
  EXPECT_FALSE(VerifyPassword(
      "pw",
      "$scrypt$ln=21,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
  EXPECT_FALSE(VerifyPassword("pw",
                              "$scrypt$ln=20,r=32,p=16$AAAAAAAAAAAAAAAAAAAAAA$"
                              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
  EXPECT_FALSE(VerifyPassword("pw",
                              "$scrypt$ln=10,r=8,p=100000$AAAAAAAAAAAAAAAAAAAAAA$"
                              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(PasswordTest, HashPasswordRefusesBadCostAndFailingRng) {
  ossl::Csprng rng;
  auto r = HashPassword("pw", rng, {.log2_n = 21});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  FailingRng failing;
  auto f = HashPassword("pw", failing, kFast);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, ErrorCode::kCrypto);
}

TEST(GeneratePasswordTest, ShapeAndUniqueness) {
  ossl::Csprng rng;
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    auto pw = GeneratePassword(rng);
    ASSERT_TRUE(pw);
    ASSERT_EQ(pw->size(), 24u);
    for (char c : *pw) {
      EXPECT_TRUE((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
          << *pw;
    }
    seen.insert(*pw);
  }
  EXPECT_EQ(seen.size(), 50u);
  FailingRng failing;
  EXPECT_FALSE(GeneratePassword(failing));
}

TEST(TokenTest, GenerateShapeIdAndHash) {
  ossl::Csprng rng;
  for (int i = 0; i < 20; ++i) {
    auto t = GenerateToken(rng);
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->id.size(), 16u);
    EXPECT_EQ(t->token.size(), 5u + 16u + 1u + 43u);
    EXPECT_TRUE(t->token.starts_with("ctls_" + t->id + "_"));
    EXPECT_EQ(t->hash, TokenHash(t->token));
    EXPECT_EQ(t->hash.size(), 64u);
    EXPECT_EQ(t->token.find('='), std::string::npos);
    auto id = TokenId(t->token);
    ASSERT_TRUE(id) << t->token;
    EXPECT_EQ(*id, t->id);
  }
}

TEST(TokenTest, TokenIdRefusesWrongShapes) {
  std::string good = "ctls_0123456789abcdef_" + std::string(43, 'A');
  ASSERT_TRUE(TokenId(good));
  EXPECT_EQ(*TokenId(good), "0123456789abcdef");
  // A secret with '_' and '-' in it is still fine.
  EXPECT_TRUE(TokenId("ctls_0123456789abcdef_" + std::string(21, '_') + std::string(22, '-')));
  const std::vector<std::string> bad = {
      "",
      "ctls_",
      good.substr(0, good.size() - 1),
      good + "A",
      "ctlx_0123456789abcdef_" + std::string(43, 'A'),
      "ctls_0123456789abcdeg_" + std::string(43, 'A'),
      "ctls_0123456789ABCDEF_" + std::string(43, 'A'),
      "ctls_0123456789abcdef-" + std::string(43, 'A'),
      "ctls_0123456789abcdef_" + std::string(42, 'A') + "=",
      "ctls_0123456789abcdef_" + std::string(42, 'A') + "+",
  };
  for (const auto& t : bad) {
    auto r = TokenId(t);
    ASSERT_FALSE(r) << t;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(TokenTest, TokenHashIsSha256Hex) {
  // FIPS 180-2 test vector.
  EXPECT_EQ(TokenHash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(TokenHash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ConstantTimeEqualsTest, Compares) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_TRUE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(SealingKeyTest, HexRoundTrip) {
  ossl::Csprng rng;
  auto key = SealingKey::Generate(rng);
  ASSERT_TRUE(key);
  std::string hex = key->ToHex();
  ASSERT_EQ(hex.size(), 65u);
  EXPECT_EQ(hex.back(), '\n');
  auto again = SealingKey::FromHex("  \n" + hex + "\n\n");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->ToHex(), hex);
  // Upper-case hex is accepted too.
  std::string upper = hex;
  for (char& c : upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  auto up = SealingKey::FromHex(upper);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->ToHex(), hex);
}

TEST(SealingKeyTest, FromHexRefusesBadText) {
  for (std::string bad :
       {std::string(""), std::string(63, 'a'), std::string(65, 'a'), std::string(62, 'a') + "zz",
        std::string(32, 'a') + " " + std::string(31, 'a')}) {
    auto r = SealingKey::FromHex(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kParse);
    // The message never echoes key material.
    EXPECT_EQ(r.error().message.find("aaaa"), std::string::npos) << r.error().message;
  }
}

TEST(SealingKeyTest, SealOpenRoundTrip) {
  ossl::Csprng rng;
  auto key = SealingKey::Generate(rng);
  ASSERT_TRUE(key);
  for (std::string plain : {std::string(), std::string("x"), std::string(5000, 'k'),
                            std::string("-----BEGIN PRIVATE KEY-----\n\0\xff", 30)}) {
    auto blob = key->Seal(plain, "ca:issuing", rng);
    ASSERT_TRUE(blob) << blob.error().message;
    ASSERT_EQ(blob->size(), 4 + 12 + plain.size() + 16);
    EXPECT_EQ(std::string(blob->begin(), blob->begin() + 4), "CTS1");
    if (plain.size() > 8) {
      EXPECT_EQ(std::string(blob->begin(), blob->end()).find(plain), std::string::npos);
    }
    auto opened = key->Open(*blob, "ca:issuing");
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(*opened, plain);
  }
  // Empty aad works as well.
  auto blob = key->Seal("secret", "", rng);
  ASSERT_TRUE(blob);
  ASSERT_TRUE(key->Open(*blob, ""));
  EXPECT_EQ(*key->Open(*blob, ""), "secret");
}

TEST(SealingKeyTest, NonceIsFreshEachTime) {
  ossl::Csprng rng;
  auto key = SealingKey::Generate(rng);
  ASSERT_TRUE(key);
  auto a = key->Seal("same", "p", rng);
  auto b = key->Seal("same", "p", rng);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
}

TEST(SealingKeyTest, TamperedBlobWrongAadWrongKey) {
  ossl::Csprng rng;
  auto key = SealingKey::Generate(rng);
  auto other = SealingKey::Generate(rng);
  ASSERT_TRUE(key && other);
  auto blob = key->Seal("the CA private key", "ca:issuing", rng);
  ASSERT_TRUE(blob);

  auto wrong_aad = key->Open(*blob, "named:api");
  ASSERT_FALSE(wrong_aad);
  EXPECT_EQ(wrong_aad.error().code, ErrorCode::kWrongPassphrase);

  auto wrong_key = other->Open(*blob, "ca:issuing");
  ASSERT_FALSE(wrong_key);
  EXPECT_EQ(wrong_key.error().code, ErrorCode::kWrongPassphrase);

  // Flip one bit in every position after the magic: nonce, ciphertext and tag.
  for (std::size_t i = 4; i < blob->size(); ++i) {
    store::Blob t = *blob;
    t[i] ^= 0x01;
    auto r = key->Open(t, "ca:issuing");
    ASSERT_FALSE(r) << "byte " << i;
    EXPECT_EQ(r.error().code, ErrorCode::kWrongPassphrase) << "byte " << i;
    EXPECT_EQ(r.error().message.find("the CA"), std::string::npos);
  }
  // Appending a byte shifts the tag: does not verify.
  store::Blob longer = *blob;
  longer.push_back(0);
  auto r = key->Open(longer, "ca:issuing");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kWrongPassphrase);
}

TEST(SealingKeyTest, TruncatedOrForeignBlobIsParseError) {
  ossl::Csprng rng;
  auto key = SealingKey::Generate(rng);
  ASSERT_TRUE(key);
  auto blob = key->Seal("", "a", rng);
  ASSERT_TRUE(blob);
  ASSERT_EQ(blob->size(), 32u);
  for (std::size_t n : {0u, 1u, 4u, 16u, 31u}) {
    auto r = key->Open(std::span<const std::uint8_t>(blob->data(), n), "a");
    ASSERT_FALSE(r) << n;
    EXPECT_EQ(r.error().code, ErrorCode::kParse) << n;
  }
  store::Blob foreign = *blob;
  foreign[3] = '2';  // "CTS2"
  auto r = key->Open(foreign, "a");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kParse);
}

TEST(SealingKeyTest, FailingRng) {
  ossl::Csprng rng;
  auto key = SealingKey::Generate(rng);
  ASSERT_TRUE(key);
  FailingRng failing;
  EXPECT_FALSE(SealingKey::Generate(failing));
  EXPECT_FALSE(key->Seal("x", "a", failing));
}

// --- audit chain ---

std::vector<store::AuditEntry> MakeChain(int n) {
  std::vector<store::AuditEntry> out;
  std::string prev;
  for (int i = 1; i <= n; ++i) {
    store::AuditEntry e{
        .seq = i,
        .time = core::TimePoint(std::chrono::seconds(1700000000 + i)),
        .actor = "admin",
        .action = "named_cert.update",
        .target = "api",
        .source = "127.0.0.1",
        .details_json = R"({"version":)" + std::to_string(i) + "}",
        .prev_hash = prev,
    };
    e.hash = AuditHash(e);
    prev = e.hash;
    out.push_back(e);
  }
  return out;
}

AuditCheck Verify(const std::vector<store::AuditEntry>& entries) {
  AuditVerifier v;
  for (const auto& e : entries) {
    v.Add(e);
  }
  return v.result();
}

TEST(AuditHashTest, DependsOnEveryFieldAndIsUnambiguous) {
  store::AuditEntry base{.seq = 3,
                         .time = core::TimePoint(std::chrono::seconds(1700000000)),
                         .actor = "ab",
                         .action = "c",
                         .target = "t",
                         .source = "s",
                         .details_json = "{}",
                         .prev_hash = "p"};
  std::string h = AuditHash(base);
  EXPECT_EQ(h.size(), 64u);
  EXPECT_EQ(h, AuditHash(base));
  std::set<std::string> hashes = {h};
  auto variant = [&](auto mutate) {
    store::AuditEntry e = base;
    mutate(e);
    hashes.insert(AuditHash(e));
  };
  variant([](auto& e) { e.seq = 4; });
  variant([](auto& e) { e.time += std::chrono::seconds(1); });
  variant([](auto& e) { e.actor = "ab "; });
  variant([](auto& e) { e.action = "d"; });
  variant([](auto& e) { e.target = "u"; });
  variant([](auto& e) { e.source = "r"; });
  variant([](auto& e) { e.details_json = "{ }"; });
  variant([](auto& e) { e.prev_hash = "q"; });
  // Moving a character across a field boundary changes the hash (length prefixes).
  variant([](auto& e) {
    e.actor = "a";
    e.action = "bc";
  });
  EXPECT_EQ(hashes.size(), 10u);
  // The stored hash itself is not part of the input.
  store::AuditEntry with_hash = base;
  with_hash.hash = "whatever";
  EXPECT_EQ(AuditHash(with_hash), h);
}

TEST(AuditVerifierTest, IntactChainAndEmptyLog) {
  auto check = Verify(MakeChain(10));
  EXPECT_TRUE(check.ok) << check.problem;
  EXPECT_EQ(check.entries, 10);
  auto empty = Verify({});
  EXPECT_TRUE(empty.ok);
  EXPECT_EQ(empty.entries, 0);
}

TEST(AuditVerifierTest, DetectsEditedField) {
  auto chain = MakeChain(6);
  chain[3].actor = "mallory";  // seq 4
  auto check = Verify(chain);
  EXPECT_FALSE(check.ok);
  EXPECT_EQ(check.first_bad_seq, 4);
  EXPECT_EQ(check.problem, "hash does not match its content");
  EXPECT_EQ(check.entries, 3);
}

TEST(AuditVerifierTest, DetectsEditedFieldWithRecomputedHash) {
  // Recomputing the edited entry's hash breaks the next entry's prev_hash.
  auto chain = MakeChain(6);
  chain[3].details_json = R"({"version":99})";
  chain[3].hash = AuditHash(chain[3]);
  auto check = Verify(chain);
  EXPECT_FALSE(check.ok);
  EXPECT_EQ(check.first_bad_seq, 5);
  EXPECT_EQ(check.problem, "prev_hash does not match entry 4");
}

TEST(AuditVerifierTest, DetectsDeletedEntry) {
  auto chain = MakeChain(6);
  chain.erase(chain.begin() + 4);  // seq 5
  auto check = Verify(chain);
  EXPECT_FALSE(check.ok);
  EXPECT_EQ(check.first_bad_seq, 6);
  EXPECT_EQ(check.problem, "sequence gap: 6 follows 4");
}

TEST(AuditVerifierTest, DetectsDeletedFirstEntry) {
  auto chain = MakeChain(3);
  chain.erase(chain.begin());
  auto check = Verify(chain);
  EXPECT_FALSE(check.ok);
  EXPECT_EQ(check.first_bad_seq, 2);
  EXPECT_EQ(check.problem, "sequence starts at 2, not 1");
}

TEST(AuditVerifierTest, DetectsReorderedEntries) {
  auto chain = MakeChain(6);
  std::swap(chain[2], chain[3]);  // seq 1, 2, 4, 3, 5, 6
  auto check = Verify(chain);
  EXPECT_FALSE(check.ok);
  EXPECT_EQ(check.first_bad_seq, 4);
  EXPECT_EQ(check.problem, "sequence gap: 4 follows 2");
}

TEST(AuditVerifierTest, DetectsRenumberedReorder) {
  // Swapping two entries' contents while keeping seq numbers in order: the hashes catch it.
  auto chain = MakeChain(6);
  std::swap(chain[2], chain[3]);
  chain[2].seq = 3;
  chain[3].seq = 4;
  auto check = Verify(chain);
  EXPECT_FALSE(check.ok);
  EXPECT_EQ(check.first_bad_seq, 3);
  EXPECT_EQ(check.problem, "prev_hash does not match entry 2");
}

TEST(AuditVerifierTest, DetectsBrokenPrevHash) {
  auto chain = MakeChain(5);
  chain[2].prev_hash = std::string(64, '0');
  chain[2].hash = AuditHash(chain[2]);  // self-consistent, but not linked
  auto check = Verify(chain);
  EXPECT_FALSE(check.ok);
  EXPECT_EQ(check.first_bad_seq, 3);
  EXPECT_EQ(check.problem, "prev_hash does not match entry 2");

  auto first = MakeChain(2);
  first[0].prev_hash = "x";
  first[0].hash = AuditHash(first[0]);
  auto c2 = Verify(first);
  EXPECT_FALSE(c2.ok);
  EXPECT_EQ(c2.first_bad_seq, 1);
}

TEST(AuditVerifierTest, StopsAtFirstProblem) {
  auto chain = MakeChain(6);
  chain[1].target = "x";
  chain[4].target = "y";
  AuditVerifier v;
  for (const auto& e : chain) {
    v.Add(e);
  }
  EXPECT_FALSE(v.result().ok);
  EXPECT_EQ(v.result().first_bad_seq, 2);
}

TEST(AuditVerifierTest, VerifiesAcrossPages) {
  auto chain = MakeChain(25);
  AuditVerifier v;
  for (std::size_t page = 0; page < chain.size(); page += 10) {
    for (std::size_t i = page; i < std::min(chain.size(), page + 10); ++i) {
      v.Add(chain[i]);
    }
  }
  EXPECT_TRUE(v.result().ok);
  EXPECT_EQ(v.result().entries, 25);
}

// The chain alone cannot tell that the last entries were deleted; a head signed earlier can.
TEST(AuditVerifierTest, ATruncatedLogIsAnIntactChainUntilCheckedAgainstItsHead) {
  auto chain = MakeChain(10);
  const std::string head =
      "the signed head (entry 10, hash " + chain[9].hash + ", signed at 2023-11-14T22:13:30Z)";
  chain.resize(7);  // DELETE FROM audit_log WHERE seq > 7
  EXPECT_TRUE(Verify(chain).ok);

  AuditVerifier v;
  v.ExpectHead(10, MakeChain(10)[9].hash, head);
  for (const auto& e : chain) {
    v.Add(e);
  }
  EXPECT_TRUE(v.result().ok) << "the chain so far is intact";
  AuditCheck check = v.Finish();
  EXPECT_FALSE(check.ok);
  EXPECT_TRUE(check.truncated);
  EXPECT_EQ(check.entries, 7);
  EXPECT_EQ(check.first_bad_seq, 8);
  EXPECT_EQ(check.problem, "audit log truncated: " + head + " is past the log's last entry 7");

  AuditVerifier empty;
  empty.ExpectHead(10, chain[0].hash, head);
  EXPECT_EQ(empty.Finish().problem,
            "audit log truncated: " + head + " is past the log's last entry 0");
}

TEST(AuditVerifierTest, ALogThatReachesItsHeadIsIntactAlsoWhenItGrewSince) {
  auto chain = MakeChain(12);
  AuditVerifier v;
  v.ExpectHead(10, chain[9].hash, "head A");
  v.ExpectHead(3, chain[2].hash, "head B");
  for (const auto& e : chain) {
    v.Add(e);
  }
  AuditCheck check = v.Finish();
  EXPECT_TRUE(check.ok) << check.problem;
  EXPECT_FALSE(check.truncated);
  EXPECT_EQ(check.entries, 12);
}

// Rows deleted, then as many appended again with a recomputed chain: the log reaches the head's
// seq, but another entry is there.
TEST(AuditVerifierTest, AnotherEntryAtTheHeadsSeqIsReported) {
  auto original = MakeChain(10);
  auto chain = MakeChain(10);
  chain[8].actor = "mallory";  // seq 9 and 10 rewritten, their hashes recomputed
  chain[8].hash = AuditHash(chain[8]);
  chain[9].prev_hash = chain[8].hash;
  chain[9].hash = AuditHash(chain[9]);
  EXPECT_TRUE(Verify(chain).ok);
  AuditVerifier v;
  v.ExpectHead(10, original[9].hash, "the signed head (entry 10)");
  for (const auto& e : chain) {
    v.Add(e);
  }
  AuditCheck check = v.Finish();
  EXPECT_FALSE(check.ok);
  EXPECT_TRUE(check.truncated);
  EXPECT_EQ(check.first_bad_seq, 10);
  EXPECT_EQ(check.problem, "audit log truncated or rewritten: entry 10 has hash " + chain[9].hash +
                               ", not that of the signed head (entry 10)");
}

// A broken chain is reported as such, before any head comparison.
TEST(AuditVerifierTest, ABrokenChainIsReportedBeforeTheHead) {
  auto chain = MakeChain(6);
  chain[2].target = "x";
  AuditVerifier v;
  v.ExpectHead(9, chain[5].hash, "head");
  for (const auto& e : chain) {
    v.Add(e);
  }
  AuditCheck check = v.Finish();
  EXPECT_FALSE(check.ok);
  EXPECT_FALSE(check.truncated);
  EXPECT_EQ(check.first_bad_seq, 3);
  EXPECT_EQ(check.problem, "hash does not match its content");
}

}  // namespace
}  // namespace clustertls::authority
