#include "authority/name_policy.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <utility>

namespace clustertls::authority {

namespace {

using core::ErrorCode;
using core::Fail;
using json = nlohmann::json;

constexpr const char* kFields[] = {"allowed_dns", "denied_dns",   "allowed_ips",
                                   "denied_ips",  "allowed_uris", "denied_uris"};

// "a.b.c" is `base` or under it.
bool Within(std::string_view name, std::string_view base, bool strictly) {
  if (name == base) {
    return !strictly;
  }
  return name.size() > base.size() + 1 && name.ends_with(base) &&
         name[name.size() - base.size() - 1] == '.';
}

std::string_view Parent(std::string_view name) {
  std::size_t dot = name.find('.');
  return dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
}

// A requested DNS name (canonical; "*.w" is a wildcard) and a policy entry.
bool DnsMatchesAllowed(std::string_view name, const DnsSuffix& entry) {
  if (name.starts_with("*.")) {
    // Every "<label>.w" under the entry: w is the entry's base or under it.
    std::string_view w = name.substr(2);
    return Within(w, entry.base, /*strictly=*/false);
  }
  return Within(name, entry.base, entry.subdomains_only);
}

bool DnsMatchesDenied(std::string_view name, const DnsSuffix& entry) {
  if (name.starts_with("*.")) {
    // Some "<label>.w" under the entry: w is the base or under it, or the base is one label
    // below w (and the entry covers the base itself).
    std::string_view w = name.substr(2);
    return Within(w, entry.base, /*strictly=*/false) ||
           (!entry.subdomains_only && Parent(entry.base) == w);
  }
  return Within(name, entry.base, entry.subdomains_only);
}

bool IpIn(std::string_view ip, const pki::IpNetwork& network) {
  auto bytes = pki::IpAddressBytes(ip);
  if (!bytes || bytes->size() != network.address.size()) {
    return false;
  }
  for (std::size_t i = 0; i < bytes->size(); ++i) {
    if ((static_cast<unsigned char>((*bytes)[i]) & static_cast<unsigned char>(network.mask[i])) !=
        static_cast<unsigned char>(network.address[i])) {
      return false;
    }
  }
  return true;
}

core::Result<DnsSuffix> ParseDnsSuffix(std::string_view entry) {
  DnsSuffix out;
  std::string_view base = entry;
  if (base.starts_with("*.")) {
    base.remove_prefix(2);
    out.subdomains_only = true;
  } else if (base.starts_with(".")) {
    base.remove_prefix(1);
    out.subdomains_only = true;
  }
  CTLS_ASSIGN_OR_RETURN(out.base, pki::CanonicalDnsName(base, /*allow_wildcard=*/false));
  out.text = (out.subdomains_only ? "*." : "") + out.base;
  return out;
}

template <typename T, typename F>
core::Result<std::vector<T>> ParseList(const json& value, const std::string& where, F parse) {
  if (!value.is_array()) {
    return Fail(ErrorCode::kInvalidArgument, where + ": must be an array of strings");
  }
  if (value.size() > kMaxPolicyEntries) {
    return Fail(ErrorCode::kInvalidArgument,
                where + ": at most " + std::to_string(kMaxPolicyEntries) + " entries (got " +
                    std::to_string(value.size()) + ")");
  }
  std::vector<T> out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (!value[i].is_string()) {
      return Fail(ErrorCode::kInvalidArgument, at + ": must be a string");
    }
    const std::string& text = value[i].get_ref<const std::string&>();
    if (text.empty() || text.size() > kMaxPolicyEntryLength) {
      return Fail(ErrorCode::kInvalidArgument,
                  at + ": must be 1.." + std::to_string(kMaxPolicyEntryLength) + " characters");
    }
    auto parsed = parse(text);
    if (!parsed) {
      return Fail(ErrorCode::kInvalidArgument, at + ": " + parsed.error().message);
    }
    out.push_back(std::move(*parsed));
  }
  return out;
}

template <typename T>
std::vector<std::string> Texts(const std::vector<T>& list) {
  std::vector<std::string> out;
  for (const auto& e : list) {
    if constexpr (std::is_same_v<T, std::string>) {
      out.push_back(e);
    } else {
      out.push_back(e.text);
    }
  }
  return out;
}

template <typename T>
std::string Join(const std::vector<T>& list) {
  std::string out;
  for (const std::string& text : Texts(list)) {
    out += (out.empty() ? "" : ", ") + text;
  }
  return out;
}

// Why `policy` refuses a name, or "" if it allows it. `kind` is "DNS", "IP", "URI" or "email".
template <typename T, typename Match, typename Deny>
std::string Refusal(const std::string& name, const char* kind, const std::vector<T>& allowed,
                    const std::vector<T>& denied, bool allow_list, Match matches_allowed,
                    Deny matches_denied) {
  for (const auto& entry : denied) {
    if (matches_denied(name, entry)) {
      if constexpr (std::is_same_v<T, std::string>) {
        return std::string("denied ") + kind + " prefix " + entry;
      } else {
        return std::string("denied ") + kind + " entry " + entry.text;
      }
    }
  }
  if (!allow_list) {
    return "";
  }
  for (const auto& entry : allowed) {
    if (matches_allowed(name, entry)) {
      return "";
    }
  }
  if (allowed.empty()) {
    return std::string("no ") + kind + " names are allowed";
  }
  return std::string("not within the allowed ") + kind + " entries (" + Join(allowed) + ")";
}

// Every refusal of `names` by one policy, "KIND:name (reason)".
void PolicyRefusals(const pki::SubjectAltNames& names, const NamePolicy& policy,
                    std::vector<std::string>& out) {
  const bool allow_list = policy.has_allow_list();
  for (const auto& dns : names.dns) {
    std::string why = Refusal(
        dns, "DNS", policy.allowed_dns, policy.denied_dns, allow_list,
        [](const std::string& n, const DnsSuffix& e) { return DnsMatchesAllowed(n, e); },
        [](const std::string& n, const DnsSuffix& e) { return DnsMatchesDenied(n, e); });
    if (!why.empty()) {
      out.push_back("DNS:" + dns + " (" + why + ")");
    }
  }
  for (const auto& ip : names.ips) {
    auto in = [](const std::string& n, const pki::IpNetwork& e) { return IpIn(n, e); };
    std::string why = Refusal(ip, "IP", policy.allowed_ips, policy.denied_ips, allow_list, in, in);
    if (!why.empty()) {
      out.push_back("IP:" + ip + " (" + why + ")");
    }
  }
  for (const auto& uri : names.uris) {
    auto prefix = [](const std::string& n, const std::string& e) { return n.starts_with(e); };
    std::string why =
        Refusal(uri, "URI", policy.allowed_uris, policy.denied_uris, allow_list, prefix, prefix);
    if (!why.empty()) {
      out.push_back("URI:" + uri + " (" + why + ")");
    }
  }
  if (allow_list) {
    for (const auto& email : names.emails) {
      out.push_back("email:" + email + " (no email names are allowed)");
    }
  }
}

void ReservedRefusals(const pki::SubjectAltNames& names, const ReservedNames& reserved,
                      std::vector<std::string>& out) {
  for (const auto& dns : names.dns) {
    for (const auto& r : reserved.dns) {
      // Equal, or a requested wildcard that covers a reserved (non-wildcard) name.
      bool covers = dns.starts_with("*.") && !r.starts_with("*.") &&
                    Parent(r) == std::string_view(dns).substr(2);
      if (dns == r || covers) {
        out.push_back("DNS:" + dns + (covers ? " (covers " + r + ")" : ""));
        break;
      }
    }
  }
  for (const auto& ip : names.ips) {
    if (std::find(reserved.ips.begin(), reserved.ips.end(), ip) != reserved.ips.end()) {
      out.push_back("IP:" + ip);
    }
  }
  for (const auto& uri : names.uris) {
    if (std::find(reserved.uris.begin(), reserved.uris.end(), uri) != reserved.uris.end()) {
      out.push_back("URI:" + uri + " (the control plane's identity)");
    }
  }
}

}  // namespace

