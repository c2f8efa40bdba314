#pragma once

// The cluster's TLS policy document (GET/PUT /v1/cluster/policy, and policy.json in a node's
// directory) and its listener policies: the control path (the server's own HTTPS listener), the
// data path and the Sentinel path (the proxy, src/proxy/). It lives in net/ because validating a
// cipher list and checking that default clients can connect need libssl (CheckCipherList,
// CheckDefaultClientConnects), and because both server/ (which stores it) and proxy/ (which
// applies it) read it; nothing here touches the store.
//
// JSON (every field optional in a PUT, which changes only the fields it names):
//   {"min_control_tls_version": "1.2", "min_data_tls_version": "1.2",
//    "cipher_suites": "<OpenSSL list for TLS <= 1.2>", "tls13_ciphersuites": "<list>",
//    "client_auth": "none|optional|required",
//    "sentinel_ssl_policy": "allowed|required|disabled", "min_sentinel_tls_version": "1.2"}
// Field names are matched without regard to case, and Redis Enterprise's names for the same
// settings are accepted too (`min_control_TLS_version`, `control_cipher_suites`,
// `sentinel_tls_mode`, ...: RedisPolicyAliases), so that a cluster object a Redis script PUTs
// maps onto the policy.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "net/tls_policy.h"
#include "pki/key.h"

namespace clustertls::net {

// Redis Enterprise's sentinel_ssl_policy: TLS and plain connections, TLS only, or plain only.
enum class SentinelSsl { kAllowed, kRequired, kDisabled };

// "allowed", "required", "disabled".
const char* SentinelSslName(SentinelSsl mode);
// Parses those three (any case); kInvalidArgument naming them otherwise.
core::Result<SentinelSsl> ParseSentinelSsl(std::string_view text);

struct ClusterPolicy {
  net::TlsVersion min_control_tls_version = net::TlsVersion::kTls12;
  net::TlsVersion min_data_tls_version = net::TlsVersion::kTls12;
  std::string cipher_suites = std::string(net::kIntermediateCipherList);
  std::string tls13_ciphersuites = std::string(net::kDefaultTls13Ciphersuites);
  net::ClientAuth client_auth = net::ClientAuth::kNone;  // data path only
  // The Sentinel discovery path (Redis' sentinel_ssl_policy): stored here, enforced by the data
  // path proxy. Redis leaves it unset (Sentinel without TLS); clustertls requires TLS unless
  // told otherwise.
  SentinelSsl sentinel_ssl_policy = SentinelSsl::kRequired;
  net::TlsVersion min_sentinel_tls_version = net::TlsVersion::kTls12;

  // The control listener's policy: never asks for client certificates.
  net::TlsPolicy ControlPolicy() const;
  // The data path's policy.
  net::TlsPolicy DataPolicy() const;
  // The Sentinel path's policy when it uses TLS (sentinel_ssl_policy allowed or required): the
  // data path's with min_sentinel_tls_version as its floor.
  net::TlsPolicy SentinelPolicy() const;
  // Validates both policies (RFC 8996, ciphers OpenSSL accepts, no NULL, anonymous,
  // export-grade, RC4, DES/3DES or MD5 suites, no @SECLEVEL below 2: net::CheckCipherList).
  // kInvalidArgument naming the JSON field: `min_control_tls_version: TLS 1.1 is refused (RFC
  // 8996 deprecates TLS 1.0 and 1.1)`, `cipher_suites: enables NULL encryption, traffic in
  // clear (ECDHE-ECDSA-NULL-SHA, ...): refused`.
  core::Result<void> Validate() const;

  bool operator==(const ClusterPolicy&) const = default;
};

// What the default-client check needs to stand in for each listener's certificate.
struct DefaultClientCheckOptions {
  // The key type of the `api` named certificate (the control listener presents it).
  pki::KeyType control_key = pki::KeyType::kEcP256;
  // The key type of the `proxy` named certificate (the data path's), EC P-256 if there is none.
  pki::KeyType data_key = pki::KeyType::kEcP256;
  core::TimePoint now{};
  core::Rng* rng = nullptr;
};

// Checks that a default OpenSSL client and a default GnuTLS client can connect to both
// listeners under `policy` (a validated one), over each TLS version each listener allows:
// net::CheckDefaultClientConnects with an identity of each listener's key type. kInvalidArgument
// naming the field whose list left them out (`cipher_suites` for TLS 1.2, `tls13_ciphersuites`
// for 1.3) and the path: `tls13_ciphersuites: control path: a default OpenSSL client could not
// connect over TLS 1.3 to an EC P-256 certificate (no shared TLS 1.3 suite: ...)`.
core::Result<void> CheckDefaultClients(const ClusterPolicy& policy,
                                       const DefaultClientCheckOptions& options);

// The maximum nesting of a JSON request body (deeper: 400).
inline constexpr int kMaxJsonDepth = 32;

// Checks JSON text nesting without parsing it: kParse if arrays/objects nest deeper than
// `max_depth` (strings are skipped, so brackets inside them do not count).
core::Result<void> CheckJsonDepth(std::string_view text, int max_depth = kMaxJsonDepth);

// The canonical JSON text (every field).
std::string PolicyToJson(const ClusterPolicy& policy);

// The policy as Redis Enterprise's cluster object names its fields (GET /v1/cluster):
// min_control_TLS_version, min_data_TLS_version, min_sentinel_TLS_version, sentinel_ssl_policy,
// control_cipher_suites, control_cipher_suites_tls_1_3, as a JSON object text.
std::string PolicyToRedisJson(const ClusterPolicy& policy);

// Applies the fields present in `json` (a JSON object) to `base` and validates the result.
// Unknown fields, wrong types and bad values are refused with kInvalidArgument/kParse naming
// the field; nothing is applied then. Versions may be given as strings ("1.2") or numbers (1.2).
core::Result<ClusterPolicy> ApplyPolicyJson(const ClusterPolicy& base, std::string_view json);

// A policy document as a node's policy.json holds it (docs/nodes.md): PolicyToJson's fields
// plus the server-assigned "version" (a non-negative integer, optional here).
struct StoredPolicy {
  ClusterPolicy policy;
  std::int64_t version = 0;  // 0 when the file has none
};

// Parses policy.json: every field the document has is applied to the defaults (as
// ApplyPolicyJson) and validated. kParse/kInvalidArgument naming the field, as ApplyPolicyJson.
core::Result<StoredPolicy> ParseStoredPolicy(std::string_view json);

}  // namespace clustertls::net
