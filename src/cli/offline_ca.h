#pragma once

// The state an offline CA keeps beside ca.crt and ca.key (`clustertls ca revoke`,
// `clustertls ca crl`), as easy-rsa keeps index.txt and crlnumber in its pki directory:
//
//   DIR/issued.json   {"ca": {"subject": ..., "key_sha256": ...},
//                      "issued": [{"serial": "0A1B...", "not_after": RFC 3339,
//                                  "common_name": ...}, ...]}
//   DIR/revoked.json  {"ca": {"subject": ..., "key_sha256": ...},
//                      "revoked": [{"serial": "0A1B...", "revoked_at": RFC 3339,
//                                   "reason": RFC 5280 name, "subject": optional}, ...]}
//   DIR/crlnumber     the next CRL's number in hex, one line, as `openssl ca` keeps it
//
// DIR is the directory of the CA certificate file. Parsing and formatting, and RecordIssued,
// through which the issuing commands add what they issued to DIR/issued.json.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cli/common.h"
#include "core/result.h"
#include "core/time.h"
#include "pki/certificate.h"
#include "pki/crl_builder.h"
#include "pki/issuer.h"

namespace clustertls::cli {

inline constexpr const char* kIssuedFileName = "issued.json";
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

// One certificate the CA issued.
struct OfflineIssued {
  std::string serial{};  // as CanonicalSerialHex writes it
  core::TimePoint not_after{};
  std::string common_name{};
};

// Every certificate the CA issued since clustertls recorded them, and the CA (as in
// OfflineRevocationList).
struct OfflineIssuedList {
  std::string ca_subject{};
  std::string ca_key_sha256{};
  std::vector<OfflineIssued> issued{};

  // The entry for `serial` (canonical), or null.
  const OfflineIssued* Find(std::string_view serial) const;
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

// The directory that holds the state of the CA whose certificate file is `ca_cert_path`.
std::string CaStateDir(const std::string& ca_cert_path);

// The issued list's identity fields for `ca`.
OfflineIssuedList EmptyIssuedList(const pki::Certificate& ca);
// The entry for a certificate, or for one just signed (what Issuer::IssueDer reports).
OfflineIssued IssuedEntry(const pki::Certificate& cert);
OfflineIssued IssuedEntry(const pki::IssuedFacts& facts);
// Parses issued.json as ParseRevocationList parses revoked.json (the same errors; a serial listed
// twice is kept once).
core::Result<OfflineIssuedList> ParseIssuedList(std::string_view text, const std::string& path,
                                                const pki::Certificate& ca);
// The JSON text of the list (one entry per line, one trailing newline).
std::string FormatIssuedList(const OfflineIssuedList& list);

// Adds `entries`, just written by an issuing command, to the issued list of `ca`
// (CaStateDir(ca_cert_path)/issued.json, atomically, under the directory's lock), so that
// `ca revoke SERIAL` knows them. It never fails the command, whose files are already written: a
// list that cannot be read or written (another CA's, damaged, a read-only directory) gets a
// warning saying how to revoke those certificates without it.
void RecordIssued(const std::string& ca_cert_path, const pki::Certificate& ca,
                  std::vector<OfflineIssued> entries, Context& ctx);

// Parses crlnumber: hex digits on one line (openssl's format, e.g. "01"), 1 to 2^62. Errors
// name `path`.
core::Result<std::int64_t> ParseCrlNumber(std::string_view text, const std::string& path);
// The crlnumber file's content for `number`: upper-case hex, an even number of digits, "\n".
std::string FormatCrlNumber(std::int64_t number);

}  // namespace clustertls::cli
