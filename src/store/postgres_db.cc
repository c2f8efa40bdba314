// PostgreSQL connection over libpq: parameterised statements prepared once per connection.

#include <libpq-fe.h>

#include <cstring>
#include <map>

#include "store/sql.h"

namespace clustertls::store::sql {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;

constexpr Oid kByteaOid = 17;

// The first line of a libpq message, without the trailing newline.
std::string FirstLine(const char* msg) {
  std::string s = msg != nullptr ? msg : "";
  auto nl = s.find('\n');
  if (nl != std::string::npos) {
    s.resize(nl);
  }
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return 0;
}

// bytea in the text result format (bytea_output = hex, set per connection): "\x0a1b".
std::string DecodeBytea(const char* p, int len) {
  std::string out;
  if (len >= 2 && p[0] == '\\' && p[1] == 'x') {
    out.reserve((len - 2) / 2);
    for (int i = 2; i + 1 < len; i += 2) {
      out.push_back(static_cast<char>(HexValue(p[i]) << 4 | HexValue(p[i + 1])));
    }
  }
  return out;
}

// SQLSTATEs of a connection the server ended or could not accept (PostgreSQL appendix A):
// class 08 (connection exception), 57P01 admin_shutdown (a fast or immediate stop or restart
// terminates every session), 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up or
// shutting down).
bool IsConnectionLoss(std::string_view sqlstate) {
  return sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

class PostgresConnection final : public Connection {
 public:
  PostgresConnection(PGconn* conn, std::string display)
      : conn_(conn), display_(std::move(display)) {}
  ~PostgresConnection() override { PQfinish(conn_); }

  bool Healthy() const override { return PQstatus(conn_) == CONNECTION_OK; }

  core::Error ErrorFrom(const PGresult* res, std::string_view what) const {
    const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    std::string sqlstate = state != nullptr ? state : "";
    std::string msg = FirstLine(res != nullptr ? PQresultErrorMessage(res) : PQerrorMessage(conn_));
    if (msg.empty()) {
      msg = FirstLine(PQerrorMessage(conn_));
    }
    ErrorCode code = ErrorCode::kIo;
    if (sqlstate == "23505") {
      code = ErrorCode::kAlreadyExists;
    } else if (sqlstate == "40001" || sqlstate == "40P01") {
      code = ErrorCode::kUnavailable;  // serialization failure, deadlock: retried, then a 503
    } else if (IsConnectionLoss(sqlstate) || PQstatus(conn_) == CONNECTION_BAD) {
      // The server went away (restart, failover, network): the pool drops this connection and
      // the client gets a 503 (SqlStore retries only where nothing can have been applied).
      code = ErrorCode::kUnavailable;
    } else if (sqlstate.rfind("23", 0) == 0) {
      code = ErrorCode::kInternal;  // another integrity constraint: callers check first
    }
    return Fail(code, "postgres " + display_ + ": " + std::string(what) + ": " + msg);
  }

  Result<std::string> Prepare(std::string_view sql, int nparams) {
    auto it = prepared_.find(sql);
    if (it != prepared_.end()) {
      return it->second;
    }
    std::string name = "s" + std::to_string(prepared_.size() + 1);
    std::string text(sql);
    ResultPtr res(PQprepare(conn_, name.c_str(), text.c_str(), nparams, nullptr));
    if (res == nullptr || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
      return ErrorFrom(res.get(), "prepare");
    }
    prepared_.emplace(std::move(text), name);
    return name;
  }

  // libpq holds the whole result (PGresult); the rows are visited in it without copies.
  Result<void> QueryEach(
      std::string_view sql, const std::vector<Value>& params,
      const std::function<Result<void>(std::span<const CellView>)>& visit) override {
    CTLS_ASSIGN_OR_RETURN(std::string name, Prepare(sql, static_cast<int>(params.size())));
    std::vector<std::string> text(params.size());
    std::vector<const char*> values(params.size());
    std::vector<int> lengths(params.size());
    std::vector<int> formats(params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      const Value& v = params[i];
      if (std::holds_alternative<Null>(v)) {
        values[i] = nullptr;
      } else if (const auto* n = std::get_if<std::int64_t>(&v)) {
        text[i] = std::to_string(*n);
        values[i] = text[i].c_str();
        lengths[i] = static_cast<int>(text[i].size());
      } else if (const auto* s = std::get_if<std::string>(&v)) {
        values[i] = s->c_str();
        lengths[i] = static_cast<int>(s->size());
      } else {
        const Blob& b = std::get<Blob>(v);
        values[i] = b.empty() ? "" : reinterpret_cast<const char*>(b.data());
        lengths[i] = static_cast<int>(b.size());
        formats[i] = 1;  // binary
      }
    }
    ResultPtr res(PQexecPrepared(conn_, name.c_str(), static_cast<int>(params.size()),
                                 values.data(), lengths.data(), formats.data(), 0));
    if (res == nullptr) {
      return ErrorFrom(nullptr, "query");
    }
    ExecStatusType st = PQresultStatus(res.get());
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      return ErrorFrom(res.get(), "query");
    }
    int nrows = PQntuples(res.get());
    int ncols = PQnfields(res.get());
    std::vector<bool> bytea(ncols);
    for (int c = 0; c < ncols; ++c) {
      bytea[c] = PQftype(res.get(), c) == kByteaOid;
    }
    std::vector<CellView> cells(static_cast<size_t>(ncols));
    std::vector<std::string> decoded(static_cast<size_t>(ncols));
    for (int r = 0; r < nrows; ++r) {
      for (int c = 0; c < ncols; ++c) {
        if (PQgetisnull(res.get(), r, c)) {
          cells[c] = std::nullopt;
          continue;
        }
        const char* p = PQgetvalue(res.get(), r, c);
        int len = PQgetlength(res.get(), r, c);
        if (bytea[c]) {
          decoded[c] = DecodeBytea(p, len);
          cells[c] = decoded[c];
        } else {
          cells[c] = std::string_view(p, static_cast<size_t>(len));
        }
      }
      CTLS_RETURN_IF_ERROR(visit(cells));
    }
    return {};
  }

  Result<void> ExecScript(const std::string& sql) override {
    ResultPtr res(PQexec(conn_, sql.c_str()));
    if (res == nullptr || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
      return ErrorFrom(res.get(), "exec");
    }
    return {};
  }

  Result<void> Begin(bool /*write*/) override {
    CTLS_RETURN_IF_ERROR(Query("BEGIN", {}));
    return {};
  }
  Result<void> Commit() override {
    auto r = Query("COMMIT", {});
    if (!r) {
      Rollback();
      return r.error();
    }
    return {};
  }
  void Rollback() override {
    if (PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      PQclear(PQexec(conn_, "ROLLBACK"));
    }
  }

 private:
  PGconn* conn_;
  std::string display_;
  std::map<std::string, std::string, std::less<>> prepared_;
};

}  // namespace

