// Store::Open (dispatch on the URL), the connection pool and cell accessors.

#include "store/store.h"

#include <charconv>

#include "store/sql.h"

namespace clustertls::store {

using core::ErrorCode;
using core::Fail;
using core::Result;

std::string RedactUrl(const std::string& url) {
  std::string out = url;
  auto scheme = out.find("://");
  if (scheme != std::string::npos) {
    size_t start = scheme + 3;
    size_t end = out.find_first_of("/?#", start);
    if (end == std::string::npos) {
      end = out.size();
    }
    size_t at = out.rfind('@', end);
    if (at != std::string::npos && at >= start) {
      size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) {
        out.replace(colon + 1, at - colon - 1, "***");
      }
    }
  }
  // libpq also takes the password as a query parameter.
  for (size_t pos = out.find("password="); pos != std::string::npos;
       pos = out.find("password=", pos + 1)) {
    if (pos > 0 && out[pos - 1] != '?' && out[pos - 1] != '&') {
      continue;
    }
    size_t value = pos + 9;
    size_t end = out.find('&', value);
    out.replace(value, (end == std::string::npos ? out.size() : end) - value, "***");
  }
  return out;
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& url, const OpenOptions& options) {
  if (options.pool_size < 1) {
    return Fail(ErrorCode::kInvalidArgument, "store: pool_size must be at least 1");
  }
  auto starts_with = [&](std::string_view prefix) { return url.rfind(prefix, 0) == 0; };
  if (starts_with("postgres://") || starts_with("postgresql://")) {
    std::string display = RedactUrl(url);
    int timeout = options.connect_timeout_s;
    auto pool = std::make_unique<sql::Pool>(
        [url, display, timeout]() { return sql::OpenPostgres(url, display, timeout); },
        options.pool_size);
    {
      CTLS_ASSIGN_OR_RETURN(auto conn, pool->Acquire());
      CTLS_RETURN_IF_ERROR(sql::Migrate(*conn, sql::Dialect::kPostgres));
    }
    return sql::MakeSqlStore(std::move(pool), sql::Dialect::kPostgres);
  }
  std::string path;
  if (starts_with("sqlite://")) {
    path = url.substr(9);
  } else if (url.find("://") != std::string::npos) {
    return Fail(ErrorCode::kInvalidArgument,
                "store: unsupported URL scheme in '" + RedactUrl(url) +
                    "' (use sqlite:///path, a path, or postgres://...)");
  } else {
    path = url;
  }
  if (path.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "store: empty SQLite path");
  }
  auto write_mutex = std::make_shared<std::mutex>();
  int busy = options.busy_timeout_ms;
  auto pool = std::make_unique<sql::Pool>(
      [path, busy, write_mutex]() { return sql::OpenSqlite(path, busy, write_mutex); },
      options.pool_size);
  {
    CTLS_ASSIGN_OR_RETURN(auto conn, pool->Acquire());
    // A damaged file is refused before anything writes to it (a migration, then serve's
    // signing and audit entries): see QuickCheckSqlite for what it costs.
    CTLS_RETURN_IF_ERROR(sql::QuickCheckSqlite(path, busy));
    CTLS_RETURN_IF_ERROR(sql::Migrate(*conn, sql::Dialect::kSqlite));
  }
  return sql::MakeSqlStore(std::move(pool), sql::Dialect::kSqlite);
}

Result<std::size_t> Store::ForEachRevoked(const std::string& issuer_id, core::TimePoint now,
                                          const RevokedVisitor& visit) {
  CTLS_ASSIGN_OR_RETURN(std::vector<RevokedEntry> entries, ListRevoked(issuer_id, now));
  for (const RevokedEntry& e : entries) {
    CTLS_RETURN_IF_ERROR(
        visit({.serial_hex = e.serial_hex, .revoked_at = e.revoked_at, .reason = e.reason}));
  }
  return entries.size();
}

namespace sql {

Result<Pool::Lease> Pool::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !idle_.empty() || open_ < max_; });
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(conn));
  }
  ++open_;
  lock.unlock();
  auto conn = factory_();
  if (!conn) {
    lock.lock();
    --open_;
    cv_.notify_one();
    return conn.error();
  }
  return Lease(this, std::move(conn).value());
}

void Pool::Release(std::unique_ptr<Connection> conn) {
  conn->Rollback();  // a no-op unless a caller left a transaction open
  std::lock_guard<std::mutex> lock(mu_);
  if (conn->Healthy()) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
  cv_.notify_one();
}

std::int64_t AsInt(const Cell& cell) {
  if (!cell) {
    return 0;
  }
  std::int64_t v = 0;
  std::from_chars(cell->data(), cell->data() + cell->size(), v);
  return v;
}

std::string AsText(const Cell& cell) { return cell.value_or(std::string()); }

Blob AsBlob(const Cell& cell) {
  if (!cell) {
    return {};
  }
  return Blob(cell->begin(), cell->end());
}

}  // namespace sql
}  // namespace clustertls::store
