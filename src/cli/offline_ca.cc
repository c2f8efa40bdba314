#include "cli/offline_ca.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "cli/output.h"
#include "core/files.h"

namespace clustertls::cli {
namespace {

using core::ErrorCode;
using core::Fail;
using nlohmann::json;

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char Upper(char c) { return c >= 'a' && c <= 'f' ? static_cast<char>(c - 'a' + 'A') : c; }

std::string KeySha256(const pki::Certificate& ca) {
  return pki::Sha256Fingerprint(ca.public_key().SpkiDer()).hex;
}

// A string field of an entry; kParse naming it when absent or not a string.
core::Result<std::string> StringField(const json& object, const char* field,
                                      const std::string& where, bool required) {
  auto it = object.find(field);
  if (it == object.end()) {
    if (required) {
      return Fail(ErrorCode::kParse, where + "." + field + ": missing");
    }
    return std::string();
  }
  if (!it->is_string()) {
    return Fail(ErrorCode::kParse, where + "." + field + ": must be a string");
  }
  return it->get<std::string>();
}

// The "ca" identity and the array named `list_field` of a state file (`what` names the file's
// command in errors). Refuses a file that belongs to another CA than `ca`.
struct StateFile {
  std::string ca_subject;
  std::string ca_key_sha256;
  json entries;
};

core::Result<StateFile> ParseStateFile(std::string_view text, const std::string& path,
                                       const pki::Certificate& ca, const char* list_field,
                                       const char* what) {
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Fail(ErrorCode::kParse, path + ": not a JSON object (" + what + ")");
  }
  auto ca_it = doc.find("ca");
  auto list_it = doc.find(list_field);
  if (ca_it == doc.end() || !ca_it->is_object() || list_it == doc.end() || !list_it->is_array()) {
    return Fail(ErrorCode::kParse,
                path + ": expected {\"ca\": {...}, \"" + list_field + "\": [...]} (" + what + ")");
  }
  StateFile file;
  CTLS_ASSIGN_OR_RETURN(file.ca_subject, StringField(*ca_it, "subject", path + ": ca", true));
  CTLS_ASSIGN_OR_RETURN(file.ca_key_sha256, StringField(*ca_it, "key_sha256", path + ": ca", true));
  if (file.ca_key_sha256 != KeySha256(ca)) {
    return Fail(ErrorCode::kInvalidArgument, path + ": belongs to another CA (\"" +
                                                 file.ca_subject + "\", another key) than \"" +
                                                 ca.subject() +
                                                 "\"; move it away to start a new one for this CA");
  }
  file.entries = std::move(*list_it);
  return file;
}

// A serial field of an entry, canonical; kParse naming it.
core::Result<std::string> SerialField(const json& entry, const std::string& where) {
  CTLS_ASSIGN_OR_RETURN(std::string serial, StringField(entry, "serial", where, true));
  auto canonical = CanonicalSerialHex(serial);
  if (!canonical) {
    return Fail(ErrorCode::kParse, where + ".serial: " + canonical.error().message);
  }
  return std::move(canonical).value();
}

// An RFC 3339 time field of an entry; kParse naming it.
core::Result<core::TimePoint> TimeField(const json& entry, const char* field,
                                        const std::string& where) {
  CTLS_ASSIGN_OR_RETURN(std::string text, StringField(entry, field, where, true));
  auto parsed = core::ParseTime(text);
  if (!parsed) {
    return Fail(ErrorCode::kParse,
                where + "." + field + ": \"" + text + "\" is not an RFC 3339 time");
  }
  return *parsed;
}

}  // namespace

const OfflineIssued* OfflineIssuedList::Find(std::string_view serial) const {
  for (const auto& e : issued) {
    if (e.serial == serial) {
      return &e;
    }
  }
  return nullptr;
}

const OfflineRevoked* OfflineRevocationList::Find(std::string_view serial) const {
  for (const auto& r : revoked) {
    if (r.serial == serial) {
      return &r;
    }
  }
  return nullptr;
}

core::Result<std::string> CanonicalSerialHex(std::string_view serial) {
  std::string digits;
  for (char c : serial) {
    if (c == ':') {
      continue;
    }
    if (!IsHex(c)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "serial \"" + std::string(serial.substr(0, 80)) + "\": must be hexadecimal");
    }
    digits.push_back(Upper(c));
  }
  if (digits.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "serial: empty");
  }
  const std::size_t first = digits.find_first_not_of('0');
  digits = first == std::string::npos ? std::string() : digits.substr(first);
  // RFC 5280 section 4.1.2.2: at most 20 octets.
  if (digits.size() > 40) {
    return Fail(ErrorCode::kInvalidArgument, "serial \"" + std::string(serial.substr(0, 80)) +
                                                 "\": longer than 20 octets (RFC 5280 4.1.2.2)");
  }
  if (digits.empty()) {
    return std::string("00");
  }
  if (digits.size() % 2 != 0) {
    digits.insert(digits.begin(), '0');
  }
  return digits;
}

