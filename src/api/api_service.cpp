#include "api/api_service.hpp"

#include "api/convert.hpp"
#include "auth/sodium.hpp"
#include "store/postgres_store.hpp"
#include "store/sqlite_store.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <unistd.h>

namespace craft::api {

std::unique_ptr<store::Store> open_store(const ServerConfig& config, const Clock& clock) {
  store::StoreOptions options;
  options.clock = &clock;
  options.max_value_bytes = config.store.max_value_bytes;
  options.max_batch = config.store.max_batch;
  auto opened = config.store.backend == "postgres"
                    ? store::open_postgres_store(config.store.postgres_url, options)
                    : store::open_sqlite_store(config.store.sqlite_path, options);
  if (!opened) throw std::runtime_error("store (" + config.store.backend + "): " + opened.error().message);
  return std::move(*opened);
}

namespace {

auth::TokenSigner::Key key_from_hex(const std::string& hex, const std::string& origin) {
  auth::TokenSigner::Key key{};
  size_t used = 0;
  if (hex.size() != 2 * key.size() ||
      sodium_hex2bin(key.data(), key.size(), hex.data(), hex.size(), nullptr, &used, nullptr) != 0 ||
      used != key.size())
    throw std::runtime_error(origin + ": expected 64 hex characters");
  return key;
}

std::string read_key_file(const std::string& path) {
  char buf[64];
  int fd = ::open(path.c_str(), O_RDONLY);
  ssize_t n = fd >= 0 ? ::read(fd, buf, sizeof buf) : -1;
  if (fd >= 0) ::close(fd);
  return n == sizeof buf ? std::string(buf, sizeof buf) : std::string();
}

// The key must outlive restarts, or every session token dies with the process: SQLite keeps
// it in a file beside the database. It is written to a temporary file and linked into place,
// so the key file is either whole or absent (a crash mid-write leaves no half key), and two
// servers starting at once agree on the first one linked.
auth::TokenSigner::Key load_token_key(const ServerConfig& config) {
  if (!config.auth.token_key.empty()) return key_from_hex(config.auth.token_key, "auth.token_key");
  if (config.store.backend != "sqlite" || config.store.sqlite_path == ":memory:") {
    spdlog::warn("auth.token_key is not set: session tokens will not survive a restart");
    return auth::TokenSigner::generate_key();
  }
  const std::string path = config.store.sqlite_path + ".key";
  if (auto hex = read_key_file(path); !hex.empty()) return key_from_hex(hex, path);
  auto key = auth::TokenSigner::generate_key();
  std::string hex(2 * key.size() + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), key.data(), key.size());
  hex.pop_back();
  const std::string temp = path + ".tmp" + std::to_string(::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  bool written = fd >= 0 && ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size()) && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  bool linked = written && ::link(temp.c_str(), path.c_str()) == 0;
  int link_errno = errno;
  ::unlink(temp.c_str());
  if (linked) return key;
  if (written && link_errno == EEXIST) {  // another server linked its key first: use that one
    if (auto theirs = read_key_file(path); !theirs.empty()) return key_from_hex(theirs, path);
  }
  throw std::runtime_error(path + ": cannot create the token key file: " + std::strerror(link_errno));
}

}  // namespace

ApiService::ApiService(const ServerConfig& config, const Clock& clock)
    : config_(config),
      clock_(clock),
      store_(open_store(config, clock)),
      signer_(std::make_unique<auth::TokenSigner>(load_token_key(config))),
      ip_attempts_(config.auth.ip_attempts_per_minute, config.auth.rate_limit_keys),
      account_attempts_(config.auth.account_attempts_per_minute, config.auth.rate_limit_keys) {
  for (uint32_t i = 0; i < std::max(1u, config.store.workers); ++i) workers_.emplace_back([this] { work(); });
}

ApiService::~ApiService() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ApiService::enqueue(std::function<void()> job, std::function<void()> on_full) {
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() < config_.store.max_queue && !stopping_) {
      queue_.push_back(std::move(job));
      stats_.queued.store(queue_.size(), std::memory_order_relaxed);
      wake_.notify_one();
      return;
    }
  }
  stats_.queue_full.fetch_add(1, std::memory_order_relaxed);
  on_full();
}

void ApiService::work() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is done
      job = std::move(queue_.front());
      queue_.pop_front();
      stats_.queued.store(queue_.size(), std::memory_order_relaxed);
    }
    try {
      job();
      purge_revocations_if_due();
    } catch (const std::exception& e) {
      spdlog::error("api worker: {}", e.what());
    }
  }
}

void ApiService::purge_revocations_if_due() {
  int64_t now = now_s(), last = last_purge_s_.load(std::memory_order_relaxed);
  if (now - last < 3600 || !last_purge_s_.compare_exchange_strong(last, now)) return;
  if (auto purged = store_->purge_revoked_tokens(now))
    stats_.revocations_purged.fetch_add(static_cast<uint64_t>(*purged), std::memory_order_relaxed);
}

