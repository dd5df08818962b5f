// The matchmaker core (docs/matchmaking.md): a pool of tickets and the periodic run that
// groups them into matches. Pure: no networking, no protobuf, no clock (time is passed in);
// not thread-safe (one owner, e.g. the shard that runs matchmaking).
//
// Usage:
//   Matcher m(MatcherOptions{.max_pool_size = cfg.max_pool_size,
//                            .widen_after = std::chrono::milliseconds(cfg.widen_after_ms)});
//   Ticket t; t.id = 7; t.members = {player_a, player_b};  // a party of 2: never split
//   t.string_properties["region"] = "eu"; t.numeric_properties["skill"] = 1500;
//   parse_query("+region:eu skill:>=1200", QueryLimits{}, t.query, error);
//   t.min_count = 2; t.max_count = 4; t.count_multiple = 2; t.created = clock.now();
//   if (m.add(std::move(t)) != AddResult::ok) ...         // pool full, bad counts, duplicate
//   m.remove(7);                                           // cancelled: never matched after this
//   for (Match& match : m.run(clock.now())) ...            // every matchmaker.interval_ms;
//                                            // match.ticket_data: the tickets, moved out
//
// Rules every returned match obeys (checked by group_valid()): every member's must / must-not
// terms (widened for its age) hold against every other member; the total player count lies in
// every member's accepted range (widened for its age) and is a multiple of every member's
// count_multiple; no ticket is in two matches; matched tickets leave the pool.
#pragma once
#include <craft/clock.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "matchmaker/query.hpp"

namespace craft::matchmaker {

struct Ticket {
  uint64_t id = 0;
  // The players this ticket stands for (opaque ids; a party's whole membership). Never split:
  // a ticket is matched whole or not at all. Its player count is members.size() (>= 1).
  std::vector<uint64_t> members;
  std::map<std::string, std::string, std::less<>> string_properties;
  std::map<std::string, double, std::less<>> numeric_properties;
  Query query;                  // over the other tickets' properties
  uint32_t min_count = 2;       // players in the match, parties counted in full
  uint32_t max_count = 2;
  uint32_t count_multiple = 1;  // >= 1
  TimePoint created{};

  uint32_t players() const { return static_cast<uint32_t>(members.size()); }
};

struct Match {
  std::vector<uint64_t> tickets;  // ticket ids, oldest first
  uint32_t players = 0;           // total player count
  // The matched tickets themselves (members, properties), in `tickets` order: moved out of
  // the pool, since find() no longer knows them after run().
  std::vector<Ticket> ticket_data;
};

struct MatcherOptions {
  std::size_t max_pool_size = 100'000;           // matchmaker.max_pool_size
  Duration widen_after = std::chrono::seconds(10);  // matchmaker.widen_after_ms: one widening step
  uint32_t widen_steps = 3;                      // W: fully widened after W steps
  double range_widen_fraction = 0.10;            // per step, of max(|bound|, 1), for +range terms
  std::size_t candidate_limit = 8;               // compatible candidates ranked by score per anchor
  std::size_t max_search_nodes = 20'000;         // per anchor; past it the search gives up
};

enum class AddResult : uint8_t {
  ok,
  pool_full,     // size() == max_pool_size
  duplicate_id,
  bad_counts,    // no members, min_count < 1, min > max, players > max_count, no multiple in range
};

// What run() did, for metrics and benchmarks.
struct RunStats {
  std::size_t anchors = 0;           // tickets tried as the oldest member of a group
  std::size_t pair_checks = 0;       // ticket-against-ticket query evaluations
  std::size_t scanned = 0;           // index entries the candidate scans looked at
  std::size_t search_nodes = 0;
  std::size_t search_gave_up = 0;    // anchors whose search hit max_search_nodes (not exhaustive)
  std::size_t matches = 0;
};

// A candidate group, oldest member first.
using Group = std::span<const Ticket* const>;
// The hook (e.g. a room-code hook): sees every group the matcher would return and may reject
// it (false); the search then goes on looking for another group for the same anchor.
using GroupFilter = std::function<bool(Group group, TimePoint now)>;
// Takes over group formation: gets the whole pool (oldest first) and returns groups of ticket
// ids. Each returned group is checked with group_valid(); invalid, unknown or repeated tickets
// drop that group. The built-in search does not run while a former is set.
using GroupFormer =
    std::function<std::vector<std::vector<uint64_t>>(Group pool, TimePoint now)>;

// The widening step of a ticket at `now`: floor(age / widen_after), at most widen_steps.
uint32_t widen_step(const Ticket& t, TimePoint now, const MatcherOptions& o);
// The smallest player count `t` accepts at `now` (docs/matchmaking.md, "Widening").
uint32_t accepted_min(const Ticket& t, TimePoint now, const MatcherOptions& o);
// Whether `a`'s query (widened for a's age) accepts `b`; adds a's satisfied should terms
// to *score when given.
bool accepts(const Ticket& a, const Ticket& b, TimePoint now, const MatcherOptions& o,
             int* score = nullptr);
// The full rule set for one group (any order, >= 1 ticket: a party that fills its own count
// is a match by itself): pairwise queries, counts, no ticket twice.
bool group_valid(Group group, TimePoint now, const MatcherOptions& o);

class Matcher {
 public:
  explicit Matcher(MatcherOptions options = {});
  ~Matcher();
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;

