#pragma once

// The control plane's persistent state behind one small interface, with an embedded SQLite
// back-end (the default) and a PostgreSQL back-end that several `serve` instances share.
//
// Every method is thread-safe and returns only after its transaction committed (or failed and
// rolled back: a failed call changes nothing). The store never reads the clock: every time is
// passed in. It never sees a private key in plaintext: key material arrives as an opaque blob
// that the caller encrypted. Times are stored as Unix seconds.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/time.h"

namespace clustertls::store {

using Blob = std::vector<std::uint8_t>;

// One issued certificate (the issuance record; issue 3) and its revocation state (issue 4).
struct IssuedCert {
  // Serial number in hex without separators. The store upper-cases it (the form
  // `openssl x509 -serial` prints), so lookups are case-insensitive. UNIQUE in the database.
  std::string serial_hex{};
  std::string issuer_id{};  // which CA issued it (the CaRecord id)
  std::string profile{};    // "server", "client", "peer", ...
  std::string subject_cn{};
  std::string sans_json{};  // the SANs as a JSON array (text), e.g. ["DNS:a.example.com"]
  core::TimePoint not_before{};
  core::TimePoint not_after{};
  Blob der{};  // the certificate, DER
  core::TimePoint issued_at{};
  std::string issued_by{};                      // user or token that asked for it
  std::optional<core::TimePoint> revoked_at{};  // set once revoked
  std::string revocation_reason{};              // RFC 5280 §5.3.1 name, e.g. "keyCompromise"
};

// Inventory filters; an empty/unset field matches everything. All given fields must match.
struct CertFilter {
  std::string name_contains{};  // case-insensitive substring of the subject CN or the SANs JSON
  std::string profile{};        // exact
  std::string issuer_id{};      // exact
  std::optional<core::TimePoint> expiring_before{};  // not_after < this
  std::optional<core::TimePoint> issued_before{};    // issued_at < this
  std::optional<bool> revoked{};                     // true: only revoked; false: only not revoked
};

// Keyset paging: pass the previous page's next_cursor to continue; empty starts at the first.
struct PageRequest {
  int limit = 100;       // 1..1000
  std::string cursor{};  // opaque
};

// One page of the inventory, in issuance order.
struct CertPage {
  std::vector<IssuedCert> certs{};
  std::string next_cursor{};  // empty when there is nothing more
};

// Which issued certificate expires first (Store::SoonestExpiring).
struct ExpiringCert {
  std::string serial_hex{};
  core::TimePoint not_after{};
};

// Result of Revoke.
struct RevokeResult {
  IssuedCert cert;             // the record after the call
  bool newly_revoked = false;  // false if it was already revoked (the call is idempotent)
};

// A revoked certificate as a CRL lists it (RFC 5280 §5.3).
struct RevokedEntry {
  std::string serial_hex{};
  core::TimePoint revoked_at{};
  std::string reason{};
};

// One row of Store::ForEachRevoked: the views are valid only during the callback.
struct RevokedRow {
  std::string_view serial_hex{};
  core::TimePoint revoked_at{};
  std::string_view reason{};
};

// Called by Store::ForEachRevoked once per row; an error stops the listing and is returned.
using RevokedVisitor = std::function<core::Result<void>(const RevokedRow&)>;

// One version of a named cluster certificate (`cm`, `api`, `proxy`, ...).
struct NamedCert {
  std::string name{};
  std::int64_t version = 0;  // assigned by the store: strictly increasing per name
  std::string chain_pem{};   // leaf, intermediate(s), root
  Blob encrypted_key{};      // the private key, encrypted by the caller; never plaintext
  core::TimePoint created_at{};
  std::string created_by{};
};

// The cluster's TLS policy: one JSON document with a version.
struct PolicyDoc {
  std::string json{};
  std::int64_t version = 0;  // assigned by the store: 1, 2, ...
  core::TimePoint updated_at{};
  std::string updated_by{};
};

// A user of the API.
struct User {
  std::string name{};  // unique
  std::string role{};  // "admin", "operator", "reader"
  std::string password_hash{};
  core::TimePoint created_at{};
  bool disabled = false;
  std::string name_policy{};  // canonical JSON of authority::NamePolicy; "" = none
};

// An API token; only its hash is stored.
struct ApiToken {
  std::string id{};  // unique, public part of the token
  std::string user{};
  std::string hash{};
  core::TimePoint created_at{};
  std::optional<core::TimePoint> expires_at{};
  std::optional<core::TimePoint> last_used{};
  std::string name_policy{};  // canonical JSON of authority::NamePolicy; "" = none
};

// What the caller asks to append to the audit log.
struct AuditInput {
  core::TimePoint time{};
  std::string actor{};
  std::string action{};
  std::string target{};
  std::string source{};             // where the request came from, e.g. "203.0.113.5"
  std::string details_json = "{}";  // JSON object text
};

// One audit log entry: seq is 1, 2, 3, ... without gaps; prev_hash is the previous entry's hash
// ("" for seq 1).
struct AuditEntry {
  std::int64_t seq = 0;
  core::TimePoint time{};
  std::string actor{};
  std::string action{};
  std::string target{};
  std::string source{};
  std::string details_json{};
  std::string prev_hash{};
  std::string hash{};
};

// Computes an entry's hash from every other field (seq and prev_hash already filled in). The
// caller owns the hash construction; the store only keeps the chain linear.
using AuditHasher = std::function<std::string(const AuditEntry&)>;

// A one-time enrollment token for a node (`clustertls nodes token create`); only its hash is
// stored. The lists are JSON arrays (text).
struct NodeToken {
  std::string id{};  // public part of the token, for listings and the audit log
  std::string hash{};
  std::string node{};              // the node's name: its certificate's CN
  std::string dns_json = "[]";     // DNS names its certificate carries
  std::string ips_json = "[]";     // IP addresses its certificate carries
  std::string assign_json = "[]";  // the named cluster certificates it receives
  core::TimePoint created_at{};
  core::TimePoint expires_at{};
  std::string created_by{};
  std::optional<core::TimePoint> used_at{};
};

// An enrolled node and what its agent last reported.
struct Node {
  std::string name{};
  std::string dns_json = "[]";
  std::string ips_json = "[]";
  std::string assign_json = "[]";
  std::string cert_serial{};  // its current node certificate
  core::TimePoint cert_not_after{};
  core::TimePoint enrolled_at{};
  std::int64_t applied_version = 0;  // the cluster state version its agent last applied
  std::optional<core::TimePoint> last_seen{};
  std::string agent_version{};
  std::string last_hook_json{};  // {"exit_code","output_tail","at"} of its last hook; "" = none
};

// What an agent reports on each contact (Store::ReportNode).
struct NodeReport {
  core::TimePoint seen{};
  std::optional<std::int64_t> applied_version{};  // unset: unchanged
  std::string agent_version{};                    // empty: unchanged
  std::string last_hook_json{};                   // empty: unchanged
};

// A certificate authority's record: its certificate chain and its encrypted private key.
struct CaRecord {
  std::string id{};         // e.g. "root", "issuing"
  std::string chain_pem{};  // the CA certificate first, then its issuers
  Blob encrypted_key{};     // encrypted by the caller; never plaintext
  core::TimePoint created_at{};
};

// The writes a Store::Transact function makes, all in the one transaction of that call: each
// sees what the calls before it wrote, and nothing is visible to others until Transact commits.
// Errors as the Store methods of the same name.
class Transaction {
 public:
  virtual ~Transaction() = default;

