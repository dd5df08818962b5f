// The Matcher (src/matchmaker/matcher.hpp, docs/matchmaking.md): the widening rule, the hook,
// and property-based runs over thousands of random tickets checked against the rules, plus a
// brute-force oracle on small pools for the "nothing valid is left behind" bound.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "matchmaker/matcher.hpp"

using namespace craft::matchmaker;
using namespace std::chrono_literals;
using craft::TimePoint;

namespace {

TimePoint at(std::chrono::milliseconds ms) { return TimePoint{} + ms; }

Query q(std::string_view text) {
  Query out;
  std::string error;
  EXPECT_TRUE(parse_query(text, QueryLimits{}, out, error)) << error;
  return out;
}

Ticket make(uint64_t id, uint32_t players, uint32_t min, uint32_t max, std::string_view query = "",
            TimePoint created = {}) {
  Ticket t;
  t.id = id;
  for (uint32_t i = 0; i < players; ++i) t.members.push_back(id * 100 + i);
  t.min_count = min;
  t.max_count = max;
  t.query = q(query);
  t.created = created;
  return t;
}

uint32_t seed_from_env() {
  if (const char* s = std::getenv("CRAFT_MM_SEED")) return static_cast<uint32_t>(std::strtoul(s, nullptr, 10));
  return std::random_device{}();
}

}  // namespace

TEST(Matcher, AddRejectsBadCountsDuplicatesAndAFullPool) {
  Matcher m(MatcherOptions{.max_pool_size = 2});
  EXPECT_EQ(m.add(make(1, 0, 2, 2)), AddResult::bad_counts);
  EXPECT_EQ(m.add(make(1, 1, 3, 2)), AddResult::bad_counts);
  EXPECT_EQ(m.add(make(1, 3, 2, 2)), AddResult::bad_counts) << "a party larger than max_count";
  Ticket odd = make(1, 1, 3, 3);
  odd.count_multiple = 2;
  EXPECT_EQ(m.add(odd), AddResult::bad_counts) << "no multiple of 2 in [3, 3]";
  EXPECT_EQ(m.add(make(1, 1, 2, 2)), AddResult::ok);
  EXPECT_EQ(m.add(make(1, 1, 2, 2)), AddResult::duplicate_id);
  EXPECT_EQ(m.add(make(2, 1, 2, 2)), AddResult::ok);
  EXPECT_EQ(m.add(make(3, 1, 2, 2)), AddResult::pool_full);
  EXPECT_EQ(m.size(), 2u);
  EXPECT_TRUE(m.remove(1));
  EXPECT_FALSE(m.remove(1));
  EXPECT_EQ(m.add(make(3, 1, 2, 2)), AddResult::ok);
}

TEST(Matcher, MustAndMustNotHoldBothWays) {
  Matcher m;
  Ticket a = make(1, 1, 2, 2, "+region:eu");
  a.string_properties["region"] = "eu";
  Ticket b = make(2, 1, 2, 2, "-mode:ranked");
  b.string_properties["region"] = "eu";
  a.string_properties["mode"] = "ranked";  // b refuses a
  ASSERT_EQ(m.add(a), AddResult::ok);
  ASSERT_EQ(m.add(b), AddResult::ok);
  EXPECT_TRUE(m.run(at(0ms)).empty());
  Ticket c = make(3, 1, 2, 2, "+region:eu");
  c.string_properties["region"] = "eu";
  ASSERT_EQ(m.add(c), AddResult::ok);
  auto matches = m.run(at(0ms));
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].tickets, (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(m.size(), 1u);
  EXPECT_NE(m.find(2), nullptr);
}

TEST(Matcher, NumericEqualityAndRanges) {
  MatcherOptions o;
  Ticket a = make(1, 1, 2, 2, "+level:5 +skill:>=1000 -skill:>2000");
  Ticket b = make(2, 1, 2, 2);
  b.numeric_properties["level"] = 5;
  b.numeric_properties["skill"] = 1500;
  EXPECT_TRUE(accepts(a, b, at(0ms), o));
  b.numeric_properties["skill"] = 2500;
  EXPECT_FALSE(accepts(a, b, at(0ms), o)) << "must-not range";
  b.numeric_properties["skill"] = 999;
  EXPECT_FALSE(accepts(a, b, at(0ms), o));
  b.string_properties["level"] = "5";
  b.numeric_properties.erase("level");
  b.numeric_properties["skill"] = 1000;
  EXPECT_TRUE(accepts(a, b, at(0ms), o)) << "a string property equal to the text";
  b.string_properties["skill"] = "1500";
  b.numeric_properties.erase("skill");
  EXPECT_FALSE(accepts(a, b, at(0ms), o)) << "a range needs a numeric property";
}

