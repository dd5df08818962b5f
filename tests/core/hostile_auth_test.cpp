// Issue 9, kinds 5 and 7, on ApiService with a ManualClock and an in-memory SQLite store:
// a socket's identity is re-checked on each of its calls (expiry exactly at the TTL,
// revocation, ban) and such an error ends the socket; logout and ban announce what they
// revoked after answering; a refresh token works once however many refreshes race; and the
// identity rule for ids, usernames and emails.
#include "api/api_service.hpp"
#include "api/identity_rules.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

namespace craft::api {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kNoon = 1'795'694'400;  // Thursday 2026-11-26 12:00:00 UTC

struct Fixture {
  explicit Fixture(uint32_t workers = 1) : config(make_config(workers)), service(config, clock) {
    service.on_revoked = [this](const Revocation& r) {
      std::lock_guard lock(mutex);
      events.push_back("revoked " + (r.token_id.empty() ? "account " + r.account_id : "token " + r.token_id) + " " +
                       v1::ErrorCode_Name(r.why.code) + (r.why.ends_session ? " ends" : ""));
      changed.notify_all();
    };
  }
  static ServerConfig make_config(uint32_t workers) {
    ServerConfig c;
    c.store.sqlite_path = ":memory:";
    c.store.workers = workers;
    c.auth.password_cost = "minimum";
    c.auth.admin_key = "admin-key";
    c.auth.account_attempts_per_minute = 100000;
    c.auth.ip_attempts_per_minute = 100000;
    return c;
  }
  ManualClock clock{TimePoint{std::chrono::seconds(kNoon)}};
  ServerConfig config;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> events;  // replies and revocations, in the order they happened
  ApiService service;  // last: destroyed first, so its workers never outlive the above

  CallResult call(v1::ApiRequest request, CallContext context = {}) {
    std::promise<CallResult> done;
    service.call(std::move(request), std::move(context), [&](CallResult r) {
      {
        std::lock_guard lock(mutex);
        events.push_back("reply");
        changed.notify_all();
      }
      done.set_value(std::move(r));
    });
    return done.get_future().get();
  }
  v1::SessionTokens device(const std::string& id) {
    v1::ApiRequest r;
    r.mutable_auth_device()->set_device_id(id);
    r.mutable_auth_device()->set_create(true);
    auto result = call(r);
    EXPECT_TRUE(std::holds_alternative<v1::ApiResponse>(result));
    return std::get<v1::ApiResponse>(result).session();
  }
  // What a socket's hello with `token` proved.
  Identity hello(const std::string& token) {
    std::promise<std::variant<Identity, CallError>> done;
    service.authenticate(token, [&](auto r) { done.set_value(std::move(r)); });
    auto r = done.get_future().get();
    EXPECT_TRUE(std::holds_alternative<Identity>(r));
    return std::holds_alternative<Identity>(r) ? std::get<Identity>(r) : Identity{};
  }
  CallResult socket_call(const Identity& id, v1::ApiRequest request) {
    CallContext c;
    c.from_socket = true;
    c.identity = id;
    c.ip = "ip";
    return call(std::move(request), std::move(c));
  }
  // The events so far, once there are at least `n` (the revocation follows the reply).
  std::vector<std::string> take_events(size_t n = 0) {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, 10s, [&] { return events.size() >= n; });
    return std::exchange(events, {});
  }
};

v1::ApiRequest account_get() {
  v1::ApiRequest r;
  r.mutable_account_get();
  return r;
}

v1::ErrorCode code_of(const CallResult& r) {
  auto* e = std::get_if<CallError>(&r);
  return e ? e->code : v1::ERROR_UNSPECIFIED;
}

bool ends_session(const CallResult& r) {
  auto* e = std::get_if<CallError>(&r);
  return e && e->ends_session;
}