  // Takes the users lock, which every Transact that calls it takes too, in every instance on
  // the database, until the transaction ends (SQLite: the write transaction already is that
  // lock; PostgreSQL: a transaction-scoped advisory lock), then returns every user by name. A
  // rule over all users (the last active admin) checked after this call holds at commit.
  virtual core::Result<std::vector<User>> LockUsers() = 0;
  virtual core::Result<void> CreateUser(const User& user) = 0;
  virtual core::Result<void> UpdateUser(const User& user) = 0;
  virtual core::Result<void> DeleteUser(const std::string& name) = 0;

  virtual core::Result<void> CreateToken(const ApiToken& token) = 0;
  virtual core::Result<ApiToken> GetToken(const std::string& id) = 0;
  virtual core::Result<void> DeleteToken(const std::string& id) = 0;
  virtual core::Result<std::vector<std::string>> DeleteTokensOf(const std::string& user) = 0;

  virtual core::Result<std::int64_t> PutNamedCert(const NamedCert& cert) = 0;
  virtual core::Result<void> DeleteNamedCert(const std::string& name) = 0;

  virtual core::Result<std::int64_t> PutPolicy(
      const PolicyDoc& policy, std::optional<std::int64_t> expected_version = {}) = 0;

  // AppendAudit inside this transaction: the entry commits with the change or not at all.
  virtual core::Result<AuditEntry> AppendAudit(const AuditInput& input,
                                               const AuditHasher& hasher) = 0;
};

// A Store::Transact function: an error rolls back everything it wrote.
using TransactionFn = std::function<core::Result<void>(Transaction&)>;

// Options for Store::Open.
struct OpenOptions {
  int pool_size = 4;            // PostgreSQL connections (and SQLite connections) kept at most
  int connect_timeout_s = 5;    // PostgreSQL connect timeout
  int busy_timeout_ms = 10000;  // SQLite: how long to wait for another writer
};

// The persistent store. Open() applies pending schema migrations before returning.
class Store {
 public:
  virtual ~Store() = default;