void ApiService::call(v1::ApiRequest request, CallContext context, Reply reply) {
  call([request = std::move(request)]() mutable -> std::variant<v1::ApiRequest, CallError> { return std::move(request); },
       std::move(context), std::move(reply));
}

void ApiService::call(Build build, CallContext context, Reply reply) {
  stats_.calls.fetch_add(1, std::memory_order_relaxed);
  auto shared = std::make_shared<Reply>(std::move(reply));
  enqueue(
      [this, build = std::move(build), context = std::move(context), shared] {
        CallResult result;
        std::vector<Revocation> revoked;
        try {
          std::optional<CallError> gone;
          if (context.from_socket && !context.identity.account_id.empty()) gone = recheck_socket_identity(context.identity);
          if (gone) {
            result = std::move(*gone);
          } else {
            auto request = build();
            if (auto* e = std::get_if<CallError>(&request)) {
              result = std::move(*e);
            } else {
              result = dispatch(std::get<v1::ApiRequest>(request), context, revoked);
            }
          }
        } catch (const std::exception& e) {
          spdlog::error("api call: {}", e.what());
          result = CallError{v1::INTERNAL, "internal error"};
        }
        if (std::holds_alternative<CallError>(result)) stats_.errors.fetch_add(1, std::memory_order_relaxed);
        (*shared)(std::move(result));
        // After the reply: a socket logging itself out gets its answer before its close.
        for (const auto& r : revoked) {
          if (on_revoked) on_revoked(r);
        }
      },
      [this, shared] {
        stats_.errors.fetch_add(1, std::memory_order_relaxed);
        (*shared)(CallError{v1::UNAVAILABLE, "server busy: store.max_queue calls are waiting"});
      });
}

std::optional<CallError> ApiService::precheck_http(std::string_view call, const CallContext& c) const {
  // Calls that make or renew a session carry their credential in the body.
  if (call == "auth_device" || call == "auth_email" || call == "auth_custom" || call == "auth_refresh")
    return std::nullopt;
  if (call == "leaderboard_create" || call == "account_ban") {
    if (is_admin(c)) return std::nullopt;
    return CallError{v1::PERMISSION_DENIED, "this call needs Authorization: Bearer <auth.admin_key>"};
  }
  // Revocation, bans and the account are checked again on the worker (verify_session).
  if (c.bearer.empty()) return CallError{v1::UNAUTHORIZED, "a session token is required"};
  auto verified = signer_->verify(c.bearer, auth::TokenKind::session, now_s());
  if (auto* e = std::get_if<auth::TokenError>(&verified)) {
    if (*e == auth::TokenError::expired) return CallError{v1::TOKEN_EXPIRED, "session token expired"};
    return CallError{v1::UNAUTHORIZED, std::string("invalid session token: ") + auth::to_string(*e)};
  }
  return std::nullopt;
}

void ApiService::authenticate(std::string token, std::function<void(std::variant<Identity, CallError>)> done) {
  auto shared = std::make_shared<decltype(done)>(std::move(done));
  enqueue([this, token = std::move(token), shared] { (*shared)(verify_session(token)); },
          [shared] { (*shared)(CallError{v1::UNAVAILABLE, "server busy: store.max_queue calls are waiting"}); });
}

void ApiService::run(std::function<void(store::Store*)> job) {
  auto shared = std::make_shared<decltype(job)>(std::move(job));
  enqueue([this, shared] { (*shared)(store_.get()); }, [shared] { (*shared)(nullptr); });
}

CallResult ApiService::dispatch(const v1::ApiRequest& r, const CallContext& c, std::vector<Revocation>& revoked) {
  using C = v1::ApiRequest;
  switch (r.call_case()) {
    case C::kAuthDevice: return auth_device(r.auth_device(), c);
    case C::kAuthEmail: return auth_email(r.auth_email(), c);
    case C::kAuthCustom: return auth_custom(r.auth_custom(), c);
    case C::kAuthRefresh: return auth_refresh(r.auth_refresh(), c);
    case C::kAuthLogout: return auth_logout(r.auth_logout(), c, revoked);
    case C::kAccountGet: return account_get(c);
    case C::kAccountUpdate: return account_update(r.account_update(), c);
    case C::kAccountLink: return account_link(r.account_link(), c, true);
    case C::kAccountUnlink: return account_link(r.account_unlink(), c, false);
    case C::kStorageWrite: return storage_write(r.storage_write(), c);
    case C::kStorageRead: return storage_read(r.storage_read(), c);
    case C::kStorageDelete: return storage_delete(r.storage_delete(), c);
    case C::kStorageList: return storage_list(r.storage_list(), c);
    case C::kLeaderboardCreate: return leaderboard_create(r.leaderboard_create(), c);
    case C::kLeaderboardWrite: return leaderboard_write(r.leaderboard_write(), c);
    case C::kLeaderboardList: return leaderboard_list(r.leaderboard_list(), c);
    case C::kAccountBan: return account_ban(r.account_ban(), c, revoked);
    case C::CALL_NOT_SET: break;
  }
  return bad_request("api_request names no call");
}

