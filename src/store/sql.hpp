// Internal: the few things SqlStore needs from a database connection, so the store logic is
// written once for SQLite and PostgreSQL. SQL uses ?1, ?2 ... placeholders (PostgreSQL's
// connection rewrites them to $1, $2 ...). Failures are thrown as DbError; SqlStore turns
// them into Result errors at its boundary. Not thread-safe: SqlStore holds a mutex.
#pragma once
#include <charconv>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace craft::store::detail {

enum class Dialect { sqlite, postgres };

using SqlValue = std::variant<std::nullptr_t, int64_t, std::string>;
using Params = std::vector<SqlValue>;

struct SqlRow {
  std::vector<std::optional<std::string>> cols;

  bool is_null(std::size_t i) const { return !cols.at(i).has_value(); }
  const std::string& text(std::size_t i) const {
    static const std::string empty;
    const auto& c = cols.at(i);
    return c ? *c : empty;
  }
  int64_t integer(std::size_t i) const {
    const std::string& s = text(i);
    int64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
  }
};

enum class DbErrc { unique_violation, other };

struct DbError : std::runtime_error {
  DbError(DbErrc k, const std::string& what) : std::runtime_error(what), kind(k) {}
  DbErrc kind;
};

class SqlConnection {
 public:
  virtual ~SqlConnection() = default;
  virtual Dialect dialect() const = 0;
  // One statement with parameters; returns its result rows (SELECT, RETURNING).
  virtual std::vector<SqlRow> query(std::string_view sql, const Params& params) = 0;
  // One statement with parameters; returns how many rows it changed.
  virtual int64_t exec(std::string_view sql, const Params& params) = 0;
  // Several statements without parameters (migrations).
  virtual void exec_script(std::string_view sql) = 0;
  // write: SQLite takes the write lock up front (BEGIN IMMEDIATE) so two writers never
  // deadlock on a lock upgrade.
  virtual void begin(bool write) = 0;
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;
};

}  // namespace craft::store::detail
