#include "pki/ocsp.h"

#include <gtest/gtest.h>
#include <openssl/ocsp.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pki/test_pki_testutil.h"

namespace clustertls::pki {
namespace {

using std::chrono::days;
using std::chrono::hours;

// A temp directory of files for the openssl CLI; removed at the end of the test.
class Files {
 public:
  Files() {
    dir_ = std::filesystem::temp_directory_path() /
           ("ctls-ocsp-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
  }
  ~Files() { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& data) {
    std::ofstream(dir_ / name, std::ios::binary) << data;
    return Path(name);
  }
  std::string Read(const std::string& name) {
    std::ifstream in(dir_ / name, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string Path(const std::string& name) { return (dir_ / name).string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
};

struct Fixture {
  TestPki pki = MakeTestPki();
  TestLeaf a = IssueLeaf(pki, "a.example.com");
  TestLeaf b = IssueLeaf(pki, "b.example.com");
  TestLeaf signer = IssueLeaf(pki.issuing,
                              IssueRequest{.profile = Profile::kOcspSigner,
                                           .common_name = "ocsp.example.com",
                                           .validity = days(1000)});
  Files files;
  std::string root, intermediate, a_pem, b_pem;
  Fixture() {
    root = files.Write("root.pem", pki.root.ToPem());
    intermediate = files.Write("int.pem", pki.intermediate.ToPem());
    a_pem = files.Write("a.pem", a.cert.ToPem());
    b_pem = files.Write("b.pem", b.cert.ToPem());
  }
  // A request made by `openssl ocsp` for a and b.
  std::string MakeRequest(const std::string& flags) {
    CommandResult r = RunCommand("openssl ocsp " + flags + " -issuer " + intermediate +
                                 " -cert " + a_pem + " -cert " + b_pem + " -reqout " +
                                 files.Path("req.der") + " 2>&1");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return files.Read("req.der");
  }
};

TEST(OcspTest, ParsesOpensslRequestsWithSha1AndNonce) {
  Fixture f;
  OcspRequest req = Must(ParseOcspRequest(f.MakeRequest("")));
  ASSERT_EQ(req.ids.size(), 2u);
  EXPECT_EQ(req.ids[0].serial_hex, f.a.cert.serial_hex());
  EXPECT_EQ(req.ids[1].serial_hex, f.b.cert.serial_hex());
  EXPECT_EQ(req.ids[0].hash, OcspHash::kSha1);
  ASSERT_TRUE(req.nonce.has_value());
  EXPECT_FALSE(req.nonce->empty());
  OcspIssuerHashes hashes = IssuerHashes(f.pki.intermediate);
  EXPECT_TRUE(hashes.Matches(req.ids[0]));
  EXPECT_FALSE(IssuerHashes(f.pki.root).Matches(req.ids[0]));
}

TEST(OcspTest, ParsesSha256CertIdsWithoutNonce) {
  Fixture f;
  OcspRequest req = Must(ParseOcspRequest(f.MakeRequest("-sha256 -no_nonce")));
  ASSERT_EQ(req.ids.size(), 2u);
  EXPECT_EQ(req.ids[1].hash, OcspHash::kSha256);
  EXPECT_FALSE(req.nonce.has_value());
  EXPECT_TRUE(IssuerHashes(f.pki.intermediate).Matches(req.ids[1]));
}

TEST(OcspTest, MalformedRequestsAreParseErrors) {
  Fixture f;
  std::string good = f.MakeRequest("-no_nonce");
  for (const std::string& bad :
       {std::string(), std::string("garbage"), good.substr(0, good.size() / 2),
        good + std::string("\x00", 1), std::string("\x30\x00", 2)}) {
    auto r = ParseOcspRequest(bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, core::ErrorCode::kParse) << r.error().message;
  }
}

// `openssl ocsp` checks our response: the delegated responder's signature and chain, each
// status, the reason and the echoed nonce.
TEST(OcspTest, OpensslAcceptsSignedResponses) {
  Fixture f;
  std::string req_der = f.MakeRequest("");
  OcspRequest req = Must(ParseOcspRequest(req_der));
  std::vector<OcspSingleResponse> answers = {
      {.id = &req.ids[0],
       .status = OcspCertStatus::kGood,
       .this_update = f.pki.now,
       .next_update = f.pki.now + days(3650)},
      {.id = &req.ids[1],
       .status = OcspCertStatus::kRevoked,
       .revoked_at = f.pki.now - hours(1),
       .reason = RevocationReason::kKeyCompromise,
       .this_update = f.pki.now,
       .next_update = f.pki.now + days(3650)},
  };
  std::string resp = Must(BuildOcspResponse({.certificate = f.signer.cert, .key = f.signer.key},
                                            answers, req.nonce));
  std::string resp_path = f.files.Write("resp.der", resp);
  CommandResult r = RunCommand(
      "openssl ocsp -no_nonce -respin " + resp_path + " -issuer " +
      f.intermediate + " -cert " + f.a_pem + " -cert " + f.b_pem + " -CAfile " + f.root +
      " -verify_other " + f.intermediate + " -attime " +
      std::to_string(f.pki.now.time_since_epoch().count()) + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Response verify OK"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(f.a_pem + ": good"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(f.b_pem + ": revoked"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("keyCompromise"), std::string::npos) << r.output;

  // The nonce is echoed (OpenSSL's own check; the CLI makes a fresh nonce when given -cert).
  const auto* rp = reinterpret_cast<const unsigned char*>(req_der.data());
  auto parsed_req = ossl::Own(d2i_OCSP_REQUEST(nullptr, &rp, static_cast<long>(req_der.size())));
  const auto* sp = reinterpret_cast<const unsigned char*>(resp.data());
  auto parsed_resp = ossl::Own(d2i_OCSP_RESPONSE(nullptr, &sp, static_cast<long>(resp.size())));
  ASSERT_TRUE(parsed_req && parsed_resp);
  auto basic = ossl::Own(OCSP_response_get1_basic(parsed_resp.get()));
  ASSERT_TRUE(basic);
  EXPECT_EQ(OCSP_check_nonce(parsed_req.get(), basic.get()), 1);
}

// `n` octets of a nonce (not all alike, so that a truncation would show).
std::string NonceOf(std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(static_cast<char>(0xa0 + i * 7));
  }
  return out;
}

// What OpenSSL puts in the extnValue for `nonce`: its DER OCTET STRING (RFC 9654 section 2.1).
std::string DerOctetString(const std::string& nonce) {
  std::string out("\x04", 1);
  if (nonce.size() < 0x80) {
    out.push_back(static_cast<char>(nonce.size()));
  } else {
    out.push_back('\x81');
    out.push_back(static_cast<char>(nonce.size()));
  }
  return out + nonce;
}

// `openssl ocsp` sends a 16-octet nonce in an OCTET STRING: the nonce is those 16 octets.
TEST(OcspNonceTest, OpensslCliSendsSixteenOctets) {
  Fixture f;
  OcspRequest req = Must(ParseOcspRequest(f.MakeRequest("")));
  ASSERT_TRUE(req.nonce.has_value());
  ASSERT_EQ(req.nonce->size(), 18u);
  EXPECT_EQ(req.nonce->substr(0, 2), std::string("\x04\x10", 2));
}

// RFC 9654 section 2.1 (obsoleting RFC 8954's 32-octet limit): 1..128 octets are a nonce, kept
// and echoed byte for byte; OpenSSL's own check agrees the response carries the request's.
TEST(OcspNonceTest, OneTo128OctetsAreEchoed) {
  Fixture f;
  const std::string base = f.MakeRequest("-no_nonce");
  for (std::size_t n : {1u, 16u, 32u, 33u, 127u, 128u}) {
    const std::string nonce = NonceOf(n);
    const std::string der = WithOcspNonce(base, nonce);
    OcspRequest req = Must(ParseOcspRequest(der));
    ASSERT_TRUE(req.nonce.has_value()) << n;
    EXPECT_EQ(*req.nonce, DerOctetString(nonce)) << n;
    OcspSingleResponse good{.id = &req.ids[0],
                            .status = OcspCertStatus::kGood,
                            .this_update = f.pki.now,
                            .next_update = f.pki.now + days(1)};
    std::string resp = Must(BuildOcspResponse({.certificate = f.signer.cert, .key = f.signer.key},
                                              {&good, 1}, req.nonce));
    const auto* rp = reinterpret_cast<const unsigned char*>(der.data());
    auto parsed_req = ossl::Own(d2i_OCSP_REQUEST(nullptr, &rp, static_cast<long>(der.size())));
    const auto* sp = reinterpret_cast<const unsigned char*>(resp.data());
    auto parsed_resp = ossl::Own(d2i_OCSP_RESPONSE(nullptr, &sp, static_cast<long>(resp.size())));
    ASSERT_TRUE(parsed_req && parsed_resp) << n;
    auto basic = ossl::Own(OCSP_response_get1_basic(parsed_resp.get()));
    ASSERT_TRUE(basic) << n;
    EXPECT_EQ(OCSP_check_nonce(parsed_req.get(), basic.get()), 1) << n;
  }
}

TEST(OcspNonceTest, EmptyOrOver128OctetsIsMalformed) {
  Fixture f;
  const std::string base = f.MakeRequest("-no_nonce");
  for (std::size_t n : {129u, 200u, 1024u}) {
    auto r = ParseOcspRequest(WithOcspNonce(base, NonceOf(n)));
    ASSERT_FALSE(r) << n;
    EXPECT_EQ(r.error().code, core::ErrorCode::kParse);
    EXPECT_EQ(r.error().message,
              "the OCSP nonce is " + std::to_string(n) + " octets; RFC 9654 2.1 allows 1 to 128");
  }
  // OCSP_request_add1_nonce makes a default nonce for a length of 0; an empty one by hand.
  auto empty = ParseOcspRequest(WithRawOcspNonces(base, {std::string("\x04\x00", 2)}));
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, core::ErrorCode::kParse);
  EXPECT_EQ(empty.error().message, "the OCSP nonce is 0 octets; RFC 9654 2.1 allows 1 to 128");
  // An empty extnValue, raw bytes without the OCTET STRING, an OCTET STRING with bytes after it,
  // another type: not a nonce.
  for (const std::string& value :
       {std::string(), NonceOf(16), DerOctetString(NonceOf(8)) + "x",
        std::string("\x02\x01\x05", 3), std::string("\x04\x05\x01", 3)}) {
    auto r = ParseOcspRequest(WithRawOcspNonces(base, {value}));
    ASSERT_FALSE(r) << value.size();
    EXPECT_EQ(r.error().code, core::ErrorCode::kParse);
    EXPECT_EQ(r.error().message,
              "the OCSP nonce extension's value is not a DER OCTET STRING (RFC 9654 2.1)");
  }
  // Two nonces: which would be echoed?
  auto twice = ParseOcspRequest(
      WithRawOcspNonces(base, {DerOctetString(NonceOf(16)), DerOctetString(NonceOf(16))}));
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message, "the OCSP request holds more than one nonce extension");
  // The same request with a good nonce, and without one, parses.
  EXPECT_TRUE(ParseOcspRequest(WithRawOcspNonces(base, {DerOctetString(NonceOf(16))})));
  EXPECT_FALSE(Must(ParseOcspRequest(WithOcspNonce(base, std::nullopt))).nonce.has_value());
}

TEST(OcspTest, UnknownStatusAndErrorResponses) {
  Fixture f;
  OcspRequest req = Must(ParseOcspRequest(f.MakeRequest("-no_nonce")));
  OcspSingleResponse unknown{.id = &req.ids[0],
                             .status = OcspCertStatus::kUnknown,
                             .this_update = f.pki.now,
                             .next_update = f.pki.now + days(3650)};
  std::string resp = Must(BuildOcspResponse({.certificate = f.signer.cert, .key = f.signer.key},
                                            {&unknown, 1}, std::nullopt));
  std::string resp_path = f.files.Write("resp.der", resp);
  CommandResult r = RunCommand("openssl ocsp -respin " + resp_path + " -issuer " +
                               f.intermediate + " -cert " + f.a_pem + " -CAfile " + f.root +
                               " -verify_other " + f.intermediate + " -attime " +
                               std::to_string(f.pki.now.time_since_epoch().count()) + " 2>&1");
  EXPECT_NE(r.output.find(f.a_pem + ": unknown"), std::string::npos) << r.output;

  std::string malformed = f.files.Write(
      "malformed.der", OcspErrorResponse(OcspErrorStatus::kMalformedRequest));
  CommandResult m = RunCommand("openssl ocsp -respin " + malformed + " -resp_text -noverify 2>&1");
  EXPECT_NE(m.output.find("malformedrequest"), std::string::npos) << m.output;
  std::string unauthorized =
      f.files.Write("unauth.der", OcspErrorResponse(OcspErrorStatus::kUnauthorized));
  CommandResult u =
      RunCommand("openssl ocsp -respin " + unauthorized + " -resp_text -noverify 2>&1");
  EXPECT_NE(u.output.find("unauthorized"), std::string::npos) << u.output;

  auto empty = BuildOcspResponse({.certificate = f.signer.cert, .key = f.signer.key}, {},
                                 std::nullopt);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, core::ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace clustertls::pki
