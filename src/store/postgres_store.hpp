// The PostgreSQL backend (for production): libpq on one connection given by a URL, e.g.
// "postgresql://craft@127.0.0.1:5432/craft". A commit returns once PostgreSQL has made the
// transaction durable (synchronous_commit as configured on the server, on by default).
#pragma once
#include <memory>
#include <string>

#include "store/store.hpp"

namespace craft::store {

// Connects and applies pending migrations. Errc::unavailable with libpq's message if the
// server cannot be reached or migration fails. A dropped connection is re-established at
// the start of the next call.
Result<std::unique_ptr<Store>> open_postgres_store(const std::string& url,
                                                   StoreOptions options = {});

}  // namespace craft::store
