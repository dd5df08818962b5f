// The Matcher keeps its age order and bucket index between runs (src/matchmaker/matcher.cpp):
// maintained at add()/remove(), tombstones dropped at the next run, Entry objects recycled,
// the intern tables rebuilt past a bound. These tests drive one long-lived Matcher through
// adds (also out of age order), cancellations, re-used ids and runs, and compare every run
// with a fresh Matcher given the same pool (no state from earlier runs): the matches must be
// identical, ticket for ticket.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "matchmaker/matcher.hpp"

using namespace craft::matchmaker;
using namespace std::chrono_literals;
using craft::TimePoint;

namespace {

uint32_t seed_from_env() {
  if (const char* s = std::getenv("CRAFT_MM_SEED")) return static_cast<uint32_t>(std::strtoul(s, nullptr, 10));
  return std::random_device{}();
}

struct Gen {
  std::mt19937 rng;
  uint32_t key_sets;  // how many distinct must-equality key sets the queries use
  uint64_t next_player = 1;
  Gen(uint32_t seed, uint32_t sets) : rng(seed), key_sets(sets) {}
  uint32_t pick(uint32_t n) { return rng() % n; }

  Ticket ticket(uint64_t id, TimePoint created) {
    Ticket t;
    t.id = id;
    const uint32_t party = 1 + (pick(4) == 0 ? pick(3) : 0);
    for (uint32_t i = 0; i < party; ++i) t.members.push_back(next_player++);
    const std::string region = "r" + std::to_string(pick(3));
    const std::string mode = pick(2) ? "duel" : "team";
    t.string_properties["region"] = region;
    t.string_properties["mode"] = mode;
    // Key set number k adds the must-equality term +kK:v on top of region (and mode), so a
    // pool can hold more key sets than the matcher gives composite indexes.
    const uint32_t k = pick(key_sets);
    const std::string extra_key = "k" + std::to_string(k);
    const std::string extra_val = pick(2) ? "a" : "b";
    t.string_properties[extra_key] = extra_val;
    const double skill = pick(2000);
    t.numeric_properties["skill"] = skill;
    std::string q = "+region:" + region;
    if (pick(2)) q += " +mode:" + mode;
    if (k > 0 && pick(3)) q += " +" + extra_key + ":" + extra_val;
    if (pick(3)) q += " +skill:>=" + std::to_string(int(skill) - 300) + " +skill:<=" + std::to_string(int(skill) + 300);
    if (pick(4) == 0) q += " -mode:team";
    if (pick(5) == 0) q += " +region:r9";  // nobody has it: impossible or empty bucket
    if (pick(3) == 0) q += " map:nuke";
    std::string error;
    EXPECT_TRUE(parse_query(q, QueryLimits{}, t.query, error)) << q << ": " << error;
    t.min_count = std::max<uint32_t>(2, party);
    t.max_count = std::min<uint32_t>(t.min_count + pick(3), 6);
    t.created = created;
    return t;
  }
};

std::vector<std::vector<uint64_t>> ids_of(const std::vector<Match>& ms) {
  std::vector<std::vector<uint64_t>> out;
  for (const Match& m : ms) out.push_back(m.tickets);
  return out;
}

// Runs `rounds` intervals of random adds/cancels on a long-lived Matcher, checking each run
// against a fresh Matcher built from the same live tickets.
void differential(uint32_t seed, uint32_t key_sets, int rounds, int adds_per_round) {
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with CRAFT_MM_SEED=" + std::to_string(seed) + ")");
  Gen g(seed, key_sets);
  const MatcherOptions o{.max_pool_size = 10'000, .widen_after = 2s, .widen_steps = 3};
  Matcher live(o);
  std::map<uint64_t, Ticket> pool;  // the live tickets, for the fresh matcher
  uint64_t next_id = 1;
  TimePoint now{};
  std::size_t matched = 0;
  for (int round = 0; round < rounds; ++round) {
    for (int i = 0; i < adds_per_round; ++i) {
      // Mostly now, sometimes in the past (out of age order), sometimes a cancelled ticket's
      // id comes back.
      TimePoint created = now;
      if (g.pick(5) == 0) created -= std::chrono::milliseconds(g.pick(5000));
      uint64_t id = next_id++;
      if (g.pick(10) == 0 && id > 20) id = id - 1 - g.pick(20);
      Ticket t = g.ticket(id, created);
      const AddResult r = live.add(t);
      if (pool.count(id)) {
        ASSERT_EQ(r, AddResult::duplicate_id);
        continue;
      }
      ASSERT_EQ(r, AddResult::ok);
      pool.emplace(id, std::move(t));
    }
    for (int i = 0; i < adds_per_round / 5 && !pool.empty(); ++i) {
      auto it = pool.lower_bound(g.pick(static_cast<uint32_t>(next_id)));
      if (it == pool.end()) continue;
      ASSERT_TRUE(live.remove(it->first));
      pool.erase(it);
    }
    Matcher fresh(o);
    for (auto& [id, t] : pool) ASSERT_EQ(fresh.add(t), AddResult::ok);
    const auto want = fresh.run(now);
    const auto got = live.run(now);
    ASSERT_EQ(ids_of(got), ids_of(want)) << "round " << round;
    for (const Match& m : got) {
      for (std::size_t i = 0; i < m.tickets.size(); ++i) {
        ASSERT_EQ(m.ticket_data[i].id, m.tickets[i]);
        ASSERT_EQ(m.ticket_data[i].members, pool.at(m.tickets[i]).members);
        ASSERT_EQ(m.ticket_data[i].query, pool.at(m.tickets[i]).query);
        pool.erase(m.tickets[i]);
        ASSERT_EQ(live.find(m.tickets[i]), nullptr);
        ++matched;
      }
    }
    ASSERT_EQ(live.size(), pool.size());
    now += 700ms;
  }
  EXPECT_GT(matched, std::size_t(rounds) * adds_per_round / 4) << "the test should match plenty";
}

}  // namespace