OfflineRevocationList EmptyRevocationList(const pki::Certificate& ca) {
  return OfflineRevocationList{
      .ca_subject = ca.subject(), .ca_key_sha256 = KeySha256(ca), .revoked = {}};
}

core::Result<OfflineRevocationList> ParseRevocationList(std::string_view text,
                                                        const std::string& path,
                                                        const pki::Certificate& ca) {
  CTLS_ASSIGN_OR_RETURN(
      StateFile file,
      ParseStateFile(text, path, ca, "revoked", "the revocation list of `clustertls ca revoke`"));
  OfflineRevocationList list{.ca_subject = std::move(file.ca_subject),
                             .ca_key_sha256 = std::move(file.ca_key_sha256),
                             .revoked = {}};
  for (std::size_t i = 0; i < file.entries.size(); ++i) {
    const json& entry = file.entries[i];
    const std::string where = path + ": revoked[" + std::to_string(i) + "]";
    if (!entry.is_object()) {
      return Fail(ErrorCode::kParse, where + ": must be an object");
    }
    OfflineRevoked r;
    CTLS_ASSIGN_OR_RETURN(r.serial, SerialField(entry, where));
    CTLS_ASSIGN_OR_RETURN(r.revoked_at, TimeField(entry, "revoked_at", where));
    CTLS_ASSIGN_OR_RETURN(std::string reason, StringField(entry, "reason", where, true));
    auto parsed_reason = pki::ParseRevocationReason(reason);
    if (!parsed_reason || *parsed_reason == pki::RevocationReason::kRemoveFromCrl) {
      return Fail(ErrorCode::kParse, where + ".reason: \"" + reason +
                                         "\" is not a reason a certificate is revoked for "
                                         "(RFC 5280 5.3.1)");
    }
    r.reason = *parsed_reason;
    CTLS_ASSIGN_OR_RETURN(r.subject, StringField(entry, "subject", where, false));
    if (list.Find(r.serial) != nullptr) {
      return Fail(ErrorCode::kParse, where + ".serial: " + r.serial + " is listed twice");
    }
    list.revoked.push_back(std::move(r));
  }
  return list;
}

std::string FormatRevocationList(const OfflineRevocationList& list) {
  json revoked = json::array();
  for (const auto& r : list.revoked) {
    json entry{{"serial", r.serial},
               {"revoked_at", core::FormatTime(r.revoked_at)},
               {"reason", pki::RevocationReasonName(r.reason)}};
    if (!r.subject.empty()) {
      entry["subject"] = r.subject;
    }
    revoked.push_back(std::move(entry));
  }
  json doc{{"ca", {{"subject", list.ca_subject}, {"key_sha256", list.ca_key_sha256}}},
           {"revoked", std::move(revoked)}};
  return doc.dump(2) + "\n";
}

std::string CaStateDir(const std::string& ca_cert_path) {
  const std::string parent = std::filesystem::path(ca_cert_path).parent_path().string();
  return parent.empty() ? std::string(".") : parent;
}

OfflineIssuedList EmptyIssuedList(const pki::Certificate& ca) {
  return OfflineIssuedList{
      .ca_subject = ca.subject(), .ca_key_sha256 = KeySha256(ca), .issued = {}};
}

OfflineIssued IssuedEntry(const pki::Certificate& cert) {
  auto serial = CanonicalSerialHex(cert.serial_hex());
  return OfflineIssued{.serial = serial ? *serial : cert.serial_hex(),
                       .not_after = cert.not_after(),
                       .common_name = cert.common_name()};
}

OfflineIssued IssuedEntry(const pki::IssuedFacts& facts) {
  auto serial = CanonicalSerialHex(facts.serial_hex);
  return OfflineIssued{.serial = serial ? *serial : facts.serial_hex,
                       .not_after = facts.not_after,
                       .common_name = facts.common_name};
}

