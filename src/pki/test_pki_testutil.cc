#include "pki/test_pki_testutil.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <utility>

namespace clustertls::pki {

void AbortOnError(const core::Error& error, std::string_view what) {
  ADD_FAILURE() << "test PKI: " << what << (what.empty() ? "" : ": ") << error.message << " ["
                << core::ErrorCodeName(error.code) << "] " << error.detail;
  std::abort();
}

void Must(core::Result<void> result, std::string_view what) {
  if (!result) {
    AbortOnError(result.error(), what);
  }
}

std::string ReadTestFile(std::string_view relative) {
  const std::string path = std::string(CTLS_TESTDATA_DIR) + "/" + std::string(relative);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read test file " << path;
    return {};
  }
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    return result;
  }
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) {
    result.output.append(buf.data(), n);
  }
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

PrivateKey TestKey(KeyType type, int slot) {
  if (type != KeyType::kRsa2048 && type != KeyType::kRsa3072 && type != KeyType::kRsa4096) {
    return NewTestKey(type);
  }
  static std::mutex mu;
  static auto* keys = new std::map<std::pair<KeyType, int>, PrivateKey>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = keys->find({type, slot});
  if (it == keys->end()) {
    it = keys->emplace(std::make_pair(type, slot), NewTestKey(type)).first;
  }
  return it->second;
}

PrivateKey NewTestKey(KeyType type) {
  return Must(PrivateKey::Generate(type), std::string("generate ") + KeyTypeName(type));
}

TestPki MakeTestPki(const TestPkiOptions& options) {
  ossl::Csprng rng;
  const core::TimePoint start = kTestReferenceTime - std::chrono::days(1);
  PrivateKey root_key = TestKey(options.root_key_type, 0);
  PrivateKey int_key = TestKey(options.intermediate_key_type, 1);

  // The CAs start a day early: issue them "at" start + kBackdate so notBefore is `start`.
  const core::TimePoint ca_now = start + kBackdate;
  Certificate root = Must(SelfSign(root_key,
                                   IssueRequest{.profile = Profile::kRootCa,
                                                .common_name = options.root_name,
                                                .subject_extra = {{"O", "clustertls tests"}},
                                                .validity = options.root_validity,
                                                .path_len = options.root_path_len},
                                   ca_now, rng),
                          "self-sign the root");
  Issuer root_issuer = Must(Issuer::Create(root, root_key), "root issuer");
  Certificate intermediate =
      Must(root_issuer.Issue(IssueRequest{.profile = Profile::kIntermediateCa,
                                          .common_name = options.intermediate_name,
                                          .subject_extra = {{"O", "clustertls tests"}},
                                          .validity = options.intermediate_validity,
                                          .path_len = options.intermediate_path_len,
                                          .name_constraints = options.intermediate_constraints},
                             int_key.public_key(), ca_now, rng),
           "issue the intermediate");
  Issuer issuing = Must(Issuer::Create(intermediate, int_key, {root}), "intermediate issuer");
  return TestPki{.now = kTestReferenceTime,
                 .root_key = root_key,
                 .root = root,
                 .intermediate_key = int_key,
                 .intermediate = intermediate,
                 .root_issuer = root_issuer,
                 .issuing = issuing};
}

TestLeaf IssueLeaf(const TestPki& pki, std::string_view name, Profile profile, KeyType key_type,
                   std::chrono::seconds validity) {
  return IssueLeaf(
      pki.issuing,
      IssueRequest{.profile = profile, .common_name = std::string(name), .validity = validity},
      key_type);
}

TestLeaf IssueLeaf(const Issuer& issuer, const IssueRequest& request, KeyType key_type) {
  ossl::Csprng rng;
  PrivateKey key = TestKey(key_type, 2);
  Certificate cert = Must(issuer.Issue(request, key.public_key(), kTestReferenceTime, rng),
                          "issue leaf \"" + request.common_name + "\"");
  return TestLeaf{.key = key, .cert = cert};
}

}  // namespace clustertls::pki