TEST(MatcherIndex, LongLivedMatcherEqualsAFreshOneEachRun) { differential(seed_from_env(), 3, 40, 150); }

// More key sets than composite indexes: anchors past the limit use the single-key index, and
// key sets whose tickets all left free their slot.
TEST(MatcherIndex, ManyKeySetsAcrossRunsEqualAFreshMatcher) { differential(seed_from_env(), 60, 40, 150); }

// Removal churn with no run in between: tombstones are dropped at add() past a bound, and a
// cancelled ticket's id can come back at once.
TEST(MatcherIndex, ChurnWithoutRunsKeepsThePoolExact) {
  Gen g(seed_from_env(), 3);
  Matcher m(MatcherOptions{.max_pool_size = 100});
  for (uint64_t id = 1; id <= 5'000; ++id) {
    ASSERT_EQ(m.add(g.ticket(id % 50 + 1, TimePoint{} + std::chrono::milliseconds(id))), AddResult::ok);
    ASSERT_EQ(m.size(), 1u);
    ASSERT_NE(m.find(id % 50 + 1), nullptr);
    ASSERT_TRUE(m.remove(id % 50 + 1));
    ASSERT_EQ(m.find(id % 50 + 1), nullptr);
  }
  // Two tickets that match each other after all that churn.
  Ticket a = g.ticket(7, TimePoint{});
  Ticket b = a;
  b.id = 8;
  b.members = {999'999};
  a.query = b.query = Query{};
  a.min_count = a.max_count = b.min_count = b.max_count = 2;
  a.members.resize(1);
  ASSERT_EQ(m.add(a), AddResult::ok);
  ASSERT_EQ(m.add(b), AddResult::ok);
  auto out = m.run(TimePoint{} + 10s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].tickets, (std::vector<uint64_t>{7, 8}));
  EXPECT_EQ(m.size(), 0u);
}

// The intern tables are rebuilt (every ticket recompiled and re-indexed) once they hold far
// more strings than the pool uses: matching goes on exactly as before the rebuild.
TEST(MatcherIndex, InternRebuildKeepsTheIndex) {
  Matcher m(MatcherOptions{.max_pool_size = 100});
  auto mk = [](uint64_t id, std::string region, std::string junk) {
    Ticket t;
    t.id = id;
    t.members = {id};
    t.string_properties["region"] = region;
    t.string_properties["junk"] = junk;
    std::string error;
    EXPECT_TRUE(parse_query("+region:" + region, QueryLimits{}, t.query, error));
    return t;
  };
  ASSERT_EQ(m.add(mk(1, "eu", "x")), AddResult::ok);
  ASSERT_EQ(m.add(mk(2, "us", "y")), AddResult::ok);
  // One-off strings: 64 * (pool + 1024) of them trigger the rebuild.
  for (uint64_t i = 0; i < 70'000; ++i) {
    ASSERT_EQ(m.add(mk(1'000 + i, "one-off-" + std::to_string(i), "z")), AddResult::ok);
    ASSERT_TRUE(m.remove(1'000 + i));
  }
  ASSERT_EQ(m.add(mk(3, "eu", "w")), AddResult::ok);
  ASSERT_EQ(m.add(mk(4, "us", "v")), AddResult::ok);
  auto out = m.run(TimePoint{});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].tickets, (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(out[1].tickets, (std::vector<uint64_t>{2, 4}));
}