bool NamePolicy::empty() const {
  return !has_allow_list() && denied_dns.empty() && denied_ips.empty() && denied_uris.empty();
}

bool NamePolicy::has_allow_list() const {
  return !allowed_dns.empty() || !allowed_ips.empty() || !allowed_uris.empty();
}

bool NamePolicy::operator==(const NamePolicy& o) const {
  return NamePolicyToJson(*this) == NamePolicyToJson(o);
}

core::Result<NamePolicy> ParseNamePolicy(std::string_view json_text, std::string_view where) {
  const std::string w(where);
  NamePolicy policy;
  if (json_text.empty()) {
    return policy;
  }
  json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded()) {
    return Fail(ErrorCode::kInvalidArgument, w + ": not valid JSON");
  }
  if (j.is_null()) {
    return policy;
  }
  if (!j.is_object()) {
    return Fail(ErrorCode::kInvalidArgument,
                w + ": must be an object with allowed_dns, denied_dns, allowed_ips, denied_ips, "
                    "allowed_uris and/or denied_uris");
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(std::begin(kFields), std::end(kFields), it.key()) == std::end(kFields)) {
      return Fail(ErrorCode::kInvalidArgument,
                  w + ": unknown field \"" + it.key().substr(0, 64) +
                      "\" (known: allowed_dns, denied_dns, allowed_ips, denied_ips, allowed_uris, "
                      "denied_uris)");
    }
  }
  auto dns = [](const std::string& s) { return ParseDnsSuffix(s); };
  auto ip = [](const std::string& s) { return pki::ParseCidr(s); };
  auto uri = [](const std::string& s) { return pki::CanonicalUri(s); };
  auto field = [&](const char* name) -> const json* {
    auto it = j.find(name);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  };
  const std::string prefix = w.empty() ? "" : w + ".";
  auto read = [&](const char* name, auto& list, auto parse) -> core::Result<void> {
    if (const json* v = field(name)) {
      using Entry = typename std::decay_t<decltype(list)>::value_type;
      CTLS_ASSIGN_OR_RETURN(list, ParseList<Entry>(*v, prefix + name, parse));
    }
    return {};
  };
  CTLS_RETURN_IF_ERROR(read("allowed_dns", policy.allowed_dns, dns));
  CTLS_RETURN_IF_ERROR(read("denied_dns", policy.denied_dns, dns));
  CTLS_RETURN_IF_ERROR(read("allowed_ips", policy.allowed_ips, ip));
  CTLS_RETURN_IF_ERROR(read("denied_ips", policy.denied_ips, ip));
  CTLS_RETURN_IF_ERROR(read("allowed_uris", policy.allowed_uris, uri));
  CTLS_RETURN_IF_ERROR(read("denied_uris", policy.denied_uris, uri));
  return policy;
}

