#include "cli/crl_view.h"

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/time.h"
#include "pki/crl_builder.h"

namespace clustertls::cli {

namespace {

using nlohmann::json;

json CrlNumberJson(const std::optional<std::string>& number) {
  if (!number) {
    return nullptr;
  }
  std::int64_t value = 0;
  const char* end = number->data() + number->size();
  auto [ptr, ec] = std::from_chars(number->data(), end, value);
  if (ec == std::errc() && ptr == end) {
    return value;
  }
  return *number;
}

// "2026-12-01T00:00:00Z (expires in 6 days)" or "... (EXPIRED 2 days ago)".
std::string DescribeNextUpdate(core::TimePoint next, core::TimePoint now) {
  std::string s = core::FormatTime(next);
  if (next > now) {
    return s + " (expires in " + core::FormatDuration(next - now) + ")";
  }
  return s + " (EXPIRED " + core::FormatDuration(now - next) + " ago)";
}

}  // namespace

core::Result<json> CrlJson(const pki::Crl& crl, core::TimePoint now) {
  CTLS_ASSIGN_OR_RETURN(std::vector<pki::CrlEntry> entries, crl.entries());
  const std::optional<core::TimePoint> next = crl.next_update();
  json j{
      {"issuer", crl.issuer()},
      {"crl_number", CrlNumberJson(crl.crl_number())},
      {"this_update", core::FormatTime(crl.this_update())},
      {"next_update", next ? json(core::FormatTime(*next)) : json(nullptr)},
      {"expired", next.has_value() && *next <= now},
      {"signature_algorithm", crl.signature_algorithm()},
      {"count", entries.size()},
      {"entries", json::array()},
  };
  for (const pki::CrlEntry& e : entries) {
    j["entries"].push_back(json{{"serial", e.serial_hex},
                                {"revoked_at", core::FormatTime(e.revoked_at)},
                                {"reason", pki::RevocationReasonName(e.reason)}});
  }
  return j;
}

core::Result<void> PrintCrl(std::ostream& out, const pki::Crl& crl, core::TimePoint now) {
  CTLS_ASSIGN_OR_RETURN(std::vector<pki::CrlEntry> entries, crl.entries());
  const std::optional<core::TimePoint> next = crl.next_update();
  const std::optional<std::string> number = crl.crl_number();
  out << "  Issuer:             " << crl.issuer() << '\n'
      << "  CRL number:         " << (number ? *number : std::string("- (none)")) << '\n'
      << "  This update:        " << core::FormatTime(crl.this_update()) << '\n'
      << "  Next update:        "
      << (next ? DescribeNextUpdate(*next, now) : std::string("- (none: no expiry stated)"))
      << '\n'
      << "  Signature:          " << crl.signature_algorithm() << '\n'
      << "  Revoked:            " << entries.size() << '\n';
  if (entries.empty()) {
    return {};
  }
  std::size_t width = 6;
  for (const pki::CrlEntry& e : entries) {
    width = std::max(width, e.serial_hex.size());
  }
  auto pad = [width](const std::string& s) { return s + std::string(width - s.size() + 2, ' '); };
  out << "    " << pad("SERIAL") << "REVOKED AT            REASON\n";
  for (const pki::CrlEntry& e : entries) {
    out << "    " << pad(e.serial_hex) << core::FormatTime(e.revoked_at) << "  "
        << pki::RevocationReasonName(e.reason) << '\n';
  }
  return {};
}

}  // namespace clustertls::cli
