// SQLite connection: WAL, synchronous=FULL, foreign keys, busy_timeout, cached prepared
// statements.

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/sql.h"

namespace clustertls::store::sql {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;

// Appended to a run-time error that shows a damaged file (SQLITE_CORRUPT, SQLITE_NOTADB): the
// server log is where an operator sees it.
constexpr const char* kDamagedHint =
    "the database file is damaged: stop every clustertls serve using it and recover it as "
    "docs/cli.md \"A damaged SQLite store\" says";

// What to do about the damaged database file at `path` (one line, for Open's error).
std::string RecoverySteps(const std::string& path) {
  return "to recover: stop every clustertls serve using it; keep a copy of it and of its -wal "
         "and -shm files; restore it from a backup, or salvage what is readable with sqlite3 '" +
         path +
         "' .recover | sqlite3 recovered.db (a sqlite3 without .recover: .dump, see the docs) and "
         "put recovered.db (mode 0600) in its place; then check the audit chain with clustertls "
         "audit verify --data-dir DIR (docs/cli.md \"A damaged SQLite store\")";
}

bool IsDamage(int rc) {
  const int primary = rc & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

// "$12" -> "?12" outside of string literals.
std::string ToSqlite(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  bool in_literal = false;
  for (size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (c == '\'') {
      in_literal = !in_literal;
    }
    if (!in_literal && c == '$' && i + 1 < sql.size() &&
        std::isdigit(static_cast<unsigned char>(sql[i + 1]))) {
      out.push_back('?');
      continue;
    }
    out.push_back(c);
  }
  return out;
}

class SqliteConnection final : public Connection {
 public:
  SqliteConnection(sqlite3* db, std::string path, std::shared_ptr<std::mutex> write_mutex)
      : db_(db), path_(std::move(path)), write_mutex_(std::move(write_mutex)) {}
  ~SqliteConnection() override {
    for (auto& [sql, stmt] : cache_) {
      sqlite3_finalize(stmt);
    }
    sqlite3_close_v2(db_);
  }

  // A failure of the database, never of the caller's input: kIo (kAlreadyExists for a unique
  // violation, kInternal for another constraint: the callers check what the constraints say
  // first). So a damaged file or a failed disk is a 500 to an API client, whose message (it
  // names the file) goes to the server log only; a 4xx would show it to the client. A full
  // disk is kUnavailable (503): nothing was written, and the request succeeds once space returns.
  core::Error Error(int rc, std::string_view what) const {
    std::string msg = sqlite3_errmsg(db_);
    int primary = rc & 0xff;
    ErrorCode code = ErrorCode::kIo;
    std::string hint;
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
      code = ErrorCode::kAlreadyExists;
    } else if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
      hint = std::string(" (") + kDamagedHint + ")";
    } else if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
      code = ErrorCode::kUnavailable;  // another writer holds the file: retried, then a 503
    } else if (primary == SQLITE_FULL) {
      // The disk is full: the transaction is rolled back whole, and the same request succeeds
      // once space returns, so a 503 with Retry-After rather than a 500.
      code = ErrorCode::kUnavailable;
    } else if (primary == SQLITE_CONSTRAINT) {
      code = ErrorCode::kInternal;
    }
    // The operating system's word for an I/O failure ("No space left on device"), which
    // SQLite's own message ("disk I/O error") leaves out.
    const bool os_failure = primary == SQLITE_FULL || primary == SQLITE_IOERR;
    if (int err = sqlite3_system_errno(db_); os_failure && err != 0) {
      msg += std::string(" (") + std::strerror(err) + ")";
    }
    return Fail(code, "sqlite " + path_ + ": " + std::string(what) + ": " + msg + hint);
  }

  Result<sqlite3_stmt*> Prepare(std::string_view sql) {
    std::string key(sql);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      return it->second;
    }
    std::string text = ToSqlite(sql);
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, text.c_str(), static_cast<int>(text.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      return Error(rc, "prepare");
    }
    cache_.emplace(std::move(key), stmt);
    return stmt;
  }

  Result<void> QueryEach(
      std::string_view sql, const std::vector<Value>& params,
      const std::function<Result<void>(std::span<const CellView>)>& visit) override {
    CTLS_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Prepare(sql));
    struct Resetter {
      sqlite3_stmt* s;
      ~Resetter() {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
      }
    } resetter{stmt};
    for (size_t i = 0; i < params.size(); ++i) {
      int idx = static_cast<int>(i) + 1;
      int rc = SQLITE_OK;
      const Value& v = params[i];
      if (std::holds_alternative<Null>(v)) {
        rc = sqlite3_bind_null(stmt, idx);
      } else if (const auto* n = std::get_if<std::int64_t>(&v)) {
        rc = sqlite3_bind_int64(stmt, idx, *n);
      } else if (const auto* s = std::get_if<std::string>(&v)) {
        rc = sqlite3_bind_text64(stmt, idx, s->data(), s->size(), SQLITE_STATIC, SQLITE_UTF8);
      } else {
        const Blob& b = std::get<Blob>(v);
        rc = sqlite3_bind_blob64(stmt, idx, b.empty() ? "" : static_cast<const void*>(b.data()),
                                 b.size(), SQLITE_STATIC);
      }
      if (rc != SQLITE_OK) {
        return Error(rc, "bind");
      }
    }
    const int n = sqlite3_column_count(stmt);
    std::vector<CellView> cells(static_cast<size_t>(n));
    // Integers as decimal text, formatted here (sqlite3_column_text would allocate per cell).
    std::vector<std::array<char, 24>> digits(static_cast<size_t>(n));
    while (true) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) {
        break;
      }
      if (rc != SQLITE_ROW) {
        return Error(sqlite3_extended_errcode(db_), "step");
      }
      for (int c = 0; c < n; ++c) {
        int type = sqlite3_column_type(stmt, c);
        if (type == SQLITE_NULL) {
          cells[c] = std::nullopt;
        } else if (type == SQLITE_INTEGER) {
          char* b = digits[c].data();
          auto [end, ec] = std::to_chars(b, b + digits[c].size(), sqlite3_column_int64(stmt, c));
          cells[c] = std::string_view(b, static_cast<size_t>(end - b));
        } else {
          const void* p = type == SQLITE_BLOB
                              ? sqlite3_column_blob(stmt, c)
                              : static_cast<const void*>(sqlite3_column_text(stmt, c));
          int len = sqlite3_column_bytes(stmt, c);
          cells[c] = p == nullptr
                         ? std::string_view()
                         : std::string_view(static_cast<const char*>(p), static_cast<size_t>(len));
        }
      }
      CTLS_RETURN_IF_ERROR(visit(cells));
    }
    return {};
  }

  Result<void> ExecScript(const std::string& sql) override {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      core::Error e = Error(sqlite3_extended_errcode(db_), "exec");
      e.message = "sqlite " + path_ + ": " + msg;
      return e;
    }
    return {};
  }

  Result<void> Begin(bool write) override {
    if (write) {
      lock_ = std::unique_lock<std::mutex>(*write_mutex_);
    }
    auto r = Query(write ? "BEGIN IMMEDIATE" : "BEGIN", {});
    if (!r) {
      if (lock_.owns_lock()) {
        lock_.unlock();
      }
      return r.error();
    }
    return {};
  }

  Result<void> Commit() override {
    auto r = Query("COMMIT", {});
    if (!r) {
      Rollback();
      return r.error();
    }
    if (lock_.owns_lock()) {
      lock_.unlock();
    }
    return {};
  }

  void Rollback() override {
    if (sqlite3_get_autocommit(db_) == 0) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    if (lock_.owns_lock()) {
      lock_.unlock();
    }
  }

 private:
  sqlite3* db_;
  std::string path_;
  std::shared_ptr<std::mutex> write_mutex_;
  std::unique_lock<std::mutex> lock_;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
};

}  // namespace