core::Result<OfflineIssuedList> ParseIssuedList(std::string_view text, const std::string& path,
                                                const pki::Certificate& ca) {
  CTLS_ASSIGN_OR_RETURN(
      StateFile file,
      ParseStateFile(text, path, ca, "issued", "what this CA issued, as clustertls records it"));
  OfflineIssuedList list{.ca_subject = std::move(file.ca_subject),
                         .ca_key_sha256 = std::move(file.ca_key_sha256),
                         .issued = {}};
  list.issued.reserve(file.entries.size());
  std::unordered_set<std::string> seen;
  for (std::size_t i = 0; i < file.entries.size(); ++i) {
    const json& entry = file.entries[i];
    const std::string where = path + ": issued[" + std::to_string(i) + "]";
    if (!entry.is_object()) {
      return Fail(ErrorCode::kParse, where + ": must be an object");
    }
    OfflineIssued e;
    CTLS_ASSIGN_OR_RETURN(e.serial, SerialField(entry, where));
    CTLS_ASSIGN_OR_RETURN(e.not_after, TimeField(entry, "not_after", where));
    CTLS_ASSIGN_OR_RETURN(e.common_name, StringField(entry, "common_name", where, false));
    if (seen.insert(e.serial).second) {
      list.issued.push_back(std::move(e));
    }
  }
  return list;
}

std::string FormatIssuedList(const OfflineIssuedList& list) {
  // One entry per line: greppable, and cheap to rewrite after `cert bulk` added thousands.
  json ca{{"subject", list.ca_subject}, {"key_sha256", list.ca_key_sha256}};
  std::string out = "{\"ca\": " + ca.dump() + ",\n \"issued\": [";
  for (std::size_t i = 0; i < list.issued.size(); ++i) {
    const OfflineIssued& e = list.issued[i];
    json entry{{"serial", e.serial},
               {"not_after", core::FormatTime(e.not_after)},
               {"common_name", e.common_name}};
    out += (i == 0 ? "\n  " : ",\n  ") + entry.dump();
  }
  out += list.issued.empty() ? "]}\n" : "\n]}\n";
  return out;
}

void RecordIssued(const std::string& ca_cert_path, const pki::Certificate& ca,
                  std::vector<OfflineIssued> entries, Context& ctx) {
  if (entries.empty()) {
    return;
  }
  const std::string dir = CaStateDir(ca_cert_path);
  const std::string path = JoinPath(dir, kIssuedFileName);
  auto recorded = [&]() -> core::Result<void> {
    CTLS_ASSIGN_OR_RETURN(core::DirectoryLock lock, core::DirectoryLock::Acquire(dir));
    OfflineIssuedList list = EmptyIssuedList(ca);
    if (core::PathExists(path)) {
      CTLS_ASSIGN_OR_RETURN(std::string text, core::ReadFile(path));
      CTLS_ASSIGN_OR_RETURN(list, ParseIssuedList(text, path, ca));
    }
    for (auto& e : entries) {
      list.issued.push_back(std::move(e));
    }
    return core::WriteFileAtomic(path, FormatIssuedList(list),
                                 {.mode = core::kPublicFileMode, .overwrite = true});
  }();
  if (!recorded) {
    ctx.Warn("the certificate" + std::string(entries.size() == 1 ? " is" : "s are") +
             " not recorded as issued by this CA: " + recorded.error().message +
             ". `clustertls ca revoke` takes an unrecorded certificate by its file, or by its "
             "serial with --unrecorded");
  }
}

core::Result<std::int64_t> ParseCrlNumber(std::string_view text, const std::string& path) {
  std::string_view s = text;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
    s.remove_suffix(1);
  }
  while (!s.empty() && s.front() == ' ') {
    s.remove_prefix(1);
  }
  if (s.empty() || !std::all_of(s.begin(), s.end(), IsHex)) {
    return Fail(ErrorCode::kParse,
                path +
                    ": expected the next CRL number in hex on one line (as `openssl ca` "
                    "keeps it), e.g. 01");
  }
  const std::size_t first = s.find_first_not_of('0');
  s = first == std::string_view::npos ? std::string_view() : s.substr(first);
  if (s.size() > 15 || (s.size() == 15 && s.front() >= '4')) {
    return Fail(ErrorCode::kParse, path + ": CRL number too large (above 2^62)");
  }
  std::int64_t n = 0;
  for (char c : s) {
    const char u = Upper(c);
    n = n * 16 + (u <= '9' ? u - '0' : u - 'A' + 10);
  }
  if (n < 1) {
    return Fail(ErrorCode::kParse, path + ": the next CRL number must be at least 1");
  }
  return n;
}

std::string FormatCrlNumber(std::int64_t number) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string hex;
  for (std::uint64_t v = static_cast<std::uint64_t>(number); v != 0; v >>= 4) {
    hex.insert(hex.begin(), kDigits[v & 15]);
  }
  if (hex.empty()) {
    hex = "0";
  }
  if (hex.size() % 2 != 0) {
    hex.insert(hex.begin(), '0');
  }
  return hex + "\n";
}

}  // namespace clustertls::cli
