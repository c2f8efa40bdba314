// `clustertls certificates list|show`: the inventory of issued certificates through the API
// (GET /v1/certificates, every page; GET /v1/certificates/{serial}). Arguments are checked before
// anything is sent. docs/api.md "Inventory".
#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "cli/certificates_args.h"
#include "cli/common.h"
#include "cli/revoke_args.h"
#include "core/time.h"
#include "pki/issuer.h"
#include "pki/names.h"

namespace clustertls::cli {

using core::ErrorCode;
using json = nlohmann::json;

core::Result<std::chrono::seconds> ParseExpiringIn(std::string_view text) {
  auto usage = [&](const std::string& why) {
    return UsageError("--expiring-in " + pki::QuoteName(text) + ": " + why);
  };
  const std::string form =
      "give a whole number and a unit: 30d (days), 12h (hours) or 90m "
      "(minutes)";
  if (text.size() < 2) {
    return usage(form);
  }
  const std::string_view digits = text.substr(0, text.size() - 1);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return usage(form);
  }
  std::int64_t unit_seconds = 0;
  switch (text.back()) {
    case 'd':
      unit_seconds = 86400;
      break;
    case 'h':
      unit_seconds = 3600;
      break;
    case 'm':
      unit_seconds = 60;
      break;
    default:
      return usage(form);
  }
  constexpr std::int64_t kMaxSeconds = std::int64_t{36500} * 86400;  // 100 years
  if (digits.size() > 9) {
    return usage("at most 100 years (36500d)");
  }
  const std::int64_t count = std::stoll(std::string(digits));
  if (count == 0) {
    return usage("must be at least 1" + std::string(1, text.back()));
  }
  if (count * unit_seconds > kMaxSeconds) {
    return usage("at most 100 years (36500d)");
  }
  return std::chrono::seconds(count * unit_seconds);
}

core::Result<CertListPlan> CheckCertListArguments(const CertListArguments& args,
                                                  core::TimePoint now) {
  if (args.revoked && args.valid) {
    return UsageError("certificates list: --revoked and --valid exclude each other");
  }
  if (args.limit < 0) {
    return UsageError("--limit " + std::to_string(args.limit) + ": must be at least 1");
  }
  CertListPlan plan;
  plan.limit = args.limit;
  auto add = [&](const std::string& key, const std::string& value) {
    plan.query += (plan.query.empty() ? "" : "&") + key + "=" + PathSegment(value);
  };
  if (!args.name.empty()) {
    add("name", args.name);
  }
  if (!args.profile.empty()) {
    if (auto profile = pki::ParseProfile(args.profile); !profile) {
      return UsageError("--profile: " + profile.error().message);
    }
    add("profile", args.profile);
  }
  if (!args.expiring_in.empty()) {
    CTLS_ASSIGN_OR_RETURN(std::chrono::seconds window, ParseExpiringIn(args.expiring_in));
    add("expiring_before", core::FormatTime(now + window));
    plan.not_expired_at = now;
  }
  if (args.revoked) {
    add("revoked", "true");
  } else if (args.valid || !args.expiring_in.empty()) {
    // What expires soon and needs renewing: a revoked certificate does not (unless --revoked).
    add("revoked", "false");
  }
  if (args.valid) {
    plan.not_expired_at = now;
  }
  return plan;
}

core::Result<json> CollectCertificates(
    const CertListPlan& plan, const std::function<core::Result<json>(const std::string&)>& get) {
  json kept = json::array();
  std::string cursor;
  std::set<std::string> cursors;
  for (;;) {
    // Without a client-side filter every certificate of a page is kept: ask for no more than
    // the limit needs.
    std::size_t page_size = 1000;
    if (plan.limit > 0 && !plan.not_expired_at) {
      page_size = std::min(page_size, static_cast<std::size_t>(plan.limit) - kept.size());
    }
    std::string target = "/v1/certificates?" + plan.query + (plan.query.empty() ? "" : "&") +
                         "limit=" + std::to_string(page_size);
    if (!cursor.empty()) {
      target += "&cursor=" + PathSegment(cursor);
    }
    CTLS_ASSIGN_OR_RETURN(json page, get(target));
    if (!page.is_object() || !page.contains("certificates") || !page["certificates"].is_array() ||
        (page.contains("next_cursor") && !page["next_cursor"].is_string())) {
      return core::Fail(ErrorCode::kParse,
                        "server: GET /v1/certificates did not answer {\"certificates\":[...], "
                        "\"next_cursor\":\"...\"}");
    }
    for (json& c : page["certificates"]) {
      if (!c.is_object()) {
        return core::Fail(ErrorCode::kParse,
                          "server: a certificate of GET /v1/certificates is "
                          "not an object");
      }
      if (plan.not_expired_at) {
        const json& field = c.contains("not_after") ? c["not_after"] : json();
        auto not_after = core::ParseTime(field.is_string() ? field.get<std::string>() : "");
        if (!not_after) {
          return core::Fail(ErrorCode::kParse, "server: certificate " + Str(c, "serial") +
                                                   ": not_after is not an RFC 3339 time");
        }
        if (*not_after < *plan.not_expired_at) {
          continue;
        }
      }
      kept.push_back(std::move(c));
      if (plan.limit > 0 && kept.size() >= static_cast<std::size_t>(plan.limit)) {
        return json{{"certificates", std::move(kept)}};
      }
    }
    cursor = page.value("next_cursor", "");
    if (cursor.empty()) {
      break;
    }
    if (!cursors.insert(cursor).second) {
      return core::Fail(ErrorCode::kParse,
                        "server: GET /v1/certificates repeated next_cursor \"" + cursor + "\"");
    }
  }
  return json{{"certificates", std::move(kept)}};
}

