// The backends every store test runs against: a SQLite file in a temp dir and a database on a
// real PostgreSQL server started by the tests (one server per test process, one fresh
// database per test).
#pragma once
#include <craft/clock.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "store/store.hpp"

namespace craft::test {

class Backend {
 public:
  virtual ~Backend() = default;
  // Opens (another connection to) this backend's database; call again to "restart".
  virtual store::Result<std::unique_ptr<store::Store>> open(store::StoreOptions options) = 0;
  // Where the database is: the SQLite file's path, or the PostgreSQL connection URL (for
  // tests that build an old schema by hand before the store first opens it).
  virtual std::string location() const = 0;
};

// "sqlite" or "postgres". nullptr with `skip` set when the backend cannot run here (the
// PostgreSQL binaries are absent, outside CI), or with `error` set when it should have but
// failed (under CI=true, absent binaries are such a failure).
std::unique_ptr<Backend> make_backend(const std::string& kind, std::string* skip,
                                      std::string* error);

inline constexpr int64_t kStartUnix = 1'700'000'000;

// Parameterized by backend name. Each test gets an empty database and a ManualClock whose
// wall time starts at kStartUnix.
class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override;
  store::StoreOptions options() {
    store::StoreOptions o;
    o.clock = &clock_;
    return o;
  }
  // Closes the store and opens the same database again.
  void reopen();

  ManualClock clock_{TimePoint{std::chrono::seconds(kStartUnix)}};
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<store::Store> store_;
};

std::string backend_test_name(const ::testing::TestParamInfo<std::string>& info);

#define CRAFT_INSTANTIATE_BACKENDS(Fixture)                                               \
  INSTANTIATE_TEST_SUITE_P(Backends, Fixture, ::testing::Values("sqlite", "postgres"), \
                           ::craft::test::backend_test_name)

// Test helpers: the value, or a test failure naming the error.
#define ASSERT_OK(expr)                                                          \
  do {                                                                           \
    const auto& craft_r_ = (expr);                                               \
    ASSERT_TRUE(craft_r_.ok()) << #expr << ": " << store::to_string(craft_r_.code()) \
                               << ": " << craft_r_.error().message;              \
  } while (0)

#define EXPECT_ERRC(expr, errc)                                                  \
  do {                                                                           \
    const auto& craft_r_ = (expr);                                               \
    EXPECT_FALSE(craft_r_.ok()) << #expr << " succeeded, expected " << store::to_string(errc); \
    if (!craft_r_.ok()) {                                                        \
      EXPECT_EQ(store::to_string(craft_r_.code()), std::string(store::to_string(errc))) \
          << #expr << ": " << craft_r_.error().message;                         \
    }                                                                            \
  } while (0)

}  // namespace craft::test