TEST(HostileAuth, ASocketCallIsRefusedExactlyAtTheSessionTokensExpiry) {
  Fixture f;
  auto session = f.device("device-socket-expiry");
  auto id = f.hello(session.token());
  ASSERT_EQ(id.expires_at, kNoon + 3600);
  f.clock.advance(3599s);
  EXPECT_EQ(code_of(f.socket_call(id, account_get())), v1::ERROR_UNSPECIFIED);
  f.clock.advance(1s);
  auto late = f.socket_call(id, account_get());
  EXPECT_EQ(code_of(late), v1::TOKEN_EXPIRED);
  EXPECT_TRUE(ends_session(late)) << "the socket closes (4005) after this error";
  // Any call, not only those that need an account: the socket is no longer that account's.
  v1::ApiRequest device;
  device.mutable_auth_device()->set_device_id("device-socket-expiry-2");
  device.mutable_auth_device()->set_create(true);
  EXPECT_EQ(code_of(f.socket_call(id, device)), v1::TOKEN_EXPIRED);
}

TEST(HostileAuth, ASocketCallAfterLogoutIsRevokedAndEndsTheSocket) {
  Fixture f;
  auto session = f.device("device-socket-logout");
  auto id = f.hello(session.token());
  EXPECT_EQ(code_of(f.socket_call(id, account_get())), v1::ERROR_UNSPECIFIED);
  f.take_events();
  v1::ApiRequest logout;
  logout.mutable_auth_logout();
  ASSERT_EQ(code_of(f.call(logout, CallContext{session.token(), "ip", false, {}})), v1::ERROR_UNSPECIFIED);
  // The reply first, then the sockets of that token are told (so a socket logging itself
  // out gets its answer before its close).
  EXPECT_EQ(f.take_events(2), (std::vector<std::string>{"reply", "revoked token " + id.token_id + " TOKEN_REVOKED ends"}));
  v1::ApiRequest write;
  auto* o = write.mutable_storage_write()->add_objects();
  o->set_collection("saves");
  o->set_key("slot1");
  auto refused = f.socket_call(id, write);
  EXPECT_EQ(code_of(refused), v1::TOKEN_REVOKED);
  EXPECT_TRUE(ends_session(refused));
}

TEST(HostileAuth, ASocketCallAfterABanIsRefusedAndEndsTheSocket) {
  Fixture f;
  auto session = f.device("device-socket-ban");
  auto id = f.hello(session.token());
  f.take_events();
  v1::ApiRequest ban;
  ban.mutable_account_ban()->set_account_id(session.account_id());
  ban.mutable_account_ban()->set_banned(true);
  ASSERT_EQ(code_of(f.call(ban, CallContext{"admin-key", "ip", false, {}})), v1::ERROR_UNSPECIFIED);
  EXPECT_EQ(f.take_events(2),
            (std::vector<std::string>{"reply", "revoked account " + session.account_id() + " ACCOUNT_BANNED ends"}));
  auto refused = f.socket_call(id, account_get());
  EXPECT_EQ(code_of(refused), v1::ACCOUNT_BANNED);
  EXPECT_TRUE(ends_session(refused));
}

TEST(HostileAuth, OrdinaryErrorsDoNotEndTheSocket) {
  Fixture f;
  auto id = f.hello(f.device("device-socket-ordinary").token());
  v1::ApiRequest refresh;
  refresh.mutable_auth_refresh()->set_refresh_token("garbage");
  auto r = f.socket_call(id, refresh);
  EXPECT_EQ(code_of(r), v1::UNAUTHORIZED);
  EXPECT_FALSE(ends_session(r));
}

