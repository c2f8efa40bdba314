#include "cli/common.h"

#include <chrono>
#include <cstdio>

#include "cli/input.h"
#include "cli/instances.h"
#include "core/files.h"
#include "pki/chain.h"
#include "pki/names.h"

namespace clustertls::cli {
namespace {

using core::ErrorCode;
using core::Fail;

constexpr const char* kUsageDetail = "usage";

}  // namespace

void Context::Info(const std::string& line) const {
  if (!quiet) {
    out << line << '\n';
  }
}

void Context::Warn(const std::string& line) const {
  out.flush();  // keep the order of summary and warning on a terminal
  err << "clustertls: warning: " << line << '\n';
}

core::Error UsageError(std::string message) {
  return core::Error{ErrorCode::kInvalidArgument, std::move(message), kUsageDetail};
}

bool IsUsageError(const core::Error& error) {
  return error.code == ErrorCode::kInvalidArgument && error.detail == kUsageDetail;
}

CLI::Validator KeyTypeValidator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        auto t = pki::ParseKeyType(value);
        if (!t) {
          return t.error().message;
        }
        return {};
      },
      "KEYTYPE");
}

std::string KeyTypeHelp(const char* default_name) {
  return std::string("key type: ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096, ed25519 "
                     "(default: ") +
         default_name + ")";
}

CLI::Option* AddRepeated(CLI::App* cmd, const std::string& name, std::vector<std::string>& into,
                         const std::string& help) {
  return cmd->add_option(name, into, help + " (repeatable)")
      ->allow_extra_args(false)
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

CLI::Option* AddSubjectOption(CLI::App* cmd, std::string& into, const std::string& what) {
  return cmd->add_option("--subject", into,
                         "subject attributes of " + what +
                             ": C, ST, L, O, OU as openssl req -subj writes them "
                             "(\"/C=US/ST=California/O=Example/OU=ops\") or RFC 4514 "
                             "(\"OU=ops,O=Example,C=US\"); kept in that order, the CN last");
}

namespace {

// Two spellings of one common name: equal as canonical IPs or DNS names, else byte for byte.
bool SameCommonName(const std::string& a, const std::string& b) {
  auto ip_a = pki::CanonicalIp(a);
  auto ip_b = pki::CanonicalIp(b);
  if (ip_a && ip_b) {
    return *ip_a == *ip_b;
  }
  auto dns_a = pki::CanonicalDnsName(a);
  auto dns_b = pki::CanonicalDnsName(b);
  if (dns_a && dns_b) {
    return *dns_a == *dns_b;
  }
  return a == b;
}

}  // namespace

core::Result<pki::SubjectAttributes> SubjectAttributesOption(const std::string& subject,
                                                             const std::string& common_name,
                                                             const std::string& cn_source) {
  if (subject.empty()) {
    return pki::SubjectAttributes{};
  }
  auto parsed = pki::ParseSubjectText(subject);
  if (!parsed) {
    return parsed.error().WithContext("--subject");
  }
  if (!parsed->common_name.empty()) {
    if (common_name.empty()) {
      return UsageError("--subject names CN=" + parsed->common_name + ", but " + cn_source);
    }
    if (!SameCommonName(parsed->common_name, common_name)) {
      return UsageError("--subject names CN=" + parsed->common_name + ", but the common name is " +
                        common_name + " (" + cn_source +
                        "): drop the CN from --subject or make "
                        "them agree");
    }
  }
  return std::move(parsed->attributes);
}

CLI::Option* AddOwnerOption(CLI::App* cmd, std::string& into) {
  return cmd->add_option(
      "--owner", into,
      "give every written file to USER[:GROUP] (chown; needs root), for a service that runs as "
      "its own user: --owner redis makes keys owner redis, mode 0600; --owner root:redis (or "
      ":redis, or redis: for its login group) makes keys mode 0640 so the group reads them. "
      "Certificates stay 0644 and get the same owner");
}

core::Result<std::optional<core::FileOwner>> OwnerOption(const std::string& spec) {
  if (spec.empty()) {
    return std::optional<core::FileOwner>();
  }
  auto owner = core::ParseFileOwner(spec);
  if (!owner) {
    return UsageError("--owner " + spec + ": " + owner.error().message);
  }
  return std::optional<core::FileOwner>(std::move(owner).value());
}

std::string KeyModeNote(const std::optional<core::FileOwner>& owner) {
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(core::PrivateModeFor(owner)));
  std::string note = std::string("mode ") + mode;
  if (owner) {
    note += ", owner " + owner->spec;
  }
  return note;
}

core::Result<std::string> ReadInput(const std::string& path) { return core::ReadFile(path); }

core::Result<std::optional<std::string>> ReadOptionalPassphrase(const std::string& path) {
  if (path.empty()) {
    return std::optional<std::string>();
  }
  CTLS_ASSIGN_OR_RETURN(std::string pass, core::ReadPassphraseFile(path));
  return std::optional<std::string>(std::move(pass));
}

