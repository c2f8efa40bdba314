// `clustertls crl show FILE [--json]` (offline), `clustertls crl fetch` (the logged-in
// control plane's GET /v1/crl) and `clustertls crl sign-root` (offline: re-signs the root CA's
// CRL with the root passphrase, authority/root_crl.h).
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "authority/data_dir.h"
#include "authority/root_crl.h"
#include "cli/api_client.h"
#include "cli/common.h"
#include "cli/crl_view.h"
#include "cli/input.h"
#include "core/files.h"
#include "pki/crl.h"

namespace clustertls::cli {

namespace {

using core::ErrorCode;
using nlohmann::json;

struct CrlShowOptions {
  std::string file;
  bool json = false;
};

// Parses a file's CRLs (one DER CRL, or every CRL of a PEM file: GET /v1/crl.pem holds the
// issuing CA's and the root CA's); errors name the file and, for another kind of file, what it
// holds.
core::Result<std::vector<pki::Crl>> LoadCrls(const std::string& file) {
  CTLS_ASSIGN_OR_RETURN(std::string data, ReadInput(file));
  const InputKind kind = DetectKind(data);
  if (kind != InputKind::kCrl && kind != InputKind::kUnknown) {
    return core::Fail(ErrorCode::kParse,
                      file + ": holds a " + std::string(InputKindName(kind)) + ", not a CRL");
  }
  auto crls = pki::Crl::ParseAll(data);
  if (!crls || crls->empty()) {
    return core::Fail(ErrorCode::kParse, file + ": not a PEM or DER CRL");
  }
  return crls;
}

core::Result<int> RunCrlShow(const CrlShowOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(std::vector<pki::Crl> crls, LoadCrls(o.file));
  const core::TimePoint now = ctx.clock.Now();
  if (o.json) {
    json all = json::array();
    for (const pki::Crl& crl : crls) {
      auto j = CrlJson(crl, now);
      if (!j) {
        return j.error().WithContext(o.file);
      }
      all.push_back(*std::move(j));
    }
    json out{{"file", o.file}};
    if (all.size() == 1) {
      out.update(all.front());  // one CRL: its fields at the top level
    } else {
      out["crls"] = std::move(all);  // several: in file order
    }
    ctx.out << out.dump(2) << '\n';
    return 0;
  }
  std::ostringstream text;
  for (std::size_t i = 0; i < crls.size(); ++i) {
    text << (i == 0 ? "" : "\n") << "Certificate revocation list " << o.file;
    if (crls.size() > 1) {
      text << " (" << i + 1 << " of " << crls.size() << ")";
    }
    text << '\n';
    if (auto printed = PrintCrl(text, crls[i], now); !printed) {
      return printed.error().WithContext(o.file);
    }
  }
  ctx.out << text.str();
  return 0;
}

// One line per CRL: "CRL 7 of CN=..., 2 revoked, next update ...".
std::string CrlSummary(const pki::Crl& crl) {
  const std::optional<std::string> number = crl.crl_number();
  const std::optional<core::TimePoint> next = crl.next_update();
  return "CRL " + (number ? *number : std::string("-")) + " of " + crl.issuer() + ", " +
         std::to_string(crl.revoked_count()) + " revoked, next update " +
         (next ? core::FormatTime(*next) : std::string("-"));
}

struct CrlFetchOptions {
  ApiOptions api;
  std::string out;
  bool pem = false;
  bool force = false;
};

core::Result<int> RunCrlFetch(const CrlFetchOptions& o, Api& api, Context& ctx) {
  if (!o.out.empty() && !o.force && core::PathExists(o.out)) {
    return core::Fail(ErrorCode::kAlreadyExists, o.out + " exists (use --force to replace it)");
  }
  // Without --out the CRL goes to stdout, as PEM (DER is binary).
  const bool pem = o.pem || o.out.empty();
  const std::string target = pem ? "/v1/crl.pem" : "/v1/crl";
  CTLS_ASSIGN_OR_RETURN(net::ClientResponse response, api.Raw("GET", target));
  const std::string source = api.server() + target;
  auto crls = pki::Crl::ParseAll(response.body);
  if (!crls || crls->empty()) {
    return core::Fail(ErrorCode::kParse, source + ": not a CRL");
  }
  if (o.out.empty()) {
    ctx.out << response.body;
  } else {
    CTLS_RETURN_IF_ERROR(core::WriteFileAtomic(
        o.out, response.body, {.mode = core::kPublicFileMode, .overwrite = o.force}));
  }
  std::string summary;
  for (const pki::Crl& crl : *crls) {
    summary += (summary.empty() ? "" : "; ") + CrlSummary(crl);
  }
  if (o.out.empty()) {
    if (!ctx.quiet) {
      ctx.err << "clustertls: " << summary << '\n';
    }
  } else {
    ctx.Info(summary + ", written to " + o.out + (pem ? " (PEM)" : " (DER)"));
  }
  return 0;
}

struct CrlSignRootOptions {
  std::string data_dir;
  std::string ca_passphrase_file;
  int days = 0;  // 0: until the root CA's notAfter
  std::string out;
  bool force = false;
};

core::Result<int> RunCrlSignRoot(const CrlSignRootOptions& o, Context& ctx) {
  if (o.days < 0) {
    return core::Fail(ErrorCode::kInvalidArgument, "--days: must be at least 1 (got " +
                                                       std::to_string(o.days) + ")");
  }
  if (!o.out.empty() && !o.force && core::PathExists(o.out)) {
    return core::Fail(ErrorCode::kAlreadyExists, o.out + " exists (use --force to replace it)");
  }
  CTLS_ASSIGN_OR_RETURN(std::optional<std::string> passphrase,
                        ReadOptionalPassphrase(o.ca_passphrase_file));
  if (!passphrase) {
    return core::Fail(ErrorCode::kInvalidArgument,
                      "--ca-passphrase-file: required (the root CA passphrase `clustertls init` "
                      "showed or was given)");
  }
  CTLS_ASSIGN_OR_RETURN(authority::DataDirConfig config, authority::LoadDataDirConfig(o.data_dir));
  CTLS_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> store, store::Store::Open(config.store_url));
  CTLS_ASSIGN_OR_RETURN(authority::OpenedRoot root, authority::OpenRootCa(*store, *passphrase));
  authority::RootCrlOptions options{.actor = "crl sign-root", .source = "local"};
  const core::TimePoint now = ctx.clock.Now();
  if (o.days > 0) {
    const core::TimePoint next = now + std::chrono::days(o.days);
    if (next > root.root.not_after()) {
      return core::Fail(ErrorCode::kInvalidArgument,
                        "--days: " + std::to_string(o.days) +
                            " days would outlive the root CA, which expires " +
                            core::FormatTime(root.root.not_after()) + " (omit --days for that)");
    }
    options.next_update = next;
  }
  CTLS_ASSIGN_OR_RETURN(authority::RootCrl crl,
                        authority::SignRootCrl(*store, root.root, root.key, options, ctx.clock));
  if (!o.out.empty()) {
    CTLS_RETURN_IF_ERROR(core::WriteFileAtomic(
        o.out, crl.pem, {.mode = core::kPublicFileMode, .overwrite = o.force}));
  }
  ctx.out << "root CA CRL " << crl.number << " signed, next update "
          << core::FormatTime(crl.next_update) << '\n';
  ctx.Info("Running serve instances publish it within seconds (GET /v1/crl/root, and in "
           "GET /v1/crl.pem)" +
           (o.out.empty() ? std::string() : "; written to " + o.out));
  return 0;
}

}  // namespace

