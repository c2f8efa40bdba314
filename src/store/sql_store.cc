// The Store over the SQL layer: written once for SQLite and PostgreSQL.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <thread>

#include "store/sql.h"

namespace clustertls::store::sql {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;
using core::TimePoint;

constexpr int kMaxRetries = 20;

std::int64_t Secs(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint Time(const Cell& c) { return TimePoint(std::chrono::seconds(AsInt(c))); }
Value OptTime(const std::optional<TimePoint>& t) { return t ? Value(Secs(*t)) : Value(Null{}); }
std::optional<TimePoint> OptTimeCell(const Cell& c) {
  return c ? std::optional<TimePoint>(Time(c)) : std::nullopt;
}

// Upper-case hex, or kInvalidArgument.
Result<std::string> NormalizeSerial(const std::string& serial) {
  if (serial.empty() || serial.size() > 64) {
    return Fail(ErrorCode::kInvalidArgument, "serial '" + serial + "' must be 1 to 64 hex digits");
  }
  std::string out;
  out.reserve(serial.size());
  for (char c : serial) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return Fail(ErrorCode::kInvalidArgument, "serial '" + serial + "' is not hex");
    }
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

// LIKE pattern matching `s` anywhere, with '\' as the escape character.
std::string ContainsPattern(const std::string& s) {
  std::string p = "%";
  for (char c : s) {
    if (c == '%' || c == '_' || c == '\\') {
      p.push_back('\\');
    }
    p.push_back(c);
  }
  p.push_back('%');
  return p;
}

constexpr const char* kCertCols =
    "id, serial, issuer_id, profile, subject_cn, sans_json, not_before, not_after, der, "
    "issued_at, issued_by, revoked_at, revocation_reason";

IssuedCert CertFromRow(const Row& r) {
  IssuedCert c;
  c.serial_hex = AsText(r[1]);
  c.issuer_id = AsText(r[2]);
  c.profile = AsText(r[3]);
  c.subject_cn = AsText(r[4]);
  c.sans_json = AsText(r[5]);
  c.not_before = Time(r[6]);
  c.not_after = Time(r[7]);
  c.der = AsBlob(r[8]);
  c.issued_at = Time(r[9]);
  c.issued_by = AsText(r[10]);
  c.revoked_at = OptTimeCell(r[11]);
  c.revocation_reason = AsText(r[12]);
  return c;
}

constexpr const char* kNamedCols =
    "name, version, chain_pem, encrypted_key, created_at, created_by";

NamedCert NamedFromRow(const Row& r) {
  return NamedCert{.name = AsText(r[0]),
                   .version = AsInt(r[1]),
                   .chain_pem = AsText(r[2]),
                   .encrypted_key = AsBlob(r[3]),
                   .created_at = Time(r[4]),
                   .created_by = AsText(r[5])};
}

constexpr const char* kUserCols = "name, role, password_hash, created_at, disabled, name_policy";

User UserFromRow(const Row& r) {
  return User{.name = AsText(r[0]),
              .role = AsText(r[1]),
              .password_hash = AsText(r[2]),
              .created_at = Time(r[3]),
              .disabled = AsInt(r[4]) != 0,
              .name_policy = AsText(r[5])};
}

constexpr const char* kTokenCols =
    "id, user_name, hash, created_at, expires_at, last_used, name_policy";

ApiToken TokenFromRow(const Row& r) {
  return ApiToken{.id = AsText(r[0]),
                  .user = AsText(r[1]),
                  .hash = AsText(r[2]),
                  .created_at = Time(r[3]),
                  .expires_at = OptTimeCell(r[4]),
                  .last_used = OptTimeCell(r[5]),
                  .name_policy = AsText(r[6])};
}

constexpr const char* kAuditCols =
    "seq, time, actor, action, target, source, details, prev_hash, hash";

AuditEntry AuditFromRow(const Row& r) {
  return AuditEntry{.seq = AsInt(r[0]),
                    .time = Time(r[1]),
                    .actor = AsText(r[2]),
                    .action = AsText(r[3]),
                    .target = AsText(r[4]),
                    .source = AsText(r[5]),
                    .details_json = AsText(r[6]),
                    .prev_hash = AsText(r[7]),
                    .hash = AsText(r[8])};
}

constexpr const char* kCaCols = "id, chain_pem, encrypted_key, created_at";

CaRecord CaFromRow(const Row& r) {
  return CaRecord{.id = AsText(r[0]),
                  .chain_pem = AsText(r[1]),
                  .encrypted_key = AsBlob(r[2]),
                  .created_at = Time(r[3])};
}

constexpr const char* kNodeTokenCols =
    "id, hash, node, dns_json, ips_json, assign_json, created_at, expires_at, created_by, "
    "used_at";

NodeToken NodeTokenFromRow(const Row& r) {
  return NodeToken{.id = AsText(r[0]),
                   .hash = AsText(r[1]),
                   .node = AsText(r[2]),
                   .dns_json = AsText(r[3]),
                   .ips_json = AsText(r[4]),
                   .assign_json = AsText(r[5]),
                   .created_at = Time(r[6]),
                   .expires_at = Time(r[7]),
                   .created_by = AsText(r[8]),
                   .used_at = OptTimeCell(r[9])};
}

constexpr const char* kNodeCols =
    "name, dns_json, ips_json, assign_json, cert_serial, cert_not_after, enrolled_at, "
    "applied_version, last_seen, agent_version, last_hook_json";

Node NodeFromRow(const Row& r) {
  return Node{.name = AsText(r[0]),
              .dns_json = AsText(r[1]),
              .ips_json = AsText(r[2]),
              .assign_json = AsText(r[3]),
              .cert_serial = AsText(r[4]),
              .cert_not_after = Time(r[5]),
              .enrolled_at = Time(r[6]),
              .applied_version = AsInt(r[7]),
              .last_seen = OptTimeCell(r[8]),
              .agent_version = AsText(r[9]),
              .last_hook_json = AsText(r[10])};
}

// A conflict with another writer (busy, serialization failure, deadlock): worth another try.
bool IsRetry(const core::Error& e) { return e.code == ErrorCode::kUnavailable; }

// Appends `inputs` to the audit chain inside the caller's write transaction.
Result<std::vector<AuditEntry>> AppendAuditIn(Connection& conn, Dialect dialect,
                                              std::span<const AuditInput> inputs,
                                              const AuditHasher& hasher) {
  std::vector<AuditEntry> out;
  if (inputs.empty()) {
    return out;
  }
  if (dialect == Dialect::kPostgres) {
    // Conflicts with itself only: appenders queue here, readers are not blocked. SQLite's
    // BEGIN IMMEDIATE already holds the database's single write lock.
    CTLS_RETURN_IF_ERROR(conn.Query("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE", {}));
  }
  CTLS_ASSIGN_OR_RETURN(
      Rows last, conn.Query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", {}));
  std::int64_t seq = last.empty() ? 0 : AsInt(last[0][0]);
  std::string prev_hash = last.empty() ? std::string() : AsText(last[0][1]);
  out.reserve(inputs.size());
  for (const AuditInput& input : inputs) {
    AuditEntry e{.seq = ++seq,
                 .time = input.time,
                 .actor = input.actor,
                 .action = input.action,
                 .target = input.target,
                 .source = input.source,
                 .details_json = input.details_json,
                 .prev_hash = prev_hash};
    e.hash = hasher(e);
    CTLS_RETURN_IF_ERROR(
        conn.Query("INSERT INTO audit_log (seq, time, actor, action, target, source, details, "
                   "prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                   {e.seq, Secs(e.time), e.actor, e.action, e.target, e.source, e.details_json,
                    e.prev_hash, e.hash}));
    prev_hash = e.hash;
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::int64_t> NextCounterIn(Connection& conn, const std::string& name) {
  // Row-locking upsert: concurrent callers serialise on the counter's row.
  CTLS_ASSIGN_OR_RETURN(Rows rows,
                        conn.Query("INSERT INTO counters (name, value) VALUES ($1, 1) "
                                   "ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 "
                                   "RETURNING value",
                                   {name}));
  return AsInt(rows.at(0).at(0));
}

// An arbitrary constant: the transaction-scoped advisory lock of Transaction::LockUsers on
// PostgreSQL ("users"; the migration lock is another key).
constexpr std::int64_t kUsersLockKey = 0x7573657273;

// The statements of the user, token, named certificate and policy methods over one connection:
// inside a transaction (Store::Transact, or Tx for the methods of several statements) or, for
// one statement, on its own (autocommit).
class SqlTransaction final : public Transaction {
 public:
  SqlTransaction(Connection& conn, Dialect dialect) : conn_(conn), dialect_(dialect) {}

  Result<std::vector<User>> LockUsers() override {
    if (dialect_ == Dialect::kPostgres) {
      CTLS_RETURN_IF_ERROR(conn_.Query("SELECT pg_advisory_xact_lock($1)", {kUsersLockKey}));
    }
    return ListUsers();
  }

  Result<std::vector<User>> ListUsers() {
    CTLS_ASSIGN_OR_RETURN(
        Rows rows,
        conn_.Query(std::string("SELECT ") + kUserCols + " FROM users ORDER BY name", {}));
    std::vector<User> out;
    for (const Row& r : rows) {
      out.push_back(UserFromRow(r));
    }
    return out;
  }

  Result<void> CreateUser(const User& user) override {
    if (user.name.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "user name is empty");
    }
    auto rows = conn_.Query(
        "INSERT INTO users (name, role, password_hash, created_at, disabled, name_policy) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        {user.name, user.role, user.password_hash, Secs(user.created_at),
         std::int64_t{user.disabled ? 1 : 0}, user.name_policy});
    if (!rows) {
      if (rows.error().code == ErrorCode::kAlreadyExists) {
        return Fail(ErrorCode::kAlreadyExists, "user '" + user.name + "' already exists");
      }
      return rows.error();
    }
    return {};
  }

  Result<void> UpdateUser(const User& user) override {
    CTLS_ASSIGN_OR_RETURN(
        Rows rows, conn_.Query("UPDATE users SET role = $2, password_hash = $3, disabled = $4, "
                               "name_policy = $5 WHERE name = $1 RETURNING name",
                               {user.name, user.role, user.password_hash,
                                std::int64_t{user.disabled ? 1 : 0}, user.name_policy}));
    if (rows.empty()) {
      return Fail(ErrorCode::kNotFound, "no user '" + user.name + "'");
    }
    return {};
  }

  Result<void> DeleteUser(const std::string& name) override {
    CTLS_ASSIGN_OR_RETURN(Rows rows,
                          conn_.Query("DELETE FROM users WHERE name = $1 RETURNING name", {name}));
    if (rows.empty()) {
      return Fail(ErrorCode::kNotFound, "no user '" + name + "'");
    }
    return {};
  }

  // Two statements: the caller runs it in a transaction.
  Result<void> CreateToken(const ApiToken& token) override {
    if (token.id.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "token id is empty");
    }
    CTLS_ASSIGN_OR_RETURN(Rows user,
                          conn_.Query("SELECT name FROM users WHERE name = $1", {token.user}));
    if (user.empty()) {
      return Fail(ErrorCode::kNotFound, "no user '" + token.user + "'");
    }
    auto rows = conn_.Query(
        "INSERT INTO api_tokens (id, user_name, hash, created_at, expires_at, last_used, "
        "name_policy) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        {token.id, token.user, token.hash, Secs(token.created_at), OptTime(token.expires_at),
         OptTime(token.last_used), token.name_policy});
    if (!rows) {
      if (rows.error().code == ErrorCode::kAlreadyExists) {
        return Fail(ErrorCode::kAlreadyExists, "token '" + token.id + "' already exists");
      }
      return rows.error();
    }
    return {};
  }

