// The fast pair check (src/matchmaker `Fast`, docs/matchmaking.md "Cost"): tickets whose
// query has the common shape are compared by their +range windows on the hot key and their
// should scores instead of the generic term loop. These pin the edges where the two could
// part: strict bounds at exactly the bound, two bounds on one side, a ticket outside its own
// bucket, should scores deciding the candidate order, and the generic path for a ticket with
// more string properties than the fast form keeps.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "matchmaker/matcher.hpp"

using namespace craft::matchmaker;
using namespace std::chrono_literals;
using craft::TimePoint;

namespace {

Ticket make(uint64_t id, const std::string& region, double skill, const std::string& query, TimePoint created = {}) {
  Ticket t;
  t.id = id;
  t.members = {id * 100};
  t.string_properties["region"] = region;
  t.numeric_properties["skill"] = skill;
  std::string error;
  EXPECT_TRUE(parse_query(query, QueryLimits{}, t.query, error)) << query << ": " << error;
  t.min_count = t.max_count = 2;
  t.created = created;
  return t;
}

// The ids of the match holding ticket 1, or empty.
std::vector<uint64_t> partner_run(std::vector<Ticket> tickets, TimePoint now = {}) {
  Matcher m;
  for (Ticket& t : tickets) EXPECT_EQ(m.add(std::move(t)), AddResult::ok);
  for (const Match& match : m.run(now)) {
    EXPECT_EQ(match.ticket_data.size(), match.tickets.size());
    std::vector<const Ticket*> group;
    for (const Ticket& t : match.ticket_data) group.push_back(&t);
    EXPECT_TRUE(group_valid(Group(group), now, MatcherOptions{}));
    for (uint64_t id : match.tickets)
      if (id == 1) return match.tickets;
  }
  return {};
}

TEST(MatcherFast, StrictBoundRefusesExactlyTheBound) {
  EXPECT_TRUE(partner_run({make(1, "eu", 1500, "+region:eu +skill:>1000"), make(2, "eu", 1000, "+region:eu")}).empty());
  EXPECT_EQ(partner_run({make(1, "eu", 1500, "+region:eu +skill:>=1000"), make(2, "eu", 1000, "+region:eu")}),
            (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(partner_run({make(1, "eu", 1500, "+region:eu +skill:<2000"), make(2, "eu", 2000, "+region:eu")}).empty());
  EXPECT_EQ(partner_run({make(1, "eu", 1500, "+region:eu +skill:<=2000"), make(2, "eu", 2000, "+region:eu")}),
            (std::vector<uint64_t>{1, 2}));
}

TEST(MatcherFast, TwoBoundsOnOneSideBothBind) {
  // >=900 and >1000: 1000 fails the strict one; 1001 passes both.
  EXPECT_TRUE(
      partner_run({make(1, "eu", 1500, "+region:eu +skill:>=900 +skill:>1000"), make(2, "eu", 1000, "+region:eu")})
          .empty());
  EXPECT_EQ(partner_run({make(1, "eu", 1500, "+region:eu +skill:>=900 +skill:>1000"), make(2, "eu", 1001, "+region:eu")}),
            (std::vector<uint64_t>{1, 2}));
  // >1000 and >=1000 at the same bound: strict.
  EXPECT_TRUE(
      partner_run({make(1, "eu", 1500, "+region:eu +skill:>=1000 +skill:>1000"), make(2, "eu", 1000, "+region:eu")})
          .empty());
}

TEST(MatcherFast, TheCandidatesWindowOnTheAnchorBindsToo) {
  // Ticket 2's own range refuses ticket 1's skill: no match although 1 accepts 2.
  EXPECT_TRUE(
      partner_run({make(1, "eu", 1500, "+region:eu"), make(2, "eu", 1000, "+region:eu +skill:<1500")}).empty());
  EXPECT_EQ(partner_run({make(1, "eu", 1500, "+region:eu"), make(2, "eu", 1000, "+region:eu +skill:<=1500")}),
            (std::vector<uint64_t>{1, 2}));
}

TEST(MatcherFast, ATicketOutsideItsOwnBucketIsCheckedInFull) {
  // Ticket 2 wants region eu but is in us: it sits in eu's bucket as a candidate of nobody
  // (ticket 1 in eu wants eu, 2 is not in it), and 3 (us, wants eu) neither.
  EXPECT_TRUE(partner_run({make(1, "eu", 1500, "+region:eu"), make(2, "us", 1500, "+region:eu")}).empty());
  // Ticket 1 in us wants eu, ticket 2 in eu wants us: each carries the other's tuple.
  EXPECT_EQ(partner_run({make(1, "us", 1500, "+region:eu"), make(2, "eu", 1500, "+region:us")}),
            (std::vector<uint64_t>{1, 2}));
}

TEST(MatcherFast, ShouldScoresPickThePartner) {
  // Three tickets for ticket 1: the one whose map matches 1's should term (and whose should
  // term matches 1's map) is taken over an older one.
  auto with_map = [](Ticket t, const std::string& map) {
    t.string_properties["map"] = map;
    return t;
  };
  EXPECT_EQ(partner_run({with_map(make(1, "eu", 1500, "+region:eu map:nuke"), "dust"),
                         with_map(make(2, "eu", 1500, "+region:eu", TimePoint{} + 1ms), "dust"),
                         with_map(make(3, "eu", 1500, "+region:eu map:dust", TimePoint{} + 2ms), "nuke")},
                        TimePoint{} + 2ms),
            (std::vector<uint64_t>{1, 3}));
}

TEST(MatcherFast, ManyStringPropertiesTakeTheGenericCheck) {
  // Five string properties: past the fast form's inline four; same answers as above.
  auto wide = [](Ticket t) {
    for (const char* k : {"a", "b", "c", "d"}) t.string_properties[k] = "x";
    return t;
  };
  EXPECT_TRUE(partner_run({wide(make(1, "eu", 1500, "+region:eu +skill:>1000")), make(2, "eu", 1000, "+region:eu")})
                  .empty());
  EXPECT_EQ(partner_run({wide(make(1, "eu", 1500, "+region:eu +skill:>=1000 -a:y")), wide(make(2, "eu", 1000, "+region:eu"))}),
            (std::vector<uint64_t>{1, 2}));
}

}  // namespace