  // Opens `url`: `sqlite:///abs/path`, `sqlite://rel/path` or a plain path (SQLite, created if
  // missing), or `postgres://...` / `postgresql://...` (libpq URI). Fails with kInvalidArgument
  // for an unknown scheme, kIo if the database cannot be opened or reached, if a file is not a
  // SQLite database or if SQLite's PRAGMA quick_check finds it damaged (then nothing was written
  // to it, and the message says how to recover). Messages name the file or the URL with its
  // password removed. Every later failure of the database is kIo (kAlreadyExists for a unique
  // violation; kUnavailable for a conflict with other writers, a busy SQLite file or a
  // PostgreSQL serialization failure or deadlock, that outlasted every retry), never a code
  // that means bad input.
  static core::Result<std::unique_ptr<Store>> Open(const std::string& url,
                                                   const OpenOptions& options = {});

  // The newest applied schema migration.
  virtual core::Result<int> SchemaVersion() = 0;

  // --- issued certificates ---

  // Records a batch of issued certificates in ONE transaction (group commit: one fsync for the
  // batch) and returns after it committed. If any serial already exists, nothing of the batch
  // is recorded and the call fails with kAlreadyExists naming the serial.
  virtual core::Result<void> RecordIssued(std::span<const IssuedCert> certs) = 0;
  // RecordIssued and AppendAuditBatch(`audit`, `hasher`) in ONE transaction (one fsync): the
  // records and their audit entries commit together or not at all. Returns the audit entries.
  virtual core::Result<std::vector<AuditEntry>> RecordIssuedAudited(
      std::span<const IssuedCert> certs, std::span<const AuditInput> audit,
      const AuditHasher& hasher) = 0;
  // The record of `serial_hex` (case-insensitive); kNotFound if none.
  virtual core::Result<IssuedCert> GetIssued(const std::string& serial_hex) = 0;
  // A page of the records matching `filter`, oldest first.
  virtual core::Result<CertPage> ListIssued(const CertFilter& filter, const PageRequest& page) = 0;
  // Of the records neither revoked nor expired at `now` (not_after >= now), the one whose
  // not_after comes first (the lowest serial among equals); nullopt if there is none. One probe
  // of a partial index (issued_certs_valid_not_after): cheap enough for every /metrics scrape.
  virtual core::Result<std::optional<ExpiringCert>> SoonestExpiring(core::TimePoint now) = 0;
  // Marks `serial_hex` revoked at `at` with `reason`. Idempotent: an already revoked record keeps
  // its first time and reason. kNotFound if the serial was never recorded. A call that revokes
  // advances the counter kRevocationCounter in the same transaction.
  virtual core::Result<RevokeResult> Revoke(const std::string& serial_hex, core::TimePoint at,
                                            const std::string& reason) = 0;
  // Revoke and, only if this call revoked it (newly_revoked), in the SAME transaction: appends
  // `audit` to the audit log (AppendAudit semantics). The counter kRevocationCounter advances
  // as with Revoke, so instances polling PeekCounter(kRevocationCounter) see a new value only
  // once the revocation is committed. An already revoked record changes
  // nothing (no audit entry, no counter step). kNotFound if the serial was never recorded.
  virtual core::Result<RevokeResult> RevokeAudited(const std::string& serial_hex,
                                                   core::TimePoint at, const std::string& reason,
                                                   const AuditInput& audit,
                                                   const AuditHasher& hasher) = 0;
  // RevokeAudited for each of `serials` (with the audit entry of the same index), all in ONE
  // transaction: every record is revoked at `at` with `reason`, or none is. Results in the same
  // order; a record already revoked is left as it is (newly_revoked false, no audit entry). The
  // counter kRevocationCounter advances once if any was newly revoked. kNotFound naming the
  // serial if one was never recorded (then nothing changed); kInvalidArgument if the sizes
  // differ.
  virtual core::Result<std::vector<RevokeResult>> RevokeAuditedBatch(
      std::span<const std::string> serials, core::TimePoint at, const std::string& reason,
      std::span<const AuditInput> audit, const AuditHasher& hasher) = 0;
  // Every certificate of `issuer_id` revoked and not expired at `now` (not_after >= now), in
  // serial order: the content of a full CRL.
  virtual core::Result<std::vector<RevokedEntry>> ListRevoked(const std::string& issuer_id,
                                                              core::TimePoint now) = 0;
  // The same rows, in the same order, handed to `visit` one at a time as the database returns
  // them, without building the list (a CRL of a million entries: no per-row allocation).
  // Returns the number of rows visited, or the first error of the store or of `visit`. The
  // default implementation goes through ListRevoked (for wrappers and fakes).
  virtual core::Result<std::size_t> ForEachRevoked(const std::string& issuer_id,
                                                   core::TimePoint now,
                                                   const RevokedVisitor& visit);