  Result<ApiToken> GetToken(const std::string& id) override {
    CTLS_ASSIGN_OR_RETURN(
        Rows rows,
        conn_.Query(std::string("SELECT ") + kTokenCols + " FROM api_tokens WHERE id = $1", {id}));
    if (rows.empty()) {
      return Fail(ErrorCode::kNotFound, "no token '" + id + "'");
    }
    return TokenFromRow(rows[0]);
  }

  Result<void> DeleteToken(const std::string& id) override {
    CTLS_ASSIGN_OR_RETURN(Rows rows,
                          conn_.Query("DELETE FROM api_tokens WHERE id = $1 RETURNING id", {id}));
    if (rows.empty()) {
      return Fail(ErrorCode::kNotFound, "no token '" + id + "'");
    }
    return {};
  }

  Result<std::vector<std::string>> DeleteTokensOf(const std::string& user) override {
    CTLS_ASSIGN_OR_RETURN(
        Rows rows, conn_.Query("DELETE FROM api_tokens WHERE user_name = $1 RETURNING id", {user}));
    std::vector<std::string> ids;
    for (const Row& r : rows) {
      ids.push_back(AsText(r[0]));
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  // Two statements: the caller runs it in a transaction.
  Result<std::int64_t> PutNamedCert(const NamedCert& cert) override {
    if (cert.name.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "certificate name is empty");
    }
    CTLS_ASSIGN_OR_RETURN(std::int64_t version,
                          NextCounterIn(conn_, "named_cert_version:" + cert.name));
    CTLS_RETURN_IF_ERROR(
        conn_.Query("INSERT INTO named_certs (name, version, chain_pem, encrypted_key, created_at, "
                    "created_by) VALUES ($1, $2, $3, $4, $5, $6)",
                    {cert.name, version, cert.chain_pem, cert.encrypted_key, Secs(cert.created_at),
                     cert.created_by}));
    return version;
  }

  Result<void> DeleteNamedCert(const std::string& name) override {
    CTLS_ASSIGN_OR_RETURN(
        Rows rows,
        conn_.Query("DELETE FROM named_certs WHERE name = $1 RETURNING version", {name}));
    if (rows.empty()) {
      return Fail(ErrorCode::kNotFound, "no certificate named '" + name + "'");
    }
    return {};
  }

  Result<std::int64_t> PutPolicy(const PolicyDoc& policy,
                                 std::optional<std::int64_t> expected_version) override {
    std::vector<Value> params{policy.json, Secs(policy.updated_at), policy.updated_by};
    Result<Rows> rows = Rows{};
    if (!expected_version) {
      rows = conn_.Query(
          "INSERT INTO policy (id, version, document, updated_at, updated_by) "
          "VALUES (1, 1, $1, $2, $3) ON CONFLICT (id) DO UPDATE SET "
          "version = policy.version + 1, document = excluded.document, "
          "updated_at = excluded.updated_at, updated_by = excluded.updated_by "
          "RETURNING version",
          params);
    } else if (*expected_version == 0) {
      rows = conn_.Query(
          "INSERT INTO policy (id, version, document, updated_at, updated_by) "
          "VALUES (1, 1, $1, $2, $3) RETURNING version",
          params);
      if (!rows && rows.error().code == ErrorCode::kAlreadyExists) {
        return Fail(ErrorCode::kAlreadyExists,
                    "TLS policy changed concurrently: expected none, one exists");
      }
    } else {
      params.push_back(*expected_version);
      rows = conn_.Query(
          "UPDATE policy SET version = version + 1, document = $1, updated_at = $2, "
          "updated_by = $3 WHERE id = 1 AND version = $4 RETURNING version",
          params);
      if (rows && rows->empty()) {
        return Fail(ErrorCode::kAlreadyExists,
                    "TLS policy changed concurrently: expected version " +
                        std::to_string(*expected_version));
      }
    }
    if (!rows) {
      return rows.error();
    }
    return AsInt(rows->at(0).at(0));
  }

  Result<AuditEntry> AppendAudit(const AuditInput& input, const AuditHasher& hasher) override {
    CTLS_ASSIGN_OR_RETURN(
        std::vector<AuditEntry> entries,
        AppendAuditIn(conn_, dialect_, std::span<const AuditInput>(&input, 1), hasher));
    return std::move(entries.front());
  }

 private:
  Connection& conn_;
  Dialect dialect_;
};

class SqlStore final : public Store {
 public:
  SqlStore(std::unique_ptr<Pool> pool, Dialect dialect)
      : pool_(std::move(pool)), dialect_(dialect) {}

