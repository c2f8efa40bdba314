// `clustertls revoke`: revoke one certificate by serial (POST /v1/certificates/{serial}/revoke)
// or every certificate a selector matches (POST /v1/certificates/revoke), after showing what
// would be revoked. Arguments are checked before anything is sent. docs/api.md "Revocation".
#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "cli/common.h"
#include "cli/revoke_args.h"
#include "core/encoding.h"
#include "core/time.h"
#include "pki/crl_builder.h"

namespace clustertls::cli {

core::Result<std::string> NormalizeSerialArgument(std::string_view text) {
  std::string s(text);
  auto trim = [](std::string& v) {
    while (!v.empty() &&
           (v.back() == ' ' || v.back() == '\t' || v.back() == '\n' || v.back() == '\r')) {
      v.pop_back();
    }
    std::size_t i = 0;
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) {
      ++i;
    }
    v.erase(0, i);
  };
  trim(s);
  // `openssl x509 -serial` prints "serial=0A1B..."; openssl x509 -text prints "0a:1b:...".
  if (core::AsciiLower(s.substr(0, 7)) == "serial=") {
    s.erase(0, 7);
    trim(s);
  }
  std::string hex;
  for (char c : s) {
    if (c == ':') {
      continue;
    }
    const bool digit = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!digit) {
      return UsageError("SERIAL \"" + std::string(text) +
                        "\": must be hexadecimal, as `openssl x509 -noout -serial` prints it "
                        "(\"serial=\" prefix and colons allowed)");
    }
    hex.push_back(c >= 'a' && c <= 'f' ? static_cast<char>(c - 'a' + 'A') : c);
  }
  if (hex.empty()) {
    return UsageError(
        "SERIAL is empty: give it in hex, as `openssl x509 -noout -serial` prints it");
  }
  // RFC 5280 section 4.1.2.2: at most 20 octets (one more for a leading zero octet).
  if (hex.size() > 42) {
    return UsageError("SERIAL \"" + std::string(text) +
                      "\": longer than 20 octets (RFC 5280 section 4.1.2.2)");
  }
  return hex;
}

std::string RevocationReasonList() {
  std::string names;
  for (int code = 0; code <= 10; ++code) {
    if (code == 7) {
      continue;  // RFC 5280 section 5.3.1: value 7 is not used
    }
    names += (names.empty() ? "" : ", ") +
             std::string(pki::RevocationReasonName(static_cast<pki::RevocationReason>(code)));
  }
  return names;
}

core::Result<RevokeRequest> CheckRevokeArguments(const RevokeArguments& a) {
  RevokeRequest r;
  const bool any_selector = !a.name.empty() || !a.san.empty() || !a.issued_before.empty();
  if (!a.serial.empty() && any_selector) {
    return UsageError(
        "give either a SERIAL or the selectors --name/--san/--issued-before, not both");
  }
  if (a.serial.empty() && !any_selector) {
    return UsageError(
        "nothing to revoke: give a SERIAL, or select certificates with --name, --san or "
        "--issued-before");
  }
  if (!a.reason.empty()) {
    auto reason = pki::ParseRevocationReason(a.reason);
    if (!reason) {
      return UsageError("--reason: " + reason.error().message);
    }
    r.reason = pki::RevocationReasonName(*reason);
  }
  if (!a.serial.empty()) {
    CTLS_ASSIGN_OR_RETURN(r.serial, NormalizeSerialArgument(a.serial));
    return r;
  }
  if (!a.issued_before.empty()) {
    auto t = core::ParseTime(a.issued_before);
    if (!t) {
      return UsageError("--issued-before \"" + a.issued_before +
                        "\": not a time; give RFC 3339 (2026-11-24T12:00:00Z) or a date "
                        "(2026-11-24)");
    }
    r.issued_before = core::FormatTime(*t);
  }
  r.name = a.name;
  r.san = a.san;
  if (!a.dry_run && !a.yes && !a.interactive) {
    return UsageError(
        "refusing to revoke by selector without confirmation: there is no terminal to ask on; "
        "pass --yes to revoke without asking, or --dry-run to only list the certificates");
  }
  return r;
}