TEST(Matcher, WideningStepsCountsThenRanges) {
  MatcherOptions o{.widen_after = 10s, .widen_steps = 3, .range_widen_fraction = 0.1};
  Ticket t = make(1, 1, 2, 8, "+skill:>=1000 +skill:<=2000 -mode:x");
  t.count_multiple = 2;
  // top = 8; span = 6; step k accepts >= 8 - 6k/3.
  EXPECT_EQ(accepted_min(t, at(0ms), o), 8u);
  EXPECT_EQ(accepted_min(t, at(9999ms), o), 8u);
  EXPECT_EQ(accepted_min(t, at(10s), o), 6u);
  EXPECT_EQ(accepted_min(t, at(20s), o), 4u);
  EXPECT_EQ(accepted_min(t, at(30s), o), 2u);
  EXPECT_EQ(accepted_min(t, at(3000s), o), 2u);
  Ticket other = make(2, 1, 2, 2);
  other.numeric_properties["skill"] = 850;
  EXPECT_FALSE(accepts(t, other, at(0ms), o));
  EXPECT_FALSE(accepts(t, other, at(10s), o)) << "step 1: >= 900";
  EXPECT_TRUE(accepts(t, other, at(20s), o)) << "step 2: >= 800";
  other.numeric_properties["skill"] = -5;
  EXPECT_FALSE(accepts(t, other, at(20s), o));
  EXPECT_TRUE(accepts(t, other, at(30s), o)) << "fully widened: +ranges no longer bind";
  other.string_properties["mode"] = "x";
  EXPECT_FALSE(accepts(t, other, at(3000s), o)) << "must-not never widens";
}

TEST(Matcher, PrefersMaxCountFirstThenWidens) {
  MatcherOptions o{.widen_after = 10s, .widen_steps = 2};
  Matcher m(o);
  for (uint64_t id = 1; id <= 3; ++id) ASSERT_EQ(m.add(make(id, 1, 2, 4)), AddResult::ok);
  EXPECT_TRUE(m.run(at(0ms)).empty()) << "step 0: only 4 players";
  EXPECT_TRUE(m.run(at(9s)).empty());
  auto matches = m.run(at(10s));  // step 1: >= 3
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].players, 3u);
}

TEST(Matcher, PartiesAreNeverSplitAndMultiplesHold) {
  Matcher m(MatcherOptions{.widen_steps = 0});
  ASSERT_EQ(m.add(make(1, 3, 4, 4)), AddResult::ok);
  ASSERT_EQ(m.add(make(2, 2, 4, 4)), AddResult::ok);
  EXPECT_TRUE(m.run(at(0ms)).empty()) << "3 + 2 > 4";
  Ticket even = make(3, 1, 2, 4);
  even.count_multiple = 2;
  ASSERT_EQ(m.add(even), AddResult::ok);
  auto matches = m.run(at(0ms));
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].tickets, (std::vector<uint64_t>{1, 3})) << "3 + 1 = 4, even";
  // A party that fills its own count is a match by itself.
  ASSERT_EQ(m.add(make(4, 2, 2, 2)), AddResult::ok);
  matches = m.run(at(0ms));
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].tickets, (std::vector<uint64_t>{4}));
  EXPECT_EQ(m.size(), 1u) << "ticket 2 waits";
}

TEST(Matcher, ShouldTermsPreferTheBetterPartner) {
  Matcher m(MatcherOptions{.widen_steps = 0});
  Ticket a = make(1, 1, 2, 2, "map:dust");
  Ticket b = make(2, 1, 2, 2);
  b.string_properties["map"] = "nuke";
  Ticket c = make(3, 1, 2, 2);
  c.string_properties["map"] = "dust";
  ASSERT_EQ(m.add(a), AddResult::ok);
  ASSERT_EQ(m.add(b), AddResult::ok);
  ASSERT_EQ(m.add(c), AddResult::ok);
  auto matches = m.run(at(0ms));
  ASSERT_GE(matches.size(), 1u);
  EXPECT_EQ(matches[0].tickets, (std::vector<uint64_t>{1, 3}));
}