  AddResult add(Ticket ticket);
  bool remove(uint64_t id);  // false: not in the pool
  const Ticket* find(uint64_t id) const;
  std::size_t size() const;

  // Forms matches among the pool at `now`; matched tickets leave the pool.
  std::vector<Match> run(TimePoint now);

  void set_group_filter(GroupFilter filter);
  void set_group_former(GroupFormer former);

  const RunStats& last_run() const { return stats_; }
  const MatcherOptions& options() const { return options_; }

 private:
  struct Run;
  struct Entry;     // a ticket, its compiled (interned) form and its index keys
  struct Interner;  // property keys and string values -> small integers
  struct Sig;       // one must-equality key set and its buckets (value tuple -> tickets)
  struct Bucket;
  struct Scratch;   // run()'s working vectors, kept between runs so a run allocates little

  void index_entry(Entry* e);  // registers e's key set, appends e to order_ and its buckets
  Sig* register_sig(const std::vector<uint32_t>& keys);
  void bury(Entry* e);         // e leaves the pool: tombstoned until the next compact()
  void compact();              // drops tombstones from order_ and the buckets, sorts by age
  void rebuild();              // after a new interner: recompiles and re-indexes every ticket

  MatcherOptions options_;
  // The pool's index survives between runs (tickets change only through add/remove/run):
  // order_ holds every ticket oldest first (sorted lazily when an add arrives out of order),
  // each Sig's buckets the tickets whose string properties carry that tuple, also by age.
  // Removed and matched tickets are tombstoned (Entry::dead) and dropped by compact() at the
  // start of the next run; their Entry objects are recycled through free_.
  struct IdTable;   // ticket id -> Entry, open addressing
  std::unique_ptr<IdTable> pool_;
  std::vector<std::unique_ptr<Entry>> entries_;  // owns every Entry (live, dead, free)
  std::vector<Entry*> order_, graveyard_, free_;
  bool order_sorted_ = true;
  std::vector<std::unique_ptr<Sig>> sigs_;
  // Interned key -> live +range terms on it (flat: a matched ticket's decrement is one
  // array write), and the keys that have had any since the last rebuild.
  std::vector<std::size_t> range_uses_;
  std::vector<uint32_t> range_keys_;
  void count_ranges(const Entry& e, int sign);
  std::unique_ptr<Interner> interner_;
  std::unique_ptr<Scratch> scratch_;
  GroupFilter filter_;
  GroupFormer former_;
  RunStats stats_;
};

}  // namespace craft::matchmaker