void AddCrlCommands(CLI::App& app, Action* action) {
  CLI::App* crl = app.add_subcommand("crl", "Certificate revocation lists");
  crl->require_subcommand(1);
  {
    auto o = std::make_shared<CrlShowOptions>();
    CLI::App* cmd = crl->add_subcommand(
        "show",
        "Show a CRL file (PEM or DER; offline): issuer, CRL number, this/next update (an\n"
        "expired CRL is flagged EXPIRED: clients that check it refuse every certificate),\n"
        "signature algorithm, and each revoked serial with its time and reason.");
    cmd->add_option("FILE", o->file, "the CRL file")->required();
    cmd->add_flag("--json", o->json, "print JSON instead of text");
    cmd->callback([o, action] { *action = [o](Context& ctx) { return RunCrlShow(*o, ctx); }; });
  }
  {
    auto o = std::make_shared<CrlFetchOptions>();
    CLI::App* cmd = crl->add_subcommand(
        "fetch",
        "Download the control plane's current CRL (verified TLS to the server of\n"
        "`clustertls login`). With --out it is written atomically (0644), DER unless --pem;\n"
        "without --out it is printed as PEM. The PEM form (GET /v1/crl.pem) holds the issuing\n"
        "CA's CRL followed by the root CA's: a CRL for every CA of the chain, which nginx's\n"
        "ssl_crl needs. The DER form (GET /v1/crl) is the issuing CA's CRL alone.");
    cmd->add_option("--out", o->out, "the file to write (for nginx's ssl_crl: with --pem)");
    cmd->add_flag("--pem", o->pem, "PEM (both CRLs) instead of DER (the issuing CA's)");
    cmd->add_flag("--force", o->force, "replace an existing --out file");
    AddApiOptions(cmd, o->api, true, false);
    OnApi(cmd, action, o, RunCrlFetch);
  }
  {
    auto o = std::make_shared<CrlSignRootOptions>();
    CLI::App* cmd = crl->add_subcommand(
        "sign-root",
        "Re-sign the root CA's CRL offline with the root passphrase (a new CRL number). `init`\n"
        "signs one valid until the root CA expires; run this for a cluster made by an older\n"
        "version (which has none: nginx with ssl_crl then refuses every client) or to renew it\n"
        "sooner. serve publishes it at GET /v1/crl/root and appends it to GET /v1/crl.pem, so\n"
        "the downloaded PEM has a CRL for every CA of the chain.");
    cmd->add_option("--data-dir", o->data_dir, "the cluster's data directory")->required();
    cmd->add_option("--ca-passphrase-file", o->ca_passphrase_file,
                    "file holding the root CA passphrase")
        ->required();
    cmd->add_option("--days", o->days,
                    "nextUpdate in DAYS from now (default: the root CA's notAfter)");
    cmd->add_option("--out", o->out, "also write the signed CRL (PEM) to this file");
    cmd->add_flag("--force", o->force, "replace an existing --out file");
    cmd->callback([o, action] { *action = [o](Context& ctx) { return RunCrlSignRoot(*o, ctx); }; });
  }
}

}  // namespace clustertls::cli
