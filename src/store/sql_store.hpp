// Internal: the Store logic over an SqlConnection, shared by the SQLite and PostgreSQL
// backends. Split by topic: sql_store.cpp (common, revoked tokens), sql_store_accounts.cpp,
// sql_store_storage.cpp, sql_store_leaderboards.cpp.
#pragma once
#include <exception>
#include <memory>
#include <mutex>
#include <type_traits>

#include "store/sql.hpp"
#include "store/store.hpp"

namespace craft::store::detail {

// Thrown inside a transaction body to roll back and return this error.
struct Fail {
  Error error;
};
[[noreturn]] void fail(Errc code, std::string message, int index = -1);

class SqlStore final : public Store {
 public:
  // Applies pending migrations; throws (DbError / std::runtime_error) if that fails.
  SqlStore(std::unique_ptr<SqlConnection> db, StoreOptions options);

  int schema_version() override { return schema_version_; }

  Result<Account> create_account(const NewAccount& a) override;
  Result<Account> get_account(std::string_view id) override;
  Result<Account> find_account_by_username(std::string_view username) override;
  Result<Account> find_account_by_email(std::string_view email) override;
  Result<Account> find_account_by_link(const LinkedId& link) override;
  Result<Account> update_account(std::string_view id, const AccountUpdate& u) override;
  Status link_email(std::string_view id, std::string_view email,
                    std::string_view password_hash) override;
  Status unlink_email(std::string_view id) override;
  Status link_id(std::string_view id, const LinkedId& link) override;
  Status unlink_id(std::string_view id, const LinkedId& link) override;
  Status set_banned(std::string_view id, bool banned) override;

  Status revoke_token(std::string_view token_id, int64_t expires_at) override;
  Result<bool> consume_token(std::string_view token_id, int64_t expires_at) override;
  Result<bool> is_token_revoked(std::string_view token_id) override;
  Result<int64_t> purge_revoked_tokens(int64_t now) override;
  Result<IdentityState> identity_state(std::string_view account_id, std::string_view token_id) override;

  Result<std::vector<StorageObject>> read_objects(const Caller& caller,
                                                  const std::vector<ObjectId>& ids) override;
  Result<std::vector<ObjectAck>> write_objects(const Caller& caller,
                                               const std::vector<ObjectWrite>& writes) override;
  Status delete_objects(const Caller& caller, const std::vector<ObjectDelete>& deletes) override;
  Result<ObjectList> list_objects(const Caller& caller, std::string_view collection,
                                  const std::optional<std::string>& owner, int limit,
                                  std::string_view cursor) override;

  Status create_leaderboard(const Leaderboard& lb) override;
  Result<Leaderboard> get_leaderboard(std::string_view id) override;
  Status delete_leaderboard(std::string_view id) override;
  Result<LeaderboardRecord> write_score(const ScoreWrite& w) override;
  Status delete_score(std::string_view leaderboard_id, std::string_view owner_id) override;
  Result<std::vector<LeaderboardRecord>> top_records(std::string_view leaderboard_id, int limit,
                                                     int64_t offset) override;
  Result<std::vector<LeaderboardRecord>> records_around(std::string_view leaderboard_id,
                                                        std::string_view owner_id,
                                                        int limit) override;
  Result<LeaderboardRecord> get_record(std::string_view leaderboard_id,
                                       std::string_view owner_id) override;
  Result<int64_t> count_records(std::string_view leaderboard_id) override;
  Result<int64_t> delete_records_before(std::string_view leaderboard_id, int64_t time) override;

 private:
  // Runs `body` in one transaction under the mutex; Fail and DbError roll back and become
  // the returned Error (a unique-key violation from a race becomes already_exists).
  template <class F>
  auto transact(bool write, F&& body) -> Result<std::invoke_result_t<F&>> {
    std::lock_guard lock(mu_);
    try {
      db_->begin(write);
    } catch (const DbError& e) {
      return make_error(Errc::unavailable, e.what());
    }
    try {
      auto value = body();
      db_->commit();
      return value;
    } catch (const Fail& f) {
      db_->rollback();
      return f.error;
    } catch (const DbError& e) {
      db_->rollback();
      return make_error(e.kind == DbErrc::unique_violation ? Errc::already_exists
                                                           : Errc::unavailable,
                        e.what());
    } catch (const std::exception& e) {
      db_->rollback();
      return make_error(Errc::unavailable, e.what());
    }
  }

  int64_t now() const;
  SqlConnection& db() { return *db_; }

  // Accounts (called inside a transaction).
  std::optional<Account> load_account(std::string_view column, std::string_view value);
  Account must_load_account(std::string_view id);
  void check_username_free(std::string_view username, std::string_view own_id);
  void check_link_free(const LinkedId& link, std::string_view own_id);

  // Leaderboards (inside a transaction).
  Leaderboard must_load_leaderboard(std::string_view id);
  int64_t rank_of(const Leaderboard& lb, const LeaderboardRecord& r);
  std::vector<LeaderboardRecord> page(const Leaderboard& lb, int limit, int64_t offset);

  std::unique_ptr<SqlConnection> db_;
  StoreOptions options_;
  std::mutex mu_;
  int schema_version_ = 0;
};

// Field limits shared by the topic files.
inline constexpr std::size_t kMaxNameBytes = 128;   // username, collection, key, ids
inline constexpr std::size_t kMaxShortBytes = 255;  // display name, email, link value
inline constexpr std::size_t kMaxKindBytes = 32;    // link kind

// invalid unless 1 <= size <= max (or 0 allowed when `may_be_empty`).
void check_field(std::string_view what, std::string_view value, std::size_t max,
                 bool may_be_empty = false, int index = -1);

// Connects a backend's SqlConnection and migrates; any failure is Errc::unavailable.
template <class Connection>
Result<std::unique_ptr<Store>> open_sql_store(const std::string& target, StoreOptions options) {
  try {
    std::unique_ptr<Store> store = std::make_unique<SqlStore>(std::make_unique<Connection>(target), options);
    return store;
  } catch (const std::exception& e) {
    return make_error(Errc::unavailable, e.what());
  }
}

}  // namespace craft::store::detail
