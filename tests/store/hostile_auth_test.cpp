// Issue 9, kinds 5 and 7, on both backends: a single-use token is consumed exactly once by
// concurrent callers on two connections (as two craftd nodes would be); usernames are unique
// ignoring ASCII case, and migration 3 upgrades a schema-2 database whose usernames already
// collide that way.
#include <libpq-fe.h>
#include <sqlite3.h>

#include <atomic>
#include <barrier>
#include <thread>
#include <tuple>

#include "backend.hpp"
#include "store/schema.hpp"

namespace craft::test {
namespace {

using namespace craft::store;

class HostileAuthStoreTest : public StoreTest {};
CRAFT_INSTANTIATE_BACKENDS(HostileAuthStoreTest);

NewAccount named(const std::string& username, const std::string& device) {
  NewAccount n;
  n.username = username;
  n.links = {{"device", device}};
  return n;
}

TEST_P(HostileAuthStoreTest, EightConcurrentConsumesOfOneTokenSucceedExactlyOnceEveryRound) {
  constexpr int kThreads = 8, kRounds = 200;
  auto second = backend_->open(options());
  ASSERT_TRUE(second.ok()) << second.error().message;
  Store* stores[2] = {store_.get(), second->get()};
  std::vector<std::atomic<int>> wins(kRounds);
  std::atomic<int> failures{0};
  std::barrier start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        start.arrive_and_wait();  // all eight go at once, on two connections
        auto first = stores[t % 2]->consume_token("token-" + std::to_string(round), kStartUnix + 60);
        if (!first.ok()) ++failures;
        else if (*first) ++wins[round];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (int round = 0; round < kRounds; ++round) ASSERT_EQ(wins[round].load(), 1) << "round " << round;
  EXPECT_TRUE(*store_->is_token_revoked("token-0"));
  auto again = store_->consume_token("token-0", kStartUnix + 60);
  ASSERT_OK(again);
  EXPECT_FALSE(*again) << "a consumed token stays consumed";
}

TEST_P(HostileAuthStoreTest, UsernamesAreUniqueIgnoringAsciiCase) {
  auto ann = store_->create_account(named("Ann", "device-a"));
  ASSERT_OK(ann);
  EXPECT_ERRC(store_->create_account(named("ann", "device-b")), Errc::already_exists);
  EXPECT_ERRC(store_->create_account(named("ANN", "device-c")), Errc::already_exists);
  auto found = store_->find_account_by_username("aNN");
  ASSERT_OK(found);
  EXPECT_EQ(found->id, ann->id);
  EXPECT_EQ(found->username, "Ann") << "kept as written";
  auto bob = store_->create_account(named("bob", "device-d"));
  ASSERT_OK(bob);
  AccountUpdate to_ann;
  to_ann.username = "ANN";
  EXPECT_ERRC(store_->update_account(bob->id, to_ann), Errc::already_exists);
  auto renamed = store_->update_account(ann->id, to_ann);  // one's own name in another case
  ASSERT_OK(renamed);
  EXPECT_EQ(renamed->username, "ANN");
  // Only A-Z fold: "É" and "é" are different names on both backends.
  ASSERT_OK(store_->create_account(named("\xC3\x89mile", "device-e")));
  ASSERT_OK(store_->create_account(named("\xC3\xA9mile", "device-f")));
}

TEST_P(HostileAuthStoreTest, IdentityStateSeesRevocationBanAndAGoneAccountInOneRead) {
  auto ann = store_->create_account(named("ann", "device-ann"));
  ASSERT_OK(ann);
  auto state = [&](std::string_view account, std::string_view token) {
    auto r = store_->identity_state(account, token);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? std::tuple{r->token_revoked, r->account_exists, r->banned} : std::tuple{true, false, true};
  };
  EXPECT_EQ(state(ann->id, "token-1"), std::tuple(false, true, false));
  ASSERT_OK(store_->revoke_token("token-1", kStartUnix + 60));
  EXPECT_EQ(state(ann->id, "token-1"), std::tuple(true, true, false));
  EXPECT_EQ(state(ann->id, "token-2"), std::tuple(false, true, false));
  ASSERT_OK(store_->set_banned(ann->id, true));
  EXPECT_EQ(state(ann->id, "token-2"), std::tuple(false, true, true));
  EXPECT_EQ(state("no-such-account", "token-2"), std::tuple(false, false, false));
}

// Runs a script on the backend's database directly, before any Store has opened it.
std::string run_script(const std::string& kind, const std::string& location, const std::string& sql) {
  if (kind == "sqlite") {
    sqlite3* db = nullptr;
    if (sqlite3_open(location.c_str(), &db) != SQLITE_OK) return "cannot open " + location;
    char* error = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    std::string out = rc == SQLITE_OK ? "" : (error ? error : "sqlite error");
    sqlite3_free(error);
    sqlite3_close(db);
    return out;
  }
  PGconn* conn = PQconnectdb(location.c_str());
  std::string out;
  if (PQstatus(conn) != CONNECTION_OK) {
    out = PQerrorMessage(conn);
  } else {
    PGresult* r = PQexec(conn, sql.c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) out = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(conn);
  return out;
}

// A database at schema 2 (made by the previous release) where usernames already collide
// ignoring case opens in this one: the oldest account keeps its name, the others become
// "<name>#<id>", and the rule holds from then on.
TEST_P(HostileAuthStoreTest, ASchemaTwoDatabaseWithCaseCollisionsIsUpgraded) {
  std::string skip, error;
  auto fresh = make_backend(GetParam(), &skip, &error);  // a database no store has opened
  if (!fresh && !skip.empty()) GTEST_SKIP() << skip;
  ASSERT_TRUE(fresh) << error;
  const auto dialect = GetParam() == "postgres" ? detail::Dialect::postgres : detail::Dialect::sqlite;
  const auto all = detail::migrations(dialect);
  ASSERT_GE(all.size(), 3u);
  std::string v2 = all[0].sql + all[1].sql +
                   "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
                   " applied_at BIGINT NOT NULL);\n"
                   "INSERT INTO schema_version VALUES (1, 'first', 1), (2, 'second', 2);\n";
  v2 += "INSERT INTO account (id, username, create_time, update_time) VALUES ('id-old', 'Ann', 1, 1),"
        " ('id-new', 'ann', 2, 2), ('id-b2', 'BOB', 5, 5), ('id-b1', 'bob', 5, 5), ('id-carl', 'carl', 3, 3);\n";
  ASSERT_EQ(run_script(GetParam(), fresh->location(), v2), "");
  auto opened = fresh->open(options());
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& s = **opened;
  EXPECT_EQ(s.schema_version(), 3);
  auto name_of = [&](const char* id) {
    auto a = s.get_account(id);
    return a.ok() ? a->username : std::string("<") + a.error().message + ">";
  };
  EXPECT_EQ(name_of("id-old"), "Ann");
  EXPECT_EQ(name_of("id-new"), "ann#id-new");
  EXPECT_EQ(name_of("id-b1"), "bob") << "same create time: the smaller id keeps the name";
  EXPECT_EQ(name_of("id-b2"), "BOB#id-b2");
  EXPECT_EQ(name_of("id-carl"), "carl");
  EXPECT_ERRC(s.create_account(named("aNn", "device-x")), Errc::already_exists);
  EXPECT_EQ(s.find_account_by_username("ANN")->id, "id-old");
  auto again = fresh->open(options());  // nothing left to apply
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ((*again)->schema_version(), 3);
}

}  // namespace
}  // namespace craft::test
