#pragma once

// The revocation state an offline CA keeps beside ca.crt and ca.key (`clustertls ca revoke`,
// `clustertls ca crl`), as easy-rsa keeps index.txt and crlnumber in its pki directory:
//
//   DIR/revoked.json  {"ca": {"subject": ..., "key_sha256": ...},
//                      "revoked": [{"serial": "0A1B...", "revoked_at": RFC 3339,
//                                   "reason": RFC 5280 name, "subject": optional}, ...]}
//   DIR/crlnumber     the next CRL's number in hex, one line, as `openssl ca` keeps it
//
// Parsing and formatting only; the commands read and write the files.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "pki/certificate.h"
#include "pki/crl_builder.h"

namespace clustertls::cli {

inline constexpr const char* kRevokedFileName = "revoked.json";
inline constexpr const char* kCrlNumberFileName = "crlnumber";

// One revoked certificate of the list.
struct OfflineRevoked {
  std::string serial{};  // as CanonicalSerialHex writes it
  core::TimePoint revoked_at{};
  pki::RevocationReason reason = pki::RevocationReason::kUnspecified;
  std::string subject{};  // the certificate's subject when revoked by file; "" by serial
};

// The whole list and the CA it belongs to (its subject and the SHA-256 of its
// SubjectPublicKeyInfo, so a renewed CA certificate with the same key keeps its list).
struct OfflineRevocationList {
  std::string ca_subject{};
  std::string ca_key_sha256{};  // lower-case hex
  std::vector<OfflineRevoked> revoked{};

  // The entry for `serial` (canonical), or null.
  const OfflineRevoked* Find(std::string_view serial) const;
};

// The serial as the list keeps it: hex digits (colons ignored) upper-cased, leading zeros
// dropped, padded to whole octets ("00" for zero). kInvalidArgument for anything else.
core::Result<std::string> CanonicalSerialHex(std::string_view serial);

// The list's identity fields for `ca`.
OfflineRevocationList EmptyRevocationList(const pki::Certificate& ca);

// Parses revoked.json; `path` names the file in errors, which also name the entry
// ("revoked[2].reason"). Refuses a list that belongs to another CA than `ca` (kInvalidArgument
// naming both subjects).
core::Result<OfflineRevocationList> ParseRevocationList(std::string_view text,
                                                        const std::string& path,
                                                        const pki::Certificate& ca);
// The JSON text of the list (two-space indented, one trailing newline).
std::string FormatRevocationList(const OfflineRevocationList& list);

// Parses crlnumber: hex digits on one line (openssl's format, e.g. "01"), 1 to 2^62. Errors
// name `path`.
core::Result<std::int64_t> ParseCrlNumber(std::string_view text, const std::string& path);
// The crlnumber file's content for `number`: upper-case hex, an even number of digits, "\n".
std::string FormatCrlNumber(std::int64_t number);

}  // namespace clustertls::cli