  // --- named cluster certificates ---

  // Stores a new version of `cert.name` (cert.version is ignored) and returns the version
  // assigned: one more than any version that name ever had, even after a delete.
  virtual core::Result<std::int64_t> PutNamedCert(const NamedCert& cert) = 0;
  // The current (highest) version of `name`, or the given version; kNotFound if absent.
  virtual core::Result<NamedCert> GetNamedCert(const std::string& name,
                                               std::optional<std::int64_t> version = {}) = 0;
  // The current version of every name, by name.
  virtual core::Result<std::vector<NamedCert>> ListNamedCerts() = 0;
  // Every version of `name`, oldest first (empty if none).
  virtual core::Result<std::vector<NamedCert>> NamedCertHistory(const std::string& name) = 0;
  // Deletes every version of `name`; kNotFound if it has none.
  virtual core::Result<void> DeleteNamedCert(const std::string& name) = 0;

  // --- TLS policy ---

  // The current policy; kNotFound before the first PutPolicy.
  virtual core::Result<PolicyDoc> GetPolicy() = 0;
  // Replaces the policy and returns the new version. With `expected_version`, fails with
  // kAlreadyExists (nothing changed) unless the current version is that one (0: none yet).
  virtual core::Result<std::int64_t> PutPolicy(
      const PolicyDoc& policy, std::optional<std::int64_t> expected_version = {}) = 0;

