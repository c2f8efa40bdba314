#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/time.h"
#include "pki/certificate.h"
#include "pki/crl.h"

namespace clustertls::pki {

enum class Purpose { kAny, kServer, kClient };

struct VerifyOptions {
  std::vector<Certificate> anchors{};  // trusted roots (or other trust anchors)
  std::vector<Certificate> untrusted{};  // intermediates that may be used to build the path
  std::optional<std::string> host{};   // DNS name the leaf must cover (SAN only, no CN fallback)
  std::optional<std::string> ip{};     // IP address the leaf must cover (SAN iPAddress)
  std::vector<std::string> emails{};   // e-mail addresses the leaf must cover (SAN rfc822Name)
  Purpose purpose = Purpose::kAny;
  std::vector<Crl> crls{};             // when given, revocation is checked for the whole chain
  core::TimePoint at{};                // the time of the check; notAfter is inclusive
  std::optional<int> max_depth{};      // max number of intermediates
};

// One problem found during verification.
struct VerifyProblem {
  std::string code;     // stable identifier, e.g. "expired", "hostname_mismatch", "revoked"
  std::string message;  // one human line
  int depth = 0;        // 0 = leaf, 1 = its issuer, ...
};

// Every problem found, not only the first. ok() when there is none.
struct VerifyReport {
  std::vector<VerifyProblem> problems;
  std::vector<Certificate> path;  // leaf first, anchor last (as far as it could be built)
  bool ok() const { return problems.empty(); }
};

// Verifies `leaf` (uses OpenSSL's X509_verify_cert with strict flags, plus checks of our own that
// close its known gaps: RFC 5280 serials, CA as leaf, leaf with name constraints, CRL number,
// notAfter inclusive, no CN fallback, wildcard/name-constraint interplay). No I/O.
VerifyReport Verify(const Certificate& leaf, const VerifyOptions& options);

}  // namespace clustertls::pki