Result<std::unique_ptr<Connection>> OpenSqlite(const std::string& path, int busy_timeout_ms,
                                               std::shared_ptr<std::mutex> write_mutex) {
  // The database holds password hashes and encrypted keys: create it 0600 (SQLite gives its
  // -wal and -shm files the same mode). Only when it does not exist yet (O_EXCL): POSIX record
  // locks belong to the process and the file, not to a descriptor, so closing a descriptor of a
  // file this process's other connections have open drops their locks. Another process (the
  // sqlite3 CLI, `audit verify --data-dir`) then gets the exclusive lock on closing and, as if it
  // were the last connection, checkpoints and deletes the -wal and -shm files under this one:
  // later commits went to a deleted WAL, invisible to others and lost on a crash.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);  // a new file: no connection of this process has it open yet
  } else if (errno == EROFS || (::access(path.c_str(), W_OK) != 0 && errno == EROFS)) {
    // SQLite would only say "unable to open database file" (it cannot create the -shm file).
    return Fail(ErrorCode::kIo, "sqlite " + path +
                                    ": cannot write: Read-only file system (SQLite writes the "
                                    "database and its -wal and -shm files in its directory; "
                                    "remount it read-write)");
  }  // else it exists, or sqlite3_open_v2 below reports the cause
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Fail(ErrorCode::kIo, "sqlite " + path + ": cannot open: " + msg);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  auto conn = std::make_unique<SqliteConnection>(db, path, std::move(write_mutex));
  // journal_mode is the first statement that reads the file: a non-database (or a file whose
  // first page is damaged) fails here.
  auto mode = conn->Query("PRAGMA journal_mode=WAL", {});
  if (!mode) {
    core::Error e = mode.error();
    if (IsDamage(sqlite3_extended_errcode(db))) {
      e.message = "sqlite " + path +
                  ": not a SQLite database (or a damaged one): " + sqlite3_errmsg(db) + "; " +
                  RecoverySteps(path);
    }
    return e;
  }
  if (mode->empty() || AsText(mode->front().front()) != "wal") {
    return Fail(ErrorCode::kIo, "sqlite " + path + ": cannot switch to WAL journal mode");
  }
  // mmap_size: reads (a CRL generation walks an index of a million rows) come straight from
  // the page cache instead of being copied into SQLite's cache page by page; SQLite caps the
  // value at its compile-time limit (SQLITE_MAX_MMAP_SIZE, 2 GiB on Debian).
  CTLS_RETURN_IF_ERROR(conn->ExecScript(
      "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA mmap_size=2147418112;"));
  return std::unique_ptr<Connection>(std::move(conn));
}

