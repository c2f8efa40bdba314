#pragma once

#include <string>

#include "cli/common.h"
#include "pki/certificate.h"

namespace clustertls::cli {

// Prints what a user needs after a certificate was written (via Context::Info):
// label and path, subject, SANs (leaves), validity end, SHA-256 fingerprint in both forms.
void PrintCertificateSummary(const Context& ctx, const std::string& label,
                             const pki::Certificate& cert, const std::string& path,
                             core::TimePoint now);

// "DNS:a, IP:1.2.3.4, URI:..., email:..." ("" when there are none).
std::string JoinSans(const pki::SubjectAltNames& sans);

}  // namespace clustertls::cli