// Several workers, one refresh token, refreshes released at once: exactly one wins each round.
TEST(HostileAuth, ParallelRefreshesOfOneTokenSucceedExactlyOnce) {
  Fixture f(/*workers=*/8);
  std::string refresh_token = f.device("device-refresh-race").refresh_token();
  for (int round = 0; round < 200; ++round) {
    std::vector<std::promise<CallResult>> results(8);
    v1::ApiRequest r;
    r.mutable_auth_refresh()->set_refresh_token(refresh_token);
    for (auto& p : results) f.service.call(r, {}, [&p](CallResult x) { p.set_value(std::move(x)); });
    int wins = 0;
    for (auto& p : results) {
      auto x = p.get_future().get();
      if (code_of(x) == v1::ERROR_UNSPECIFIED) {
        ++wins;
        refresh_token = std::get<v1::ApiResponse>(x).session().refresh_token();
      } else {
        EXPECT_EQ(code_of(x), v1::TOKEN_REVOKED) << "round " << round;
      }
    }
    ASSERT_EQ(wins, 1) << "round " << round;
  }
}

TEST(IdentityRules, IdsAreRefusedWithControlCharactersOrBlanksAtTheEnds) {
  auto problem = [](std::string_view v) { return identity_problem("deviceId", v, 1, 128); };
  EXPECT_EQ(problem("device-0001"), std::nullopt);
  EXPECT_EQ(problem("inner blanks are fine"), std::nullopt);
  EXPECT_EQ(problem("caf\xC3\xA9-\xE2\x82\xAC"), std::nullopt);  // café-€
  EXPECT_EQ(problem(" lead"), "deviceId must not start or end with a blank");
  EXPECT_EQ(problem("trail "), "deviceId must not start or end with a blank");
  EXPECT_EQ(problem("\xC2\xA0nbsp"), "deviceId must not start or end with a blank");       // U+00A0
  EXPECT_EQ(problem("ideographic\xE3\x80\x80"), "deviceId must not start or end with a blank");  // U+3000
  EXPECT_EQ(problem("\xEF\xBB\xBF" "bom"), "deviceId must not start or end with a blank");  // U+FEFF
  EXPECT_EQ(problem(std::string("nul\0x", 5)), "deviceId must not contain control characters");
  EXPECT_EQ(problem("tab\there"), "deviceId must not contain control characters");
  EXPECT_EQ(problem("line\n"), "deviceId must not contain control characters");
  EXPECT_EQ(problem("del\x7F"), "deviceId must not contain control characters");
  EXPECT_EQ(problem("c1\xC2\x85"), "deviceId must not contain control characters");  // U+0085
  EXPECT_EQ(problem("bad\xFF"), "deviceId must be UTF-8");
  EXPECT_EQ(problem("\xC0\xAF"), "deviceId must be UTF-8");  // overlong '/'
  EXPECT_EQ(problem(""), "deviceId must be 1-128 bytes");
  EXPECT_EQ(problem(std::string(129, 'x')), "deviceId must be 1-128 bytes");
  EXPECT_EQ(problem(std::string(128, 'x')), std::nullopt);
}

TEST(IdentityRules, EmailsHaveNoBlanksAndOneAtSignAndFoldAsciiCase) {
  EXPECT_EQ(email_problem("Ann@Example.com"), std::nullopt);
  EXPECT_EQ(email_problem(" ann@example.com"), "email must not start or end with a blank");
  EXPECT_EQ(email_problem("ann@example.com "), "email must not start or end with a blank");
  EXPECT_EQ(email_problem("ann @example.com"), "email must not contain blanks");
  EXPECT_EQ(email_problem("ann@exa\xE2\x80\x83mple.com"), "email must not contain blanks");  // U+2003
  EXPECT_EQ(email_problem("ann@exa\rmple.com"), "email must not contain control characters");
  EXPECT_EQ(email_problem("ann.example.com"), "email must look like name@host (one '@')");
  EXPECT_EQ(email_problem("@example.com"), "email must look like name@host (one '@')");
  EXPECT_EQ(email_problem("ann@"), "email must look like name@host (one '@')");
  EXPECT_EQ(email_problem("a@b@example.com"), "email must look like name@host (one '@')");
  EXPECT_EQ(fold_ascii_case("Ann@EXAMPLE.com"), "ann@example.com");
  EXPECT_EQ(fold_ascii_case("\xC3\x89MILE@x"), "\xC3\x89mile@x");  // only A-Z change
}

}  // namespace
}  // namespace craft::api
