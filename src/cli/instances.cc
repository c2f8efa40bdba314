#include "cli/instances.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <set>

#include "core/encoding.h"
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
      return Fail(ErrorCode::kParse, where + "[" + std::to_string(i) + "]: expected a string");
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

// The attribute keywords a `name` DN may use (RFC 4514 section 3, plus the ones Java's
// X500Principal, which certutil uses, also knows), as OpenSSL's short names.
struct DnKeyword {
  std::string_view keyword;  // upper case
  std::string_view openssl;
};
constexpr DnKeyword kDnKeywords[] = {
    {"CN", "CN"}, {"C", "C"}, {"ST", "ST"}, {"L", "L"}, {"O", "O"}, {"OU", "OU"}, {"DC", "DC"},
};

// Parses an RFC 4514 distinguished name string ("CN=node5,OU=IT,DC=mydomain,DC=com"; ';' also
// separates, as RFC 1779 and X500Principal allow; values may be quoted or use '\' escapes) into
// its attributes in string order (the most specific first), types as OpenSSL short names.
core::Result<pki::SubjectAttributes> ParseDistinguishedName(std::string_view dn) {
  pki::SubjectAttributes out;
  std::size_t i = 0;
  auto skip_spaces = [&] {
    while (i < dn.size() && dn[i] == ' ') {
      ++i;
    }
  };
  for (;;) {
    skip_spaces();
    const std::size_t type_start = i;
    while (i < dn.size() && dn[i] != '=' && dn[i] != ',' && dn[i] != ';' && dn[i] != '+') {
      ++i;
    }
    if (i >= dn.size() || dn[i] != '=') {
      return Fail(ErrorCode::kInvalidArgument, "not a distinguished name: \"" +
                                                   std::string(dn.substr(type_start)) +
                                                   "\" has no '=' (write it as CN=...,OU=...)");
    }
    std::string type(dn.substr(type_start, i - type_start));
    while (!type.empty() && type.back() == ' ') {
      type.pop_back();
    }
    std::string upper = type;
    for (char& c : upper) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    const DnKeyword* keyword = nullptr;
    for (const DnKeyword& k : kDnKeywords) {
      if (k.keyword == upper) {
        keyword = &k;
      }
    }
    if (keyword == nullptr) {
      return Fail(ErrorCode::kInvalidArgument,
                  "unknown attribute \"" + type +
                      "\" in the distinguished name (use CN, C, ST, L, O, OU or DC)");
    }
    ++i;  // '='
    skip_spaces();
    std::string value;
    if (i < dn.size() && dn[i] == '#') {
      return Fail(ErrorCode::kInvalidArgument,
                  type + ": '#' (a hex-encoded BER value) is not supported; write the text");
    }
    std::size_t kept = 0;  // value length without unescaped trailing spaces
    if (i < dn.size() && dn[i] == '"') {
      ++i;
      for (;;) {
        if (i >= dn.size()) {
          return Fail(ErrorCode::kInvalidArgument, type + ": unterminated quoted value");
        }
        if (dn[i] == '"') {
          ++i;
          break;
        }
        if (dn[i] == '\\' && i + 1 < dn.size()) {
          ++i;
        }
        value.push_back(dn[i++]);
      }
      kept = value.size();
      skip_spaces();
    } else {
      while (i < dn.size() && dn[i] != ',' && dn[i] != ';' && dn[i] != '+') {
        if (dn[i] == '\\') {
          if (i + 2 < dn.size() && core::HexDigitValue(dn[i + 1]) >= 0 &&
              core::HexDigitValue(dn[i + 2]) >= 0) {
            value.push_back(static_cast<char>(core::HexDigitValue(dn[i + 1]) * 16 +
                                              core::HexDigitValue(dn[i + 2])));
            i += 3;
          } else if (i + 1 < dn.size()) {
            value.push_back(dn[i + 1]);
            i += 2;
          } else {
            return Fail(ErrorCode::kInvalidArgument, type + ": the value ends with a lone '\\'");
          }
          kept = value.size();
          continue;
        }
        value.push_back(dn[i++]);
        if (value.back() != ' ') {
          kept = value.size();
        }
      }
    }
    value.resize(kept);
    if (value.empty()) {
      return Fail(ErrorCode::kInvalidArgument, type + ": empty value");
    }
    if (value.find('\0') != std::string::npos) {
      return Fail(ErrorCode::kInvalidArgument, type + ": the value contains a NUL byte");
    }
    out.emplace_back(std::string(keyword->openssl), std::move(value));
    if (i >= dn.size()) {
      return out;
    }
    if (dn[i] == '+') {
      return Fail(ErrorCode::kInvalidArgument,
                  "multi-valued RDNs ('+') are not supported in the distinguished name");
    }
    if (dn[i] != ',' && dn[i] != ';') {
      return Fail(ErrorCode::kInvalidArgument, type + ": unexpected text after the quoted value");
    }
    ++i;  // ',' or ';'
  }
}

