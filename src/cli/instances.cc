#include "cli/instances.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "pki/names.h"

namespace clustertls::cli {
namespace {

using core::ErrorCode;
using core::Fail;

// Reads a scalar or a sequence of scalars.
core::Result<std::vector<std::string>> StringList(const YAML::Node& node,
                                                  const std::string& where) {
  std::vector<std::string> out;
  if (!node.IsDefined() || node.IsNull()) {
    return out;
  }
  if (node.IsScalar()) {
    out.push_back(node.Scalar());
    return out;
  }
  if (!node.IsSequence()) {
    return Fail(ErrorCode::kParse, where + ": expected a string or a list of strings");
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    if (!node[i].IsScalar()) {
      return Fail(ErrorCode::kParse,
                  where + "[" + std::to_string(i) + "]: expected a string");
    }
    out.push_back(node[i].Scalar());
  }
  return out;
}

}  // namespace

bool IsSafeFileName(std::string_view name) {
  if (name.empty() || name.size() > 200 || name.front() == '.') {
    return false;
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

namespace {

core::Result<std::vector<Instance>> ParseInstancesUnchecked(std::string_view yaml,
                                                            const std::string& src) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kParse, src + ": not valid YAML: line " +
                                       std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root.IsMap() || !root["instances"]) {
    return Fail(ErrorCode::kParse, src + ": expected a top-level \"instances:\" list");
  }
  const YAML::Node list = root["instances"];
  if (!list.IsSequence()) {
    return Fail(ErrorCode::kParse, src + ": \"instances\" must be a list");
  }
  if (list.size() == 0) {
    return Fail(ErrorCode::kInvalidArgument, src + ": \"instances\" is empty");
  }
  std::vector<Instance> out;
  std::set<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YAML::Node item = list[i];
    std::string where = src + ": instances[" + std::to_string(i) + "]";
    if (!item.IsMap()) {
      return Fail(ErrorCode::kParse, where + ": expected a map with name, dns, ip");
    }
    if (!item["name"] || !item["name"].IsScalar() || item["name"].Scalar().empty()) {
      return Fail(ErrorCode::kInvalidArgument, where + ": \"name\" is missing");
    }
    Instance inst;
    inst.name = item["name"].Scalar();
    where += " (name \"" + inst.name + "\")";
    for (const auto& kv : item) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
      if (key != "name" && key != "dns" && key != "ip" && key != "cn") {
        return Fail(ErrorCode::kInvalidArgument,
                    where + ": unknown field \"" + key + "\" (expected name, dns, ip, cn)");
      }
    }
    if (!IsSafeFileName(inst.name)) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + ": name: must be letters, digits, '.', '_' or '-' (it names files)");
    }
    if (inst.name == "ca") {
      return Fail(ErrorCode::kInvalidArgument,
                  where + ": name: \"ca\" is reserved for the CA certificate folder");
    }
    if (!names.insert(inst.name).second) {
      return Fail(ErrorCode::kInvalidArgument, where + ": name: duplicate instance name");
    }
    CTLS_ASSIGN_OR_RETURN(auto dns, StringList(item["dns"], where + ": dns"));
    CTLS_ASSIGN_OR_RETURN(auto ips, StringList(item["ip"], where + ": ip"));
    for (std::size_t j = 0; j < dns.size(); ++j) {
      auto c = pki::CanonicalDnsName(dns[j]);
      if (!c) {
        return c.error().WithContext(where + ": dns[" + std::to_string(j) + "]");
      }
      inst.sans.dns.push_back(*c);
    }
    for (std::size_t j = 0; j < ips.size(); ++j) {
      auto c = pki::CanonicalIp(ips[j]);
      if (!c) {
        return c.error().WithContext(where + ": ip[" + std::to_string(j) + "]");
      }
      inst.sans.ips.push_back(*c);
    }
    std::string cn_field = "name";
    inst.common_name = inst.name;
    if (item["cn"]) {
      if (!item["cn"].IsScalar() || item["cn"].Scalar().empty()) {
        return Fail(ErrorCode::kInvalidArgument, where + ": cn: expected a non-empty string");
      }
      inst.common_name = item["cn"].Scalar();
      cn_field = "cn";
    }
    // The issuer adds the CN to the SANs: it must be a valid host name or IP.
    if (pki::IsIpAddress(inst.common_name)) {
      CTLS_ASSIGN_OR_RETURN(inst.common_name, pki::CanonicalIp(inst.common_name));
    } else {
      auto c = pki::CanonicalDnsName(inst.common_name, /*allow_wildcard=*/false);
      if (!c) {
        return c.error().WithContext(where + ": " + cn_field +
                                     " (used as the certificate's common name)");
      }
      inst.common_name = *c;
    }
    out.push_back(std::move(inst));
  }
  return out;
}

}  // namespace

core::Result<std::vector<Instance>> ParseInstances(std::string_view yaml,
                                                   std::string_view source) {
  const std::string src(source);
  try {
    return ParseInstancesUnchecked(yaml, src);
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kParse, src + ": unexpected YAML structure: " + e.msg);
  }
}

}  // namespace clustertls::cli
