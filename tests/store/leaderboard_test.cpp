// Leaderboards: operators, sort orders, top N with ranks, records around an owner.
#include "backend.hpp"

namespace craft::test {
namespace {

using namespace craft::store;

class LeaderboardStoreTest : public StoreTest {
 protected:
  void create(const std::string& id, SortOrder sort, ScoreOperator op) {
    Leaderboard lb;
    lb.id = id;
    lb.sort = sort;
    lb.op = op;
    ASSERT_OK(store_->create_leaderboard(lb));
  }
  LeaderboardRecord write(const std::string& board, const std::string& owner, int64_t score,
                          int64_t subscore = 0) {
    auto r = store_->write_score({board, owner, owner + "-name", score, subscore, "{}"});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : LeaderboardRecord{};
  }
  // "owner:score:rank" for each record.
  static std::vector<std::string> summary(const std::vector<LeaderboardRecord>& rs) {
    std::vector<std::string> out;
    for (const auto& r : rs) {
      out.push_back(r.owner_id + ":" + std::to_string(r.score) + ":" + std::to_string(r.rank));
    }
    return out;
  }
  using V = std::vector<std::string>;
};
CRAFT_INSTANTIATE_BACKENDS(LeaderboardStoreTest);

TEST_P(LeaderboardStoreTest, CreateGetDelete) {
  create("weekly", SortOrder::ascending, ScoreOperator::set);
  Leaderboard again;
  again.id = "weekly";
  EXPECT_ERRC(store_->create_leaderboard(again), Errc::already_exists);
  auto lb = store_->get_leaderboard("weekly");
  ASSERT_OK(lb);
  EXPECT_EQ(lb->sort, SortOrder::ascending);
  EXPECT_EQ(lb->op, ScoreOperator::set);
  EXPECT_EQ(lb->create_time, kStartUnix);
  write("weekly", "a", 5);
  ASSERT_OK(store_->delete_leaderboard("weekly"));
  EXPECT_ERRC(store_->get_leaderboard("weekly"), Errc::not_found);
  EXPECT_ERRC(store_->delete_leaderboard("weekly"), Errc::not_found);
  EXPECT_ERRC(store_->write_score({"weekly", "a", "", 1, 0, "{}"}), Errc::not_found);
  // Records went with it: a new board of that name starts empty.
  create("weekly", SortOrder::descending, ScoreOperator::best);
  EXPECT_EQ(*store_->count_records("weekly"), 0);
}

TEST_P(LeaderboardStoreTest, BestKeepsTheBestScoreDescending) {
  create("high", SortOrder::descending, ScoreOperator::best);
  EXPECT_EQ(write("high", "a", 100).score, 100);
  EXPECT_EQ(write("high", "a", 50).score, 100);    // worse: kept
  EXPECT_EQ(write("high", "a", 150).score, 150);   // better: taken
  auto r = write("high", "a", 150, 7);             // same score, better subscore
  EXPECT_EQ(r.subscore, 7);
  EXPECT_EQ(r.num_score, 4);
  EXPECT_EQ(write("high", "a", 150, 3).subscore, 7);
}

TEST_P(LeaderboardStoreTest, BestKeepsTheLowestAscending) {
  create("speedrun", SortOrder::ascending, ScoreOperator::best);
  EXPECT_EQ(write("speedrun", "a", 300).score, 300);
  EXPECT_EQ(write("speedrun", "a", 350).score, 300);
  EXPECT_EQ(write("speedrun", "a", 250).score, 250);
  write("speedrun", "b", 200);
  write("speedrun", "c", 400);
  auto top = store_->top_records("speedrun", 10);
  ASSERT_OK(top);
  EXPECT_EQ(summary(*top), (V{"b:200:1", "a:250:2", "c:400:3"}));
}

TEST_P(LeaderboardStoreTest, SetAndIncr) {
  create("last", SortOrder::descending, ScoreOperator::set);
  write("last", "a", 100);
  EXPECT_EQ(write("last", "a", 10).score, 10);
  create("total", SortOrder::descending, ScoreOperator::incr);
  write("total", "a", 10, 1);
  write("total", "a", 5, 1);
  auto r = write("total", "a", -3, 1);
  EXPECT_EQ(r.score, 12);
  EXPECT_EQ(r.subscore, 3);
  EXPECT_EQ(r.num_score, 3);
  EXPECT_ERRC(store_->write_score({"total", "a", "", INT64_MAX, 0, "{}"}), Errc::invalid);
  EXPECT_EQ(store_->get_record("total", "a")->score, 12);
}

TEST_P(LeaderboardStoreTest, TopNWithRanksAndTies) {
  create("arena", SortOrder::descending, ScoreOperator::best);
  write("arena", "p1", 10);
  write("arena", "p2", 30);
  write("arena", "p3", 20);
  write("arena", "p4", 30, 5);  // same score, better subscore: ahead of p2
  write("arena", "p5", 20);     // full tie with p3: owner id breaks it
  auto top3 = store_->top_records("arena", 3);
  ASSERT_OK(top3);
  EXPECT_EQ(summary(*top3), (V{"p4:30:1", "p2:30:2", "p3:20:3"}));
  auto next = store_->top_records("arena", 3, 3);
  ASSERT_OK(next);
  EXPECT_EQ(summary(*next), (V{"p5:20:4", "p1:10:5"}));
  EXPECT_EQ(store_->get_record("arena", "p5")->rank, 4);
  EXPECT_EQ(*store_->count_records("arena"), 5);
  // A write returns the new rank.
  EXPECT_EQ(write("arena", "p1", 40).rank, 1);
  EXPECT_EQ(store_->get_record("arena", "p4")->rank, 2);
  ASSERT_OK(store_->delete_score("arena", "p1"));
  EXPECT_EQ(store_->get_record("arena", "p4")->rank, 1);
  EXPECT_ERRC(store_->get_record("arena", "p1"), Errc::not_found);
  EXPECT_ERRC(store_->top_records("arena", 0), Errc::invalid);
  EXPECT_ERRC(store_->top_records("nope", 3), Errc::not_found);
}

TEST_P(LeaderboardStoreTest, RecordsAroundAnOwner) {
  create("big", SortOrder::descending, ScoreOperator::set);
  // o00 .. o19 with scores 190 .. 0: rank = index + 1.
  for (int i = 0; i < 20; ++i) {
    char owner[8];
    std::snprintf(owner, sizeof owner, "o%02d", i);
    write("big", owner, (19 - i) * 10);
  }
  auto mid = store_->records_around("big", "o10", 5);
  ASSERT_OK(mid);
  EXPECT_EQ(summary(*mid), (V{"o08:110:9", "o09:100:10", "o10:90:11", "o11:80:12", "o12:70:13"}));
  // Near the top and bottom the page shifts to stay full.
  auto top = store_->records_around("big", "o01", 5);
  ASSERT_OK(top);
  EXPECT_EQ(summary(*top).front(), "o00:190:1");
  EXPECT_EQ(top->size(), 5u);
  auto bottom = store_->records_around("big", "o19", 4);
  ASSERT_OK(bottom);
  EXPECT_EQ(summary(*bottom), (V{"o16:30:17", "o17:20:18", "o18:10:19", "o19:0:20"}));
  // Fewer records than the limit: all of them.
  create("tiny", SortOrder::ascending, ScoreOperator::set);
  write("tiny", "x", 1);
  write("tiny", "y", 2);
  auto tiny = store_->records_around("tiny", "y", 10);
  ASSERT_OK(tiny);
  EXPECT_EQ(summary(*tiny), (V{"x:1:1", "y:2:2"}));
  EXPECT_ERRC(store_->records_around("big", "nobody", 5), Errc::not_found);
}

}  // namespace
}  // namespace craft::test
