#include "proxy/proxy_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "net/tls_context.h"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "pki/key.h"

namespace clustertls::proxy {
namespace {

using core::ErrorCode;

constexpr std::size_t kMaxFileBytes = 16u << 20;

core::Error InFile(const std::string& name, const core::Error& error) {
  return core::Fail(error.code, name + ": " + error.message, error.detail);
}

// The content of D/name, or nullopt when it does not exist (and `required` is false).
core::Result<std::optional<std::string>> ReadDirFile(const DirOptions& o, const std::string& name,
                                                     bool required) {
  const std::string path = o.dir + "/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT && !required) {
      return std::optional<std::string>();
    }
    return core::Fail(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                      name + ": " + (err == ENOENT ? "no such file" : std::strerror(err)));
  }
  std::string data;
  char buffer[16384];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return core::Fail(ErrorCode::kIo, name + ": " + std::strerror(err));
    }
    if (n == 0) {
      break;
    }
    data.append(buffer, static_cast<std::size_t>(n));
    if (data.size() > kMaxFileBytes) {
      ::close(fd);
      return core::Fail(ErrorCode::kInvalidArgument, name + ": larger than 16 MiB");
    }
  }
  ::close(fd);
  return std::optional<std::string>(std::move(data));
}

std::string Upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'f') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return s;
}

}  // namespace

const char* PolicyPathName(PolicyPath path) {
  return path == PolicyPath::kSentinel ? "sentinel" : "data";
}

core::Result<PolicyPath> ParsePolicyPath(std::string_view text) {
  if (text == "data") {
    return PolicyPath::kData;
  }
  if (text == "sentinel") {
    return PolicyPath::kSentinel;
  }
  return core::Fail(ErrorCode::kInvalidArgument,
                    "expected data or sentinel, got '" + std::string(text.substr(0, 32)) + "'");
}

std::string CertFileName(const DirOptions& options) { return options.cert_name + "_cert.pem"; }
std::string KeyFileName(const DirOptions& options) { return options.cert_name + "_key.pem"; }

bool IsRevoked(const RevokedSerials& revoked, const std::string& issuer,
               const std::string& serial_hex) {
  auto it = revoked.find(issuer);
  return it != revoked.end() && it->second.contains(Upper(serial_hex));
}

core::Result<DirConfig> LoadDir(const DirOptions& o) {
  DirConfig config;
  const std::string cert_file = CertFileName(o);
  const std::string key_file = KeyFileName(o);

  // policy.json first: it decides whether ca.pem is needed.
  CTLS_ASSIGN_OR_RETURN(auto policy_text, ReadDirFile(o, kPolicyFile, false));
  if (policy_text) {
    auto stored = net::ParseStoredPolicy(*policy_text);
    if (!stored) {
      return InFile(kPolicyFile, stored.error());
    }
    config.policy = stored->policy;
    config.policy_version = stored->version;
    config.has_policy_file = true;
  }
  net::TlsPolicy tls = config.policy.DataPolicy();
  if (o.policy_path == PolicyPath::kSentinel) {
    tls = config.policy.SentinelPolicy();
    config.mode = config.policy.sentinel_ssl_policy;
  }

  CTLS_ASSIGN_OR_RETURN(auto cert_text, ReadDirFile(o, cert_file, true));
  CTLS_ASSIGN_OR_RETURN(auto key_text, ReadDirFile(o, key_file, true));
  auto chain = pki::Certificate::ParseAll(*cert_text);
  if (!chain) {
    return InFile(cert_file, chain.error());
  }
  if (chain->empty()) {
    return core::Fail(ErrorCode::kParse, cert_file + ": no certificate in the file");
  }
  auto key = pki::PrivateKey::Parse(*key_text);
  if (!key) {
    return InFile(key_file, key.error());
  }
  net::TlsCredentials credentials{
      .key = *key, .certificate = chain->front(), .chain = {}, .client_cas = {}};
  credentials.chain.assign(chain->begin() + 1, chain->end());
  if (!key->Matches(credentials.certificate.public_key())) {
    return core::Fail(ErrorCode::kKeyMismatch, key_file + ": the private key does not match " +
                                                   cert_file + " ('" +
                                                   credentials.certificate.subject() + "')");
  }
  config.cert_serial = credentials.certificate.serial_hex();
  config.cert_subject = credentials.certificate.subject();
  config.cert_not_after = credentials.certificate.not_after();

  CTLS_ASSIGN_OR_RETURN(auto crl_text, ReadDirFile(o, kCrlFile, false));
  const bool needs_cas = tls.client_auth != net::ClientAuth::kNone || crl_text.has_value();
  CTLS_ASSIGN_OR_RETURN(auto ca_text, ReadDirFile(o, kCaFile, needs_cas));
  if (ca_text) {
    auto cas = pki::Certificate::ParseAll(*ca_text);
    if (!cas) {
      return InFile(kCaFile, cas.error());
    }
    if (cas->empty()) {
      return core::Fail(ErrorCode::kParse, std::string(kCaFile) + ": no certificate in the file");
    }
    credentials.client_cas = std::move(*cas);
  }
  if (crl_text) {
    auto crls = pki::Crl::ParseAll(*crl_text);
    if (!crls) {
      return InFile(kCrlFile, crls.error());
    }
    for (const pki::Crl& crl : *crls) {
      bool signed_by_ca = false;
      for (const pki::Certificate& ca : credentials.client_cas) {
        signed_by_ca = signed_by_ca || crl.IsSignedBy(ca);
      }
      if (!signed_by_ca) {
        return core::Fail(ErrorCode::kVerifyFailed, std::string(kCrlFile) + ": the CRL of '" +
                                                        crl.issuer() +
                                                        "' is not signed by a CA of ca.pem");
      }
      auto entries = crl.entries();
      if (!entries) {
        return InFile(kCrlFile, entries.error());
      }
      std::set<std::string>& serials = config.revoked[crl.issuer()];
      for (const pki::CrlEntry& entry : *entries) {
        serials.insert(Upper(entry.serial_hex));
      }
    }
    if (!crls->empty()) {
      config.crl_number = crls->front().crl_number();
    }
    config.has_crl = true;
    credentials.client_crls = std::move(*crls);
  }

  if (o.policy_path == PolicyPath::kSentinel && config.mode == net::SentinelSsl::kDisabled) {
    return config;  // plain only: no TLS context
  }
  auto ctx = net::BuildServerContext(tls, credentials);
  if (!ctx) {
    // BuildServerContext names neither file: the key/certificate pair, the CAs or the policy.
    const char* file = ctx.error().code == ErrorCode::kKeyMismatch       ? key_file.c_str()
                       : ctx.error().code == ErrorCode::kInvalidArgument ? kPolicyFile
                                                                         : cert_file.c_str();
    return InFile(file, ctx.error());
  }
  // Idle connections give their read and write buffers back (about 34 KiB each).
  SSL_CTX_set_mode(ctx->get(), SSL_MODE_RELEASE_BUFFERS);
  config.ctx = std::move(*ctx);
  return config;
}

}  // namespace clustertls::proxy
