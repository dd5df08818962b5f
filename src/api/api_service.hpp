// craft::api::ApiService — accounts, sessions, storage objects and leaderboards. Calls arrive
// from HTTP (http_api.hpp) and from sockets (ApiRequest envelopes) as the same protobuf
// messages, wait in one bounded queue, and run on `store.workers` threads, never on a shard:
// the store blocks on disk and network, Argon2id on memory. The reply callback runs on the
// worker; callers post it back to their shard.
#pragma once
#include "api/rate_limiter.hpp"
#include "auth/token.hpp"
#include "craft.pb.h"
#include "store/store.hpp"

#include <craft/clock.hpp>
#include <craft/config.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

namespace craft::api {

struct CallError {
  v1::ErrorCode code = v1::INTERNAL;
  std::string message;
  // The socket's identity is no longer valid (expired, revoked, banned, account gone): a
  // socket gets this error and then closes with 4005.
  bool ends_session = false;
};

// Who is calling. HTTP: the Authorization bearer, checked per call. Socket: the account the
// hello token proved (already checked), or none.
struct Identity {
  std::string account_id;
  std::string username;
  std::string token_id;    // the session token's id (for logout)
  int64_t expires_at = 0;  // the session token's expiry, unix seconds
};

struct CallContext {
  std::string bearer;
  std::string ip;          // remote address, the key for auth rate limits
  bool from_socket = false;
  Identity identity;       // socket only: what the hello token proved (empty: anonymous)
};

using CallResult = std::variant<v1::ApiResponse, CallError>;

// Identities a call has just made invalid: every open socket whose account is `account_id`
// (a ban), or that said hello with the session token `token_id` (a logout), gets `why` and
// closes with 4005.
struct Revocation {
  std::string account_id;
  std::string token_id;
  CallError why;
};
// The two kinds calls make. A cluster carries only the id between nodes (docs/cluster.md,
// user.ban / user.logout) and rebuilds the same revocation with these on every node.
Revocation ban_revocation(std::string account_id);
Revocation logout_revocation(std::string token_id);
using Reply = std::function<void(CallResult)>;

struct ApiStats {
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> rate_limited{0};
  std::atomic<uint64_t> queue_full{0};
  std::atomic<uint64_t> queued{0};  // waiting for a worker now
  std::atomic<uint64_t> revocations_purged{0};  // expired entries dropped from the revocation list
  std::atomic<uint64_t> rate_limit_keys{0};     // addresses and ids the auth limiters track now
  std::atomic<uint64_t> json_values_rejected{0};  // storage values / metadata refused (api/convert.hpp)
};

// A leaderboard as of `now_s`: records from before its current reset period are dropped
// first (a no-op without a schedule). Every score write and list goes through it.
store::Result<store::Leaderboard> load_current_board(store::Store& store, std::string_view id, int64_t now_s);
// Writes a score into the current period. `from_player`: refused (permission_denied) on an
// authoritative board, which only the server (room code) writes.
store::Result<store::LeaderboardRecord> write_current_score(store::Store& store, const store::ScoreWrite& write,
                                                            int64_t now_s, bool from_player);

// Opens store.backend (migrating it to the current schema). Throws std::runtime_error.
std::unique_ptr<store::Store> open_store(const ServerConfig& config, const Clock& clock);

class ApiService {
 public:
  // Opens the configured store (applying migrations) and starts the workers. Throws
  // std::runtime_error with the reason if the store cannot be opened.
  ApiService(const ServerConfig& config, const Clock& clock);
  ~ApiService();  // finishes queued work, then joins the workers
  ApiService(const ApiService&) = delete;
  ApiService& operator=(const ApiService&) = delete;

  void call(v1::ApiRequest request, CallContext context, Reply reply);
  // The same, but the request is built on the worker (HTTP: protobuf's JSON parser stays
  // off the shard threads); a CallError from `build` is the reply.
  using Build = std::function<std::variant<v1::ApiRequest, CallError>()>;
  void call(Build build, CallContext context, Reply reply);
  // Cheap checks an HTTP call must pass before its body is even parsed, run on the shard:
  // a call that needs a session gets its bearer's signature and expiry checked (HMAC, no
  // database), an admin call its admin key. `call` is the ApiRequest field name.
  std::optional<CallError> precheck_http(std::string_view call, const CallContext& context) const;
  const ServerConfig& config() const { return config_; }
  // A socket's hello token: who it belongs to, or why not.
  void authenticate(std::string token, std::function<void(std::variant<Identity, CallError>)> done);
  // Arbitrary store work (room code): `job` runs on a worker with the store, or at once with
  // nullptr when store.max_queue calls are already waiting.
  void run(std::function<void(store::Store*)> job);

