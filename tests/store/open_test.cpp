// Opening stores: the in-memory SQLite mode, and clear errors when a database is unreachable.
#include <gtest/gtest.h>

#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>

#include "store/postgres_store.hpp"
#include "store/schema.hpp"
#include "store/sqlite_store.hpp"

namespace craft::test {
namespace {

using namespace craft::store;

TEST(OpenStore, SqliteInMemoryIsPrivateAndMigrated) {
  auto a = open_sqlite_store(":memory:");
  auto b = open_sqlite_store(":memory:");
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ((*a)->schema_version(), 3);
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

namespace craft::test {
namespace {

// A database made by the first release (schema 1) opens in this one: migrations 2 and 3 run once,
// and what was stored before is still there.
TEST(OpenStore, AVersionOneDatabaseIsUpgradedInPlace) {
  char dir[] = "/tmp/craft-migrate-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/v1.db";
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    std::string v1 = store::detail::migrations(store::detail::Dialect::sqlite).at(0).sql +
                     "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
                     " applied_at BIGINT NOT NULL);"
                     "INSERT INTO schema_version VALUES (1, 'first release', 1);"
                     "INSERT INTO leaderboard (id, sort_order, operator, reset_schedule, metadata, create_time)"
                     " VALUES ('old-board', 0, 0, '', '{}', 1);";
    char* error = nullptr;
    ASSERT_EQ(sqlite3_exec(db, v1.c_str(), nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "");
    sqlite3_close(db);
  }
  auto opened = store::open_sqlite_store(path);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& s = **opened;
  EXPECT_EQ(s.schema_version(), 3);
  auto old = s.get_leaderboard("old-board");
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_FALSE(old->authoritative);
  store::Leaderboard fresh;
  fresh.id = "server-only";
  fresh.authoritative = true;
  ASSERT_TRUE(s.create_leaderboard(fresh).ok());
  EXPECT_TRUE(s.get_leaderboard("server-only")->authoritative);
  opened = store::open_sqlite_store(path);  // again: nothing left to apply
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ((*opened)->schema_version(), 3);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace craft::test