TEST(Matcher, FilterHookRejectsAndTheSearchGoesOn) {
  Matcher m(MatcherOptions{.widen_steps = 0});
  for (uint64_t id = 1; id <= 3; ++id) ASSERT_EQ(m.add(make(id, 1, 2, 2)), AddResult::ok);
  int calls = 0;
  m.set_group_filter([&](Group g, TimePoint) {
    ++calls;
    for (const Ticket* t : g)
      if (t->id == 2) return false;  // ticket 2 plays with nobody
    return true;
  });
  auto matches = m.run(at(0ms));
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].tickets, (std::vector<uint64_t>{1, 3}));
  EXPECT_GE(calls, 2);
}

TEST(Matcher, FormerTakesOverAndIsValidated) {
  Matcher m(MatcherOptions{.widen_steps = 0});
  for (uint64_t id = 1; id <= 5; ++id) ASSERT_EQ(m.add(make(id, 1, 2, 2)), AddResult::ok);
  Ticket picky = make(6, 1, 2, 2, "+region:eu");
  ASSERT_EQ(m.add(picky), AddResult::ok);
  m.set_group_former([](Group pool, TimePoint) {
    EXPECT_EQ(pool.size(), 6u);
    EXPECT_EQ(pool[0]->id, 1u) << "oldest first (id breaks the tie)";
    return std::vector<std::vector<uint64_t>>{{5, 4}, {4, 3}, {1, 2, 3}, {6, 1}, {99, 1}, {2, 1}};
  });
  auto matches = m.run(at(0ms));
  ASSERT_EQ(matches.size(), 2u) << "{4,3} reuses 4; {1,2,3} is 3 players; {6,1}: 6 refuses 1";
  EXPECT_EQ(matches[0].tickets, (std::vector<uint64_t>{4, 5}));
  EXPECT_EQ(matches[1].tickets, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(m.size(), 2u);
}

// ---- Property-based runs -------------------------------------------------------------------

namespace {

struct Gen {
  std::mt19937 rng;
  uint64_t next_id = 1;
  uint64_t next_player = 1;
  explicit Gen(uint32_t seed) : rng(seed) {}
  uint32_t pick(uint32_t n) { return rng() % n; }

  Ticket ticket(TimePoint now, bool small_counts) {
    static const char* regions[] = {"eu", "us", "asia"};
    static const char* modes[] = {"ranked", "casual"};
    Ticket t;
    t.id = next_id++;
    const uint32_t party = 1 + (pick(4) == 0 ? pick(4) : 0);  // mostly solo, parties of 1-4
    for (uint32_t i = 0; i < party; ++i) t.members.push_back(next_player++);
    t.string_properties["region"] = regions[pick(3)];
    t.string_properties["mode"] = modes[pick(2)];
    if (pick(3) == 0) t.string_properties["map"] = pick(2) ? "dust 2" : "nuke";
    const double skill = pick(3000);
    t.numeric_properties["skill"] = skill;
    std::string query;
    if (pick(4)) query += "+region:" + t.string_properties["region"] + " ";
    if (pick(2)) query += "+mode:" + t.string_properties["mode"] + " ";
    else if (pick(3) == 0) query += "-mode:ranked ";
    if (pick(2)) query += "+skill:>=" + std::to_string(int(skill) - 300) + " +skill:<=" + std::to_string(int(skill) + 300) + " ";
    if (pick(5) == 0) query += "-skill:<" + std::to_string(pick(800)) + " ";
    if (pick(3) == 0) query += "map:\"dust 2\" ";
    if (pick(10) == 0) query += "+map:* ";
    if (pick(10) == 0) query += "*";
    std::string error;
    EXPECT_TRUE(parse_query(query, QueryLimits{}, t.query, error)) << query << ": " << error;
    const uint32_t cap = small_counts ? 5 : 8;
    t.min_count = std::max<uint32_t>(2, party) + pick(2);
    t.max_count = std::min<uint32_t>(t.min_count + pick(4), cap);
    if (t.max_count < t.min_count) t.max_count = t.min_count;
    t.count_multiple = pick(5) == 0 ? 2 : 1;
    if (t.max_count / t.count_multiple * t.count_multiple < t.min_count) t.count_multiple = 1;
    t.created = now;
    return t;
  }
};

// Checks a run's matches against the rules and the history; updates the history.
struct Checker {
  std::unordered_map<uint64_t, Ticket> all;      // every ticket ever added
  std::unordered_set<uint64_t> cancelled, matched, players_seen;
  MatcherOptions o;

  void check(const std::vector<Match>& matches, TimePoint now) {
    for (const Match& m : matches) {
      std::vector<const Ticket*> g;
      uint32_t players = 0;
      for (uint64_t id : m.tickets) {
        ASSERT_TRUE(all.count(id)) << "unknown ticket " << id;
        ASSERT_FALSE(cancelled.count(id)) << "cancelled ticket " << id << " matched";
        ASSERT_TRUE(matched.insert(id).second) << "ticket " << id << " in two matches";
        const Ticket& t = all.at(id);
        g.push_back(&t);
        players += t.players();
        for (uint64_t p : t.members) ASSERT_TRUE(players_seen.insert(p).second) << "player " << p << " twice";
      }
      ASSERT_EQ(players, m.players) << "a party split or miscounted";
      ASSERT_EQ(m.ticket_data.size(), m.tickets.size());
      for (std::size_t i = 0; i < m.tickets.size(); ++i) {
        ASSERT_EQ(m.ticket_data[i].id, m.tickets[i]);
        ASSERT_EQ(m.ticket_data[i].members, all.at(m.tickets[i]).members);
        ASSERT_EQ(m.ticket_data[i].string_properties, all.at(m.tickets[i]).string_properties);
      }
      ASSERT_TRUE(group_valid(Group(g), now, o)) << "an invalid match at " << now.time_since_epoch().count();
      for (std::size_t i = 1; i < g.size(); ++i)
        ASSERT_TRUE(g[i - 1]->created < g[i]->created ||
                    (g[i - 1]->created == g[i]->created && g[i - 1]->id < g[i]->id))
            << "oldest first";
    }
  }
};

// Brute force: is there any valid group among these tickets (all subsets)?
// With need_widened, only groups holding at least one fully widened ticket count.
bool any_valid_group(const std::vector<const Ticket*>& pool, TimePoint now, const MatcherOptions& o,
                     std::vector<uint64_t>* witness, bool need_widened = false) {
  const std::size_t n = pool.size();
  for (uint32_t mask = 1; mask < (1u << n); ++mask) {
    std::vector<const Ticket*> g;
    bool widened = false;
    for (std::size_t i = 0; i < n; ++i)
      if (mask & (1u << i)) {
        g.push_back(pool[i]);
        widened = widened || widen_step(*pool[i], now, o) >= o.widen_steps;
      }
    if (need_widened && !widened) continue;
    if (group_valid(Group(g), now, o)) {
      if (witness)
        for (auto* t : g) witness->push_back(t->id);
      return true;
    }
  }
  return false;
}

}  // namespace

// Thousands of random tickets over many intervals, with cancellations: every match obeys every
// rule; no ticket twice; cancelled tickets never match; parties whole.
TEST(MatcherProperty, LargeRandomPoolsObeyTheRules) {
  const uint32_t seed = seed_from_env();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with CRAFT_MM_SEED=" + std::to_string(seed) + ")");
  MatcherOptions o{.max_pool_size = 100'000, .widen_after = 3s, .widen_steps = 3};
  Matcher m(o);
  Gen gen(seed);
  Checker ck;
  ck.o = o;
  std::vector<uint64_t> live;
  std::size_t total_matches = 0;
  TimePoint now{};
  for (int interval = 0; interval < 60; ++interval) {
    for (int i = 0; i < 100; ++i) {
      Ticket t = gen.ticket(now, false);
      ck.all.emplace(t.id, t);
      ASSERT_EQ(m.add(t), AddResult::ok);
      live.push_back(t.id);
    }
    for (int i = 0; i < 10 && !live.empty(); ++i) {  // cancellations between runs
      std::size_t k = gen.pick(static_cast<uint32_t>(live.size()));
      uint64_t id = live[k];
      if (m.remove(id)) ck.cancelled.insert(id);
      live[k] = live.back();
      live.pop_back();
    }
    auto matches = m.run(now);
    ck.check(matches, now);
    if (HasFatalFailure()) return;
    total_matches += matches.size();
    EXPECT_EQ(m.last_run().search_gave_up, 0u);
    now += 1s;
  }
  EXPECT_GT(total_matches, 500u) << "the random pool should match a lot";
  EXPECT_EQ(ck.all.size(), 6000u);
  for (uint64_t id : ck.matched) EXPECT_EQ(m.find(id), nullptr);
}

// Small pools, checked after every run with a brute-force oracle: no valid group is left
// among the unmatched tickets (the search is exhaustive for each anchor), and after the
// widening bound every ticket that still has a valid group under its fully widened query
// has been matched: the pool holds no valid group at all.
TEST(MatcherProperty, NothingValidIsLeftBehindOracle) {
  const uint32_t seed = seed_from_env();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with CRAFT_MM_SEED=" + std::to_string(seed) + ")");
  // A candidate list of 2 makes the exhaustive pass for fully widened anchors matter.
  MatcherOptions o{.widen_after = 2s, .widen_steps = 3, .candidate_limit = 2};
  Gen gen(seed);
  std::size_t rounds_with_matches = 0, groups_found_after_bound = 0;
  for (int round = 0; round < 300; ++round) {
    Matcher m(o);
    Checker ck;
    ck.o = o;
    TimePoint now{};
    // Arrivals over a few intervals, with cancellations, then no more arrivals.
    for (int interval = 0; interval < 4; ++interval) {
      const uint32_t arrivals = gen.pick(4);
      for (uint32_t i = 0; i < arrivals && m.size() < 11; ++i) {
        Ticket t = gen.ticket(now, true);
        ck.all.emplace(t.id, t);
        ASSERT_EQ(m.add(t), AddResult::ok);
      }
      if (gen.pick(3) == 0 && m.size() > 0) {
        uint64_t victim = 0;
        for (auto& [id, t] : ck.all)
          if (m.find(id)) victim = id;
        ASSERT_TRUE(m.remove(victim));
        ck.cancelled.insert(victim);
      }
      auto matches = m.run(now);
      ck.check(matches, now);
      if (HasFatalFailure()) return;
      ASSERT_EQ(m.last_run().search_gave_up, 0u);
      if (!matches.empty()) ++rounds_with_matches;
      // Maximality at every run, under the widening at `now`: no valid group that holds a
      // fully widened ticket is left (younger anchors search a bounded candidate list).
      std::vector<const Ticket*> rest;
      for (auto& [id, t] : ck.all)
        if (m.find(id)) rest.push_back(m.find(id));
      std::vector<uint64_t> witness;
      ASSERT_FALSE(any_valid_group(rest, now, o, &witness, true))
          << "round " << round << ": a valid group with a fully widened ticket was left behind, e.g. ticket "
          << witness.front();
      now += 1s;
    }
    // The bound: the last arrival was at most 3 s ago; once now >= last created +
    // widen_steps * widen_after every ticket is fully widened, and one run later nothing
    // valid remains.
    const TimePoint bound = now + o.widen_after * o.widen_steps;
    while (now <= bound) {
      auto matches = m.run(now);
      ck.check(matches, now);
      if (HasFatalFailure()) return;
      now += 1s;
    }
    std::vector<const Ticket*> rest;
    for (auto& [id, t] : ck.all)
      if (m.find(id)) rest.push_back(m.find(id));
    // Fully widened: the oracle at a far-future time (no further widening) finds nothing.
    ASSERT_FALSE(any_valid_group(rest, now + 1000s, o, nullptr)) << "round " << round;
    for (const Ticket* t : rest) {
      // Every leftover ticket cannot be matched with the others even fully widened.
      std::vector<const Ticket*> solo{t};
      EXPECT_FALSE(group_valid(Group(solo), now + 1000s, o));
    }
    groups_found_after_bound += ck.matched.size();
  }
  EXPECT_GT(rounds_with_matches, 30u) << "the pools should be matchable often enough to test";
  EXPECT_GT(groups_found_after_bound, 100u);
}