Result<void> QuickCheckSqlite(const std::string& path, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
  if (rc != SQLITE_OK) {
    return Fail(ErrorCode::kIo, "sqlite " + path + ": cannot open: " +
                                    (raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), busy_timeout_ms);
  // quick_check(N) stops after N problems; its first rows are what the message shows.
  constexpr std::size_t kMaxProblems = 10;
  constexpr std::size_t kShownProblems = 3;
  constexpr std::size_t kMaxLineBytes = 200;
  sqlite3_stmt* raw_stmt = nullptr;
  const std::string sql = "PRAGMA quick_check(" + std::to_string(kMaxProblems) + ")";
  rc = sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &raw_stmt, nullptr);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw_stmt, sqlite3_finalize);
  std::vector<std::string> problems;
  while (rc == SQLITE_OK || rc == SQLITE_ROW) {
    rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0));
      // A row may hold several lines; "*** in database main ***" only says which attached
      // database the next lines are about.
      std::string_view rest = text != nullptr ? text : "";
      while (!rest.empty()) {
        const std::size_t end = rest.find('\n');
        std::string_view line = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
        if (!line.empty() && line != "ok" && !line.starts_with("*** ")) {
          problems.push_back(line.size() > kMaxLineBytes
                                 ? std::string(line.substr(0, kMaxLineBytes)) + "..."
                                 : std::string(line));
        }
      }
    }
  }
  if (rc != SQLITE_DONE) {
    // quick_check itself stops with SQLITE_CORRUPT on some damage, after the rows it found.
    const std::string cause = sqlite3_errmsg(db.get());
    if (!IsDamage(sqlite3_extended_errcode(db.get()))) {
      return Fail(ErrorCode::kIo, "sqlite " + path + ": PRAGMA quick_check failed: " + cause);
    }
    if (problems.size() < kShownProblems) {
      problems.push_back(cause);
    }
  }
  if (problems.empty()) {
    return {};
  }
  std::string found;
  for (std::size_t i = 0; i < problems.size() && i < kShownProblems; ++i) {
    found += (i == 0 ? "" : "; ") + problems[i];
  }
  if (problems.size() > kShownProblems) {
    found += "; and " + (problems.size() >= kMaxProblems
                             ? "more"
                             : std::to_string(problems.size() - kShownProblems) + " more");
  }
  return Fail(ErrorCode::kIo, "sqlite " + path +
                                  ": the database file is damaged (PRAGMA quick_check: " + found +
                                  "); refusing to open it; " + RecoverySteps(path));
}

}  // namespace clustertls::store::sql
