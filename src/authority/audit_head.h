#pragma once

// The signed head of the audit log: the last entry's sequence number and hash, and the time they
// were signed, signed by a key that an edit of the database cannot reach. The hash chain
// (AuditHash) proves the order and content of the entries, not how many there are: deleting the
// last rows leaves an unbroken chain. A head signed earlier, kept outside the database (the data
// directory's audit-head.json, or a copy a remote verifier recorded), shows that the log once
// reached entry N with that hash; a log that now ends before N, or holds another entry at N, was
// truncated.
//
// The signer is a dedicated certificate, not the issuing CA's key: `serve` issues it from the
// issuing CA for itself with a fresh EC P-256 key held only in memory (pki::Profile::kAuditSigner:
// keyUsage digitalSignature, the private extendedKeyUsage pki::kAuditSigningEkuOid, CN
// "audit.<cluster FQDN>", 2 days, renewed at half-life), as the OCSP responder does for its
// delegated signer (RFC 6960 4.2.2.2). The CA key then signs only certificates and CRLs (RFC
// 5280's keyCertSign/cRLSign), never data the database supplies; a signer key leaking from
// memory forges heads for two days at most. Each signer certificate is recorded as an issued
// certificate (profile "audit-signer", audited "cert.sign") and travels in the head, so anyone
// with the cluster's root can verify a head, also after the signer expired: it is checked at the
// head's own signing time.
//
// The signed message is domain-separated (AuditHeadMessage): a fixed context string, then seq,
// hash and time, so that the signature can never be taken for anything else.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authority/cluster.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "pki/certificate.h"
#include "store/store.h"

namespace clustertls::authority {

// The head file in a data directory (0644: it holds nothing secret).
inline constexpr std::string_view kAuditHeadFileName = "audit-head.json";
// The "format" member of a head's JSON.
inline constexpr std::string_view kAuditHeadFormat = "clustertls-audit-head-v1";
// The issuance records' profile of audit signer certificates.
inline constexpr std::string_view kAuditSignerProfile = "audit-signer";

// A signed head.
struct AuditHead {
  std::int64_t seq = 0;
  std::string hash{};  // AuditHash of entry `seq`: 64 lower-case hex characters
  core::TimePoint signed_at{};
  std::string signature{};                // raw bytes (base64 in the JSON)
  std::vector<pki::Certificate> chain{};  // the audit signer first, then the CAs above it
};

// The bytes signed: "clustertls audit head v1" NUL "seq=<decimal>" NUL "hash=<hex>" NUL
// "time=<Unix seconds>". Every field has a fixed alphabet, so the encoding is unambiguous.
std::string AuditHeadMessage(std::int64_t seq, std::string_view hash, core::TimePoint signed_at);

// JSON, one object and a newline: {"format","seq","hash","time" (RFC 3339),"signature" (base64),
// "signer_fingerprint_sha256" (the signer's, "AB:CD:..."),"chain" (PEM, signer first)}.
std::string AuditHeadToJson(const AuditHead& head);

// Parses AuditHeadToJson's output. kParse naming the member for anything else: not JSON, another
// format, an unknown member, seq below 1, a hash that is not 64 lower-case hex characters, a
// signature that is not base64, a chain without certificates, a fingerprint that is not the
// first certificate's.
core::Result<AuditHead> ParseAuditHead(std::string_view text);

// "the signed head (entry 45, hash <hex>, signed at 2026-01-01T00:00:00Z)"; with `where`,
// "the signed head in <where> (entry ...)".
std::string DescribeAuditHead(const AuditHead& head, std::string_view where = {});

// Checks that `head` was signed by an audit signer of the cluster: its first certificate carries
// pki::kAuditSigningEkuOid, is no CA, and verifies up to one of `anchors` (the cluster's root,
// or the CA a client pinned) through the head's other certificates at the head's signing time;
// then its key's signature over AuditHeadMessage. kBadSignature naming what failed, e.g. "the
// audit head's signature does not verify (signer CN=audit.example.com, serial 3A...)".
core::Result<void> VerifyAuditHead(const AuditHead& head,
                                   const std::vector<pki::Certificate>& anchors);

// Reads and parses a head file; nullopt when there is none. kParse/kIo naming `path`.
core::Result<std::optional<AuditHead>> ReadAuditHeadFile(const std::string& path);

struct AuditHeadKeeperOptions {
  store::Store* store = nullptr;  // not owned; outlives the keeper
  const core::Clock* clock = nullptr;
  core::Rng* rng = nullptr;
  // Where the head is kept (DIR/audit-head.json), written atomically (core::WriteFileAtomic,
  // 0644); empty: in memory only.
  std::string file{};
  std::chrono::seconds signer_validity = std::chrono::days(2);
};

// What `serve` runs: keeps the signed head of the log current, from the poller (never on a
// request's path: signing and appending stay group-committed) and at shutdown.
class AuditHeadKeeper {
 public:
  // Reads `file` if it exists and checks it against the store: VerifyAuditHead with the cluster's
  // root, then the log must reach it (its last entry's seq at least the head's, and the head's
  // entry the same hash). Refuses otherwise, naming the file: kBadSignature for a head that does
  // not verify; kVerifyFailed with AuditTruncatedProblem / AuditRewrittenProblem for a log that
  // no longer reaches it. The file is the evidence: it is left as it is. Then issues and
  // records the first signer certificate. kInvalidArgument for a null pointer or a validity
  // under one minute.
  static core::Result<std::unique_ptr<AuditHeadKeeper>> Create(
      const ClusterCa& ca, const AuditHeadKeeperOptions& options);
  ~AuditHeadKeeper();
  AuditHeadKeeper(const AuditHeadKeeper&) = delete;
  AuditHeadKeeper& operator=(const AuditHeadKeeper&) = delete;

  // Renews the signer once half its lifetime has passed, then, if the log's last entry is not the
  // current head's, signs a head for it and writes the file. Returns whether a new head was
  // made. When the log no longer reaches the current head (rows deleted or rewritten while
  // serving), kVerifyFailed with the problem line: nothing is signed or written, and the current
  // head stays what Current() answers, on every later call too. A failed renewal is returned
  // after the head was signed with the current signer (while it is valid).
  core::Result<bool> Update();

  // The head last signed or read from the file; nullopt before the first.
  std::optional<AuditHead> Current() const;

 private:
  struct Impl;
  explicit AuditHeadKeeper(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clustertls::authority