std::variant<ApiService::Verified, CallError> ApiService::verify_token(const std::string& token, auth::TokenKind kind) {
  const char* what = kind == auth::TokenKind::session ? "session" : "refresh";
  if (token.empty()) return CallError{v1::UNAUTHORIZED, std::string("a ") + what + " token is required"};
  auto verified = signer_->verify(token, kind, now_s());
  if (auto* e = std::get_if<auth::TokenError>(&verified)) {
    if (*e == auth::TokenError::expired) return CallError{v1::TOKEN_EXPIRED, std::string(what) + " token expired"};
    return CallError{v1::UNAUTHORIZED, std::string("invalid ") + what + " token: " + auth::to_string(*e)};
  }
  auto& payload = std::get<auth::TokenPayload>(verified);
  auto revoked = store_->is_token_revoked(payload.token_id);
  if (!revoked) return from_store(revoked.error());
  if (*revoked)
    return CallError{v1::TOKEN_REVOKED, std::string(what) + (kind == auth::TokenKind::refresh ? " token revoked (logged out or used)"
                                                                                    : " token revoked (logged out)")};
  auto account = store_->get_account(payload.account_id);
  if (!account) {
    if (account.code() == store::Errc::not_found) return CallError{v1::UNAUTHORIZED, "the account is gone"};
    return from_store(account.error());
  }
  if (account->banned) return CallError{v1::ACCOUNT_BANNED, "account banned"};
  return Verified{std::move(payload), std::move(*account)};
}

std::optional<CallError> ApiService::recheck_socket_identity(const Identity& id) {
  if (now_s() >= id.expires_at) return CallError{v1::TOKEN_EXPIRED, "session token expired", true};
  auto state = store_->identity_state(id.account_id, id.token_id);  // one read
  if (!state) return from_store(state.error());
  if (state->token_revoked) return CallError{v1::TOKEN_REVOKED, "session token revoked (logged out)", true};
  if (!state->account_exists) return CallError{v1::UNAUTHORIZED, "the account is gone", true};
  if (state->banned) return CallError{v1::ACCOUNT_BANNED, "account banned", true};
  return std::nullopt;
}

std::variant<Identity, CallError> ApiService::verify_session(const std::string& token) {
  auto verified = verify_token(token, auth::TokenKind::session);
  if (auto* e = std::get_if<CallError>(&verified)) return *e;
  auto& v = std::get<Verified>(verified);
  return Identity{v.account.id, v.account.username, v.token.token_id, v.token.expires_at};
}

std::variant<Identity, CallError> ApiService::caller(const CallContext& c) {
  if (c.from_socket) {
    if (c.identity.account_id.empty())
      return CallError{v1::UNAUTHORIZED, "this session has no account: send hello with a token"};
    return c.identity;
  }
  return verify_session(c.bearer);
}

std::optional<CallError> ApiService::check_attempts(const CallContext& c, const std::string& account_key) {
  auto now = clock_.now();
  bool ip_ok = ip_attempts_.allow(c.ip, now);
  bool account_ok = account_attempts_.allow(account_key, now);
  stats_.rate_limit_keys.store(ip_attempts_.keys() + account_attempts_.keys(), std::memory_order_relaxed);
  if (ip_ok && account_ok) return std::nullopt;
  stats_.rate_limited.fetch_add(1, std::memory_order_relaxed);
  return CallError{v1::RATE_LIMITED, ip_ok ? "too many attempts for this account; wait a minute"
                                           : "too many attempts from this address; wait a minute"};
}

bool ApiService::is_admin(const CallContext& c) const {
  const auto& key = config_.auth.admin_key;
  return !c.from_socket && !key.empty() && c.bearer.size() == key.size() &&
         sodium_memcmp(c.bearer.data(), key.data(), key.size()) == 0;
}

std::variant<std::string, CallError> ApiService::json_value(std::string_view text, std::string_view what) {
  auto checked = json_object_text(text, what, config_.limits.max_json_depth, config_.store.max_value_bytes);
  if (std::holds_alternative<CallError>(checked)) stats_.json_values_rejected.fetch_add(1, std::memory_order_relaxed);
  return checked;
}

CallResult ApiService::issue_session(const store::Account& account, bool created) {
  if (account.banned) return CallError{v1::ACCOUNT_BANNED, "account banned"};
  auto now = now_s();
  auto session = signer_->issue(auth::TokenKind::session, account.id, account.username, now, config_.auth.session_ttl_s);
  auto refresh = signer_->issue(auth::TokenKind::refresh, account.id, account.username, now, config_.auth.refresh_ttl_s);
  v1::ApiResponse response;
  auto* s = response.mutable_session();
  s->set_token(session.token);
  s->set_refresh_token(refresh.token);
  s->set_created(created);
  s->set_account_id(account.id);
  s->set_username(account.username);
  s->set_expires_at(session.payload.expires_at);
  s->set_refresh_expires_at(refresh.payload.expires_at);
  return response;
}

}  // namespace craft::api
