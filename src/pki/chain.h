#pragma once

#include <string>
#include <vector>

#include "pki/certificate.h"

namespace clustertls::pki {

// The result of ordering a bag of certificates (a report, not an error).
struct ChainOrder {
  // leaf -> intermediate(s) -> root (as far as the bag allows).
  std::vector<Certificate> ordered;
  // True if `ordered` ends in a self-signed certificate.
  bool ends_in_root = false;
  // When the last certificate is not self-signed: the subject DN of its missing issuer.
  std::string missing_issuer;
  // Certificates of the bag that are not on the path (duplicates, unrelated certificates).
  std::vector<Certificate> unused;
  // Human-readable problems: a missing link, several leaves, unrelated certificates.
  std::vector<std::string> problems;
};

// Orders any bag of certificates into leaf -> intermediate(s) -> root. The leaf is the one
// certificate that issued no other; links are checked by name and signature.
ChainOrder OrderChain(const std::vector<Certificate>& bag);

}  // namespace clustertls::pki