std::string NamePolicyToJson(const NamePolicy& policy) {
  if (policy.empty()) {
    return "";
  }
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  auto put = [&](const char* name, std::vector<std::string> list) {
    if (!list.empty()) {
      j[name] = std::move(list);
    }
  };
  put("allowed_dns", Texts(policy.allowed_dns));
  put("denied_dns", Texts(policy.denied_dns));
  put("allowed_ips", Texts(policy.allowed_ips));
  put("denied_ips", Texts(policy.denied_ips));
  put("allowed_uris", Texts(policy.allowed_uris));
  put("denied_uris", Texts(policy.denied_uris));
  return j.dump();
}

std::string DescribeNamePolicy(const NamePolicy& policy) {
  std::vector<std::string> parts;
  auto add = [&](const char* label, const std::string& list) {
    if (!list.empty()) {
      parts.push_back(std::string(label) + ": " + list);
    }
  };
  add("allowed DNS", Join(policy.allowed_dns));
  add("denied DNS", Join(policy.denied_dns));
  add("allowed IP", Join(policy.allowed_ips));
  add("denied IP", Join(policy.denied_ips));
  add("allowed URI", Join(policy.allowed_uris));
  add("denied URI", Join(policy.denied_uris));
  if (parts.empty()) {
    return "none";
  }
  std::string out;
  for (const auto& p : parts) {
    out += (out.empty() ? "" : "; ") + p;
  }
  return out;
}

ReservedNames ClusterReservedNames(std::string_view fqdn, const std::vector<std::string>& hosts) {
  ReservedNames out;
  auto add_dns = [&](const std::string& name) {
    auto c = pki::CanonicalDnsName(name);
    if (c && std::find(out.dns.begin(), out.dns.end(), *c) == out.dns.end()) {
      out.dns.push_back(*c);
    }
  };
  auto add_ip = [&](std::string_view ip) {
    auto c = pki::CanonicalIp(ip);
    if (!c || *c == "0.0.0.0" || *c == "::") {
      return;
    }
    if (std::find(out.ips.begin(), out.ips.end(), *c) == out.ips.end()) {
      out.ips.push_back(*c);
    }
  };
  if (!fqdn.empty()) {
    const std::string f(fqdn);
    add_dns(f);
    add_dns("*." + f);
    add_dns("internal." + f);
    add_dns("*.internal." + f);
  }
  for (const auto& host : hosts) {
    if (host.empty()) {
      continue;
    }
    if (pki::IsIpAddress(host)) {
      add_ip(host);
    } else {
      add_dns(host);
    }
  }
  add_dns("localhost");
  add_ip("127.0.0.1");
  add_ip("::1");
  out.uris.emplace_back(kControlPlaneUri);
  return out;
}

core::Result<void> CheckRequestedNames(const pki::SubjectAltNames& names, const NameCheck& check) {
  std::vector<std::string> problems;
  if (check.reserved != nullptr && !check.allow_reserved) {
    std::vector<std::string> reserved;
    ReservedRefusals(names, *check.reserved, reserved);
    if (!reserved.empty()) {
      problems.push_back("reserved for the cluster's own certificates: " + Join(reserved) +
                         " (only an admin may sign them, asking with allow_reserved)");
    }
  }
  for (const OwnedPolicy& owned : check.policies) {
    std::vector<std::string> refused;
    PolicyRefusals(names, owned.policy, refused);
    if (!refused.empty()) {
      problems.push_back("not allowed by the name policy of " + owned.owner + ": " + Join(refused));
    }
  }
  if (problems.empty()) {
    return {};
  }
  std::string message;
  for (const auto& p : problems) {
    message += (message.empty() ? "" : "; ") + p;
  }
  return Fail(ErrorCode::kPermissionDenied, message);
}

}  // namespace clustertls::authority
