#include "store/sqlite_store.hpp"

#include <sqlite3.h>

#include <chrono>
#include <thread>
#include <unordered_map>

#include "store/sql_store.hpp"

namespace craft::store {
namespace {

using detail::DbErrc;
using detail::DbError;
using detail::Params;
using detail::SqlRow;

class SqliteConnection final : public detail::SqlConnection {
 public:
  explicit SqliteConnection(const std::string& path) {
    int rc = sqlite3_open_v2(path.c_str(), &db_,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      throw DbError(DbErrc::other, "sqlite open " + path + ": " + msg);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, 5000);  // another process holding the write lock
    exec_script("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;");
    std::string got = set_wal();
    if (got != "wal" && path != ":memory:" && !path.empty()) {
      throw DbError(DbErrc::other, "sqlite: cannot enable WAL (journal_mode is " + got + ")");
    }
  }

  ~SqliteConnection() override {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }

  detail::Dialect dialect() const override { return detail::Dialect::sqlite; }

  std::vector<SqlRow> query(std::string_view sql, const Params& params) override {
    sqlite3_stmt* st = prepare(sql, params);
    std::vector<SqlRow> rows;
    for (;;) {
      int rc = sqlite3_step(st);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) throw_error(rc, st);
      SqlRow row;
      int n = sqlite3_column_count(st);
      row.cols.reserve(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) {
        if (sqlite3_column_type(st, i) == SQLITE_NULL) {
          row.cols.emplace_back(std::nullopt);
        } else {
          const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
          row.cols.emplace_back(std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i))));
        }
      }
      rows.push_back(std::move(row));
    }
    sqlite3_reset(st);
    return rows;
  }

  int64_t exec(std::string_view sql, const Params& params) override {
    sqlite3_stmt* st = prepare(sql, params);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) throw_error(rc, st);
    sqlite3_reset(st);
    return sqlite3_changes64(db_);
  }

  void exec_script(std::string_view sql) override {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      throw DbError(kind_of(rc), "sqlite: " + msg + " in: " + std::string(sql.substr(0, 60)));
    }
  }

  void begin(bool write) override { exec_script(write ? "BEGIN IMMEDIATE" : "BEGIN"); }
  void commit() override { exec_script("COMMIT"); }
  void rollback() noexcept override {
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

 private:
  // WAL mode is stored in the file, so only a new database changes it. That change needs an
  // exclusive lock and SQLite does not wait for it (no busy handler), so when several
  // processes create the file at once, retry for up to the busy timeout.
  std::string set_wal() {
    auto current = query("PRAGMA journal_mode", {});
    if (!current.empty() && current[0].text(0) == "wal") return "wal";
    for (int attempt = 0;; ++attempt) {
      try {
        auto mode = query("PRAGMA journal_mode = WAL", {});
        return mode.empty() ? "" : mode[0].text(0);
      } catch (const DbError&) {
        int code = sqlite3_extended_errcode(db_) & 0xff;
        if ((code != SQLITE_BUSY && code != SQLITE_LOCKED) || attempt >= 500) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }

  static DbErrc kind_of(int rc) {
    return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY
               ? DbErrc::unique_violation
               : DbErrc::other;
  }

  [[noreturn]] void throw_error(int rc, sqlite3_stmt* st) {
    std::string msg = sqlite3_errmsg(db_);
    std::string sql = sqlite3_sql(st);
    sqlite3_reset(st);
    throw DbError(kind_of(rc), "sqlite: " + msg + " in: " + sql.substr(0, 60));
  }

  // A cached prepared statement with `params` bound to ?1, ?2 ...
  sqlite3_stmt* prepare(std::string_view sql, const Params& params) {
    auto it = cache_.find(std::string(sql));
    sqlite3_stmt* st = nullptr;
    if (it != cache_.end()) {
      st = it->second;
    } else {
      int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                  SQLITE_PREPARE_PERSISTENT, &st, nullptr);
      if (rc != SQLITE_OK) {
        throw DbError(DbErrc::other, "sqlite prepare: " + std::string(sqlite3_errmsg(db_)) +
                                         " in: " + std::string(sql));
      }
      cache_.emplace(std::string(sql), st);
    }
    sqlite3_clear_bindings(st);
    for (std::size_t i = 0; i < params.size(); ++i) {
      int idx = static_cast<int>(i + 1);
      int rc = SQLITE_OK;
      if (auto* s = std::get_if<std::string>(&params[i])) {
        rc = sqlite3_bind_text64(st, idx, s->data(), s->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      } else if (auto* v = std::get_if<int64_t>(&params[i])) {
        rc = sqlite3_bind_int64(st, idx, *v);
      } else {
        rc = sqlite3_bind_null(st, idx);
      }
      if (rc != SQLITE_OK) {
        throw DbError(DbErrc::other, "sqlite bind: " + std::string(sqlite3_errmsg(db_)));
      }
    }
    return st;
  }

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path, StoreOptions options) {
  return detail::open_sql_store<SqliteConnection>(path, options);
}

}  // namespace craft::store
