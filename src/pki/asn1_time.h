#pragma once

// ASN1_TIME (RFC 5280 section 4.1.2.5: UTCTime or GeneralizedTime) as a core::TimePoint, for
// the pki readers of certificates and CRLs.

#include <openssl/asn1.h>

#include "core/time.h"

namespace clustertls::pki::internal {

// The instant `t` names; the epoch for null or an unreadable time.
core::TimePoint ToTimePoint(const ASN1_TIME* t);

}  // namespace clustertls::pki::internal
