#pragma once

// The fixture of the REST API tests (api_test.cc, api_security_test.cc): one in-process
// ControlPlane on 127.0.0.1:0 for the suite, on a data directory made by InitDataDir, requests
// through the independent libssl test client.

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "authority/data_dir.h"
#include "core/time.h"
#include "net/test_client_testutil.h"
#include "ossl/csprng.h"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "pki/crl_builder.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/test_pki_testutil.h"
#include "pki/verify.h"
#include "server/api.h"
#include "server/cluster_policy.h"
#include "server/control_plane.h"
#include "server/test_http_testutil.h"
#include "store/store.h"

namespace clustertls::server {

namespace fs = std::filesystem;
using json = nlohmann::json;
using pki::Must;

constexpr const char* kFqdn = "cluster.example.com";

class ApiTest : public ::testing::Test {
 protected:
  // One cluster for the suite: init (scrypt, key generation) is the slow part.
  static void SetUpTestSuite() {
    clock_ = new core::FixedClock(pki::kTestReferenceTime);
    dir_ = new std::string(fs::temp_directory_path() /
                           ("ctls-api-test-" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    ossl::Csprng rng;
    InitDataDirResult made = Must(InitDataDir({.data_dir = *dir_,
                                               .fqdn = kFqdn,
                                               .listen = "127.0.0.1:0",
                                               .public_listen = "127.0.0.1:0"},
                                              *clock_, rng),
                                  "InitDataDir");
    admin_password_ = new std::string(made.admin_password);
    fingerprint_ = new std::string(made.ca_fingerprint);
    plane_ = Must(ControlPlane::Start({.data_dir = *dir_,
                                       .listen = "127.0.0.1:0",
                                       .threads = 2,
                                       .poll_interval = std::chrono::milliseconds(200),
                                       .on_cluster_change = [] { cluster_changes_.fetch_add(1); }},
                                      *clock_),
                  "ControlPlane::Start")
                 .release();
  }

  static void TearDownTestSuite() {
    delete plane_;
    plane_ = nullptr;
    fs::remove_all(*dir_);
    delete dir_;
    delete admin_password_;
    delete fingerprint_;
    delete clock_;
  }

  static std::unique_ptr<net::TestTlsClient> Connect(net::TestClientOptions options = {}) {
    return Must(net::TestTlsClient::Connect(plane_->port(), options), "connect");
  }

  static std::string Admin() { return BasicAuthorization("admin", *admin_password_); }

  // One request on a new connection.
  static net::TestReply Call(std::string_view method, std::string_view target,
                             std::string_view body = {}, const std::string& authorization = "",
                             TestHeaders headers = {}) {
    auto client = Connect();
    if (!authorization.empty()) {
      headers.emplace_back("Authorization", authorization);
    }
    return Must(SendRequest(*client, method, target, body, headers), "request");
  }

  static json Body(const net::TestReply& reply) {
    json j = json::parse(reply.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << reply.body;
    return j;
  }

  // Creates a user (admin) and returns its Authorization header value.
  static std::string MakeUser(const std::string& name, const std::string& role) {
    std::string password = name + "-password-123";
    auto reply = Call("POST", "/v1/users",
                      json{{"name", name}, {"role", role}, {"password", password}}.dump(), Admin());
    EXPECT_TRUE(reply.status == 201 || reply.status == 409) << reply.body;
    return BasicAuthorization(name, password);
  }

  // Every audit entry (oldest first), or those with `action`.
  static std::vector<json> AuditEntries(const std::string& action = "") {
    std::vector<json> out;
    std::int64_t after = 0;
    for (int pages = 0; pages < 100; ++pages) {
      auto reply = Call("GET", "/v1/audit?limit=1000&after=" + std::to_string(after), {}, Admin());
      EXPECT_EQ(reply.status, 200) << reply.body;
      json j = Body(reply);
      if (j["entries"].empty()) {
        break;
      }
      for (const auto& e : j["entries"]) {
        if (action.empty() || e["action"] == action) {
          out.push_back(e);
        }
      }
      after = j["next_after"].get<std::int64_t>();
    }
    return out;
  }

  static std::vector<std::string> AuditActions() {
    std::vector<std::string> actions;
    for (const json& e : AuditEntries()) {
      actions.push_back(e["action"].get<std::string>());
    }
    return actions;
  }

  static std::int64_t NamedVersion(const std::string& name) {
    auto reply = Call("GET", "/v1/cluster/certificates", {}, Admin());
    EXPECT_EQ(reply.status, 200) << reply.body;
    json list = Body(reply);
    for (const auto& c : list["certificates"]) {
      if (c["name"] == name) {
        return c["version"].get<std::int64_t>();
      }
    }
    return -1;
  }

  // A key and a certificate signed by the cluster CA through POST /v1/ca/sign.
  struct Signed {
    pki::PrivateKey key;
    std::string certificate_pem;
    std::string chain_pem;
    std::string serial;
  };
  // `extra`: more fields of the request ({"allow_reserved": true} for the cluster's own names).
  static Signed SignThroughApi(std::vector<std::string> dns, const std::string& profile,
                               json extra = json::object()) {
    pki::PrivateKey key = pki::NewTestKey(pki::KeyType::kEcP256);
    pki::CsrOptions options;
    options.common_name = dns.front();
    options.sans.dns = dns;
    pki::Csr csr = Must(pki::Csr::Create(key, options), "csr");
    json body{{"csr", csr.ToPem()}, {"profile", profile}, {"days", 30}};
    body.update(extra);
    auto reply = Call("POST", "/v1/ca/sign", body.dump(), Admin());
    EXPECT_EQ(reply.status, 201) << reply.body;
    json j = Body(reply);
    return Signed{key, j.value("certificate", ""), j.value("chain", ""), j.value("serial", "")};
  }

  // Runs a shell command (the independent openssl CLI); returns its exit status and stdout.
  static std::pair<int, std::string> Run(const std::string& command) {
    std::string out;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) {
      return {-1, ""};
    }
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) {
      out.append(buf, n);
    }
    int status = ::pclose(pipe);
    return {status, out};
  }

  static std::string WriteTemp(const std::string& name, const std::string& content) {
    std::string path = (fs::path(*dir_) / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  static std::string ReadTemp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  static pki::Certificate IssuingCa() {
    auto chain = Call("GET", "/v1/ca/chain");
    EXPECT_EQ(chain.status, 200);
    return Must(pki::Certificate::ParseAll(chain.body), "chain").front();
  }

  // A DER OCSPRequest for `leaf` made by `openssl ocsp -reqout` (no nonce).
  static std::string OpensslOcspRequest(const Signed& leaf, const std::string& tag) {
    std::string issuer = WriteTemp(tag + "-issuer.pem", IssuingCa().ToPem());
    std::string cert = WriteTemp(tag + "-leaf.pem", leaf.certificate_pem);
    std::string req = (fs::path(*dir_) / (tag + "-req.der")).string();
    auto [status, out] =
        Run("openssl ocsp -issuer " + issuer + " -cert " + cert + " -no_nonce -reqout " + req);
    EXPECT_EQ(status, 0) << out;
    return ReadTemp(req);
  }

  // `openssl ocsp -respin` on a DER OCSPResponse: the printed text (-resp_text).
  static std::string OpensslOcspText(const std::string& response_der, const std::string& tag) {
    std::string path = WriteTemp(tag + "-resp.der", response_der);
    return Run("openssl ocsp -respin " + path + " -resp_text -noverify").second;
  }

  // RFC 3986 percent-encoding of base64's '+', '/' and '='.
  static std::string UrlEncode(const std::string& text) {
    std::string out;
    for (char c : text) {
      if (c == '+') {
        out += "%2B";
      } else if (c == '/') {
        out += "%2F";
      } else if (c == '=') {
        out += "%3D";
      } else {
        out += c;
      }
    }
    return out;
  }

  static json Certificate(const std::string& serial) {
    auto reply = Call("GET", "/v1/certificates/" + serial, {}, Admin());
    EXPECT_EQ(reply.status, 200) << reply.body;
    return Body(reply);
  }

  inline static core::FixedClock* clock_ = nullptr;
  inline static std::string* dir_ = nullptr;
  inline static std::string* admin_password_ = nullptr;
  inline static std::string* fingerprint_ = nullptr;
  inline static ControlPlane* plane_ = nullptr;
  // How often ApiOptions::on_cluster_change was called.
  inline static std::atomic<int> cluster_changes_{0};
};

}  // namespace clustertls::server
