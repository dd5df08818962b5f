// The candidate scan over a bucket (src/matchmaker `Run::collect_bucket`, docs/matchmaking.md
// "Cost"): the hot-key windows are tested as closed bounds without branches, a bucket prefix
// that is mostly matched is packed (its unmatched members kept, in age order) and the
// passing members are buffered in chunks. These pin what that must not change: the age
// order of the candidates after a pack, an unmatched member kept by a pack, a scan longer
// than one chunk, a ticket without the hot key (NaN) against windows that bind and windows
// that do not, and a strict bound one double away from the value.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "matchmaker/matcher.hpp"

using namespace craft::matchmaker;
using namespace std::chrono_literals;
using craft::TimePoint;

namespace {

Ticket make(uint64_t id, const std::string& query, TimePoint created, const double* skill, uint32_t count = 2,
            uint32_t players = 1) {
  Ticket t;
  t.id = id;
  for (uint32_t i = 0; i < players; ++i) t.members.push_back(id * 100 + i);
  t.string_properties["region"] = "eu";
  if (skill) t.numeric_properties["skill"] = *skill;
  std::string error;
  EXPECT_TRUE(parse_query(query, QueryLimits{}, t.query, error)) << query << ": " << error;
  t.min_count = t.max_count = count;
  t.created = created;
  return t;
}

Ticket with_skill(uint64_t id, double skill, const std::string& query, TimePoint created, uint32_t count = 2,
                  uint32_t players = 1) {
  return make(id, query, created, &skill, count, players);
}

std::vector<std::vector<uint64_t>> ids_of(const std::vector<Match>& ms) {
  std::vector<std::vector<uint64_t>> out;
  for (const Match& m : ms) out.push_back(m.tickets);
  return out;
}

}  // namespace

// 40 tickets that all accept each other pair up oldest with next oldest (equal scores: age
// order), which needs every scan after a pack to see the unmatched members in age order; the
// oldest ticket has no partner, stays unmatched through every pack of the prefix it sits in,
// and is still there for the partner that arrives in the next run.
TEST(MatcherScan, PackedPrefixKeepsAgeOrderAndItsUnmatchedMembers) {
  const TimePoint t0{};
  Matcher m;
  ASSERT_EQ(m.add(with_skill(1, 5000, "+region:eu +skill:>=4900 +skill:<=5100", t0)), AddResult::ok);
  for (uint64_t id = 2; id <= 41; ++id)
    ASSERT_EQ(m.add(with_skill(id, 1000, "+region:eu +skill:>=900 +skill:<=1100", t0 + std::chrono::milliseconds(id))),
              AddResult::ok);
  std::vector<std::vector<uint64_t>> want;
  for (uint64_t id = 2; id <= 41; id += 2) want.push_back({id, id + 1});
  EXPECT_EQ(ids_of(m.run(t0 + 100ms)), want);
  ASSERT_NE(m.find(1), nullptr);
  ASSERT_EQ(m.add(with_skill(100, 5050, "+region:eu +skill:>=4900 +skill:<=5100", t0 + 200ms)), AddResult::ok);
  EXPECT_EQ(ids_of(m.run(t0 + 300ms)), (std::vector<std::vector<uint64_t>>{{1, 100}}));
}

// A fully widened anchor's exhaustive scan over more compatible members than one chunk of the
// scan buffer: the only member that completes its group is the last one.
TEST(MatcherScan, ExhaustiveScanPastOneChunkFindsTheLastMember) {
  const TimePoint t0{};
  const std::string q = "+region:eu +skill:>=900 +skill:<=1100";
  Matcher m;
  ASSERT_EQ(m.add(with_skill(1, 1000, q, t0, 4)), AddResult::ok);  // needs 4 players
  // 150 solo tickets that accept it but want matches of 2: no group of 4 with them.
  for (uint64_t id = 2; id <= 151; ++id)
    ASSERT_EQ(m.add(with_skill(id, 1000, q, t0 + 31s)), AddResult::ok);
  ASSERT_EQ(m.add(with_skill(500, 1000, q, t0 + 31s + 1ms, 4, 3)), AddResult::ok);  // a party of 3
  const auto got = m.run(t0 + 31s + 2ms);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front().tickets, (std::vector<uint64_t>{1, 500}));
  EXPECT_EQ(got.front().players, 4u);
  EXPECT_EQ(got.size(), 76u);  // and the 150 solo tickets in pairs
}

// A ticket with no value of the hot key: a window that binds refuses it (either way round), a
// window that does not bind lets it through.
TEST(MatcherScan, MissingHotValueFailsOnlyWindowsThatBind) {
  const TimePoint t0{};
  {
    Matcher m;
    ASSERT_EQ(m.add(make(1, "+region:eu", t0, nullptr)), AddResult::ok);                   // no skill
    ASSERT_EQ(m.add(with_skill(2, 1000, "+region:eu +skill:>=0", t0 + 1ms)), AddResult::ok);  // binds
    ASSERT_EQ(m.add(with_skill(3, 1000, "+region:eu", t0 + 2ms)), AddResult::ok);
    EXPECT_EQ(ids_of(m.run(t0 + 10ms)), (std::vector<std::vector<uint64_t>>{{1, 3}}));
  }
  {
    Matcher m;
    ASSERT_EQ(m.add(with_skill(1, 1000, "+region:eu +skill:>=500", t0)), AddResult::ok);
    ASSERT_EQ(m.add(make(2, "+region:eu", t0 + 1ms, nullptr)), AddResult::ok);
    ASSERT_EQ(m.add(with_skill(3, 600, "+region:eu", t0 + 2ms)), AddResult::ok);
    EXPECT_EQ(ids_of(m.run(t0 + 10ms)), (std::vector<std::vector<uint64_t>>{{1, 3}}));
  }
}

// Strict bounds become closed ones a double inward: the value one double past the bound
// passes, the bound itself does not (on both sides, anchor and member).
TEST(MatcherScan, StrictBoundOneDoubleAway) {
  const TimePoint t0{};
  const double above = std::nextafter(1000.0, 2000.0), below = std::nextafter(1000.0, 0.0);
  for (const char* q : {"+region:eu +skill:>1000", "+region:eu +skill:<1000"}) {
    const bool lower = std::string(q).find('>') != std::string::npos;
    Matcher m;
    ASSERT_EQ(m.add(with_skill(1, lower ? 5000 : -5000, q, t0)), AddResult::ok);
    ASSERT_EQ(m.add(with_skill(2, 1000, "+region:eu", t0 + 1ms)), AddResult::ok);
    ASSERT_EQ(m.add(with_skill(3, lower ? above : below, "+region:eu", t0 + 2ms)), AddResult::ok);
    EXPECT_EQ(ids_of(m.run(t0 + 10ms)), (std::vector<std::vector<uint64_t>>{{1, 3}})) << q;
  }
  // The member's strict window on the anchor's value: refuses the bound, a closed one takes it.
  Matcher m;
  ASSERT_EQ(m.add(with_skill(1, 1000, "+region:eu", t0)), AddResult::ok);
  ASSERT_EQ(m.add(with_skill(2, 0, "+region:eu +skill:>1000", t0 + 1ms)), AddResult::ok);
  ASSERT_EQ(m.add(with_skill(3, 0, "+region:eu +skill:>=1000", t0 + 2ms)), AddResult::ok);
  EXPECT_EQ(ids_of(m.run(t0 + 10ms)), (std::vector<std::vector<uint64_t>>{{1, 3}}));
}
