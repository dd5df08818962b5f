// craft::store::Store — the persistence interface for accounts, revoked tokens, storage
// objects and leaderboards. Backends: SQLite (sqlite_store.hpp, the default) and PostgreSQL
// (postgres_store.hpp). Calls are synchronous and may block on I/O, so the server runs them
// on a worker thread, never on a shard. One Store instance is safe to use from several
// threads (calls are serialized on its one connection).
//
// Times are unix seconds taken from the Clock given in StoreOptions. JSON fields (metadata,
// object values) are stored as text; the caller validates that they are JSON.
#pragma once
#include <craft/clock.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/result.hpp"

namespace craft::store {

struct StoreOptions {
  const Clock* clock = nullptr;             // wall time (must outlive the store); null = system
  std::size_t max_value_bytes = 64 * 1024;  // storage value and metadata JSON size limit
  std::size_t max_batch = 100;              // objects per batch read / write / delete
  int max_list_limit = 100;                 // largest `limit` for lists and leaderboards
};

// ---------------------------------------------------------------------------------------
// Accounts
struct LinkedId {
  std::string kind;   // "device", "custom", or another short word a game chooses
  std::string value;  // unique per kind across all accounts
  bool operator==(const LinkedId&) const = default;
};

struct Account {
  std::string id;  // random UUID, assigned by the store
  std::string username;
  std::string display_name;
  std::string metadata = "{}";  // JSON text
  std::string email;            // empty if none; compared exactly (the caller normalizes)
  std::string password_hash;    // Argon2id (auth/password.hpp); empty if none; never send it
  std::vector<LinkedId> links;  // sorted by (kind, value)
  bool banned = false;
  int64_t create_time = 0;
  int64_t update_time = 0;
};

struct NewAccount {
  std::string username;  // required, unique ignoring ASCII case
  std::string display_name;
  std::string metadata = "{}";
  std::string email;  // optional; needs password_hash too
  std::string password_hash;
  std::vector<LinkedId> links;  // e.g. {"device", id}; an account needs an email or a link
};

struct AccountUpdate {
  std::optional<std::string> username;  // already_exists if taken (ignoring ASCII case)
  std::optional<std::string> display_name;
  std::optional<std::string> metadata;
};

// ---------------------------------------------------------------------------------------
// Storage objects
enum class ReadPermission { none = 0, owner = 1, public_read = 2 };
enum class WritePermission { none = 0, owner = 1 };

// Who is asking. The server (room code, admin) bypasses permissions; a user may read
// objects it owns with read >= owner and anyone's public_read objects, and may write or
// delete only objects it owns whose write permission is owner.
struct Caller {
  std::string account_id;
  bool is_server = false;
  static Caller server() { return {"", true}; }
  static Caller user(std::string id) { return {std::move(id), false}; }
};

struct ObjectId {
  std::string collection;
  std::string key;
  std::string owner;  // account id; "" = owned by the server (system objects)
};

struct StorageObject {
  std::string collection;
  std::string key;
  std::string owner;
  std::string value;    // JSON text
  std::string version;  // opaque; changes on every write
  ReadPermission read = ReadPermission::owner;
  WritePermission write = WritePermission::owner;
  int64_t create_time = 0;
  int64_t update_time = 0;
};

struct ObjectWrite {
  std::string collection;
  std::string key;
  std::string owner;
  std::string value;
  // "" = write unconditionally; "*" = only if the object does not exist;
  // anything else = only if the stored version equals it. A mismatch is Errc::conflict.
  std::string version;
  ReadPermission read = ReadPermission::owner;
  WritePermission write = WritePermission::owner;
};

struct ObjectAck {
  std::string collection;
  std::string key;
  std::string owner;
  std::string version;  // the new version
};

struct ObjectDelete {
  std::string collection;
  std::string key;
  std::string owner;
  std::string version;  // "" = unconditional, else must match
};

struct ObjectList {
  std::vector<StorageObject> objects;
  std::string cursor;  // pass back to continue; empty when there is nothing more
};

// ---------------------------------------------------------------------------------------
// Leaderboards
enum class SortOrder { descending = 0, ascending = 1 };  // descending: higher is better
enum class ScoreOperator { best = 0, set = 1, incr = 2 };

struct Leaderboard {
  std::string id;
  SortOrder sort = SortOrder::descending;
  ScoreOperator op = ScoreOperator::best;
  std::string reset_schedule;  // "", "daily", "weekly" or "monthly" (applied by the API)
  std::string metadata = "{}";
  int64_t create_time = 0;
  bool authoritative = false;  // players may not write scores; only the server (room code)
};

struct ScoreWrite {
  std::string leaderboard_id;
  std::string owner_id;
  std::string username;  // shown in listings; updated on every write
  int64_t score = 0;
  int64_t subscore = 0;  // the tie-breaker; follows the same sort order and operator
  std::string metadata = "{}";
};

struct LeaderboardRecord {
  std::string leaderboard_id;
  std::string owner_id;
  std::string username;
  int64_t score = 0;
  int64_t subscore = 0;
  int64_t num_score = 0;  // how many writes this owner has made
  std::string metadata;
  int64_t create_time = 0;
  int64_t update_time = 0;
  int64_t rank = 0;  // 1 = first; ties are ordered by subscore, then owner id
};

// ---------------------------------------------------------------------------------------
class Store {
 public:
  virtual ~Store() = default;

