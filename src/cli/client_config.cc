#include "cli/client_config.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "authority/name_policy.h"
#include "core/encoding.h"
#include "core/files.h"
#include "net/https_client.h"

namespace clustertls::cli {

using core::ErrorCode;
using json = nlohmann::json;

core::Result<std::string> ClientConfigPath(const std::string& flag, const ClientConfigEnv& env) {
  if (!flag.empty()) {
    return flag;
  }
  auto set = [](const char* v) { return v != nullptr && v[0] != '\0'; };
  if (set(env.client_config)) {
    return std::string(env.client_config);
  }
  if (set(env.xdg_config_home)) {
    return std::string(env.xdg_config_home) + "/clustertls/client.json";
  }
  if (set(env.home)) {
    return std::string(env.home) + "/.config/clustertls/client.json";
  }
  return core::Fail(ErrorCode::kInvalidArgument,
                    "cannot locate the client config: set --client-config, "
                    "CLUSTERTLS_CLIENT_CONFIG, XDG_CONFIG_HOME or HOME");
}

core::Result<std::string> ClientConfigPath(const std::string& flag) {
  return ClientConfigPath(flag, {.client_config = std::getenv("CLUSTERTLS_CLIENT_CONFIG"),
                                 .xdg_config_home = std::getenv("XDG_CONFIG_HOME"),
                                 .home = std::getenv("HOME")});
}

core::Result<ClientConfig> ParseClientConfig(std::string_view text, const std::string& path) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return core::Fail(ErrorCode::kParse, path + ": not a JSON object");
  }
  ClientConfig config;
  for (auto& [key, value] : doc.items()) {
    std::string* field = key == "server"   ? &config.server
                         : key == "ca_pem" ? &config.ca_pem
                         : key == "user"   ? &config.user
                         : key == "token"  ? &config.token
                                           : nullptr;
    if (field == nullptr) {
      return core::Fail(ErrorCode::kParse, path + ": unknown field '" + key + "'");
    }
    if (!value.is_string()) {
      return core::Fail(ErrorCode::kParse, path + ": field '" + key + "' must be a string");
    }
    *field = value.get<std::string>();
  }
  for (const char* required : {"server", "ca_pem"}) {
    if (!doc.contains(required) || doc[required].get<std::string>().empty()) {
      return core::Fail(ErrorCode::kParse, path + ": field '" + required + "' is missing or empty");
    }
  }
  if (auto url = net::ParseHttpsUrl(config.server); !url) {
    return core::Fail(ErrorCode::kParse, path + ": field 'server': " + url.error().message);
  }
  auto certs = pki::Certificate::ParseAll(config.ca_pem);
  if (!certs || certs->empty()) {
    return core::Fail(ErrorCode::kParse, path + ": field 'ca_pem' holds no PEM certificate");
  }
  return config;
}

core::Result<ClientConfig> LoadClientConfig(const std::string& path) {
  auto text = core::ReadFile(path, 1 << 20);
  if (!text) {
    if (text.error().code == ErrorCode::kNotFound) {
      return core::Fail(ErrorCode::kNotFound,
                        "no client config at " + path + ": run clustertls login first");
    }
    return text.error();
  }
  return ParseClientConfig(*text, path);
}

core::Result<void> SaveClientConfig(const std::string& path, const ClientConfig& config) {
  const std::size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    const std::string dir = path.substr(0, slash);
    if (!core::PathExists(dir)) {
      const std::size_t up = dir.rfind('/');
      if (up != std::string::npos && up > 0) {
        CTLS_RETURN_IF_ERROR(core::EnsureDirectory(dir.substr(0, up)));
      }
      // The directory holds a token: only its owner may list it.
      if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        return core::Fail(ErrorCode::kIo,
                          "cannot create directory " + dir + ": " + std::strerror(errno));
      }
    }
  }
  json doc = {{"server", config.server},
              {"ca_pem", config.ca_pem},
              {"user", config.user},
              {"token", config.token}};
  return core::WriteFileAtomic(path, doc.dump(2) + "\n",
                               {.mode = core::kPrivateFileMode, .overwrite = true});
}

