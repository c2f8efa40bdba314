#pragma once

// What the proxy serves, read from a node's directory D (docs/nodes.md): the certificate and
// key `<name>_cert.pem` / `<name>_key.pem`, the client CAs `ca.pem`, their CRLs `crl.pem`
// (optional) and the cluster TLS policy `policy.json` (optional: the defaults without it). A
// load either yields a complete configuration (the SSL_CTX built) or an error naming the file
// and the cause; a reload that fails therefore keeps the previous configuration.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "core/result.h"
#include "core/time.h"
#include "net/cluster_policy.h"
#include "ossl/ssl_ptr.h"

namespace clustertls::proxy {

// Which listener policy of policy.json the proxy applies.
enum class PolicyPath {
  kData,      // min_data_tls_version, the cipher lists, client_auth; TLS only
  kSentinel,  // min_sentinel_tls_version and sentinel_ssl_policy (TLS, plain or both)
};

// "data", "sentinel".
const char* PolicyPathName(PolicyPath path);
// Parses "data" / "sentinel"; kInvalidArgument otherwise.
core::Result<PolicyPath> ParsePolicyPath(std::string_view text);

// The file names in D.
inline constexpr const char* kCaFile = "ca.pem";
inline constexpr const char* kCrlFile = "crl.pem";
inline constexpr const char* kPolicyFile = "policy.json";

struct DirOptions {
  std::string dir;
  std::string cert_name = "proxy";  // <cert_name>_cert.pem, <cert_name>_key.pem
  PolicyPath policy_path = PolicyPath::kData;
};

// "<cert_name>_cert.pem", "<cert_name>_key.pem".
std::string CertFileName(const DirOptions& options);
std::string KeyFileName(const DirOptions& options);

// The serials a CRL lists, by CRL issuer (pki::Crl::issuer(), the same form as
// pki::Certificate::issuer()); serials in upper-case hex as pki::Certificate::serial_hex().
using RevokedSerials = std::map<std::string, std::set<std::string>>;

// One complete configuration of the proxy.
struct DirConfig {
  // The server context (BuildServerContext, SSL_MODE_RELEASE_BUFFERS); null when the Sentinel
  // path is plain only (sentinel_ssl_policy disabled).
  ossl::SharedSslCtx ctx;
  // How connections are told apart: kRequired (TLS only) on the data path.
  net::SentinelSsl mode = net::SentinelSsl::kRequired;
  net::ClusterPolicy policy;
  std::int64_t policy_version = 0;  // policy.json's "version" (0: none)
  bool has_policy_file = false;
  // The served certificate.
  std::string cert_serial;
  std::string cert_subject;
  core::TimePoint cert_not_after{};
  // crl.pem: the cRLNumber of its first CRL (the issuing CA's), and every listed serial.
  std::optional<std::string> crl_number;
  bool has_crl = false;
  RevokedSerials revoked;
};

// Reads D and builds the configuration. Errors (the message starts with the file's name):
// "proxy_cert.pem: no such file", "proxy_key.pem: the private key does not match the
// certificate ...", "crl.pem: not a CRL ...", "policy.json: client_auth: ...". ca.pem is
// required when the policy asks for client certificates or crl.pem exists; every CRL of crl.pem
// must be signed by a CA of ca.pem.
core::Result<DirConfig> LoadDir(const DirOptions& options);

// True if `revoked` lists the certificate of `issuer` with `serial_hex` (any letter case).
bool IsRevoked(const RevokedSerials& revoked, const std::string& issuer,
               const std::string& serial_hex);

}  // namespace clustertls::proxy
