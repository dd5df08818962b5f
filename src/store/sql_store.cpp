#include "store/sql_store.hpp"

#include <chrono>

#include "store/schema.hpp"

namespace craft::store {

const char* to_string(Errc c) {
  switch (c) {
    case Errc::not_found: return "not_found";
    case Errc::conflict: return "conflict";
    case Errc::already_exists: return "already_exists";
    case Errc::permission_denied: return "permission_denied";
    case Errc::invalid: return "invalid";
    case Errc::unavailable: return "unavailable";
  }
  return "unknown";
}

namespace detail {

void fail(Errc code, std::string message, int index) {
  throw Fail{Error{code, std::move(message), index}};
}

void check_field(std::string_view what, std::string_view value, std::size_t max,
                 bool may_be_empty, int index) {
  if (value.empty() && !may_be_empty) fail(Errc::invalid, std::string(what) + " is empty", index);
  if (value.size() > max) {
    fail(Errc::invalid,
         std::string(what) + " is longer than " + std::to_string(max) + " bytes", index);
  }
}

SqlStore::SqlStore(std::unique_ptr<SqlConnection> db, StoreOptions options)
    : db_(std::move(db)), options_(options) {
  schema_version_ = migrate(*db_, now());
}

int64_t SqlStore::now() const {
  if (options_.clock) return options_.clock->wall_time_us() / 1'000'000;
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------------------
// Revoked tokens

Status SqlStore::revoke_token(std::string_view token_id, int64_t expires_at) {
  return transact(true, [&] {
    check_field("token id", token_id, kMaxNameBytes);
    // Revoking twice keeps the later expiry.
    db().exec(
        "INSERT INTO revoked_token (token_id, expires_at) VALUES (?1, ?2) "
        "ON CONFLICT (token_id) DO UPDATE SET expires_at = "
        "CASE WHEN excluded.expires_at > revoked_token.expires_at "
        "THEN excluded.expires_at ELSE revoked_token.expires_at END",
        {std::string(token_id), expires_at});
    return Unit{};
  });
}

Result<bool> SqlStore::consume_token(std::string_view token_id, int64_t expires_at) {
  return transact(true, [&] {
    check_field("token id", token_id, kMaxNameBytes);
    // The primary key decides: of concurrent inserts (on one connection or many, SQLite or
    // PostgreSQL) exactly one adds the row; the others change nothing.
    int64_t added = db().exec(
        "INSERT INTO revoked_token (token_id, expires_at) VALUES (?1, ?2) "
        "ON CONFLICT (token_id) DO NOTHING",
        {std::string(token_id), expires_at});
    return added == 1;
  });
}

Result<bool> SqlStore::is_token_revoked(std::string_view token_id) {
  return transact(false, [&] {
    auto rows = db().query("SELECT 1 FROM revoked_token WHERE token_id = ?1",
                           {std::string(token_id)});
    return !rows.empty();
  });
}

Result<Store::IdentityState> SqlStore::identity_state(std::string_view account_id, std::string_view token_id) {
  return transact(false, [&] {
    auto rows = db().query(
        "SELECT (SELECT banned FROM account WHERE id = ?1),"
        " CASE WHEN EXISTS (SELECT 1 FROM revoked_token WHERE token_id = ?2) THEN 1 ELSE 0 END",
        {std::string(account_id), std::string(token_id)});
    IdentityState s;
    if (rows.empty()) return s;
    s.account_exists = !rows[0].is_null(0);
    s.banned = s.account_exists && rows[0].integer(0) != 0;
    s.token_revoked = rows[0].integer(1) != 0;
    return s;
  });
}

Result<int64_t> SqlStore::purge_revoked_tokens(int64_t at) {
  return transact(true, [&] {
    return db().exec("DELETE FROM revoked_token WHERE expires_at <= ?1", {at});
  });
}

}  // namespace detail
}  // namespace craft::store
