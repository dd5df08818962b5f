// Internal: the schema migrations, in order, in both dialects. Migration N is applied once,
// in its own transaction, and recorded in schema_version. Never edit a shipped migration;
// append a new one.
#pragma once
#include <string>
#include <vector>

#include "store/sql.hpp"

namespace craft::store::detail {

struct Migration {
  int version;
  std::string description;
  std::string sql;  // several statements
};

std::vector<Migration> migrations(Dialect d);

// Creates schema_version if needed and applies every pending migration. Throws DbError, or
// std::runtime_error if the database is newer than this code. Returns the version reached.
int migrate(SqlConnection& db, int64_t now);

}  // namespace craft::store::detail