// The candidate list is bounded (candidate_limit) for young anchors; a fully widened anchor
// searches every compatible ticket, so the group that exists is found.
TEST(Matcher, FullyWidenedAnchorsSearchExhaustively) {
  MatcherOptions o{.widen_after = 1s, .widen_steps = 2, .candidate_limit = 2};
  Matcher m(o);
  ASSERT_EQ(m.add(make(1, 1, 4, 4, "", at(0ms))), AddResult::ok);
  // Two parties of 2 that want 8 players and refuse each other: everyone's first two
  // candidates, and useless to everyone.
  for (uint64_t id = 2; id <= 3; ++id) {
    Ticket t = make(id, 2, 8, 8, "-team:red", at(0ms));
    t.string_properties["team"] = "red";
    ASSERT_EQ(m.add(t), AddResult::ok);
  }
  for (uint64_t id = 4; id <= 6; ++id) ASSERT_EQ(m.add(make(id, 1, 4, 4, "", at(0ms))), AddResult::ok);
  // 1 + 4 + 5 + 6 is a match, past every anchor's first two candidates.
  EXPECT_TRUE(m.run(at(0ms)).empty()) << "young anchors only look at candidate_limit tickets";
  EXPECT_TRUE(m.run(at(1s)).empty());
  auto matches = m.run(at(2s));
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].tickets, (std::vector<uint64_t>{1, 4, 5, 6}));
}