  const ApiStats& stats() const { return stats_; }
  // Called on a worker after a call that revoked identities (ban, logout) has been answered,
  // so the server can close the sockets using them. Set before the first call.
  std::function<void(const Revocation&)> on_revoked;

 private:
  void enqueue(std::function<void()> job, std::function<void()> on_full);
  // Revoked tokens are kept only until they would have expired anyway: at most hourly, after
  // a job, the worker drops the expired ones, so logouts and refreshes do not grow the table.
  void purge_revocations_if_due();
  void work();
  CallResult dispatch(const v1::ApiRequest& request, const CallContext& context, std::vector<Revocation>& revoked);
  // A socket's identity again, before each of its calls: the token's expiry on the injected
  // clock, then revocation and the account's ban in the store. An error ends the socket.
  std::optional<CallError> recheck_socket_identity(const Identity& identity);
  struct Verified {
    auth::TokenPayload token;
    store::Account account;
  };
  // Signature, expiry, revocation, and an existing account that is not banned.
  std::variant<Verified, CallError> verify_token(const std::string& token, auth::TokenKind kind);
  std::variant<Identity, CallError> verify_session(const std::string& token);
  std::variant<Identity, CallError> caller(const CallContext& context);
  int64_t now_s() const { return clock_.wall_time_us() / 1'000'000; }
  // Counts an attempt against both keys; an error once either is out of attempts.
  std::optional<CallError> check_attempts(const CallContext& context, const std::string& account_key);
  CallResult issue_session(const store::Account& account, bool created);
  // The HTTP bearer is auth.admin_key (compared in constant time; never over a socket).
  bool is_admin(const CallContext& context) const;

  // calls_auth.cpp
  CallResult auth_device(const v1::AuthDeviceRequest& r, const CallContext& c);
  CallResult auth_email(const v1::AuthEmailRequest& r, const CallContext& c);
  CallResult auth_custom(const v1::AuthCustomRequest& r, const CallContext& c);
  CallResult auth_by_link(const std::string& kind, const std::string& id, bool create,
                          const std::string& username, const CallContext& c);
  CallResult auth_refresh(const v1::RefreshRequest& r, const CallContext& c);
  CallResult auth_logout(const v1::LogoutRequest& r, const CallContext& c, std::vector<Revocation>& revoked);
  CallResult account_get(const CallContext& c);
  CallResult account_update(const v1::AccountUpdateRequest& r, const CallContext& c);
  CallResult account_link(const v1::LinkRequest& r, const CallContext& c, bool link);
  CallResult account_ban(const v1::AccountBanRequest& r, const CallContext& c, std::vector<Revocation>& revoked);
  // A client's JSON value checked against limits.max_json_depth and store.max_value_bytes
  // (api/convert.hpp); counted in json_values_rejected when refused.
  std::variant<std::string, CallError> json_value(std::string_view text, std::string_view what);
  // calls_storage.cpp
  CallResult storage_write(const v1::StorageWriteRequest& r, const CallContext& c);
  CallResult storage_read(const v1::StorageReadRequest& r, const CallContext& c);
  CallResult storage_delete(const v1::StorageDeleteRequest& r, const CallContext& c);
  CallResult storage_list(const v1::StorageListRequest& r, const CallContext& c);
  // calls_leaderboard.cpp
  CallResult leaderboard_create(const v1::LeaderboardCreateRequest& r, const CallContext& c);
  CallResult leaderboard_write(const v1::LeaderboardWriteRequest& r, const CallContext& c);
  CallResult leaderboard_list(const v1::LeaderboardListRequest& r, const CallContext& c);

  const ServerConfig config_;
  const Clock& clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<auth::TokenSigner> signer_;
  RateLimiter ip_attempts_;
  RateLimiter account_attempts_;
  ApiStats stats_;
  std::atomic<int64_t> last_purge_s_{0};

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace craft::api