  virtual int schema_version() = 0;

  // Accounts. Create-on-first-use is the caller's: find_*; if not_found, create_account.
  virtual Result<Account> create_account(const NewAccount& a) = 0;
  virtual Result<Account> get_account(std::string_view id) = 0;
  // Usernames are unique and found ignoring ASCII case ("Ann" finds "ann").
  virtual Result<Account> find_account_by_username(std::string_view username) = 0;
  virtual Result<Account> find_account_by_email(std::string_view email) = 0;
  virtual Result<Account> find_account_by_link(const LinkedId& link) = 0;
  virtual Result<Account> update_account(std::string_view id, const AccountUpdate& u) = 0;
  // Sets (or replaces) the account's email and password hash.
  virtual Status link_email(std::string_view id, std::string_view email,
                            std::string_view password_hash) = 0;
  // invalid if it would leave the account with no email and no linked id.
  virtual Status unlink_email(std::string_view id) = 0;
  // Linking an id the account already has is ok; one linked to another account is
  // already_exists.
  virtual Status link_id(std::string_view id, const LinkedId& link) = 0;
  // not_found if the account does not have it; invalid if it is the last way to log in.
  virtual Status unlink_id(std::string_view id, const LinkedId& link) = 0;
  virtual Status set_banned(std::string_view id, bool banned) = 0;

  // Revoked session/refresh token ids (auth/token.hpp token_id). expires_at lets
  // purge_revoked_tokens drop entries once the token could not be used anyway.
  virtual Status revoke_token(std::string_view token_id, int64_t expires_at) = 0;
  // Uses a single-use token (a refresh token): true if this call revoked it, false if it was
  // already revoked (used, or logged out). One atomic insert into the revocation table, so
  // of any number of concurrent calls with one id (on any node) exactly one gets true.
  virtual Result<bool> consume_token(std::string_view token_id, int64_t expires_at) = 0;
  virtual Result<bool> is_token_revoked(std::string_view token_id) = 0;
  virtual Result<int64_t> purge_revoked_tokens(int64_t now) = 0;  // returns how many
  // A socket's identity, re-checked before each of its calls, in one read: is the session
  // token revoked, does the account exist, is it banned.
  struct IdentityState {
    bool token_revoked = false;
    bool account_exists = false;
    bool banned = false;
  };
  virtual Result<IdentityState> identity_state(std::string_view account_id, std::string_view token_id) = 0;

  // Storage. Reads return only the objects that exist and the caller may read (the rest are
  // left out, so a reader cannot probe for objects it may not see), in request order.
  virtual Result<std::vector<StorageObject>> read_objects(const Caller& caller,
                                                          const std::vector<ObjectId>& ids) = 0;
  // All writes in one transaction: if any fails, none is applied and Error::index says which.
  virtual Result<std::vector<ObjectAck>> write_objects(const Caller& caller,
                                                       const std::vector<ObjectWrite>& writes) = 0;
  // All deletes in one transaction; a missing object is not an error unless a version is given.
  virtual Status delete_objects(const Caller& caller, const std::vector<ObjectDelete>& deletes) = 0;
  // Objects of `collection` the caller may read, ordered by (owner, key). `owner` set:
  // only that owner's objects. Up to `limit` objects, then a cursor for the next page.
  virtual Result<ObjectList> list_objects(const Caller& caller, std::string_view collection,
                                          const std::optional<std::string>& owner, int limit,
                                          std::string_view cursor) = 0;

  // Leaderboards.
  virtual Status create_leaderboard(const Leaderboard& lb) = 0;  // already_exists if the id is
  virtual Result<Leaderboard> get_leaderboard(std::string_view id) = 0;
  virtual Status delete_leaderboard(std::string_view id) = 0;  // and all its records
  // Applies the leaderboard's operator and returns the owner's record with its new rank.
  virtual Result<LeaderboardRecord> write_score(const ScoreWrite& w) = 0;
  virtual Status delete_score(std::string_view leaderboard_id, std::string_view owner_id) = 0;
  // Records ranked offset+1 .. offset+limit.
  virtual Result<std::vector<LeaderboardRecord>> top_records(std::string_view leaderboard_id,
                                                             int limit, int64_t offset = 0) = 0;
  // Up to `limit` records with the owner's near the middle (shifted at either end so the
  // page stays full). not_found if the owner has no record.
  virtual Result<std::vector<LeaderboardRecord>> records_around(std::string_view leaderboard_id,
                                                                std::string_view owner_id,
                                                                int limit) = 0;
  virtual Result<LeaderboardRecord> get_record(std::string_view leaderboard_id,
                                               std::string_view owner_id) = 0;  // with rank
  virtual Result<int64_t> count_records(std::string_view leaderboard_id) = 0;
  // Drops records last written before `time` (unix seconds): a reset schedule's new period.
  // Returns how many.
  virtual Result<int64_t> delete_records_before(std::string_view leaderboard_id, int64_t time) = 0;
};

}  // namespace craft::store
