#pragma once

// The API client's saved login (`clustertls login` writes it, every API command reads it): the
// server URL, the CA it was pinned to, the user and an API token. JSON, mode 0600 (it holds a
// token), written atomically.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "pki/certificate.h"

namespace clustertls::cli {

struct ClientConfig {
  std::string server;  // "https://host:port"
  std::string ca_pem;  // the pinned CA certificate: the trust anchor for the server
  std::string user{};
  std::string token{};  // "ctls_<id>_<secret>"; empty when none was created
};

// Where the client config lives: `flag` (--client-config) if set, else $CLUSTERTLS_CLIENT_CONFIG,
// else $XDG_CONFIG_HOME/clustertls/client.json, else $HOME/.config/clustertls/client.json.
// kInvalidArgument when none of these can be determined. The environment is passed in (the
// values of the three variables, nullptr when unset) so tests need not touch the process's.
struct ClientConfigEnv {
  const char* client_config = nullptr;  // CLUSTERTLS_CLIENT_CONFIG
  const char* xdg_config_home = nullptr;
  const char* home = nullptr;
};
core::Result<std::string> ClientConfigPath(const std::string& flag, const ClientConfigEnv& env);
// The same with the process's environment.
core::Result<std::string> ClientConfigPath(const std::string& flag);

// Parses the config JSON; kParse naming `path` and the field for bad JSON, a missing or
// non-string field, an unknown field, or a server URL / CA PEM that does not parse.
core::Result<ClientConfig> ParseClientConfig(std::string_view json, const std::string& path);
// Reads and parses `path`; kNotFound says to run `clustertls login`.
core::Result<ClientConfig> LoadClientConfig(const std::string& path);
// Writes `path` atomically with mode 0600 (replacing an existing file), creating a missing
// parent directory with mode 0700.
core::Result<void> SaveClientConfig(const std::string& path, const ClientConfig& config);

// A SHA-256 fingerprint as the user pasted it ("AB:CD:...", "abcd...", any case, optionally
// prefixed "sha256:" or "SHA256 Fingerprint=") as 64 lower-case hex digits. kInvalidArgument
// otherwise.
core::Result<std::string> NormalizeSha256Fingerprint(std::string_view text);

// The certificate of `chain` whose SHA-256 fingerprint is `pin` (any accepted form). Fails with
// kVerifyFailed naming the pinned fingerprint and those of the chain when none matches.
core::Result<pki::Certificate> FindPinnedCertificate(const std::vector<pki::Certificate>& chain,
                                                     std::string_view pin);

// Whether a server that verified against the pinned certificate `pinned_pem` (the saved
// config's ca_pem) is the cluster's control plane and not another holder of a certificate from
// the same CA (anyone an operator signed for): its leaf carries the URI SAN
// authority::kControlPlaneUri, which only the named-certificate path gives the `api` certificate
// (signing refuses it as a reserved name), or the pin is that very leaf (an
// `api` certificate replaced by hand, pinned by its own fingerprint). kVerifyFailed otherwise,
// saying what to do. Every API connection runs it (net::ClientOptions::check_peer) before a
// password or token is sent.
core::Result<void> CheckClusterApiServer(const std::string& pinned_pem,
                                         const std::vector<pki::Certificate>& presented);

// The same, bound to one pin, for net::ClientOptions::check_peer.
std::function<core::Result<void>(const std::vector<pki::Certificate>&)> ClusterApiCheck(
    std::string pinned_pem);

}  // namespace clustertls::cli
