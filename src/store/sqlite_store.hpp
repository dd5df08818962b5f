// The SQLite backend (the default): one file, WAL journal, synchronous=FULL so a write is on
// disk before the call returns (it survives kill -9 and power loss), foreign keys on.
// ":memory:" gives a private in-memory database for tests.
#pragma once
#include <memory>
#include <string>

#include "store/store.hpp"

namespace craft::store {

// Opens (creating if needed) the database at `path` and applies pending migrations.
// Errc::unavailable with SQLite's message if the file cannot be opened or migrated.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path,
                                                 StoreOptions options = {});

}  // namespace craft::store