  // Runs `fn(conn)` in one transaction and commits; retries a conflict (another writer won).
  template <typename F>
  auto Tx(bool write, F&& fn) -> decltype(fn(std::declval<Connection&>())) {
    using R = decltype(fn(std::declval<Connection&>()));
    for (int attempt = 0;; ++attempt) {
      CTLS_ASSIGN_OR_RETURN(auto conn, pool_->Acquire());
      auto begun = conn->Begin(write);
      if (!begun) {
        // A conflict, or a pooled connection the server closed meanwhile (nothing was sent
        // inside a transaction yet, so trying again on a fresh connection is safe).
        if ((IsRetry(begun.error()) || !conn->Healthy()) && attempt < kMaxRetries) {
          continue;
        }
        return begun.error();
      }
      R result = fn(*conn);
      if (!result) {
        conn->Rollback();
        if (IsRetry(result.error()) && attempt < kMaxRetries) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1 + attempt));
          continue;
        }
        return result;
      }
      auto committed = conn->Commit();
      if (!committed) {
        // A connection that broke during COMMIT may have committed: not tried again.
        if (IsRetry(committed.error()) && conn->Healthy() && attempt < kMaxRetries) {
          continue;
        }
        return committed.error();
      }
      return result;
    }
  }

  // One statement outside an explicit transaction. A read that failed because the server
  // closed the pooled connection is tried again on a fresh one; a write is not (it may have
  // been applied).
  Result<Rows> Run(std::string_view sql, const std::vector<Value>& params) {
    return Retrying(
        sql.starts_with("SELECT "), [&](Connection& conn) { return conn.Query(sql, params); },
        [] { return true; });
  }

  // Runs `statement(conn)` on a pooled connection and, while `may_retry()` allows it, tries
  // again (at most kMaxRetries times) after a retryable conflict or, for a read, a connection
  // that broke. A write whose connection broke may have been applied: its kUnavailable is
  // returned as it is.
  template <typename F, typename P>
  auto Retrying(bool read_only, F&& statement, P&& may_retry)
      -> decltype(statement(std::declval<Connection&>())) {
    for (int attempt = 0;; ++attempt) {
      CTLS_ASSIGN_OR_RETURN(auto conn, pool_->Acquire());
      auto result = statement(*conn);
      if (!result && attempt < kMaxRetries && may_retry() && (read_only || conn->Healthy()) &&
          (IsRetry(result.error()) || !conn->Healthy())) {
        continue;
      }
      return result;
    }
  }

  // `write(tx)` as one statement on its own (autocommit), retried after a conflict.
  template <typename F>
  auto One(F&& write) -> decltype(write(std::declval<SqlTransaction&>())) {
    return Retrying(
        /*read_only=*/false,
        [&](Connection& conn) {
          SqlTransaction tx(conn, dialect_);
          return write(tx);
        },
        [] { return true; });
  }

  // `write(tx)` in one write transaction (Tx).
  template <typename F>
  auto InTx(F&& write) -> decltype(write(std::declval<SqlTransaction&>())) {
    return Tx(true, [&](Connection& conn) {
      SqlTransaction tx(conn, dialect_);
      return write(tx);
    });
  }

  Result<void> Transact(const TransactionFn& fn) override {
    return InTx([&](SqlTransaction& tx) { return fn(tx); });
  }

  Result<int> SchemaVersion() override {
    CTLS_ASSIGN_OR_RETURN(Rows rows,
                          Run("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", {}));
    return static_cast<int>(AsInt(rows.at(0).at(0)));
  }

  // --- issued certificates ---

  Result<void> RecordIssued(std::span<const IssuedCert> certs) override {
    CTLS_ASSIGN_OR_RETURN(auto entries, RecordIssuedAudited(certs, {}, nullptr));
    (void)entries;
    return {};
  }

  Result<std::vector<AuditEntry>> RecordIssuedAudited(std::span<const IssuedCert> certs,
                                                      std::span<const AuditInput> audit,
                                                      const AuditHasher& hasher) override {
    std::vector<std::vector<Value>> params;
    params.reserve(certs.size());
    for (const IssuedCert& c : certs) {
      CTLS_ASSIGN_OR_RETURN(std::string serial, NormalizeSerial(c.serial_hex));
      params.push_back({serial, c.issuer_id, c.profile, c.subject_cn, c.sans_json,
                        Secs(c.not_before), Secs(c.not_after), c.der, Secs(c.issued_at),
                        c.issued_by, OptTime(c.revoked_at),
                        c.revoked_at ? Value(c.revocation_reason) : Value(Null{})});
    }
    if (params.empty() && audit.empty()) {
      return std::vector<AuditEntry>{};
    }
    return Tx(true, [&](Connection& conn) -> Result<std::vector<AuditEntry>> {
      for (const auto& p : params) {
        auto r = conn.Query(
            "INSERT INTO issued_certs (serial, issuer_id, profile, subject_cn, sans_json, "
            "not_before, not_after, der, issued_at, issued_by, revoked_at, revocation_reason) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            p);
        if (!r) {
          if (r.error().code == ErrorCode::kAlreadyExists) {
            return Fail(
                ErrorCode::kAlreadyExists,
                "certificate serial " + std::get<std::string>(p[0]) + " is already recorded",
                r.error().message);
          }
          return r.error();
        }
      }
      return AppendAuditIn(conn, dialect_, audit, hasher);
    });
  }

  Result<IssuedCert> GetIssued(const std::string& serial_hex) override {
    CTLS_ASSIGN_OR_RETURN(std::string serial, NormalizeSerial(serial_hex));
    CTLS_ASSIGN_OR_RETURN(
        Rows rows,
        Run(std::string("SELECT ") + kCertCols + " FROM issued_certs WHERE serial = $1", {serial}));
    if (rows.empty()) {
      return Fail(ErrorCode::kNotFound, "no certificate with serial " + serial);
    }
    return CertFromRow(rows[0]);
  }

  Result<CertPage> ListIssued(const CertFilter& filter, const PageRequest& page) override {
    if (page.limit < 1 || page.limit > 1000) {
      return Fail(ErrorCode::kInvalidArgument, "page limit must be 1 to 1000");
    }
    std::int64_t after = 0;
    if (!page.cursor.empty()) {
      after = AsInt(page.cursor);
      if (after <= 0 || std::to_string(after) != page.cursor) {
        return Fail(ErrorCode::kInvalidArgument, "invalid page cursor '" + page.cursor + "'");
      }
    }
    // The SQL text is chosen from fixed fragments; every value is a bound parameter.
    std::string sql = std::string("SELECT ") + kCertCols + " FROM issued_certs WHERE id > $1";
    std::vector<Value> params{after};
    auto next = [&]() { return "$" + std::to_string(params.size() + 1); };
    if (!filter.name_contains.empty()) {
      // SQLite refuses LIKE patterns over 50,000 bytes with an error; callers limit names far
      // below (authority::kMaxSelectorLength), this keeps it an argument error.
      if (filter.name_contains.size() > 4096) {
        return Fail(ErrorCode::kInvalidArgument, "name filter: longer than 4096 characters");
      }
      std::string p = next();
      const char* like = dialect_ == Dialect::kPostgres ? " ILIKE " : " LIKE ";
      sql += " AND (subject_cn" + std::string(like) + p + " ESCAPE '\\' OR sans_json" + like + p +
             " ESCAPE '\\')";
      params.push_back(ContainsPattern(filter.name_contains));
    }
    if (!filter.profile.empty()) {
      sql += " AND profile = " + next();
      params.push_back(filter.profile);
    }
    if (!filter.issuer_id.empty()) {
      sql += " AND issuer_id = " + next();
      params.push_back(filter.issuer_id);
    }
    if (filter.expiring_before) {
      sql += " AND not_after < " + next();
      params.push_back(Secs(*filter.expiring_before));
    }
    if (filter.issued_before) {
      sql += " AND issued_at < " + next();
      params.push_back(Secs(*filter.issued_before));
    }
    if (filter.revoked) {
      sql += *filter.revoked ? " AND revoked_at IS NOT NULL" : " AND revoked_at IS NULL";
    }
    sql += " ORDER BY id LIMIT " + next();
    params.push_back(std::int64_t{page.limit} + 1);
    CTLS_ASSIGN_OR_RETURN(Rows rows, Run(sql, params));
    CertPage out;
    bool more = rows.size() > static_cast<size_t>(page.limit);
    if (more) {
      rows.resize(page.limit);
    }
    out.certs.reserve(rows.size());
    for (const Row& r : rows) {
      out.certs.push_back(CertFromRow(r));
    }
    if (more) {
      out.next_cursor = AsText(rows.back()[0]);
    }
    return out;
  }

  Result<std::optional<ExpiringCert>> SoonestExpiring(TimePoint now) override {
    // Answered by the partial index issued_certs_valid_not_after (migration 4) alone.
    CTLS_ASSIGN_OR_RETURN(Rows rows,
                          Run("SELECT serial, not_after FROM issued_certs WHERE revoked_at IS NULL "
                              "AND not_after >= $1 ORDER BY not_after, serial LIMIT 1",
                              {Secs(now)}));
    if (rows.empty()) {
      return std::optional<ExpiringCert>();
    }
    return std::optional<ExpiringCert>(
        ExpiringCert{.serial_hex = AsText(rows[0][0]), .not_after = Time(rows[0][1])});
  }

  Result<RevokeResult> Revoke(const std::string& serial_hex, TimePoint at,
                              const std::string& reason) override {
    CTLS_ASSIGN_OR_RETURN(auto one, RevokeWith(std::span<const std::string>(&serial_hex, 1), at,
                                               reason, {}, nullptr));
    return std::move(one.front());
  }

  Result<RevokeResult> RevokeAudited(const std::string& serial_hex, TimePoint at,
                                     const std::string& reason, const AuditInput& audit,
                                     const AuditHasher& hasher) override {
    CTLS_ASSIGN_OR_RETURN(auto one,
                          RevokeWith(std::span<const std::string>(&serial_hex, 1), at, reason,
                                     std::span<const AuditInput>(&audit, 1), &hasher));
    return std::move(one.front());
  }

  Result<std::vector<RevokeResult>> RevokeAuditedBatch(std::span<const std::string> serials,
                                                       TimePoint at, const std::string& reason,
                                                       std::span<const AuditInput> audit,
                                                       const AuditHasher& hasher) override {
    if (serials.size() != audit.size()) {
      return Fail(ErrorCode::kInvalidArgument, "revoke batch: " + std::to_string(serials.size()) +
                                                   " serials but " + std::to_string(audit.size()) +
                                                   " audit entries");
    }
    return RevokeWith(serials, at, reason, audit, &hasher);
  }

  // Revokes each of `serials` in ONE transaction; for each this call revoked, appends the audit
  // entry of the same index (when `audit` is not empty: then it has one per serial); advances
  // kRevocationCounter once if any was revoked. kNotFound for a serial never recorded (the
  // transaction rolls back).
  Result<std::vector<RevokeResult>> RevokeWith(std::span<const std::string> serials, TimePoint at,
                                               const std::string& reason,
                                               std::span<const AuditInput> audit,
                                               const AuditHasher* hasher) {
    std::vector<std::string> normalized;
    normalized.reserve(serials.size());
    for (const std::string& serial : serials) {
      CTLS_ASSIGN_OR_RETURN(std::string n, NormalizeSerial(serial));
      normalized.push_back(std::move(n));
    }
    return Tx(true, [&](Connection& conn) -> Result<std::vector<RevokeResult>> {
      std::vector<RevokeResult> out;
      out.reserve(normalized.size());
      bool any = false;
      for (std::size_t i = 0; i < normalized.size(); ++i) {
        const std::string& serial = normalized[i];
        // Conditional update: of two concurrent revocations exactly one sets time and reason.
        CTLS_ASSIGN_OR_RETURN(Rows updated,
                              conn.Query("UPDATE issued_certs SET revoked_at = $2, "
                                         "revocation_reason = $3 "
                                         "WHERE serial = $1 AND revoked_at IS NULL RETURNING id",
                                         {serial, Secs(at), reason}));
        CTLS_ASSIGN_OR_RETURN(Rows rows, conn.Query(std::string("SELECT ") + kCertCols +
                                                        " FROM issued_certs WHERE serial = $1",
                                                    {serial}));
        if (rows.empty()) {
          return Fail(ErrorCode::kNotFound, "no certificate with serial " + serial);
        }
        if (!updated.empty()) {
          if (!audit.empty()) {
            CTLS_RETURN_IF_ERROR(AppendAuditIn(conn, dialect_, audit.subspan(i, 1), *hasher));
          }
          any = true;
        }
        out.push_back(
            RevokeResult{.cert = CertFromRow(rows[0]), .newly_revoked = !updated.empty()});
      }
      if (any) {
        CTLS_RETURN_IF_ERROR(NextCounterIn(conn, kRevocationCounter));
      }
      return out;
    });
  }

  Result<std::vector<RevokedEntry>> ListRevoked(const std::string& issuer_id,
                                                TimePoint now) override {
    std::vector<RevokedEntry> out;
    CTLS_RETURN_IF_ERROR(ForEachRevoked(issuer_id, now, [&](const RevokedRow& r) {
      out.push_back(RevokedEntry{.serial_hex = std::string(r.serial_hex),
                                 .revoked_at = r.revoked_at,
                                 .reason = std::string(r.reason)});
      return Result<void>();
    }));
    return out;
  }

  Result<std::size_t> ForEachRevoked(const std::string& issuer_id, TimePoint now,
                                     const RevokedVisitor& visit) override {
    static constexpr std::string_view kSql =
        "SELECT serial, revoked_at, revocation_reason FROM issued_certs "
        "WHERE issuer_id = $1 AND revoked_at IS NOT NULL AND not_after >= $2 ORDER BY serial";
    const std::vector<Value> params = {issuer_id, Secs(now)};
    std::size_t visited = 0;
    // A read the server broke off is tried again, but only if nothing was visited.
    CTLS_RETURN_IF_ERROR(Retrying(
        /*read_only=*/true,
        [&](Connection& conn) {
          return conn.QueryEach(kSql, params, [&](std::span<const CellView> cells) {
            std::int64_t secs = 0;
            if (cells[1]) {
              std::from_chars(cells[1]->data(), cells[1]->data() + cells[1]->size(), secs);
            }
            ++visited;
            return visit({.serial_hex = cells[0].value_or(std::string_view()),
                          .revoked_at = TimePoint(std::chrono::seconds(secs)),
                          .reason = cells[2].value_or(std::string_view())});
          });
        },
        [&] { return visited == 0; }));
    return visited;
  }

  // --- named certificates ---

  Result<std::int64_t> PutNamedCert(const NamedCert& cert) override {
    return InTx([&](SqlTransaction& tx) { return tx.PutNamedCert(cert); });
  }

  Result<NamedCert> GetNamedCert(const std::string& name,
                                 std::optional<std::int64_t> version) override {
    std::string select = std::string("SELECT ") + kNamedCols + " FROM named_certs WHERE name = $1";
    auto rows = version ? Run(select + " AND version = $2", {name, *version})
                        : Run(select + " ORDER BY version DESC LIMIT 1", {name});
    if (!rows) {
      return rows.error();
    }
    if (rows->empty()) {
      return Fail(ErrorCode::kNotFound,
                  "no certificate named '" + name + "'" +
                      (version ? " with version " + std::to_string(*version) : ""));
    }
    return NamedFromRow(rows->front());
  }

  Result<std::vector<NamedCert>> ListNamedCerts() override {
    CTLS_ASSIGN_OR_RETURN(Rows rows,
                          Run(std::string("SELECT ") + kNamedCols +
                                  " FROM named_certs n WHERE version = (SELECT MAX(version) FROM "
                                  "named_certs m WHERE m.name = n.name) ORDER BY name",
                              {}));
    std::vector<NamedCert> out;
    for (const Row& r : rows) {
      out.push_back(NamedFromRow(r));
    }
    return out;
  }

  Result<std::vector<NamedCert>> NamedCertHistory(const std::string& name) override {
    CTLS_ASSIGN_OR_RETURN(Rows rows, Run(std::string("SELECT ") + kNamedCols +
                                             " FROM named_certs WHERE name = $1 ORDER BY version",
                                         {name}));
    std::vector<NamedCert> out;
    for (const Row& r : rows) {
      out.push_back(NamedFromRow(r));
    }
    return out;
  }

  Result<void> DeleteNamedCert(const std::string& name) override {
    return One([&](SqlTransaction& tx) { return tx.DeleteNamedCert(name); });
  }

  // --- policy ---

  Result<PolicyDoc> GetPolicy() override {
    CTLS_ASSIGN_OR_RETURN(
        Rows rows,
        Run("SELECT document, version, updated_at, updated_by FROM policy WHERE id = 1", {}));
    if (rows.empty()) {
      return Fail(ErrorCode::kNotFound, "no TLS policy stored yet");
    }
    const Row& r = rows[0];
    return PolicyDoc{.json = AsText(r[0]),
                     .version = AsInt(r[1]),
                     .updated_at = Time(r[2]),
                     .updated_by = AsText(r[3])};
  }

  Result<std::int64_t> PutPolicy(const PolicyDoc& policy,
                                 std::optional<std::int64_t> expected_version) override {
    return One([&](SqlTransaction& tx) { return tx.PutPolicy(policy, expected_version); });
  }

  // --- users and tokens ---

  Result<void> CreateUser(const User& user) override {
    return One([&](SqlTransaction& tx) { return tx.CreateUser(user); });
  }

  Result<User> GetUser(const std::string& name) override {
    CTLS_ASSIGN_OR_RETURN(
        Rows rows, Run(std::string("SELECT ") + kUserCols + " FROM users WHERE name = $1", {name}));
    if (rows.empty()) {
      return Fail(ErrorCode::kNotFound, "no user '" + name + "'");
    }
    return UserFromRow(rows[0]);
  }

  Result<std::vector<User>> ListUsers() override {
    return Retrying(
        /*read_only=*/true,
        [&](Connection& conn) { return SqlTransaction(conn, dialect_).ListUsers(); },
        [] { return true; });
  }

  Result<void> UpdateUser(const User& user) override {
    return One([&](SqlTransaction& tx) { return tx.UpdateUser(user); });
  }

  Result<void> DeleteUser(const std::string& name) override {
    return One([&](SqlTransaction& tx) { return tx.DeleteUser(name); });
  }

  Result<void> CreateToken(const ApiToken& token) override {
    return InTx([&](SqlTransaction& tx) { return tx.CreateToken(token); });
  }

  Result<ApiToken> GetToken(const std::string& id) override {
    CTLS_ASSIGN_OR_RETURN(
        Rows rows,
        Run(std::string("SELECT ") + kTokenCols + " FROM api_tokens WHERE id = $1", {id}));
    if (rows.empty()) {
      return Fail(ErrorCode::kNotFound, "no token '" + id + "'");
    }
    return TokenFromRow(rows[0]);
  }

  Result<std::vector<ApiToken>> ListTokens(const std::string& user) override {
    std::string select = std::string("SELECT ") + kTokenCols + " FROM api_tokens";
    auto rows = user.empty() ? Run(select + " ORDER BY id", {})
                             : Run(select + " WHERE user_name = $1 ORDER BY id", {user});
    if (!rows) {
      return rows.error();
    }
    std::vector<ApiToken> out;
    for (const Row& r : *rows) {
      out.push_back(TokenFromRow(r));
    }
    return out;
  }

  Result<void> DeleteToken(const std::string& id) override {
    return One([&](SqlTransaction& tx) { return tx.DeleteToken(id); });
  }

  Result<std::vector<std::string>> DeleteTokensOf(const std::string& user) override {
    return One([&](SqlTransaction& tx) { return tx.DeleteTokensOf(user); });
  }

  Result<void> TouchToken(const std::string& id, TimePoint at) override {
    CTLS_ASSIGN_OR_RETURN(
        Rows rows,
        Run("UPDATE api_tokens SET last_used = $2 WHERE id = $1 RETURNING id", {id, Secs(at)}));
    if (rows.empty()) {
      return Fail(ErrorCode::kNotFound, "no token '" + id + "'");
    }
    return {};
  }

  // --- audit ---

  Result<AuditEntry> AppendAudit(const AuditInput& input, const AuditHasher& hasher) override {
    CTLS_ASSIGN_OR_RETURN(std::vector<AuditEntry> entries,
                          AppendAuditBatch(std::span<const AuditInput>(&input, 1), hasher));
    return std::move(entries.front());
  }

  Result<std::vector<AuditEntry>> AppendAuditBatch(std::span<const AuditInput> inputs,
                                                   const AuditHasher& hasher) override {
    if (inputs.empty()) {
      return std::vector<AuditEntry>{};
    }
    return Tx(true,
              [&](Connection& conn) { return AppendAuditIn(conn, dialect_, inputs, hasher); });
  }

  Result<std::vector<AuditEntry>> ListAudit(std::int64_t after_seq, int limit) override {
    if (limit < 1) {
      return Fail(ErrorCode::kInvalidArgument, "audit limit must be positive");
    }
    CTLS_ASSIGN_OR_RETURN(Rows rows, Run(std::string("SELECT ") + kAuditCols +
                                             " FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                                         {after_seq, std::int64_t{limit}}));
    std::vector<AuditEntry> out;
    out.reserve(rows.size());
    for (const Row& r : rows) {
      out.push_back(AuditFromRow(r));
    }
    return out;
  }

  Result<std::optional<AuditEntry>> LastAudit() override {
    CTLS_ASSIGN_OR_RETURN(
        Rows rows,
        Run(std::string("SELECT ") + kAuditCols + " FROM audit_log ORDER BY seq DESC LIMIT 1", {}));
    if (rows.empty()) {
      return std::optional<AuditEntry>();
    }
    return std::optional<AuditEntry>(AuditFromRow(rows[0]));
  }

  // --- CAs ---

  Result<void> PutCa(const CaRecord& ca) override {
    if (ca.id.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "CA id is empty");
    }
    auto rows =
        Run("INSERT INTO cas (id, chain_pem, encrypted_key, created_at) VALUES ($1, $2, $3, $4)",
            {ca.id, ca.chain_pem, ca.encrypted_key, Secs(ca.created_at)});
    if (!rows) {
      if (rows.error().code == ErrorCode::kAlreadyExists) {
        return Fail(ErrorCode::kAlreadyExists, "CA '" + ca.id + "' already exists");
      }
      return rows.error();
    }
    return {};
  }

  Result<CaRecord> GetCa(const std::string& id) override {
    CTLS_ASSIGN_OR_RETURN(Rows rows,
                          Run(std::string("SELECT ") + kCaCols + " FROM cas WHERE id = $1", {id}));
    if (rows.empty()) {
      return Fail(ErrorCode::kNotFound, "no CA '" + id + "'");
    }
    return CaFromRow(rows[0]);
  }

  Result<std::vector<CaRecord>> ListCas() override {
    CTLS_ASSIGN_OR_RETURN(Rows rows,
                          Run(std::string("SELECT ") + kCaCols + " FROM cas ORDER BY id", {}));
    std::vector<CaRecord> out;
    for (const Row& r : rows) {
      out.push_back(CaFromRow(r));
    }
    return out;
  }

  // --- nodes ---

  Result<void> CreateNodeToken(const NodeToken& t, std::span<const AuditInput> audit,
                               const AuditHasher& hasher) override {
    return Tx(true, [&](Connection& conn) -> Result<void> {
      auto r = conn.Query(
          "INSERT INTO node_tokens (id, hash, node, dns_json, ips_json, assign_json, created_at, "
          "expires_at, created_by, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",
          {t.id, t.hash, t.node, t.dns_json, t.ips_json, t.assign_json, Secs(t.created_at),
           Secs(t.expires_at), t.created_by});
      if (!r) {
        if (r.error().code == ErrorCode::kAlreadyExists) {
          return Fail(ErrorCode::kAlreadyExists, "enrollment token " + t.id + " already exists");
        }
        return r.error();
      }
      CTLS_RETURN_IF_ERROR(AppendAuditIn(conn, dialect_, audit, hasher));
      return {};
    });
  }

  Result<NodeToken> GetNodeTokenByHash(const std::string& hash) override {
    CTLS_ASSIGN_OR_RETURN(
        Rows rows,
        Run(std::string("SELECT ") + kNodeTokenCols + " FROM node_tokens WHERE hash = $1", {hash}));
    if (rows.empty()) {
      return Fail(ErrorCode::kNotFound, "unknown enrollment token");
    }
    return NodeTokenFromRow(rows[0]);
  }

  Result<std::vector<NodeToken>> ListNodeTokens(TimePoint now) override {
    CTLS_ASSIGN_OR_RETURN(Rows rows, Run(std::string("SELECT ") + kNodeTokenCols +
                                             " FROM node_tokens WHERE used_at IS NULL AND "
                                             "expires_at > $1 ORDER BY created_at, id",
                                         {Secs(now)}));
    std::vector<NodeToken> out;
    for (const Row& r : rows) {
      out.push_back(NodeTokenFromRow(r));
    }
    return out;
  }

  static Result<void> InsertIssuedIn(Connection& conn, const IssuedCert& c) {
    CTLS_ASSIGN_OR_RETURN(std::string serial, NormalizeSerial(c.serial_hex));
    auto r = conn.Query(
        "INSERT INTO issued_certs (serial, issuer_id, profile, subject_cn, sans_json, "
        "not_before, not_after, der, issued_at, issued_by, revoked_at, revocation_reason) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL)",
        {serial, c.issuer_id, c.profile, c.subject_cn, c.sans_json, Secs(c.not_before),
         Secs(c.not_after), c.der, Secs(c.issued_at), c.issued_by});
    if (!r) {
      if (r.error().code == ErrorCode::kAlreadyExists) {
        return Fail(ErrorCode::kAlreadyExists,
                    "certificate serial " + serial + " is already recorded", r.error().message);
      }
      return r.error();
    }
    return {};
  }

  Result<void> EnrollNode(const std::string& token_hash, TimePoint now, const Node& n,
                          const IssuedCert& cert, std::span<const AuditInput> audit,
                          const AuditHasher& hasher) override {
    return Tx(true, [&](Connection& conn) -> Result<void> {
      // Conditional update: of concurrent enrollments with one token exactly one marks it used.
      CTLS_ASSIGN_OR_RETURN(Rows used,
                            conn.Query("UPDATE node_tokens SET used_at = $2 WHERE hash = $1 AND "
                                       "used_at IS NULL AND expires_at > $2 RETURNING id",
                                       {token_hash, Secs(now)}));
      if (used.empty()) {
        CTLS_ASSIGN_OR_RETURN(
            Rows rows, conn.Query("SELECT id, used_at, expires_at FROM node_tokens WHERE hash = $1",
                                  {token_hash}));
        if (rows.empty()) {
          return Fail(ErrorCode::kNotFound, "unknown enrollment token");
        }
        if (rows[0][1]) {
          return Fail(ErrorCode::kPermissionDenied,
                      "enrollment token " + AsText(rows[0][0]) + " was already used");
        }
        return Fail(ErrorCode::kExpired, "enrollment token " + AsText(rows[0][0]) + " expired at " +
                                             core::FormatTime(Time(rows[0][2])));
      }
      CTLS_RETURN_IF_ERROR(InsertIssuedIn(conn, cert));
      CTLS_RETURN_IF_ERROR(conn.Query("DELETE FROM nodes WHERE name = $1", {n.name}));
      CTLS_RETURN_IF_ERROR(conn.Query(
          "INSERT INTO nodes (name, dns_json, ips_json, assign_json, cert_serial, cert_not_after, "
          "enrolled_at, applied_version, last_seen, agent_version, last_hook_json) VALUES ($1, "
          "$2, $3, $4, $5, $6, $7, 0, NULL, '', '')",
          {n.name, n.dns_json, n.ips_json, n.assign_json, n.cert_serial, Secs(n.cert_not_after),
           Secs(n.enrolled_at)}));
      CTLS_RETURN_IF_ERROR(NextCounterIn(conn, kClusterStateCounter));
      CTLS_RETURN_IF_ERROR(AppendAuditIn(conn, dialect_, audit, hasher));
      return {};
    });
  }

  Result<void> RenewNodeCert(const std::string& name, const IssuedCert& cert,
                             std::span<const AuditInput> audit,
                             const AuditHasher& hasher) override {
    CTLS_ASSIGN_OR_RETURN(std::string serial, NormalizeSerial(cert.serial_hex));
    return Tx(true, [&](Connection& conn) -> Result<void> {
      CTLS_RETURN_IF_ERROR(InsertIssuedIn(conn, cert));
      CTLS_ASSIGN_OR_RETURN(Rows updated,
                            conn.Query("UPDATE nodes SET cert_serial = $2, cert_not_after = $3 "
                                       "WHERE name = $1 RETURNING name",
                                       {name, serial, Secs(cert.not_after)}));
      if (updated.empty()) {
        return Fail(ErrorCode::kNotFound, "no node named '" + name + "'");
      }
      CTLS_RETURN_IF_ERROR(AppendAuditIn(conn, dialect_, audit, hasher));
      return {};
    });
  }

  Result<Node> GetNode(const std::string& name) override {
    CTLS_ASSIGN_OR_RETURN(
        Rows rows, Run(std::string("SELECT ") + kNodeCols + " FROM nodes WHERE name = $1", {name}));
    if (rows.empty()) {
      return Fail(ErrorCode::kNotFound, "no node named '" + name + "'");
    }
    return NodeFromRow(rows[0]);
  }

  Result<std::vector<Node>> ListNodes() override {
    CTLS_ASSIGN_OR_RETURN(
        Rows rows, Run(std::string("SELECT ") + kNodeCols + " FROM nodes ORDER BY name", {}));
    std::vector<Node> out;
    out.reserve(rows.size());
    for (const Row& r : rows) {
      out.push_back(NodeFromRow(r));
    }
    return out;
  }

  Result<void> AssignNode(const std::string& name, const std::string& assign_json,
                          std::span<const AuditInput> audit, const AuditHasher& hasher) override {
    return Tx(true, [&](Connection& conn) -> Result<void> {
      CTLS_ASSIGN_OR_RETURN(
          Rows updated,
          conn.Query("UPDATE nodes SET assign_json = $2 WHERE name = $1 RETURNING name",
                     {name, assign_json}));
      if (updated.empty()) {
        return Fail(ErrorCode::kNotFound, "no node named '" + name + "'");
      }
      CTLS_RETURN_IF_ERROR(NextCounterIn(conn, kClusterStateCounter));
      CTLS_RETURN_IF_ERROR(AppendAuditIn(conn, dialect_, audit, hasher));
      return {};
    });
  }

  Result<std::vector<std::string>> RemoveNode(const std::string& name, const std::string& issued_by,
                                              TimePoint at, const std::string& reason,
                                              std::span<const AuditInput> audit,
                                              const AuditHasher& hasher) override {
    return Tx(true, [&](Connection& conn) -> Result<std::vector<std::string>> {
      CTLS_ASSIGN_OR_RETURN(Rows deleted,
                            conn.Query("DELETE FROM nodes WHERE name = $1 RETURNING name", {name}));
      if (deleted.empty()) {
        return Fail(ErrorCode::kNotFound, "no node named '" + name + "'");
      }
      CTLS_RETURN_IF_ERROR(
          conn.Query("DELETE FROM node_tokens WHERE node = $1 AND used_at IS NULL", {name}));
      CTLS_ASSIGN_OR_RETURN(Rows revoked,
                            conn.Query("UPDATE issued_certs SET revoked_at = $2, "
                                       "revocation_reason = $3 WHERE issued_by = $1 AND "
                                       "revoked_at IS NULL RETURNING serial",
                                       {issued_by, Secs(at), reason}));
      std::vector<std::string> serials;
      for (const Row& r : revoked) {
        serials.push_back(AsText(r[0]));
      }
      std::sort(serials.begin(), serials.end());
      if (!serials.empty()) {
        CTLS_RETURN_IF_ERROR(NextCounterIn(conn, kRevocationCounter));
      }
      CTLS_RETURN_IF_ERROR(NextCounterIn(conn, kClusterStateCounter));
      CTLS_RETURN_IF_ERROR(AppendAuditIn(conn, dialect_, audit, hasher));
      return serials;
    });
  }

  Result<void> ReportNode(const std::string& name, const NodeReport& report) override {
    CTLS_ASSIGN_OR_RETURN(
        Rows updated, Run("UPDATE nodes SET last_seen = $2, "
                          "applied_version = COALESCE($3, applied_version), "
                          "agent_version = CASE WHEN $4 = '' THEN agent_version ELSE $4 END, "
                          "last_hook_json = CASE WHEN $5 = '' THEN last_hook_json ELSE $5 END "
                          "WHERE name = $1 RETURNING name",
                          {name, Secs(report.seen),
                           report.applied_version ? Value(*report.applied_version) : Value(Null{}),
                           report.agent_version, report.last_hook_json}));
    if (updated.empty()) {
      return Fail(ErrorCode::kNotFound, "no node named '" + name + "'");
    }
    return {};
  }

  Result<void> RecordNodesSeen(std::span<const std::pair<std::string, TimePoint>> seen) override {
    if (seen.empty()) {
      return {};
    }
    return Tx(true, [&](Connection& conn) -> Result<void> {
      for (const auto& [name, at] : seen) {
        CTLS_RETURN_IF_ERROR(
            conn.Query("UPDATE nodes SET last_seen = $2 WHERE name = $1 AND "
                       "(last_seen IS NULL OR last_seen < $2)",
                       {name, Secs(at)}));
      }
      return {};
    });
  }

  // --- counters and config ---

  Result<std::int64_t> NextCounter(const std::string& name) override {
    if (name.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "counter name is empty");
    }
    return Tx(true, [&](Connection& conn) { return NextCounterIn(conn, name); });
  }

  Result<std::int64_t> PeekCounter(const std::string& name) override {
    CTLS_ASSIGN_OR_RETURN(Rows rows, Run("SELECT value FROM counters WHERE name = $1", {name}));
    return rows.empty() ? std::int64_t{0} : AsInt(rows[0][0]);
  }

  Result<std::string> GetConfig(const std::string& key) override {
    CTLS_ASSIGN_OR_RETURN(Rows rows, Run("SELECT value FROM config WHERE key = $1", {key}));
    if (rows.empty()) {
      return Fail(ErrorCode::kNotFound, "no config key '" + key + "'");
    }
    return AsText(rows[0][0]);
  }

  Result<void> SetConfig(const std::string& key, const std::string& value) override {
    CTLS_RETURN_IF_ERROR(
        Run("INSERT INTO config (key, value) VALUES ($1, $2) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            {key, value}));
    return {};
  }

  Result<std::vector<std::pair<std::string, std::string>>> ListConfig() override {
    CTLS_ASSIGN_OR_RETURN(Rows rows, Run("SELECT key, value FROM config ORDER BY key", {}));
    std::vector<std::pair<std::string, std::string>> out;
    for (const Row& r : rows) {
      out.emplace_back(AsText(r[0]), AsText(r[1]));
    }
    return out;
  }

 private:
  std::unique_ptr<Pool> pool_;
  Dialect dialect_;
};

}  // namespace

Result<std::unique_ptr<Store>> MakeSqlStore(std::unique_ptr<Pool> pool, Dialect dialect) {
  return std::unique_ptr<Store>(std::make_unique<SqlStore>(std::move(pool), dialect));
}

}  // namespace clustertls::store::sql