core::Result<std::string> NormalizeSha256Fingerprint(std::string_view text) {
  std::string lower = core::AsciiLower(text);
  std::string_view s = lower;
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  for (std::string_view prefix : {"sha256 fingerprint=", "sha256:", "sha256="}) {
    if (s.starts_with(prefix)) {
      s.remove_prefix(prefix.size());
      break;
    }
  }
  std::string hex;
  for (char c : s) {
    if (c == ':') {
      continue;
    }
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return core::Fail(ErrorCode::kInvalidArgument,
                        "--ca-fingerprint: not a SHA-256 fingerprint (64 hex digits, colons "
                        "allowed): '" +
                            std::string(text) + "'");
    }
    hex.push_back(c);
  }
  if (hex.size() != 64) {
    return core::Fail(ErrorCode::kInvalidArgument,
                      "--ca-fingerprint: a SHA-256 fingerprint has 64 hex digits, got " +
                          std::to_string(hex.size()));
  }
  return hex;
}

core::Result<pki::Certificate> FindPinnedCertificate(const std::vector<pki::Certificate>& chain,
                                                     std::string_view pin) {
  CTLS_ASSIGN_OR_RETURN(std::string want, NormalizeSha256Fingerprint(pin));
  std::string seen;
  for (const pki::Certificate& cert : chain) {
    pki::Fingerprint fp = cert.fingerprint();
    if (fp.hex == want) {
      return cert;
    }
    seen += (seen.empty() ? "" : ", ") + fp.colon;
  }
  // Both fingerprints in the colon form `openssl x509 -fingerprint -sha256` prints.
  std::string want_colon;
  for (std::size_t i = 0; i < want.size(); i += 2) {
    want_colon += (i == 0 ? "" : ":");
    for (char c : want.substr(i, 2)) {
      want_colon.push_back(c >= 'a' && c <= 'f' ? static_cast<char>(c - 'a' + 'A') : c);
    }
  }
  return core::Fail(ErrorCode::kVerifyFailed,
                    "CA fingerprint mismatch: expected " + want_colon +
                        ", the server's CA chain and certificates " +
                        (chain.empty() ? std::string("are empty") : "have " + seen));
}

core::Result<void> CheckClusterApiServer(const std::string& pinned_pem,
                                         const std::vector<pki::Certificate>& presented) {
  if (presented.empty()) {
    return core::Fail(ErrorCode::kVerifyFailed, "the server presented no certificate");
  }
  const pki::Certificate& leaf = presented.front();
  const std::vector<std::string> uris = leaf.sans().uris;
  if (std::find(uris.begin(), uris.end(), authority::kControlPlaneUri) != uris.end()) {
    return {};
  }
  auto pinned = pki::Certificate::ParseAll(pinned_pem);
  if (pinned) {
    for (const pki::Certificate& pin : *pinned) {
      if (pin.Equals(leaf)) {
        return {};
      }
    }
  }
  return core::Fail(
      ErrorCode::kVerifyFailed,
      "the server's certificate (" + leaf.subject() + ", SHA-256 " + leaf.fingerprint().colon +
          ") chains to the pinned CA but is not the cluster's api certificate: it lacks the "
          "control-plane identity URI:" +
          std::string(authority::kControlPlaneUri) +
          " that only `clustertls init` and `clustertls cluster certificate renew api` give it, "
          "so it may be any certificate the CA signed; nothing was sent. If the api certificate "
          "was replaced by hand, pin that certificate itself (--ca-fingerprint with its "
          "SHA-256 fingerprint, from `clustertls fingerprint api_cert.pem`)");
}

std::function<core::Result<void>(const std::vector<pki::Certificate>&)> ClusterApiCheck(
    std::string pinned_pem) {
  return [pinned_pem = std::move(pinned_pem)](const std::vector<pki::Certificate>& presented) {
    return CheckClusterApiServer(pinned_pem, presented);
  };
}

}  // namespace clustertls::cli
