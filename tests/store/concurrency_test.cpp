// Two stores (two connections, as two craftd nodes would have) on one database, used from
// several threads at once: optimistic versions and score increments lose no update.
#include <atomic>
#include <thread>

#include "backend.hpp"

namespace craft::test {
namespace {

using namespace craft::store;

class ConcurrentStoreTest : public StoreTest {};
CRAFT_INSTANTIATE_BACKENDS(ConcurrentStoreTest);

constexpr int kThreads = 4;
constexpr int kIncrementsPerThread = 25;

TEST_P(ConcurrentStoreTest, VersionedCounterLosesNoIncrement) {
  auto second = backend_->open(options());
  ASSERT_TRUE(second.ok()) << second.error().message;
  Store* stores[2] = {store_.get(), second->get()};
  const ObjectId id{"counters", "c", ""};
  ASSERT_OK(stores[0]->write_objects(Caller::server(), {{"counters", "c", "", "0", "*"}}));

  std::atomic<int> conflicts{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Store& s = *stores[t % 2];
      for (int done = 0; done < kIncrementsPerThread;) {
        auto cur = s.read_objects(Caller::server(), {id});
        if (!cur.ok() || cur->size() != 1) {
          ++failures;
          return;
        }
        int n = std::stoi((*cur)[0].value);
        auto w = s.write_objects(Caller::server(),
                                 {{"counters", "c", "", std::to_string(n + 1), (*cur)[0].version}});
        if (w.ok()) {
          ++done;
        } else if (w.code() == Errc::conflict) {
          ++conflicts;  // someone else won this round: read again and retry
        } else {
          ++failures;
          return;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto final_value = store_->read_objects(Caller::server(), {id});
  ASSERT_OK(final_value);
  EXPECT_EQ((*final_value)[0].value, std::to_string(kThreads * kIncrementsPerThread))
      << conflicts.load() << " conflicts were retried";
}

TEST_P(ConcurrentStoreTest, OnlyOneCreateIfAbsentWins) {
  auto second = backend_->open(options());
  ASSERT_TRUE(second.ok()) << second.error().message;
  Store* stores[2] = {store_.get(), second->get()};
  for (int round = 0; round < 10; ++round) {
    std::atomic<int> wins{0}, conflicts{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        auto r = stores[t % 2]->write_objects(
            Caller::server(), {{"once", "k" + std::to_string(round), "", std::to_string(t), "*"}});
        if (r.ok()) ++wins;
        else if (r.code() == Errc::conflict) ++conflicts;
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(wins.load(), 1) << "round " << round;
    EXPECT_EQ(conflicts.load(), kThreads - 1) << "round " << round;
  }
}

TEST_P(ConcurrentStoreTest, IncrLeaderboardLosesNoIncrement) {
  auto second = backend_->open(options());
  ASSERT_TRUE(second.ok()) << second.error().message;
  Store* stores[2] = {store_.get(), second->get()};
  Leaderboard lb;
  lb.id = "kills";
  lb.op = ScoreOperator::incr;
  ASSERT_OK(store_->create_leaderboard(lb));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIncrementsPerThread; ++i) {
        if (!stores[t % 2]->write_score({"kills", "p", "p", 1, 0, "{}"}).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto r = store_->get_record("kills", "p");
  ASSERT_OK(r);
  EXPECT_EQ(r->score, kThreads * kIncrementsPerThread);
  EXPECT_EQ(r->num_score, kThreads * kIncrementsPerThread);
}

TEST_P(ConcurrentStoreTest, SeveralNodesMigrateAFreshDatabaseAtOnce) {
  std::string skip, error;
  auto fresh = make_backend(GetParam(), &skip, &error);
  ASSERT_TRUE(fresh) << error << skip;
  std::vector<Result<std::unique_ptr<Store>>> opened;
  for (int t = 0; t < kThreads; ++t) opened.emplace_back(make_error(Errc::unavailable, "not run"));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] { opened[t] = fresh->open(options()); });
  }
  for (auto& th : threads) th.join();
  for (auto& r : opened) {
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ((*r)->schema_version(), 3);
  }
}

}  // namespace
}  // namespace craft::test