Result<std::unique_ptr<Connection>> OpenPostgres(const std::string& url,
                                                 const std::string& display_url,
                                                 int connect_timeout_s) {
  std::string timeout = std::to_string(connect_timeout_s);
  const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const char* values[] = {url.c_str(), timeout.c_str(), "clustertls", nullptr};
  // expand_dbname = 1: `dbname` holds the whole URI; the later keys fill what it leaves unset.
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  if (conn == nullptr) {
    return Fail(ErrorCode::kIo, "postgres " + display_url + ": out of memory");
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn);
    PQfinish(conn);
    // libpq never puts the password in its messages; collapse them to one line.
    for (char& c : msg) {
      if (c == '\n' || c == '\t') {
        c = ' ';
      }
    }
    while (!msg.empty() && msg.back() == ' ') {
      msg.pop_back();
    }
    // kUnavailable: a server that is down, restarting or unreachable is answered 503 (serve's
    // start-up fails with this message all the same).
    return Fail(ErrorCode::kUnavailable, "postgres " + display_url + ": cannot connect: " + msg);
  }
  auto c = std::make_unique<PostgresConnection>(conn, display_url);
  CTLS_RETURN_IF_ERROR(c->ExecScript(
      "SET bytea_output = 'hex'; SET client_min_messages = warning; SET TIME ZONE 'UTC'"));
  return std::unique_ptr<Connection>(std::move(c));
}

}  // namespace clustertls::store::sql