core::Result<pki::PrivateKey> LoadPrivateKey(const std::string& path,
                                             const std::string& passphrase_file,
                                             const std::string& pass_flag) {
  CTLS_ASSIGN_OR_RETURN(std::string data, ReadInput(path));
  CTLS_ASSIGN_OR_RETURN(auto pass, ReadOptionalPassphrase(passphrase_file));
  std::optional<std::string_view> view;
  if (pass) {
    view = *pass;
  }
  auto key = pki::PrivateKey::Parse(data, view);
  if (!key) {
    core::Error e = key.error().WithContext(path);
    if (e.code == ErrorCode::kWrongPassphrase && !pass && !pass_flag.empty()) {
      e.message += " (use " + pass_flag + ")";
    }
    return e;
  }
  return std::move(key).value();
}

core::Result<std::vector<pki::Certificate>> LoadCertificates(const std::string& path) {
  CTLS_ASSIGN_OR_RETURN(std::string data, ReadInput(path));
  InputKind kind = DetectKind(data);
  if (kind == InputKind::kUnknown) {
    return Fail(ErrorCode::kParse, path + ": not a PEM or DER certificate file");
  }
  if (kind != InputKind::kCertificates) {
    return Fail(ErrorCode::kParse, path + ": expected a certificate, found a " +
                                       InputKindName(kind));
  }
  auto certs = pki::Certificate::ParseAll(data);
  if (!certs) {
    return certs.error().WithContext(path);
  }
  return std::move(certs).value();
}

core::Result<pki::Issuer> LoadIssuer(const std::string& ca_cert, const std::string& ca_key,
                                     const std::string& ca_passphrase_file) {
  CTLS_ASSIGN_OR_RETURN(auto certs, LoadCertificates(ca_cert));
  std::vector<pki::Certificate> chain;
  pki::Certificate cert = certs.front();
  if (certs.size() > 1) {
    pki::ChainOrder order = pki::OrderChain(certs);
    if (order.ordered.empty() || !order.unused.empty() ||
        order.ordered.size() != certs.size()) {
      std::string why = order.problems.empty() ? "" : ": " + order.problems.front();
      return Fail(ErrorCode::kChainIncomplete,
                  ca_cert + ": the certificates do not form one chain" + why);
    }
    cert = order.ordered.front();
    chain.assign(order.ordered.begin() + 1, order.ordered.end());
  }
  CTLS_ASSIGN_OR_RETURN(auto key, LoadPrivateKey(ca_key, ca_passphrase_file,
                                                 "--ca-passphrase-file"));
  auto issuer = pki::Issuer::Create(cert, key, chain);
  if (!issuer) {
    const core::Error& e = issuer.error();
    if (e.code == ErrorCode::kKeyMismatch) {
      return Fail(e.code, ca_key + ": key does not match certificate " + ca_cert, e.detail);
    }
    return e.WithContext(ca_cert);
  }
  return std::move(issuer).value();
}

core::Error IssuerErrorContext(const core::Error& error, const std::string& ca_cert) {
  if (error.code == ErrorCode::kExpired || error.code == ErrorCode::kNotCa) {
    return error.WithContext(ca_cert);
  }
  return error;
}

core::Result<pki::Certificate> IssueNaming(const pki::Issuer& issuer, const std::string& ca_cert,
                                           const pki::IssueRequest& request,
                                           const pki::PublicKey& key, core::TimePoint now,
                                           core::Rng& rng) {
  auto cert = issuer.Issue(request, key, now, rng);
  if (!cert) {
    return IssuerErrorContext(cert.error(), ca_cert);
  }
  return cert;
}

std::vector<pki::Certificate> IssuerPath(const pki::Issuer& issuer) {
  std::vector<pki::Certificate> out;
  out.push_back(issuer.certificate());
  out.insert(out.end(), issuer.chain().begin(), issuer.chain().end());
  return out;
}

std::string LeafWithChainPem(const pki::Certificate& leaf, const pki::Issuer& issuer) {
  std::vector<pki::Certificate> all{leaf};
  auto path = IssuerPath(issuer);
  all.insert(all.end(), path.begin(), path.end());
  return pki::ToPemBundle(all);
}

const pki::Certificate& TopCa(const pki::Issuer& issuer) {
  return issuer.chain().empty() ? issuer.certificate() : issuer.chain().back();
}

core::Result<std::string> KeyPem(const pki::PrivateKey& key,
                                 const std::optional<std::string>& passphrase) {
  if (passphrase) {
    return key.ToPem(std::string_view(*passphrase));
  }
  return key.ToPem();
}

std::string DescribeNotAfter(core::TimePoint not_after, core::TimePoint now) {
  std::string s = core::FormatTime(not_after);
  if (not_after >= now) {
    s += " (in " + core::FormatDuration(not_after - now) + ")";
  } else {
    s += " (expired " + core::FormatDuration(now - not_after) + " ago)";
  }
  return s;
}

core::Result<void> CheckFileName(const std::string& flag, const std::string& name) {
  if (!IsSafeFileName(name)) {
    return UsageError(flag + " \"" + name +
                      "\": must be letters, digits, '.', '_' or '-' (it names the output files)");
  }
  return {};
}

}  // namespace clustertls::cli
