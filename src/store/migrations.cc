// Versioned schema migrations: one logical schema for both back-ends. Each migration is applied
// with its `schema_migrations` row in one transaction, in order; a migration once released is
// never edited (add a new one). Dialect differences are the placeholders below, spelled out.

#include <string>
#include <vector>

#include "store/sql.h"

namespace clustertls::store::sql {
namespace {

using core::Result;

struct Migration {
  int version;
  const char* name;
  const char* sql;  // statements separated by ';', with the placeholders below
};

// {ID}   an auto-assigned 64-bit primary key
// {INT}  a 64-bit integer
// {BLOB} bytes
// Times are {INT} Unix seconds; booleans are {INT} 0/1.
constexpr Migration kMigrations[] = {
    {1, "initial schema", R"sql(
CREATE TABLE issued_certs (
  id {ID},
  serial TEXT NOT NULL,
  issuer_id TEXT NOT NULL,
  profile TEXT NOT NULL,
  subject_cn TEXT NOT NULL,
  sans_json TEXT NOT NULL,
  not_before {INT} NOT NULL,
  not_after {INT} NOT NULL,
  der {BLOB} NOT NULL,
  issued_at {INT} NOT NULL,
  issued_by TEXT NOT NULL,
  revoked_at {INT},
  revocation_reason TEXT,
  CONSTRAINT issued_certs_serial_unique UNIQUE (serial)
);
CREATE INDEX issued_certs_not_after ON issued_certs (not_after);
CREATE INDEX issued_certs_revoked ON issued_certs (issuer_id, serial)
  WHERE revoked_at IS NOT NULL;
CREATE TABLE named_certs (
  name TEXT NOT NULL,
  version {INT} NOT NULL,
  chain_pem TEXT NOT NULL,
  encrypted_key {BLOB} NOT NULL,
  created_at {INT} NOT NULL,
  created_by TEXT NOT NULL,
  PRIMARY KEY (name, version)
);
CREATE TABLE policy (
  id {INT} PRIMARY KEY CHECK (id = 1),
  version {INT} NOT NULL,
  document TEXT NOT NULL,
  updated_at {INT} NOT NULL,
  updated_by TEXT NOT NULL
);
CREATE TABLE users (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at {INT} NOT NULL,
  disabled {INT} NOT NULL DEFAULT 0
);
CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY,
  user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
  hash TEXT NOT NULL,
  created_at {INT} NOT NULL,
  expires_at {INT},
  last_used {INT}
);
CREATE INDEX api_tokens_user ON api_tokens (user_name);
CREATE TABLE audit_log (
  seq {INT} PRIMARY KEY,
  time {INT} NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  source TEXT NOT NULL,
  details TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE TABLE cas (
  id TEXT PRIMARY KEY,
  chain_pem TEXT NOT NULL,
  encrypted_key {BLOB} NOT NULL,
  created_at {INT} NOT NULL
);
CREATE TABLE counters (
  name TEXT PRIMARY KEY,
  value {INT} NOT NULL
);
CREATE TABLE config (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
)
)sql"},
    // ListRevoked (every CRL generation) answered from the index alone: without the covering
    // columns each revoked row costs a B-tree descent into the table of certificate DERs
    // (bench/RESULTS.md, "CRL generation": 0.49 s -> 0.07 s of CPU at 100,000 entries).
    {2, "covering index for CRL generation", R"sql(
CREATE INDEX issued_certs_revoked_list ON issued_certs
  (issuer_id, serial, not_after, revoked_at, revocation_reason)
  WHERE revoked_at IS NOT NULL;
DROP INDEX issued_certs_revoked
)sql"},
    // Name policies on signing (authority/name_policy.h), kept as their canonical JSON text;
    // '' is no policy.
    {3, "name policies of users and tokens", R"sql(
ALTER TABLE users ADD COLUMN name_policy TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN name_policy TEXT NOT NULL DEFAULT ''
)sql"},
    // Store::SoonestExpiring (every /metrics scrape): the first not_after among certificates not
    // revoked, one probe of this index however many revoked ones expire earlier.
    {4, "index of unrevoked certificates by expiry", R"sql(
CREATE INDEX issued_certs_valid_not_after ON issued_certs (not_after, serial)
  WHERE revoked_at IS NULL
)sql"},
    // Nodes and their one-time enrollment tokens (issue 14, `clustertls agent`).
    {5, "nodes and enrollment tokens", R"sql(
CREATE TABLE node_tokens (
  id TEXT PRIMARY KEY,
  hash TEXT NOT NULL,
  node TEXT NOT NULL,
  dns_json TEXT NOT NULL,
  ips_json TEXT NOT NULL,
  assign_json TEXT NOT NULL,
  created_at {INT} NOT NULL,
  expires_at {INT} NOT NULL,
  created_by TEXT NOT NULL,
  used_at {INT},
  CONSTRAINT node_tokens_hash_unique UNIQUE (hash)
);
CREATE TABLE nodes (
  name TEXT PRIMARY KEY,
  dns_json TEXT NOT NULL,
  ips_json TEXT NOT NULL,
  assign_json TEXT NOT NULL,
  cert_serial TEXT NOT NULL,
  cert_not_after {INT} NOT NULL,
  enrolled_at {INT} NOT NULL,
  applied_version {INT} NOT NULL DEFAULT 0,
  last_seen {INT},
  agent_version TEXT NOT NULL DEFAULT '',
  last_hook_json TEXT NOT NULL DEFAULT ''
);
CREATE INDEX issued_certs_issued_by ON issued_certs (issued_by)
)sql"},
};

void ReplaceAll(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

std::string ForDialect(const char* sql, Dialect dialect) {
  std::string s = sql;
  bool pg = dialect == Dialect::kPostgres;
  ReplaceAll(s, "{ID}",
             pg ? "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
                : "INTEGER PRIMARY KEY AUTOINCREMENT");
  ReplaceAll(s, "{INT}", pg ? "BIGINT" : "INTEGER");
  ReplaceAll(s, "{BLOB}", pg ? "BYTEA" : "BLOB");
  return s;
}

// An arbitrary constant: the advisory lock every instance takes while migrating.
constexpr std::int64_t kMigrationLockKey = 0x636c7573746572;  // "cluster"

Result<int> CurrentVersion(Connection& conn) {
  CTLS_ASSIGN_OR_RETURN(Rows rows,
                        conn.Query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", {}));
  return static_cast<int>(AsInt(rows.at(0).at(0)));
}

Result<int> MigrateLocked(Connection& conn, Dialect dialect) {
  CTLS_RETURN_IF_ERROR(
      conn.ExecScript("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                      "name TEXT NOT NULL, applied_at TEXT NOT NULL)"));
  CTLS_ASSIGN_OR_RETURN(int current, CurrentVersion(conn));
  if (current > LatestSchemaVersion()) {
    return core::Fail(core::ErrorCode::kUnsupported,
                      "database schema version " + std::to_string(current) +
                          " is newer than this clustertls (" +
                          std::to_string(LatestSchemaVersion()) + ")");
  }
  for (const Migration& m : kMigrations) {
    if (m.version <= current) {
      continue;
    }
    CTLS_RETURN_IF_ERROR(conn.Begin(/*write=*/true));
    // Re-check inside the write transaction (another process may have migrated meanwhile).
    auto now = CurrentVersion(conn);
    if (!now) {
      conn.Rollback();
      return now.error();
    }
    if (*now >= m.version) {
      conn.Rollback();
      continue;
    }
    auto applied = conn.ExecScript(ForDialect(m.sql, dialect));
    if (applied) {
      auto recorded = conn.Query(dialect == Dialect::kPostgres
                                     ? "INSERT INTO schema_migrations (version, name, applied_at) "
                                       "VALUES ($1, $2, CAST(now() AS TEXT))"
                                     : "INSERT INTO schema_migrations (version, name, applied_at) "
                                       "VALUES ($1, $2, datetime('now'))",
                                 {std::int64_t{m.version}, std::string(m.name)});
      if (!recorded) {
        applied = recorded.error();
      }
    }
    if (!applied) {
      conn.Rollback();
      return applied.error().WithContext("schema migration " + std::to_string(m.version));
    }
    CTLS_RETURN_IF_ERROR(conn.Commit());
  }
  return CurrentVersion(conn);
}

}  // namespace

int LatestSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

Result<int> Migrate(Connection& conn, Dialect dialect) {
  if (dialect == Dialect::kSqlite) {
    // BEGIN IMMEDIATE in each step serialises concurrent openers of the same file.
    return MigrateLocked(conn, dialect);
  }
  // Several instances may start at once: CREATE TABLE IF NOT EXISTS itself races in
  // PostgreSQL, so the whole migration runs under a session advisory lock.
  CTLS_RETURN_IF_ERROR(conn.Query("SELECT pg_advisory_lock($1)", {kMigrationLockKey}));
  auto result = MigrateLocked(conn, dialect);
  auto unlocked = conn.Query("SELECT pg_advisory_unlock($1)", {kMigrationLockKey});
  if (result && !unlocked) {
    return unlocked.error();
  }
  return result;
}

}  // namespace clustertls::store::sql
