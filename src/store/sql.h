#pragma once

// Internal: the small SQL layer both back-ends implement, so the Store logic (sql_store.cc) and
// the schema (migrations.cc) are written once. SQL text uses PostgreSQL's `$1` placeholders;
// the SQLite connection rewrites them to `?1`. Values are always bound, never spliced.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.h"
#include "store/store.h"

namespace clustertls::store::sql {

enum class Dialect { kSqlite, kPostgres };

// A bound parameter: NULL, integer, text or bytes.
struct Null {};
using Value = std::variant<Null, std::int64_t, std::string, Blob>;

// A result cell: NULL or its bytes (integers as decimal text, blobs as raw bytes).
using Cell = std::optional<std::string>;
using Row = std::vector<Cell>;
using Rows = std::vector<Row>;
// A cell seen by Connection::QueryEach: NULL or a view of its bytes.
using CellView = std::optional<std::string_view>;

// One database connection, used by one thread at a time.
class Connection {
 public:
  virtual ~Connection() = default;
  // Runs one parameterised statement and returns its rows (QueryEach's, copied). A unique
  // violation fails with kAlreadyExists; another constraint violation with kInternal (a bug:
  // callers check first); a retryable conflict (serialization failure, deadlock, busy) with
  // kUnavailable; anything else (a damaged file, a failed disk or connection) with kIo,
  // never with a code that means bad input: these messages name the file or URL and must not
  // reach an API client.
  core::Result<Rows> Query(std::string_view sql, const std::vector<Value>& params) {
    Rows rows;
    CTLS_RETURN_IF_ERROR(QueryEach(sql, params, [&](std::span<const CellView> cells) {
      Row& row = rows.emplace_back();
      row.reserve(cells.size());
      for (const CellView& c : cells) {
        row.emplace_back(c ? Cell(std::string(*c)) : std::nullopt);
      }
      return core::Result<void>();
    }));
    return rows;
  }
  // Runs one parameterised statement and calls `row` with each row's cells as the database
  // returns them (views valid during the call only; blobs decoded): nothing is materialised.
  // Stops at and returns `row`'s first error. Errors as Query's.
  virtual core::Result<void> QueryEach(
      std::string_view sql, const std::vector<Value>& params,
      const std::function<core::Result<void>(std::span<const CellView>)>& row) = 0;
  // Runs a script of statements without parameters (migrations).
  virtual core::Result<void> ExecScript(const std::string& sql) = 0;
  // Starts a transaction that will write (SQLite: BEGIN IMMEDIATE, serialised with other
  // writers of the process) or only read.
  virtual core::Result<void> Begin(bool write) = 0;
  virtual core::Result<void> Commit() = 0;
  virtual void Rollback() = 0;
  // False once the connection is unusable (then the pool drops it).
  virtual bool Healthy() const { return true; }
};

// A bounded pool of connections made on demand by `factory`.
class Pool {
 public:
  using Factory = std::function<core::Result<std::unique_ptr<Connection>>()>;
  Pool(Factory factory, int max_size) : factory_(std::move(factory)), max_(max_size) {}

  // A borrowed connection, returned to the pool on destruction.
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease() {
      if (pool_ != nullptr && conn_ != nullptr) {
        pool_->Release(std::move(conn_));
      }
    }
    Connection* operator->() { return conn_.get(); }
    Connection& operator*() { return *conn_; }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  core::Result<Lease> Acquire();

 private:
  void Release(std::unique_ptr<Connection> conn);

  Factory factory_;
  int max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  int open_ = 0;
};

// Cell accessors (a malformed integer cell is a bug in the schema: returns 0).
std::int64_t AsInt(const Cell& cell);
std::string AsText(const Cell& cell);
Blob AsBlob(const Cell& cell);

// Opens a SQLite database file with WAL, synchronous=FULL, foreign keys and busy_timeout.
// `write_mutex` is shared by every connection of one Store (serialises the process' writers).
core::Result<std::unique_ptr<Connection>> OpenSqlite(const std::string& path, int busy_timeout_ms,
                                                     std::shared_ptr<std::mutex> write_mutex);
// Runs SQLite's PRAGMA quick_check on the database file at `path` (on a connection of its own)
// and fails with kIo when it finds damage: the message names the file, quick_check's first
// findings and the recovery steps (docs/cli.md "A damaged SQLite store"). It reads every page
// of the file once: 0.15 to 0.35 s of CPU (0.6 to 1 s of wall time on a busy 2-core machine)
// for 100,000 issued certificates and as many audit entries (a 140 MB file), linear in the
// file's size. Kept at every open: a damaged file must not be written to.
core::Result<void> QuickCheckSqlite(const std::string& path, int busy_timeout_ms);
// Connects to PostgreSQL; `display_url` (password removed) is what messages show.
core::Result<std::unique_ptr<Connection>> OpenPostgres(const std::string& url,
                                                       const std::string& display_url,
                                                       int connect_timeout_s);

// Applies pending migrations to the database behind `conn`; returns the schema version.
core::Result<int> Migrate(Connection& conn, Dialect dialect);
// The newest migration this build knows.
int LatestSchemaVersion();

// The Store implementation over a pool.
core::Result<std::unique_ptr<Store>> MakeSqlStore(std::unique_ptr<Pool> pool, Dialect dialect);

}  // namespace clustertls::store::sql