// More distinct must-equality key sets than get a composite index in one run: the anchors
// past the 32nd use the single key=value index and still find their partners.
TEST(Matcher, ManyKeySetsFallBackToTheSingleIndex) {
  Matcher m(MatcherOptions{.widen_steps = 0});
  uint64_t id = 1;
  for (int k = 0; k < 50; ++k) {
    for (int twice = 0; twice < 2; ++twice) {
      const std::string key = "k" + std::to_string(k);
      Ticket t = make(id++, 1, 2, 2, "+" + key + ":v" + std::to_string(k) + " +" + key + "x:\"w w\"");
      t.string_properties[key] = "v" + std::to_string(k);
      t.string_properties[key + "x"] = "w w";
      ASSERT_EQ(m.add(t), AddResult::ok);
    }
  }
  auto matches = m.run(at(0ms));
  ASSERT_EQ(matches.size(), 50u);
  for (const Match& match : matches) {
    ASSERT_EQ(match.tickets.size(), 2u);
    EXPECT_EQ(match.tickets[1], match.tickets[0] + 1) << "each pair shares its key";
  }
}

// run()'s range pre-filter on the most used range key: a candidate without the property, or
// outside the widened bound, is skipped; the boundary value and a widened bound are kept.
TEST(Matcher, RangePrefilterIsExact) {
  MatcherOptions o{.widen_after = 10s, .widen_steps = 3};
  Matcher m(o);
  Ticket a = make(1, 1, 2, 2, "+skill:>=1000 +skill:<1200", at(0ms));
  a.numeric_properties["skill"] = 1100;
  Ticket none = make(2, 1, 2, 2, "", at(0ms));                 // no skill at all
  Ticket text = make(3, 1, 2, 2, "", at(0ms));
  text.string_properties["skill"] = "1100";                   // a string, not a number
  Ticket edge_hi = make(4, 1, 2, 2, "-x:*", at(0ms));
  edge_hi.numeric_properties["skill"] = 1200;                 // < 1200 fails at step 0
  for (Ticket* t : {&a, &none, &text, &edge_hi}) ASSERT_EQ(m.add(*t), AddResult::ok);
  auto first = m.run(at(0ms));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].tickets, (std::vector<uint64_t>{2, 3})) << "1 matches nobody at step 0";
  auto matches = m.run(at(10s));  // step 1: < 1320
  bool one_with_four = false;
  for (const Match& match : matches)
    if (match.tickets == std::vector<uint64_t>{1, 4}) one_with_four = true;
  EXPECT_TRUE(one_with_four);
}
