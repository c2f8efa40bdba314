#include "pki/test_pki_testutil.h"

#include <gtest/gtest.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <utility>

#include "ossl/error.h"
#include "pki/extensions.h"

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

Certificate EditExtensions(const Certificate& cert, const ExtensionEdits& edits,
                           const PrivateKey& signer) {
  auto x = ossl::Own(X509_dup(cert.get()));
  if (!x) {
    AbortOnError(ossl::Failure(core::ErrorCode::kCrypto, "X509_dup"), "EditExtensions");
  }
  const std::pair<int, const std::optional<std::string>*> changes[] = {
      {NID_key_usage, &edits.key_usage},
      {NID_ext_key_usage, &edits.extended_key_usage},
      {NID_basic_constraints, &edits.basic_constraints},
      {NID_name_constraints, &edits.name_constraints},
  };
  for (const auto& [nid, value] : changes) {
    if (!value->has_value()) {
      continue;
    }
    for (int idx = X509_get_ext_by_NID(x.get(), nid, -1); idx >= 0;
         idx = X509_get_ext_by_NID(x.get(), nid, -1)) {
      X509_EXTENSION_free(X509_delete_ext(x.get(), idx));
    }
    if ((*value)->empty()) {
      continue;
    }
    auto ext = ossl::Own(X509V3_EXT_conf_nid(nullptr, nullptr, nid, (*value)->c_str()));
    if (!ext || X509_add_ext(x.get(), ext.get(), -1) != 1) {
      AbortOnError(ossl::Failure(core::ErrorCode::kCrypto, "cannot add " + **value),
                   "EditExtensions");
    }
  }
  const EVP_MD* md = Must(internal::SigningDigest(signer.get()), "EditExtensions digest");
  if (X509_sign(x.get(), signer.get(), md) <= 0) {
    AbortOnError(ossl::Failure(core::ErrorCode::kCrypto, "X509_sign"), "EditExtensions");
  }
  // Through DER, as a peer would receive it.
  return Must(Certificate::FromDer(internal::ToDerOnePass(x.get(), i2d_X509)), "EditExtensions");
}

namespace {

// The request parsed, without its nonce extensions.
ossl::Ptr<OCSP_REQUEST> RequestWithoutNonce(std::string_view request_der) {
  const auto* p = reinterpret_cast<const unsigned char*>(request_der.data());
  auto req = ossl::Own(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(request_der.size())));
  if (!req) {
    AbortOnError(ossl::Failure(core::ErrorCode::kParse, "d2i_OCSP_REQUEST"), "OCSP nonce");
  }
  for (int idx = OCSP_REQUEST_get_ext_by_NID(req.get(), NID_id_pkix_OCSP_Nonce, -1); idx >= 0;
       idx = OCSP_REQUEST_get_ext_by_NID(req.get(), NID_id_pkix_OCSP_Nonce, -1)) {
    X509_EXTENSION_free(OCSP_REQUEST_delete_ext(req.get(), idx));
  }
  return req;
}

}  // namespace

std::string WithOcspNonce(std::string_view request_der, std::optional<std::string> nonce) {
  auto req = RequestWithoutNonce(request_der);
  if (nonce.has_value() &&
      OCSP_request_add1_nonce(req.get(), reinterpret_cast<unsigned char*>(nonce->data()),
                              static_cast<int>(nonce->size())) != 1) {
    AbortOnError(ossl::Failure(core::ErrorCode::kCrypto, "OCSP_request_add1_nonce"), "OCSP nonce");
  }
  return internal::ToDerOnePass(req.get(), i2d_OCSP_REQUEST);
}

std::string WithRawOcspNonces(std::string_view request_der,
                              const std::vector<std::string>& extn_values) {
  auto req = RequestWithoutNonce(request_der);
  for (const std::string& value : extn_values) {
    auto data = ossl::Own(ASN1_OCTET_STRING_new());
    if (!data ||
        ASN1_OCTET_STRING_set(data.get(), reinterpret_cast<const unsigned char*>(value.data()),
                              static_cast<int>(value.size())) != 1) {
      AbortOnError(ossl::Failure(core::ErrorCode::kCrypto, "ASN1_OCTET_STRING_set"), "OCSP nonce");
    }
    auto ext =
        ossl::Own(X509_EXTENSION_create_by_NID(nullptr, NID_id_pkix_OCSP_Nonce, 0, data.get()));
    if (!ext || OCSP_REQUEST_add_ext(req.get(), ext.get(), -1) != 1) {
      AbortOnError(ossl::Failure(core::ErrorCode::kCrypto, "OCSP_REQUEST_add_ext"), "OCSP nonce");
    }
  }
  return internal::ToDerOnePass(req.get(), i2d_OCSP_REQUEST);
}

}  // namespace clustertls::pki