namespace {

using json = nlohmann::json;

struct RevokeCmdOptions {
  ApiOptions api;
  RevokeArguments args;
};

json SelectorBody(const RevokeRequest& r, bool dry_run) {
  json body = json::object();
  if (!r.name.empty()) {
    body["name"] = r.name;
  }
  if (!r.san.empty()) {
    body["san"] = r.san;
  }
  if (!r.issued_before.empty()) {
    body["issued_before"] = r.issued_before;
  }
  if (!r.reason.empty()) {
    body["reason"] = r.reason;
  }
  body["dry_run"] = dry_run;
  return body;
}

const json& Certificates(const json& reply) {
  static const json kEmpty = json::array();
  if (reply.is_object() && reply.contains("certificates") && reply["certificates"].is_array()) {
    return reply["certificates"];
  }
  return kEmpty;
}

void PrintCertificates(std::ostream& out, const json& reply, bool with_result) {
  std::vector<std::vector<std::string>> rows;
  for (const json& c : Certificates(reply)) {
    std::vector<std::string> row{Str(c, "serial"), Str(c, "subject_cn"), Str(c, "sans"),
                                 Str(c, "not_after")};
    if (with_result) {
      const bool newly = !c.contains("newly_revoked") || !c["newly_revoked"].is_boolean() ||
                         c["newly_revoked"].get<bool>();
      row.push_back(newly ? "revoked" : "already revoked");
    }
    rows.push_back(std::move(row));
  }
  std::vector<std::string> header{"SERIAL", "CN", "SANS", "NOT AFTER"};
  if (with_result) {
    header.push_back("RESULT");
  }
  PrintTable(out, header, rows);
}

std::string Plural(std::size_t n) {
  return std::to_string(n) + (n == 1 ? " certificate" : " certificates");
}

core::Result<int> RevokeOne(const RevokeCmdOptions& o, const RevokeRequest& r, Api& api,
                            Context& ctx) {
  const std::string path = "/v1/certificates/" + PathSegment(r.serial);
  if (o.args.dry_run) {
    CTLS_ASSIGN_OR_RETURN(json cert, api.Call("GET", path));
    if (o.api.json) {
      PrintJson(ctx, cert);
      return 0;
    }
    if (cert.is_object() && cert.contains("revoked") && cert["revoked"].is_boolean() &&
        cert["revoked"].get<bool>()) {
      ctx.out << "already revoked " << Str(cert, "serial") << " (" << Str(cert, "revocation_reason")
              << ") at " << Str(cert, "revoked_at") << " (dry run: nothing would change)\n";
      return 0;
    }
    PrintCertificates(ctx.out, json{{"certificates", json::array({cert})}}, false);
    ctx.out << "would revoke " << Str(cert, "serial") << " ("
            << (r.reason.empty() ? "unspecified" : r.reason) << ") (dry run: nothing changed)\n";
    return 0;
  }
  json body = json::object();
  if (!r.reason.empty()) {
    body["reason"] = r.reason;
  }
  CTLS_ASSIGN_OR_RETURN(json reply, api.Call("POST", path + "/revoke", body));
  if (o.api.json) {
    PrintJson(ctx, reply);
    return 0;
  }
  const bool newly = !reply.contains("newly_revoked") || !reply["newly_revoked"].is_boolean() ||
                     reply["newly_revoked"].get<bool>();
  const std::string serial = reply.contains("serial") ? Str(reply, "serial") : r.serial;
  if (newly) {
    ctx.out << "revoked " << serial << " (" << Str(reply, "reason") << ") at "
            << Str(reply, "revoked_at") << '\n';
  } else {
    ctx.out << "already revoked " << serial << " (" << Str(reply, "reason") << ") at "
            << Str(reply, "revoked_at") << " (unchanged)\n";
  }
  if (reply.contains("subject_cn")) {
    ctx.Info("  subject CN: " + Str(reply, "subject_cn"));
  }
  if (reply.contains("named") && reply["named"].is_string()) {
    const std::string name = reply["named"].get<std::string>();
    ctx.Warn("this is the cluster's named certificate \"" + name +
             "\", still in use until it is replaced: clustertls cluster certificate renew " + name);
  }
  return 0;
}

core::Result<int> RevokeSelected(const RevokeCmdOptions& o, const RevokeRequest& r, Api& api,
                                 Context& ctx) {
  const std::string target = "/v1/certificates/revoke";
  CTLS_ASSIGN_OR_RETURN(json listed, api.Call("POST", target, SelectorBody(r, true)));
  const std::size_t count = Certificates(listed).size();
  if (o.args.dry_run) {
    if (o.api.json) {
      PrintJson(ctx, listed);
      return 0;
    }
    PrintCertificates(ctx.out, listed, false);
    ctx.out << Plural(count) << " would be revoked (dry run: nothing changed)\n";
    return 0;
  }
  if (count == 0) {
    if (o.api.json) {
      PrintJson(ctx, listed);
    } else {
      ctx.out << "nothing to revoke: no certificate that is neither revoked nor expired "
                 "matches\n";
    }
    return 0;
  }
  // The list is data on stdout, unless stdout carries the JSON result.
  std::ostream& listing = o.api.json ? ctx.err : ctx.out;
  if (!o.args.yes || !o.api.json) {
    PrintCertificates(listing, listed, false);
    listing << Plural(count) << " selected\n";
  }
  if (!o.args.yes) {
    listing.flush();
    std::optional<std::string> answer = Prompt("revoke " + Plural(count) + "? [y/N] ", false);
    const std::string a = answer ? core::AsciiLower(*answer) : std::string();
    if (a != "y" && a != "yes") {
      ctx.out << "not revoked: nothing changed\n";
      return 1;
    }
  }
  CTLS_ASSIGN_OR_RETURN(json done, api.Call("POST", target, SelectorBody(r, false)));
  // What the server revoked should be what was shown; a certificate issued in between also
  // matches the selector, so say so.
  std::set<std::string> shown;
  for (const json& c : Certificates(listed)) {
    shown.insert(Str(c, "serial"));
  }
  std::vector<std::string> extra;
  for (const json& c : Certificates(done)) {
    if (!shown.contains(Str(c, "serial"))) {
      extra.push_back(Str(c, "serial"));
    }
  }
  if (o.api.json) {
    PrintJson(ctx, done);
  } else {
    PrintCertificates(ctx.out, done, true);
    std::size_t newly = 0;
    for (const json& c : Certificates(done)) {
      newly += !c.contains("newly_revoked") || !c["newly_revoked"].is_boolean() ||
               c["newly_revoked"].get<bool>();
    }
    ctx.out << "revoked " << Plural(newly) << " ("
            << (r.reason.empty() ? std::string("unspecified") : r.reason) << ")";
    if (newly != Certificates(done).size()) {
      ctx.out << "; " << (Certificates(done).size() - newly) << " already revoked (unchanged)";
    }
    ctx.out << '\n';
  }
  if (!extra.empty()) {
    std::string serials;
    for (const std::string& s : extra) {
      serials += (serials.empty() ? "" : ", ") + s;
    }
    ctx.Warn("the selector also matched " + Plural(extra.size()) +
             " issued after the list was shown, revoked too: " + serials);
  }
  return 0;
}

}  // namespace