  // --- users and tokens ---

  // kAlreadyExists if the name is taken.
  virtual core::Result<void> CreateUser(const User& user) = 0;
  // kNotFound if absent.
  virtual core::Result<User> GetUser(const std::string& name) = 0;
  // Every user, by name.
  virtual core::Result<std::vector<User>> ListUsers() = 0;
  // Updates role, password hash, disabled and name policy of `user.name`; kNotFound if absent.
  virtual core::Result<void> UpdateUser(const User& user) = 0;
  // Deletes the user and its tokens; kNotFound if absent.
  virtual core::Result<void> DeleteUser(const std::string& name) = 0;

  // kAlreadyExists if the id is taken, kNotFound if the user does not exist.
  virtual core::Result<void> CreateToken(const ApiToken& token) = 0;
  // kNotFound if absent.
  virtual core::Result<ApiToken> GetToken(const std::string& id) = 0;
  // The tokens of `user` (every token if empty), by id.
  virtual core::Result<std::vector<ApiToken>> ListTokens(const std::string& user = {}) = 0;
  // kNotFound if absent.
  virtual core::Result<void> DeleteToken(const std::string& id) = 0;
  // Deletes every token of `user` (none is fine) and returns their ids, sorted.
  virtual core::Result<std::vector<std::string>> DeleteTokensOf(const std::string& user) = 0;
  // Sets last_used; kNotFound if absent.
  virtual core::Result<void> TouchToken(const std::string& id, core::TimePoint at) = 0;

  // --- audit log (append-only, hash-chained) ---

  // Appends one entry atomically: under a lock that every instance on the same database takes,
  // reads the last entry, fills in seq = last + 1 and prev_hash = its hash, computes `hash` with
  // `hasher`, inserts, commits. Two instances can therefore never fork the chain.
  virtual core::Result<AuditEntry> AppendAudit(const AuditInput& input,
                                               const AuditHasher& hasher) = 0;
  // AppendAudit for several entries in ONE transaction (one lock, one fsync), in order; returns
  // the entries as stored. Nothing is appended if any insert fails.
  virtual core::Result<std::vector<AuditEntry>> AppendAuditBatch(std::span<const AuditInput> inputs,
                                                                 const AuditHasher& hasher) = 0;
  // Up to `limit` entries with seq > after_seq, in order.
  virtual core::Result<std::vector<AuditEntry>> ListAudit(std::int64_t after_seq, int limit) = 0;
  // The entry with the highest seq (one probe of the primary key); nullopt for an empty log.
  // `serve` signs the head of the log with it (authority::AuditHeadKeeper).
  virtual core::Result<std::optional<AuditEntry>> LastAudit() = 0;

  // --- several changes in one transaction ---

  // Runs `fn` in ONE write transaction and commits if it succeeds; if it fails, nothing it
  // wrote stays and its error is returned. A conflict with another writer (a busy SQLite file,
  // a PostgreSQL serialization failure or deadlock) rolls back and runs `fn` again, so `fn` may
  // run more than once: it must start from scratch each time (reset what it reports). A
  // conflict that outlasts the retries is kUnavailable.
  virtual core::Result<void> Transact(const TransactionFn& fn) = 0;

  // --- certificate authorities ---

  // kAlreadyExists if the id is taken.
  virtual core::Result<void> PutCa(const CaRecord& ca) = 0;
  // kNotFound if absent.
  virtual core::Result<CaRecord> GetCa(const std::string& id) = 0;
  // Every CA record, by id.
  virtual core::Result<std::vector<CaRecord>> ListCas() = 0;

  // --- nodes (issue 14) ---
  // Each change is committed with its audit entries and advances kClusterStateCounter in the
  // same transaction.

