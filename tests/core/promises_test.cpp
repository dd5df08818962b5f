// Promises of docs/http-api.md that depend on the calendar, checked on an injected clock:
// refresh tokens live auth.refresh_ttl_s (30 days), and daily / monthly leaderboards reset
// at 00:00 UTC on the right days (month lengths, leap years, year end). No sleeping.
#include "api/api_service.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>

namespace craft::api {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

// The clock's TimePoint counts nanoseconds since the Unix epoch for wall time (ManualClock).
TimePoint at(sys_days day, microseconds since_midnight = 0us) {
  return TimePoint{duration_cast<Duration>(day.time_since_epoch() + since_midnight)};
}
constexpr microseconds kLastMicrosecond = 24h - 1us;  // 23:59:59.999999

struct Fixture {
  ManualClock clock;
  ServerConfig config = [] {
    ServerConfig c;
    c.store.sqlite_path = ":memory:";
    c.store.workers = 1;
    c.auth.admin_key = "admin-key";
    return c;
  }();
  ApiService service;
  int devices = 0;

  explicit Fixture(TimePoint start) : clock(start), service(config, clock) {}

  CallResult call(v1::ApiRequest request, CallContext context = {}) {
    std::promise<CallResult> done;
    service.call(std::move(request), std::move(context), [&](CallResult r) { done.set_value(std::move(r)); });
    return done.get_future().get();
  }
  // A new account each time, so its session token is fresh at the clock's current time.
  std::string fresh_token() {
    v1::ApiRequest r;
    r.mutable_auth_device()->set_device_id("promise-device-" + std::to_string(++devices));
    r.mutable_auth_device()->set_create(true);
    auto result = call(r);
    EXPECT_TRUE(std::holds_alternative<v1::ApiResponse>(result));
    return std::get<v1::ApiResponse>(result).session().token();
  }
  void create_board(const std::string& id, const std::string& schedule) {
    v1::ApiRequest r;
    r.mutable_leaderboard_create()->set_id(id);
    r.mutable_leaderboard_create()->set_reset_schedule(schedule);
    auto result = call(r, CallContext{"admin-key", "ip", false, {}});
    ASSERT_TRUE(std::holds_alternative<v1::ApiResponse>(result));
  }
  void write(const std::string& board) {
    v1::ApiRequest r;
    r.mutable_leaderboard_write()->set_leaderboard_id(board);
    r.mutable_leaderboard_write()->set_score(7);
    auto result = call(r, CallContext{fresh_token(), "ip", false, {}});
    ASSERT_TRUE(std::holds_alternative<v1::ApiResponse>(result));
  }
  int64_t total(const std::string& board) {
    v1::ApiRequest r;
    r.mutable_leaderboard_list()->set_leaderboard_id(board);
    auto result = call(r, CallContext{fresh_token(), "ip", false, {}});
    EXPECT_TRUE(std::holds_alternative<v1::ApiResponse>(result));
    if (!std::holds_alternative<v1::ApiResponse>(result)) return -1;
    return std::get<v1::ApiResponse>(result).leaderboard_records().total();
  }
};

v1::ErrorCode code_of(const CallResult& r) {
  auto* e = std::get_if<CallError>(&r);
  return e ? e->code : v1::ERROR_UNSPECIFIED;
}

TEST(Promises, RefreshTokenExpiresAfterThirtyDays) {
  const auto start = at(sys_days{2026y / November / 26}, 12h);
  const int64_t start_s = duration_cast<seconds>(start.time_since_epoch()).count();
  Fixture f(start);
  auto issue = [&](const std::string& device) {
    v1::ApiRequest r;
    r.mutable_auth_device()->set_device_id(device);
    r.mutable_auth_device()->set_create(true);
    return std::get<v1::ApiResponse>(f.call(r)).session();
  };
  auto refresh = [&](const std::string& token) {
    v1::ApiRequest r;
    r.mutable_auth_refresh()->set_refresh_token(token);
    return f.call(r);
  };
  auto early = issue("refresh-expiry-early"), late = issue("refresh-expiry-late");
  EXPECT_EQ(early.refresh_expires_at(), start_s + 2'592'000);  // auth.refresh_ttl_s: 30 days
  EXPECT_EQ(late.refresh_expires_at(), start_s + 2'592'000);

  f.clock.advance(30 * 24h - 1s);  // the last second of its life: still refreshes
  auto renewed = refresh(early.refresh_token());
  ASSERT_EQ(code_of(renewed), v1::ERROR_UNSPECIFIED);
  EXPECT_EQ(std::get<v1::ApiResponse>(renewed).session().refresh_expires_at(), start_s + 2 * 2'592'000 - 1);

  f.clock.advance(1s);  // exactly refreshExpiresAt
  EXPECT_EQ(code_of(refresh(late.refresh_token())), v1::TOKEN_EXPIRED);
  // The new chain started a second before, so it has 30 days of its own.
  EXPECT_EQ(code_of(refresh(std::get<v1::ApiResponse>(renewed).session().refresh_token())), v1::ERROR_UNSPECIFIED);
}

TEST(Promises, DailyLeaderboardResetsAtMidnightUtc) {
  const sys_days day = sys_days{2027y / March / 9};
  Fixture f(at(day));  // 00:00:00.000000: the first instant of the day
  f.create_board("daily", "daily");
  f.write("daily");
  f.clock.set(at(day, kLastMicrosecond));  // one microsecond before midnight: the same day
  EXPECT_EQ(f.total("daily"), 1);
  f.write("daily");  // written in the day's last microsecond
  EXPECT_EQ(f.total("daily"), 2);
  f.clock.set(at(day + days{1}));  // 00:00 UTC exactly: a new day, both records gone
  EXPECT_EQ(f.total("daily"), 0);
  f.write("daily");  // written at 00:00 exactly: belongs to the new day
  f.clock.set(at(day + days{1}, kLastMicrosecond));
  EXPECT_EQ(f.total("daily"), 1);
  f.clock.set(at(day + days{2}));
  EXPECT_EQ(f.total("daily"), 0);
}

struct Month {
  sys_days first;  // the 1st of the month
  sys_days last;   // its last day, as the calendar has it
};

class MonthlyReset : public ::testing::TestWithParam<Month> {};

// A score written at the month's first instant survives to its last microsecond and is gone
// at 00:00 UTC on the 1st of the next month; a month one day too long or too short fails.
TEST_P(MonthlyReset, KeepsTheWholeMonthAndResetsOnTheFirst) {
  const auto [first, last] = GetParam();
  Fixture f(at(first));
  f.create_board("monthly", "monthly");
  f.write("monthly");
  f.clock.set(at(last - days{1}, kLastMicrosecond));
  EXPECT_EQ(f.total("monthly"), 1) << "the day before the last";
  f.clock.set(at(last, kLastMicrosecond));
  EXPECT_EQ(f.total("monthly"), 1) << "the last microsecond of the month";
  f.write("monthly");
  EXPECT_EQ(f.total("monthly"), 2);
  f.clock.set(at(last + days{1}));
  EXPECT_EQ(f.total("monthly"), 0) << "00:00 UTC on the 1st of the next month";
}

INSTANTIATE_TEST_SUITE_P(
    Promises, MonthlyReset,
    ::testing::Values(Month{sys_days{2027y / January / 1}, sys_days{2027y / January / 31}},
                      Month{sys_days{2027y / February / 1}, sys_days{2027y / February / 28}},  // common year
                      Month{sys_days{2028y / February / 1}, sys_days{2028y / February / 29}},  // leap year
                      Month{sys_days{2027y / April / 1}, sys_days{2027y / April / 30}},
                      Month{sys_days{2027y / December / 1}, sys_days{2027y / December / 31}}),  // year end
    [](const ::testing::TestParamInfo<Month>& param) {
      year_month_day ymd{param.param.first};
      // Appended, not "lit" + std::string: GCC 12 -O3 raises a -Wrestrict false positive there.
      std::string name = "Y";
      name += std::to_string(int(ymd.year()));
      name += 'M';
      name += std::to_string(unsigned(ymd.month()));
      return name;
    });

}  // namespace
}  // namespace craft::api
