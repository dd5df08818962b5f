// ApiService with an injected clock and an in-memory SQLite store: token expiry, refresh
// rotation, auth rate limits and leaderboard reset periods, without sleeping.
#include "api/api_service.hpp"
#include "api/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <future>

namespace craft::api {
namespace {

using namespace std::chrono_literals;

// Thursday 2026-11-26 12:00:00 UTC.
constexpr int64_t kThursdayNoon = 1'795'694'400;

struct Fixture {
  ManualClock clock{TimePoint{std::chrono::seconds(kThursdayNoon)}};
  ServerConfig config = [] {
    ServerConfig c;
    c.store.sqlite_path = ":memory:";
    c.store.workers = 1;
    c.auth.password_cost = "minimum";
    c.auth.admin_key = "admin-key";
    c.auth.account_attempts_per_minute = 3;
    return c;
  }();
  ApiService service{config, clock};

  CallResult call(v1::ApiRequest request, CallContext context = {}) {
    std::promise<CallResult> done;
    service.call(std::move(request), std::move(context), [&](CallResult r) { done.set_value(std::move(r)); });
    return done.get_future().get();
  }
  v1::SessionTokens device(const std::string& id, const std::string& username = "") {
    v1::ApiRequest r;
    r.mutable_auth_device()->set_device_id(id);
    r.mutable_auth_device()->set_create(true);
    r.mutable_auth_device()->set_username(username);
    auto result = call(r);
    EXPECT_TRUE(std::holds_alternative<v1::ApiResponse>(result));
    return std::get<v1::ApiResponse>(result).session();
  }
  CallResult account(const std::string& token) {
    v1::ApiRequest r;
    r.mutable_account_get();
    return call(r, CallContext{token, "ip", false, {}});
  }
};

v1::ErrorCode code_of(const CallResult& r) {
  auto* e = std::get_if<CallError>(&r);
  return e ? e->code : v1::ERROR_UNSPECIFIED;
}

TEST(ApiService, SessionTokenExpiresAtItsTtlOnTheInjectedClock) {
  Fixture f;
  auto session = f.device("device-expiry-1");
  EXPECT_EQ(session.expires_at(), kThursdayNoon + 3600);
  EXPECT_EQ(code_of(f.account(session.token())), v1::ERROR_UNSPECIFIED);
  f.clock.advance(3599s);
  EXPECT_EQ(code_of(f.account(session.token())), v1::ERROR_UNSPECIFIED);
  f.clock.advance(1s);
  EXPECT_EQ(code_of(f.account(session.token())), v1::TOKEN_EXPIRED);
}

TEST(ApiService, RefreshWorksOnceAndGivesAWorkingToken) {
  Fixture f;
  auto session = f.device("device-refresh-1");
  f.clock.advance(2h);
  v1::ApiRequest refresh;
  refresh.mutable_auth_refresh()->set_refresh_token(session.refresh_token());
  auto fresh = f.call(refresh);
  ASSERT_EQ(code_of(fresh), v1::ERROR_UNSPECIFIED);
  const auto& next = std::get<v1::ApiResponse>(fresh).session();
  EXPECT_EQ(next.account_id(), session.account_id());
  EXPECT_EQ(next.expires_at(), kThursdayNoon + 2 * 3600 + 3600);
  EXPECT_EQ(code_of(f.account(next.token())), v1::ERROR_UNSPECIFIED);
  EXPECT_EQ(code_of(f.call(refresh)), v1::TOKEN_REVOKED);
}

TEST(ApiService, RevokedTokensAreForgottenOnceTheyWouldHaveExpired) {
  Fixture f;
  auto session = f.device("device-purge-1");  // the worker's first purge runs after this
  v1::ApiRequest logout;
  logout.mutable_auth_logout()->set_refresh_token(session.refresh_token());
  ASSERT_EQ(code_of(f.call(logout, CallContext{session.token(), "ip", false, {}})), v1::ERROR_UNSPECIFIED);
  f.clock.advance(2h);  // the session token's revocation entry is past its expiry
  f.device("device-purge-2");  // the worker purges after this call...
  f.device("device-purge-3");  // ...and before this one (one worker)
  EXPECT_EQ(f.service.stats().revocations_purged.load(), 1u);  // the refresh token's entry stays
  f.clock.advance(31 * 24h);
  f.device("device-purge-4");
  f.device("device-purge-5");
  EXPECT_EQ(f.service.stats().revocations_purged.load(), 2u);
}

TEST(ApiService, AuthAttemptsPerAccountRefillAfterAMinute) {
  Fixture f;
  v1::ApiRequest wrong;
  wrong.mutable_auth_email()->set_email("x@example.com");
  wrong.mutable_auth_email()->set_password("not-the-password");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(code_of(f.call(wrong)), v1::INVALID_CREDENTIALS) << i;
  EXPECT_EQ(code_of(f.call(wrong)), v1::RATE_LIMITED);
  EXPECT_EQ(f.service.stats().rate_limited.load(), 1u);
  f.clock.advance(20s);  // one attempt back (3 per minute)
  EXPECT_EQ(code_of(f.call(wrong)), v1::INVALID_CREDENTIALS);
  EXPECT_EQ(code_of(f.call(wrong)), v1::RATE_LIMITED);
  EXPECT_EQ(f.service.stats().rate_limit_keys.load(), 2u);  // one address, one email
}

TEST(ApiService, RateLimitKeysAreBoundedByConfig) {
  ManualClock clock{TimePoint{std::chrono::seconds(kThursdayNoon)}};
  ServerConfig config;
  config.store.sqlite_path = ":memory:";
  config.auth.rate_limit_keys = 16;
  ApiService service{config, clock};
  for (int i = 0; i < 40; ++i) {
    v1::ApiRequest r;
    r.mutable_auth_custom()->set_id("custom-id-" + std::to_string(i));
    std::promise<CallResult> done;
    service.call(r, CallContext{"", "ip-" + std::to_string(i), false, {}}, [&](CallResult x) { done.set_value(std::move(x)); });
    EXPECT_EQ(code_of(done.get_future().get()), v1::NOT_FOUND);
    clock.advance(1s);
  }
  EXPECT_LE(service.stats().rate_limit_keys.load(), 2u * 16 + 2);
}

TEST(ApiService, WeeklyLeaderboardDropsLastWeeksRecordsOnMonday) {
  Fixture f;
  v1::ApiRequest create;
  create.mutable_leaderboard_create()->set_id("weekly");
  create.mutable_leaderboard_create()->set_reset_schedule("weekly");
  EXPECT_EQ(code_of(f.call(create, CallContext{"wrong-key", "ip", false, {}})), v1::PERMISSION_DENIED);
  ASSERT_EQ(code_of(f.call(create, CallContext{"admin-key", "ip", false, {}})), v1::ERROR_UNSPECIFIED);

  auto write = [&](const std::string& token, int64_t score) {
    v1::ApiRequest r;
    r.mutable_leaderboard_write()->set_leaderboard_id("weekly");
    r.mutable_leaderboard_write()->set_score(score);
    return f.call(r, CallContext{token, "ip", false, {}});
  };
  auto total = [&](const std::string& token) {
    v1::ApiRequest r;
    r.mutable_leaderboard_list()->set_leaderboard_id("weekly");
    auto result = f.call(r, CallContext{token, "ip", false, {}});
    return std::get<v1::ApiResponse>(result).leaderboard_records().total();
  };
  auto ann = f.device("device-weekly-ann", "ann");
  ASSERT_EQ(code_of(write(ann.token(), 10)), v1::ERROR_UNSPECIFIED);
  f.clock.advance(35h);  // Friday 23:00: same week
  auto bob = f.device("device-weekly-bob", "bob");
  ASSERT_EQ(code_of(write(bob.token(), 20)), v1::ERROR_UNSPECIFIED);
  EXPECT_EQ(total(bob.token()), 2);
  f.clock.advance(49h - 1s);  // Sunday 23:59:59: still the same week
  EXPECT_EQ(total(f.device("device-weekly-bob").token()), 2);
  f.clock.advance(1s);  // Monday 00:00 UTC: a new week
  EXPECT_EQ(total(f.device("device-weekly-bob").token()), 0);
}

TEST(ApiService, PlayersCannotWriteToAnAuthoritativeLeaderboard) {
  Fixture f;
  v1::ApiRequest create;
  create.mutable_leaderboard_create()->set_id("server-only");
  create.mutable_leaderboard_create()->set_authoritative(true);
  ASSERT_EQ(code_of(f.call(create, CallContext{"admin-key", "ip", false, {}})), v1::ERROR_UNSPECIFIED);
  auto ann = f.device("device-authoritative-1");
  v1::ApiRequest write;
  write.mutable_leaderboard_write()->set_leaderboard_id("server-only");
  write.mutable_leaderboard_write()->set_score(1'000'000);
  EXPECT_EQ(code_of(f.call(write, CallContext{ann.token(), "ip", false, {}})), v1::PERMISSION_DENIED);
  v1::ApiRequest list;
  list.mutable_leaderboard_list()->set_leaderboard_id("server-only");
  auto listed = f.call(list, CallContext{ann.token(), "ip", false, {}});
  ASSERT_EQ(code_of(listed), v1::ERROR_UNSPECIFIED);
  EXPECT_EQ(std::get<v1::ApiResponse>(listed).leaderboard_records().total(), 0);
}

TEST(ApiService, BannedAccountsAreRefusedUntilUnbanned) {
  Fixture f;
  auto session = f.device("device-banned-1");
  v1::ApiRequest ban;
  ban.mutable_account_ban()->set_account_id(session.account_id());
  ban.mutable_account_ban()->set_banned(true);
  EXPECT_EQ(code_of(f.call(ban, CallContext{"not-admin", "ip", false, {}})), v1::PERMISSION_DENIED);
  ASSERT_EQ(code_of(f.call(ban, CallContext{"admin-key", "ip", false, {}})), v1::ERROR_UNSPECIFIED);
  EXPECT_EQ(code_of(f.account(session.token())), v1::ACCOUNT_BANNED);
  v1::ApiRequest login;
  login.mutable_auth_device()->set_device_id("device-banned-1");
  EXPECT_EQ(code_of(f.call(login)), v1::ACCOUNT_BANNED);
  v1::ApiRequest refresh;
  refresh.mutable_auth_refresh()->set_refresh_token(session.refresh_token());
  EXPECT_EQ(code_of(f.call(refresh)), v1::ACCOUNT_BANNED);
  std::promise<std::variant<Identity, CallError>> hello;
  f.service.authenticate(session.token(), [&](auto r) { hello.set_value(std::move(r)); });
  auto checked = hello.get_future().get();
  ASSERT_TRUE(std::holds_alternative<CallError>(checked));
  EXPECT_EQ(std::get<CallError>(checked).code, v1::ACCOUNT_BANNED);

  ban.mutable_account_ban()->set_banned(false);
  ASSERT_EQ(code_of(f.call(ban, CallContext{"admin-key", "ip", false, {}})), v1::ERROR_UNSPECIFIED);
  EXPECT_EQ(code_of(f.account(session.token())), v1::ERROR_UNSPECIFIED);
}

TEST(ApiService, QueueAndBatchLimitsRefuseWithClearErrors) {
  ManualClock clock{TimePoint{std::chrono::seconds(kThursdayNoon)}};
  ServerConfig config;
  config.store.sqlite_path = ":memory:";
  config.store.workers = 1;
  config.store.max_queue = 1;
  ApiService service{config, clock};
  v1::ApiRequest request;
  request.mutable_account_get();
  // Hold the only worker, fill the queue with one call, and the next call is refused at once.
  std::promise<void> release;
  std::promise<void> holding;
  service.run([&](store::Store*) {
    holding.set_value();
    release.get_future().wait();
  });
  holding.get_future().wait();
  std::promise<CallResult> queued, refused;
  service.call(request, {}, [&](CallResult r) { queued.set_value(std::move(r)); });
  service.call(request, {}, [&](CallResult r) { refused.set_value(std::move(r)); });
  EXPECT_EQ(code_of(refused.get_future().get()), v1::UNAVAILABLE);
  EXPECT_EQ(service.stats().queue_full.load(), 1u);
  release.set_value();
  EXPECT_EQ(code_of(queued.get_future().get()), v1::UNAUTHORIZED);  // it ran: no token given

  Fixture f;
  auto session = f.device("device-batch-1");
  v1::ApiRequest write;
  for (int i = 0; i < 101; ++i) {
    auto* o = write.mutable_storage_write()->add_objects();
    o->set_collection("c");
    o->set_key(std::string("k").append(std::to_string(i)));
  }
  EXPECT_EQ(code_of(f.call(write, CallContext{session.token(), "ip", false, {}})), v1::BAD_REQUEST);
  write.mutable_storage_write()->mutable_objects()->DeleteSubrange(100, 1);
  EXPECT_EQ(code_of(f.call(write, CallContext{session.token(), "ip", false, {}})), v1::ERROR_UNSPECIFIED);
}

TEST(RateLimiter, KeysAreIndependentAndMemoryIsBounded) {
  RateLimiter limiter(2, 4);
  TimePoint t{};
  EXPECT_TRUE(limiter.allow("a", t));
  EXPECT_TRUE(limiter.allow("a", t));
  EXPECT_FALSE(limiter.allow("a", t));
  EXPECT_TRUE(limiter.allow("b", t));
  for (int i = 0; i < 10; ++i) limiter.allow(std::string("k").append(std::to_string(i)), t + std::chrono::seconds(i));
  EXPECT_LE(limiter.keys(), 4u);
  EXPECT_TRUE(limiter.allow("a", t + 30s));  // refilled
}

}  // namespace
}  // namespace craft::api
