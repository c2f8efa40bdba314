// `clustertls verify CERT --ca F ...`: every problem, not only the first.
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "pki/crl.h"
#include "pki/verify.h"

namespace clustertls::cli {
namespace {

using nlohmann::json;

struct VerifyCmdOptions {
  std::string cert;
  std::vector<std::string> ca;
  std::vector<std::string> untrusted;
  std::string host;
  std::string ip;
  std::string purpose = "any";
  std::vector<std::string> crl;
  std::string at;
  bool json = false;
};

core::Result<int> RunVerify(const VerifyCmdOptions& o, Context& ctx) {
  if (!o.host.empty() && !o.ip.empty()) {
    return UsageError("give --host or --ip, not both");
  }
  pki::VerifyOptions options;
  CTLS_ASSIGN_OR_RETURN(auto certs, LoadCertificates(o.cert));
  // CERT may be a served bundle: the leaf first, then intermediates.
  const pki::Certificate leaf = certs.front();
  options.untrusted.assign(certs.begin() + 1, certs.end());
  for (const auto& path : o.ca) {
    CTLS_ASSIGN_OR_RETURN(auto anchors, LoadCertificates(path));
    options.anchors.insert(options.anchors.end(), anchors.begin(), anchors.end());
  }
  for (const auto& path : o.untrusted) {
    CTLS_ASSIGN_OR_RETURN(auto more, LoadCertificates(path));
    options.untrusted.insert(options.untrusted.end(), more.begin(), more.end());
  }
  for (const auto& path : o.crl) {
    CTLS_ASSIGN_OR_RETURN(std::string data, ReadInput(path));
    auto crls = pki::Crl::ParseAll(data);
    if (!crls) {
      return crls.error().WithContext(path);
    }
    options.crls.insert(options.crls.end(), crls->begin(), crls->end());
  }
  if (!o.host.empty()) {
    options.host = o.host;
  }
  if (!o.ip.empty()) {
    options.ip = o.ip;
  }
  options.purpose = o.purpose == "server"   ? pki::Purpose::kServer
                    : o.purpose == "client" ? pki::Purpose::kClient
                                            : pki::Purpose::kAny;
  if (o.at.empty()) {
    options.at = ctx.clock.Now();
  } else {
    auto at = core::ParseTime(o.at);
    if (!at) {
      return UsageError("--at: " + at.error().message);
    }
    options.at = *at;
  }
  pki::VerifyReport report = pki::Verify(leaf, options);
  if (o.json) {
    json j{{"ok", report.ok()},
           {"file", o.cert},
           {"at", core::FormatTime(options.at)},
           {"problems", json::array()},
           {"path", json::array()}};
    for (const auto& p : report.problems) {
      j["problems"].push_back(json{{"code", p.code}, {"message", p.message}, {"depth", p.depth}});
    }
    for (const auto& c : report.path) {
      j["path"].push_back(json{{"subject", c.subject()}, {"sha256", c.fingerprint().hex}});
    }
    ctx.out << j.dump(2) << '\n';
  } else if (report.ok()) {
    ctx.out << "OK\n";
    if (!ctx.quiet) {
      for (std::size_t i = 0; i < report.path.size(); ++i) {
        ctx.out << "  " << i << ": " << report.path[i].subject() << '\n';
      }
    }
  } else {
    ctx.out << o.cert << ": verification failed (" << report.problems.size()
            << (report.problems.size() == 1 ? " problem" : " problems") << ")\n";
    for (const auto& p : report.problems) {
      ctx.out << "  depth " << p.depth << ": " << p.code << ": " << p.message << '\n';
    }
  }
  return report.ok() ? 0 : 1;
}

}  // namespace

void AddVerifyCommand(CLI::App& app, Action* action) {
  auto o = std::make_shared<VerifyCmdOptions>();
  CLI::App* cmd = app.add_subcommand(
      "verify",
      "verify a certificate against trusted CA(s): chain, purpose, host name or IP (SAN only,\n"
      "no CN fallback), validity (notAfter inclusive) and CRLs. Prints \"OK\" and exits 0, or\n"
      "prints every problem found (not only the first) and exits 1.");
  cmd->add_option("CERT", o->cert,
                  "the certificate to check (PEM or DER); further certificates in the file are "
                  "used as untrusted intermediates")
      ->required();
  AddRepeated(cmd, "--ca", o->ca, "trusted CA certificate(s) file (PEM bundle or DER)")
      ->required();
  AddRepeated(cmd, "--untrusted", o->untrusted,
              "intermediate certificates that may be used to build the path");
  cmd->add_option("--host", o->host, "DNS name the certificate must be valid for");
  cmd->add_option("--ip", o->ip, "IP address the certificate must be valid for");
  cmd->add_option("--purpose", o->purpose,
                  "server (TLS server auth), client (TLS client auth) or any (default: any)")
      ->check(CLI::IsMember({"server", "client", "any"}));
  AddRepeated(cmd, "--crl", o->crl, "CRL file(s); when given, revocation is checked");
  cmd->add_option("--at", o->at,
                  "check at this time instead of now: 2024-01-01, 2024-01-01T12:00:00Z or "
                  "@<unix seconds>");
  cmd->add_flag("--json", o->json, "print the report as JSON");
  cmd->callback([o, action] {
    *action = [o](Context& ctx) { return RunVerify(*o, ctx); };
  });
}

}  // namespace clustertls::cli