  // Stores a new enrollment token. kAlreadyExists if its id is taken.
  virtual core::Result<void> CreateNodeToken(const NodeToken& token,
                                             std::span<const AuditInput> audit,
                                             const AuditHasher& hasher) = 0;
  // The token with this hash, used or not; kNotFound if there is none.
  virtual core::Result<NodeToken> GetNodeTokenByHash(const std::string& hash) = 0;
  // Unused tokens that have not expired at `now`, oldest first.
  virtual core::Result<std::vector<NodeToken>> ListNodeTokens(core::TimePoint now) = 0;
  // Enrolls a node in one transaction: marks the token `token_hash` used (only if it is unused
  // and unexpired at `now`: of concurrent callers exactly one succeeds; the others get
  // kPermissionDenied "enrollment token ID was already used"), records `cert`, inserts or
  // replaces `node` and appends `audit`. kNotFound if no such token, kExpired if it expired.
  virtual core::Result<void> EnrollNode(const std::string& token_hash, core::TimePoint now,
                                        const Node& node, const IssuedCert& cert,
                                        std::span<const AuditInput> audit,
                                        const AuditHasher& hasher) = 0;
  // Records `cert` as node `name`'s new certificate (renewal). kNotFound if the node is gone.
  virtual core::Result<void> RenewNodeCert(const std::string& name, const IssuedCert& cert,
                                           std::span<const AuditInput> audit,
                                           const AuditHasher& hasher) = 0;
  // kNotFound if absent.
  virtual core::Result<Node> GetNode(const std::string& name) = 0;
  // Every node, by name.
  virtual core::Result<std::vector<Node>> ListNodes() = 0;
  // Replaces node `name`'s assigned certificates. kNotFound if absent.
  virtual core::Result<void> AssignNode(const std::string& name, const std::string& assign_json,
                                        std::span<const AuditInput> audit,
                                        const AuditHasher& hasher) = 0;
  // Removes node `name` and its unused tokens, and revokes (`reason`, at `at`) every certificate
  // issued to it (issued_by = `issued_by`) not yet revoked; returns the serials revoked.
  // kNotFound if absent.
  virtual core::Result<std::vector<std::string>> RemoveNode(
      const std::string& name, const std::string& issued_by, core::TimePoint at,
      const std::string& reason, std::span<const AuditInput> audit, const AuditHasher& hasher) = 0;
  // Records an agent's contact (no audit entry: it is status, not a change). kNotFound if absent.
  virtual core::Result<void> ReportNode(const std::string& name, const NodeReport& report) = 0;
  // Records when each node was last seen, in one transaction: a node's last_seen only moves
  // forward, and a name that is no longer a node is skipped (it was removed meanwhile).
  virtual core::Result<void> RecordNodesSeen(
      std::span<const std::pair<std::string, core::TimePoint>> seen) = 0;

  // --- counters and configuration ---

  // Returns the next value of the counter `name` (1 first), strictly increasing across calls,
  // restarts and instances sharing the database (e.g. "crl:<ca>" for CRL numbers, RFC 5280
  // §5.2.3).
  virtual core::Result<std::int64_t> NextCounter(const std::string& name) = 0;
  // The current value of counter `name` without advancing it (0 if it was never advanced).
  virtual core::Result<std::int64_t> PeekCounter(const std::string& name) = 0;

  // kNotFound if absent.
  virtual core::Result<std::string> GetConfig(const std::string& key) = 0;
  // Inserts or replaces.
  virtual core::Result<void> SetConfig(const std::string& key, const std::string& value) = 0;
  // Every (key, value), by key.
  virtual core::Result<std::vector<std::pair<std::string, std::string>>> ListConfig() = 0;
};

// The counter RevokeAudited advances: a change of its value means "a certificate was revoked".
inline constexpr const char* kRevocationCounter = "revocations";

// The version of what cluster nodes receive (issue 14): advanced by every node change in the store
// and by the server after each change of the named certificates, the policy or the revocations.
inline constexpr const char* kClusterStateCounter = "cluster_state";

// `url` with any password removed (for messages): "postgres://u:***@h/db".
std::string RedactUrl(const std::string& url);

}  // namespace clustertls::store