std::vector<std::string> CertificateTableHeader() {
  return {"SERIAL", "CN", "SANS", "PROFILE", "NOT AFTER", "REVOKED"};
}

std::vector<std::vector<std::string>> CertificateRows(const json& certificates) {
  std::vector<std::vector<std::string>> rows;
  if (!certificates.is_array()) {
    return rows;
  }
  for (const json& c : certificates) {
    std::string revoked = "no";
    if (c.is_object() && c.contains("revoked") && c["revoked"] == true) {
      revoked = "yes (" + Str(c, "revocation_reason") + ", " + Str(c, "revoked_at") + ")";
    }
    rows.push_back({Str(c, "serial"), Str(c, "subject_cn"), Str(c, "sans"), Str(c, "profile"),
                    Str(c, "not_after"), revoked});
  }
  return rows;
}

namespace {

struct ListOptions {
  ApiOptions api;
  CertListArguments args;
};

struct ShowOptions {
  ApiOptions api;
  std::string serial;
  bool pem = false;
};

// The fields of one certificate object, one "key: value" line each.
void PrintCertificate(Context& ctx, const json& c) {
  for (const char* key : {"serial", "subject_cn", "sans", "profile", "not_before", "not_after",
                          "issued_at", "issued_by", "revoked", "revoked_at", "revocation_reason"}) {
    if (c.contains(key)) {
      ctx.out << key << ": " << Str(c, key) << '\n';
    }
  }
}

}  // namespace

void AddCertificatesCommands(CLI::App& app, Action* action) {
  CLI::App* group = app.add_subcommand(
      "certificates", "The inventory of the certificates the control plane issued");
  group->require_subcommand(1);
  {
    auto o = std::make_shared<ListOptions>();
    CLI::App* cmd = group->add_subcommand(
        "list",
        "List issued certificates (GET /v1/certificates, every page), oldest first: SERIAL, CN,\n"
        "SANS, PROFILE, NOT AFTER, REVOKED. The filters combine.");
    cmd->add_option("--name", o->args.name,
                    "only certificates whose CN or a SAN contains this text (any case)");
    cmd->add_option("--profile", o->args.profile, "only this profile: server, client, peer, ...");
    cmd->add_option("--expiring-in", o->args.expiring_in,
                    "only certificates neither revoked (unless --revoked) nor expired that "
                    "expire within this time: 30d, 12h, 90m");
    auto* revoked = cmd->add_flag("--revoked", o->args.revoked, "only revoked certificates");
    cmd->add_flag("--valid", o->args.valid, "only certificates neither revoked nor expired")
        ->excludes(revoked);
    cmd->add_option("--limit", o->args.limit, "at most this many certificates (default: all)")
        ->check(CLI::Range(1, 100000000));
    AddApiOptions(cmd, o->api, true, true);
    cmd->callback([o, action] {
      *action = [o](Context& ctx) -> core::Result<int> {
        CTLS_ASSIGN_OR_RETURN(CertListPlan plan, CheckCertListArguments(o->args, ctx.clock.Now()));
        CTLS_ASSIGN_OR_RETURN(Api api, Api::Open(o->api));
        CTLS_ASSIGN_OR_RETURN(json list, CollectCertificates(plan, [&](const std::string& target) {
                                return api.Call("GET", target);
                              }));
        if (o->api.json) {
          PrintJson(ctx, list);
          return 0;
        }
        PrintTable(ctx.out, CertificateTableHeader(), CertificateRows(list["certificates"]));
        return 0;
      };
    });
  }
  {
    auto o = std::make_shared<ShowOptions>();
    CLI::App* cmd =
        group->add_subcommand("show", "Show one issued certificate (GET /v1/certificates/SERIAL)");
    cmd->add_option("serial", o->serial,
                    "the serial in hex, as `openssl x509 -noout -serial` prints it")
        ->required();
    auto* pem = cmd->add_flag("--pem", o->pem, "print only the certificate, PEM");
    AddApiOptions(cmd, o->api, true, true);
    if (CLI::Option* json_flag = cmd->get_option_no_throw("--json")) {
      json_flag->excludes(pem);
    }
    cmd->callback([o, action] {
      *action = [o](Context& ctx) -> core::Result<int> {
        CTLS_ASSIGN_OR_RETURN(std::string serial, NormalizeSerialArgument(o->serial));
        CTLS_ASSIGN_OR_RETURN(Api api, Api::Open(o->api));
        CTLS_ASSIGN_OR_RETURN(json reply, api.Call("GET", "/v1/certificates/" + serial));
        if (o->pem) {
          if (!reply.contains("certificate") || !reply["certificate"].is_string()) {
            return core::Fail(ErrorCode::kParse,
                              "server: GET /v1/certificates/" + serial + " has no certificate");
          }
          ctx.out << reply["certificate"].get<std::string>();
          return 0;
        }
        if (o->api.json) {
          PrintJson(ctx, reply);
          return 0;
        }
        PrintCertificate(ctx, reply);
        return 0;
      };
    });
  }
}

}  // namespace clustertls::cli
