#pragma once

// A test PKI built in code at a fixed reference time, for every pki/ unit test (and any other
// folder's): a root CA, an intermediate CA under it, and leaves issued by the intermediate.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "ossl/csprng.h"
#include "pki/certificate.h"
#include "pki/issuer.h"
#include "pki/key.h"

namespace clustertls::pki {

// 2026-01-01T00:00:00Z: "now" for every test. Tests never read the wall clock.
inline constexpr core::TimePoint kTestReferenceTime =
    core::TimePoint(std::chrono::sys_days(std::chrono::year(2026) / 1 / 1));

// Fails the test with `error` (and what was being done) and aborts.
[[noreturn]] void AbortOnError(const core::Error& error, std::string_view what);

// Unwraps a Result in test code: on error, fails the test with the message and aborts.
template <typename T>
T Must(core::Result<T> result, std::string_view what = "") {
  if (!result) {
    AbortOnError(result.error(), what);
  }
  return std::move(result).value();
}
void Must(core::Result<void> result, std::string_view what = "");

// The bytes of tests/fixtures/<relative> (e.g. "csr/ok-ec.csr.pem"); fails the test if missing.
std::string ReadTestFile(std::string_view relative);

// What a shell command printed (stdout, plus stderr where the command redirects it) and its exit
// code (-1 if it did not exit normally or could not start).
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
// Runs `command` through /bin/sh (popen) and collects its output; used to judge results with
// independent programs (the openssl CLI).
CommandResult RunCommand(const std::string& command);

// A key for test role `slot` (0 root, 1 intermediate, 2 leaves, others free): RSA keys are
// generated once per (type, slot) and reused, as RSA generation is slow; EC and Ed25519 keys
// are fresh on every call. Distinct slots never share a key.
PrivateKey TestKey(KeyType type, int slot);
// A fresh key of `type`.
PrivateKey NewTestKey(KeyType type);

struct TestPkiOptions {
  KeyType root_key_type = KeyType::kEcP256;
  KeyType intermediate_key_type = KeyType::kEcP256;
  std::string root_name = "clustertls Test Root CA";
  std::string intermediate_name = "clustertls Test Intermediate CA";
  // Both CAs start 1 day before kTestReferenceTime.
  std::chrono::seconds root_validity = std::chrono::days(3650);
  std::chrono::seconds intermediate_validity = std::chrono::days(1825);
  std::optional<int> root_path_len{};
  std::optional<int> intermediate_path_len = 0;
  NameConstraints intermediate_constraints{};
};

struct TestPki {
  core::TimePoint now;  // kTestReferenceTime
  PrivateKey root_key;
  Certificate root;
  PrivateKey intermediate_key;
  Certificate intermediate;
  Issuer root_issuer;  // signs with the root (issues intermediates)
  Issuer issuing;      // signs with the intermediate; its chain() is {root}
};

// Builds the test PKI. Aborts the test on failure.
TestPki MakeTestPki(const TestPkiOptions& options = {});

struct TestLeaf {
  PrivateKey key;
  Certificate cert;
};

// Issues a leaf for `name` (CN and DNS/IP SAN) from the intermediate at pki.now.
TestLeaf IssueLeaf(const TestPki& pki, std::string_view name, Profile profile = Profile::kServer,
                   KeyType key_type = KeyType::kEcP256,
                   std::chrono::seconds validity = std::chrono::days(90));

// Issues with an explicit request (any profile, SANs, URLs) from `issuer` at kTestReferenceTime.
TestLeaf IssueLeaf(const Issuer& issuer, const IssueRequest& request,
                   KeyType key_type = KeyType::kEcP256);

// Extensions to change in a copy of a certificate, each in OpenSSL's configuration syntax
// ("critical,digitalSignature", "clientAuth", "critical,CA:TRUE"): std::nullopt leaves the
// extension as it is, "" removes it.
struct ExtensionEdits {
  std::optional<std::string> key_usage{};
  std::optional<std::string> extended_key_usage{};
  std::optional<std::string> basic_constraints{};
  std::optional<std::string> name_constraints{};  // "critical,permitted;DNS:example.com", "DER:..."
};

// A copy of `cert` with `edits` applied, signed again with `signer` (the key of its issuer, or
// its own for a self-signed one): what another CA could issue for the same subject, key and
// names. Aborts the test on failure.
Certificate EditExtensions(const Certificate& cert, const ExtensionEdits& edits,
                           const PrivateKey& signer);

// `request_der` (a DER OCSPRequest) with its nonce extensions replaced by one made by OpenSSL's
// OCSP_request_add1_nonce for `nonce` (1 octet or more; the extnValue is the DER OCTET STRING of
// `nonce`, RFC 9654 section 2.1), or with no nonce when `nonce` is std::nullopt. Aborts the test
// on failure.
std::string WithOcspNonce(std::string_view request_der, std::optional<std::string> nonce);

// `request_der` with its nonce extensions replaced by one per entry of `extn_values`, each
// holding those raw extnValue bytes (for nonces OCSP_request_add1_nonce cannot make: empty,
// not an OCTET STRING, repeated).
std::string WithRawOcspNonces(std::string_view request_der,
                              const std::vector<std::string>& extn_values);

}  // namespace clustertls::pki