void AddRevokeCommand(CLI::App& app, Action* action) {
  auto o = std::make_shared<RevokeCmdOptions>();
  CLI::App* cmd = app.add_subcommand(
      "revoke",
      "Revoke a certificate of the control plane's CA: one by SERIAL, or every certificate\n"
      "(neither revoked nor expired) a selector matches. The CRL (/v1/crl) and OCSP answers\n"
      "show it at once. With a selector the matching certificates are listed first and you\n"
      "are asked to confirm (--yes skips the question; without a terminal --yes is required);\n"
      "--dry-run only lists them. Revoking again changes nothing (\"already revoked\").\n"
      "Reasons (RFC 5280 section 5.3.1, case-insensitive): " +
          RevocationReasonList() +
          ".\n"
          "Examples:\n"
          "  clustertls revoke $(openssl x509 -in node1.crt -noout -serial) --reason "
          "keyCompromise\n"
          "  clustertls revoke --san DNS:node1.example.com --reason keyCompromise --dry-run\n"
          "  clustertls revoke --name node1.example.com --issued-before 2026-11-01 --yes");
  cmd->add_option("SERIAL", o->args.serial,
                  "the certificate's serial in hex, as `openssl x509 -noout -serial` prints it "
                  "(\"serial=\" prefix and colons allowed)");
  cmd->add_option("--reason", o->args.reason,
                  "RFC 5280 reason (default: unspecified): " + RevocationReasonList());
  cmd->add_option("--name", o->args.name, "select certificates whose subject CN is exactly this");
  cmd->add_option("--san", o->args.san,
                  "select certificates with exactly this SAN: DNS:name, IP:address, or a bare "
                  "name or address");
  cmd->add_option("--issued-before", o->args.issued_before,
                  "select certificates issued before this time: RFC 3339 "
                  "(2026-11-24T12:00:00Z) or a date (2026-11-24, midnight UTC)");
  cmd->add_flag("--dry-run", o->args.dry_run, "only list what would be revoked");
  cmd->add_flag("--yes,-y", o->args.yes, "revoke what the selector matches without asking");
  AddApiOptions(cmd, o->api, true, true);
  cmd->callback([o, action] {
    *action = [o](Context& ctx) -> core::Result<int> {
      RevokeArguments args = o->args;
      args.interactive = ::isatty(STDIN_FILENO) == 1;
      CTLS_ASSIGN_OR_RETURN(RevokeRequest request, CheckRevokeArguments(args));
      CTLS_ASSIGN_OR_RETURN(Api api, Api::Open(o->api));
      return request.serial.empty() ? RevokeSelected(*o, request, api, ctx)
                                    : RevokeOne(*o, request, api, ctx);
    };
  });
}

}  // namespace clustertls::cli
