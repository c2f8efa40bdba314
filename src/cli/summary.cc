#include "cli/summary.h"

namespace clustertls::cli {

std::string JoinSans(const pki::SubjectAltNames& sans) {
  std::string out;
  auto add = [&out](const char* prefix, const std::vector<std::string>& names) {
    for (const auto& n : names) {
      if (!out.empty()) {
        out += ", ";
      }
      out += prefix;
      out += n;
    }
  };
  add("DNS:", sans.dns);
  add("IP:", sans.ips);
  add("URI:", sans.uris);
  add("email:", sans.emails);
  return out;
}

void PrintCertificateSummary(const Context& ctx, const std::string& label,
                             const pki::Certificate& cert, const std::string& path,
                             core::TimePoint now) {
  std::string padded = label + ":";
  if (padded.size() < 21) {
    padded.resize(21, ' ');
  } else {
    padded += ' ';
  }
  ctx.Info(padded + path);
  ctx.Info("  Subject:           " + cert.subject());
  std::string sans = JoinSans(cert.sans());
  if (!sans.empty()) {
    ctx.Info("  Names:             " + sans);
  }
  ctx.Info("  Valid until:       " + DescribeNotAfter(cert.not_after(), now));
  pki::Fingerprint fp = cert.fingerprint();
  ctx.Info("  SHA-256:           " + fp.colon);
  ctx.Info("  SHA-256 (hex):     " + fp.hex);
}

}  // namespace clustertls::cli
