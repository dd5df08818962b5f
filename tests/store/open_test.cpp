// Opening stores: the in-memory SQLite mode, and clear errors when a database is unreachable.
#include <gtest/gtest.h>

#include "store/postgres_store.hpp"
#include "store/sqlite_store.hpp"

namespace craft::test {
namespace {

using namespace craft::store;

TEST(OpenStore, SqliteInMemoryIsPrivateAndMigrated) {
  auto a = open_sqlite_store(":memory:");
  auto b = open_sqlite_store(":memory:");
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ((*a)->schema_version(), 1);
  NewAccount n;
  n.username = "mem";
  n.links = {{"device", "m"}};
  ASSERT_TRUE((*a)->create_account(n).ok());
  EXPECT_TRUE((*a)->find_account_by_username("mem").ok());
  EXPECT_EQ((*b)->find_account_by_username("mem").code(), Errc::not_found);
}

TEST(OpenStore, UnreachableDatabasesAreUnavailable) {
  auto bad_file = open_sqlite_store("/nonexistent-dir/craft.db");
  ASSERT_FALSE(bad_file.ok());
  EXPECT_EQ(bad_file.code(), Errc::unavailable);
  EXPECT_NE(bad_file.error().message.find("sqlite"), std::string::npos) << bad_file.error().message;

  // Port 1 on loopback: nothing listens there.
  auto bad_pg = open_postgres_store("postgresql://craft@127.0.0.1:1/craft?connect_timeout=2");
  ASSERT_FALSE(bad_pg.ok());
  EXPECT_EQ(bad_pg.code(), Errc::unavailable);
  EXPECT_NE(bad_pg.error().message.find("postgres"), std::string::npos) << bad_pg.error().message;
}

}  // namespace
}  // namespace craft::test
