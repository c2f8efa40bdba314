// `clustertls crl show FILE [--json]` (offline) and `clustertls crl fetch` (the logged-in
// control plane's GET /v1/crl).
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

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

// Parses a file's CRL; errors name the file and, for another kind of file, what it holds.
core::Result<pki::Crl> LoadCrl(const std::string& file) {
  CTLS_ASSIGN_OR_RETURN(std::string data, ReadInput(file));
  const InputKind kind = DetectKind(data);
  if (kind != InputKind::kCrl && kind != InputKind::kUnknown) {
    return core::Fail(ErrorCode::kParse,
                      file + ": holds a " + std::string(InputKindName(kind)) + ", not a CRL");
  }
  auto crl = pki::Crl::Parse(data);
  if (!crl) {
    return crl.error().WithContext(file + ": not a PEM or DER CRL");
  }
  return crl;
}

core::Result<int> RunCrlShow(const CrlShowOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(pki::Crl crl, LoadCrl(o.file));
  const core::TimePoint now = ctx.clock.Now();
  if (o.json) {
    auto j = CrlJson(crl, now);
    if (!j) {
      return j.error().WithContext(o.file);
    }
    json out{{"file", o.file}};
    out.update(*j);
    ctx.out << out.dump(2) << '\n';
    return 0;
  }
  std::ostringstream text;
  text << "Certificate revocation list " << o.file << '\n';
  if (auto printed = PrintCrl(text, crl, now); !printed) {
    return printed.error().WithContext(o.file);
  }
  ctx.out << text.str();
  return 0;
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
  auto crl = pki::Crl::Parse(response.body);
  if (!crl) {
    return crl.error().WithContext(source + ": not a CRL");
  }
  if (o.out.empty()) {
    ctx.out << response.body;
  } else {
    CTLS_RETURN_IF_ERROR(core::WriteFileAtomic(
        o.out, response.body, {.mode = core::kPublicFileMode, .overwrite = o.force}));
  }
  const std::optional<std::string> number = crl->crl_number();
  const std::optional<core::TimePoint> next = crl->next_update();
  const std::string summary = "CRL " + (number ? *number : std::string("-")) + " of " +
                              crl->issuer() + ", " + std::to_string(crl->revoked_count()) +
                              " revoked, next update " +
                              (next ? core::FormatTime(*next) : std::string("-"));
  if (o.out.empty()) {
    if (!ctx.quiet) {
      ctx.err << "clustertls: " << summary << '\n';
    }
  } else {
    ctx.Info(summary + ", written to " + o.out + (pem ? " (PEM)" : " (DER)"));
  }
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
        "Download the control plane's current CRL (GET /v1/crl, verified TLS to the server of\n"
        "`clustertls login`). With --out it is written atomically (0644), DER unless --pem;\n"
        "without --out it is printed as PEM.");
    cmd->add_option("--out", o->out, "the file to write (e.g. for nginx's ssl_crl)");
    cmd->add_flag("--pem", o->pem, "PEM instead of DER");
    cmd->add_flag("--force", o->force, "replace an existing --out file");
    AddApiOptions(cmd, o->api, true, false);
    OnApi(cmd, action, o, RunCrlFetch);
  }
}

}  // namespace clustertls::cli