// Reads the scalar `key` of `item`; an empty string when absent.
core::Result<std::string> OptionalScalar(const YAML::Node& item, const char* key,
                                         const std::string& where) {
  const YAML::Node node = item[key];
  if (!node.IsDefined() || node.IsNull()) {
    return std::string();
  }
  if (!node.IsScalar() || node.Scalar().empty()) {
    return Fail(ErrorCode::kInvalidArgument, where + ": " + key + ": expected a non-empty string");
  }
  return node.Scalar();
}

core::Result<std::vector<Instance>> ParseInstancesUnchecked(std::string_view yaml,
                                                            const std::string& src) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kParse,
                src + ": not valid YAML: line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
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
  std::set<std::string> filenames;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YAML::Node item = list[i];
    std::string where = src + ": instances[" + std::to_string(i) + "]";
    if (!item.IsMap()) {
      return Fail(ErrorCode::kParse, where + ": expected a map with name, filename, dns, ip, cn");
    }
    if (!item["name"] || !item["name"].IsScalar() || item["name"].Scalar().empty()) {
      return Fail(ErrorCode::kInvalidArgument, where + ": \"name\" is missing");
    }
    Instance inst;
    inst.name = item["name"].Scalar();
    where += " (name \"" + inst.name + "\")";
    for (const auto& kv : item) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
      if (key != "name" && key != "filename" && key != "dns" && key != "ip" && key != "cn") {
        return Fail(ErrorCode::kInvalidArgument, where + ": unknown field \"" + key +
                                                     "\" (expected name, filename, dns, ip, cn)");
      }
    }
    // certutil refuses the name "ca" whatever the filename: its CA folder is "ca/".
    if (inst.name == "ca") {
      return Fail(ErrorCode::kInvalidArgument,
                  where + ": name: \"ca\" is reserved for the CA certificate folder");
    }
    const bool is_dn = inst.name.find('=') != std::string::npos;
    CTLS_ASSIGN_OR_RETURN(inst.filename, OptionalScalar(item, "filename", where));
    const bool own_filename = !inst.filename.empty();
    if (!own_filename) {
      inst.filename = inst.name;
    }
    const std::string file_field = own_filename ? "filename" : "name";
    if (!IsSafeFileName(inst.filename)) {
      std::string hint = own_filename ? "" : ", or add a \"filename\" field";
      if (!own_filename && is_dn) {
        hint = "; a distinguished name needs a \"filename\" field";
      }
      return Fail(ErrorCode::kInvalidArgument,
                  where + ": " + file_field +
                      ": must be letters, digits, '.', '_' or '-', not starting with '.' (it "
                      "names files)" +
                      hint);
    }
    if (inst.filename == "ca") {
      return Fail(ErrorCode::kInvalidArgument,
                  where + ": filename: \"ca\" is reserved for the CA certificate folder");
    }
    if (!filenames.insert(inst.filename).second) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + ": " + file_field + ": duplicate file name \"" + inst.filename + "\"");
    }
    CTLS_ASSIGN_OR_RETURN(auto dns, StringList(item["dns"], where + ": dns"));
    CTLS_ASSIGN_OR_RETURN(auto ips, StringList(item["ip"], where + ": ip"));
    CTLS_ASSIGN_OR_RETURN(auto cns, StringList(item["cn"], where + ": cn"));
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
    for (std::size_t j = 0; j < cns.size(); ++j) {
      auto c = pki::CheckOtherNameCommonName(cns[j]);
      if (!c) {
        return c.error().WithContext(where + ": cn[" + std::to_string(j) + "]");
      }
      inst.other_name_cns.push_back(*c);
    }
    std::string cn_source = "name";
    if (is_dn) {
      auto dn = ParseDistinguishedName(inst.name);
      if (!dn) {
        return dn.error().WithContext(where + ": name");
      }
      const auto cn_count =
          std::count_if(dn->begin(), dn->end(), [](const auto& rdn) { return rdn.first == "CN"; });
      if (cn_count != 1 || dn->front().first != "CN") {
        return Fail(ErrorCode::kInvalidArgument,
                    where +
                        ": name: the distinguished name must start with its one CN= (the "
                        "certificate's common name, put last in the subject)");
      }
      inst.common_name = dn->front().second;
      // The string lists the most specific RDN first; the subject encodes it last.
      inst.subject_extra.assign(dn->rbegin(), std::prev(dn->rend()));
      cn_source = "name's CN";
    } else {
      inst.common_name = inst.name;
    }
    // The issuer adds the CN to the SANs: it must be a valid host name or IP.
    if (pki::IsIpAddress(inst.common_name)) {
      CTLS_ASSIGN_OR_RETURN(inst.common_name, pki::CanonicalIp(inst.common_name));
    } else {
      auto c = pki::CanonicalDnsName(inst.common_name, /*allow_wildcard=*/false);
      if (!c) {
        return c.error().WithContext(where + ": " + cn_source +
                                     " (used as the certificate's common name)");
      }
      inst.common_name = *c;
    }
    out.push_back(std::move(inst));
  }
  return out;
}

}  // namespace

core::Result<std::vector<Instance>> ParseInstances(std::string_view yaml, std::string_view source) {
  const std::string src(source);
  try {
    return ParseInstancesUnchecked(yaml, src);
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kParse, src + ": unexpected YAML structure: " + e.msg);
  }
}

}  // namespace clustertls::cli
