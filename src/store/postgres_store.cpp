#include "store/postgres_store.hpp"

#include <libpq-fe.h>

#include <cstring>
#include <unordered_map>

#include "store/sql_store.hpp"

namespace craft::store {
namespace {

using detail::DbErrc;
using detail::DbError;
using detail::Params;
using detail::SqlRow;

constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;

// ?1, ?2 ... -> $1, $2 ... (our SQL never has '?' inside string literals).
std::string to_pg_placeholders(std::string_view sql) {
  std::string out(sql);
  for (std::size_t i = 0; i + 1 < out.size(); ++i) {
    if (out[i] == '?' && out[i + 1] >= '0' && out[i + 1] <= '9') out[i] = '$';
  }
  return out;
}

struct ResultHolder {
  PGresult* r;
  ~ResultHolder() { PQclear(r); }
};

class PgConnection final : public detail::SqlConnection {
 public:
  explicit PgConnection(const std::string& url) : conn_(connect(url)) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string msg = PQerrorMessage(conn_);
      PQfinish(conn_);
      conn_ = nullptr;
      throw DbError(DbErrc::other, "postgres connect: " + msg);
    }
    setup_session();
  }
  ~PgConnection() override { PQfinish(conn_); }

  // A server that accepts but never answers must not hang craftd's start: unless the URL
  // says otherwise, give up after 10 s (libpq waits forever by default).
  static PGconn* connect(const std::string& url) {
    // Later keywords win, so the URL (expanded from "dbname") can override the timeout.
    const char* keys[] = {"connect_timeout", "dbname", nullptr};
    const char* values[] = {"10", url.c_str(), nullptr};
    return PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  }

  detail::Dialect dialect() const override { return detail::Dialect::postgres; }

  std::vector<SqlRow> query(std::string_view sql, const Params& params) override {
    ResultHolder res{run(sql, params)};
    std::vector<SqlRow> rows;
    int n = PQntuples(res.r), cols = PQnfields(res.r);
    rows.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      SqlRow row;
      row.cols.reserve(static_cast<std::size_t>(cols));
      for (int c = 0; c < cols; ++c) {
        if (PQgetisnull(res.r, i, c)) {
          row.cols.emplace_back(std::nullopt);
        } else {
          row.cols.emplace_back(
              std::string(PQgetvalue(res.r, i, c), static_cast<std::size_t>(PQgetlength(res.r, i, c))));
        }
      }
      rows.push_back(std::move(row));
    }
    return rows;
  }

  int64_t exec(std::string_view sql, const Params& params) override {
    ResultHolder res{run(sql, params)};
    const char* n = PQcmdTuples(res.r);
    return n && *n ? std::strtoll(n, nullptr, 10) : 0;
  }

  void exec_script(std::string_view sql) override {
    ResultHolder res{PQexec(conn_, std::string(sql).c_str())};
    check(res.r, sql);
  }

  void begin(bool) override {
    // A connection lost since the last call (server restart) is re-established here, outside
    // any transaction, so no half-done work is retried. libpq may only notice the loss when
    // BEGIN fails, so that case reconnects and tries once more.
    if (PQstatus(conn_) != CONNECTION_OK) reconnect();
    try {
      exec_script("BEGIN");
    } catch (const DbError&) {
      if (PQstatus(conn_) == CONNECTION_OK) throw;
      reconnect();
      exec_script("BEGIN");
    }
  }
  void commit() override { exec_script("COMMIT"); }
  void rollback() noexcept override {
    if (PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      PQclear(PQexec(conn_, "ROLLBACK"));
    }
  }

 private:
  void reconnect() {
    PQreset(conn_);
    prepared_.clear();
    if (PQstatus(conn_) != CONNECTION_OK) {
      throw DbError(DbErrc::other, "postgres reconnect: " + std::string(PQerrorMessage(conn_)));
    }
    setup_session();
  }

  void setup_session() {
    // Quiet NOTICEs; a statement that hangs for 30 s is a bug, not a wait.
    exec_script("SET client_min_messages = warning; SET statement_timeout = '30s'");
  }

  void check(PGresult* r, std::string_view sql) {
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return;
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    DbErrc kind = state && std::strcmp(state, "23505") == 0 ? DbErrc::unique_violation : DbErrc::other;
    std::string msg = r ? PQresultErrorMessage(r) : PQerrorMessage(conn_);
    if (msg.empty()) msg = PQerrorMessage(conn_);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    throw DbError(kind, "postgres: " + msg + " in: " + std::string(sql.substr(0, 120)));
  }

  // Prepares `sql` once per connection (named s1, s2 ...) and executes it with `params`.
  PGresult* run(std::string_view sql, const Params& params) {
    std::string key(sql);
    auto it = prepared_.find(key);
    if (it == prepared_.end()) {
      std::vector<Oid> types;
      for (const auto& p : params) {
        types.push_back(std::holds_alternative<int64_t>(p)      ? kInt8Oid
                        : std::holds_alternative<std::string>(p) ? kTextOid
                                                                 : Oid{0});
      }
      // Built by appending: GCC 12's -Wrestrict misfires on `"s" + std::string&&` at -O3
      // (GCC PR 105329), which stopped Release builds.
      std::string name(1, 's');
      name += std::to_string(prepared_.size() + 1);
      ResultHolder res{PQprepare(conn_, name.c_str(), to_pg_placeholders(sql).c_str(),
                                 static_cast<int>(types.size()), types.data())};
      check(res.r, sql);
      it = prepared_.emplace(std::move(key), std::move(name)).first;
    }
    std::vector<std::string> ints;
    ints.reserve(params.size());
    std::vector<const char*> values;
    std::vector<int> lengths;
    for (const auto& p : params) {
      if (auto* s = std::get_if<std::string>(&p)) {
        values.push_back(s->c_str());
        lengths.push_back(static_cast<int>(s->size()));
      } else if (auto* v = std::get_if<int64_t>(&p)) {
        ints.push_back(std::to_string(*v));
        values.push_back(ints.back().c_str());
        lengths.push_back(static_cast<int>(ints.back().size()));
      } else {
        values.push_back(nullptr);
        lengths.push_back(0);
      }
    }
    PGresult* r = PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(params.size()),
                                 values.data(), lengths.data(), nullptr, 0);
    try {
      check(r, sql);
    } catch (...) {
      PQclear(r);
      throw;
    }
    return r;
  }

  PGconn* conn_ = nullptr;
  std::unordered_map<std::string, std::string> prepared_;  // sql -> statement name
};

}  // namespace

Result<std::unique_ptr<Store>> open_postgres_store(const std::string& url, StoreOptions options) {
  return detail::open_sql_store<PgConnection>(url, options);
}

}  // namespace craft::store
