#include "matchmaker/matcher.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string_view>
#include <unordered_set>
#include <utility>

namespace craft::matchmaker {
namespace {

// Extra search nodes spent looking for a larger group once a valid one is known: bounds the
// work of "prefer the largest accepted count" (the first valid group is always kept).
constexpr std::size_t kImproveNodes = 256;
// Distinct must-equality key sets that get a composite bucket index per run; anchors past it
// use the single key=value index (so a pool of tickets with all-different key sets costs
// O(properties) to index, not O(n) per key set).
constexpr std::size_t kMaxCompositeIndexes = 32;

uint32_t top_count(const Ticket& t) {
  const uint32_t m = std::max<uint32_t>(t.count_multiple, 1);
  return t.max_count / m * m;  // >= min_count: add() refuses tickets with no multiple in range
}

uint32_t step_of(const Ticket& t, TimePoint now, const MatcherOptions& o) {
  if (o.widen_steps == 0) return 0;
  if (now <= t.created) return 0;
  if (o.widen_after.count() <= 0) return o.widen_steps;
  const auto age = now - t.created;
  const auto k = static_cast<uint64_t>(age / o.widen_after);
  return static_cast<uint32_t>(std::min<uint64_t>(k, o.widen_steps));
}

uint32_t min_at(const Ticket& t, uint32_t step, const MatcherOptions& o) {
  if (step >= o.widen_steps) return t.min_count;
  const uint32_t top = top_count(t);
  const uint64_t span = top - t.min_count;
  return top - static_cast<uint32_t>(span * step / o.widen_steps);
}

// Does `term` hold on `b`? `bound` is the (possibly widened) range bound.
bool holds(const Term& term, double bound, const Ticket& b) {
  switch (term.op) {
    case Op::any:
      return b.string_properties.find(term.key) != b.string_properties.end() ||
             b.numeric_properties.find(term.key) != b.numeric_properties.end();
    case Op::eq: {
      if (auto s = b.string_properties.find(term.key); s != b.string_properties.end())
        return s->second == term.text;
      if (auto d = b.numeric_properties.find(term.key); d != b.numeric_properties.end())
        return term.numeric && d->second == term.number;
      return false;
    }
    default: break;
  }
  auto d = b.numeric_properties.find(term.key);
  if (d == b.numeric_properties.end()) return false;
  const double v = d->second;
  switch (term.op) {
    case Op::ge: return v >= bound;
    case Op::gt: return v > bound;
    case Op::le: return v <= bound;
    case Op::lt: return v < bound;
    default: return false;
  }
}

bool accepts_at(const Ticket& a, uint32_t a_step, const Ticket& b, const MatcherOptions& o, int* score) {
  for (const Term& term : a.query.terms) {
    double bound = term.number;
    const bool range = term.op == Op::ge || term.op == Op::gt || term.op == Op::le || term.op == Op::lt;
    if (term.occur == Occur::must && range) {
      // Widening: a +range term loosens by range_widen_fraction of max(|bound|, 1) per step
      // and stops binding after widen_steps steps.
      if (a_step >= o.widen_steps) continue;
      const double widen = a_step * o.range_widen_fraction * std::max(std::fabs(term.number), 1.0);
      bound = (term.op == Op::ge || term.op == Op::gt) ? term.number - widen : term.number + widen;
    }
    const bool h = holds(term, bound, b);
    switch (term.occur) {
      case Occur::must:
        if (!h) return false;
        break;
      case Occur::must_not:
        if (h) return false;
        break;
      case Occur::should:
        if (h && score) ++*score;
        break;
    }
  }
  return true;
}

bool counts_valid(const Ticket& t) {
  if (t.members.empty() || t.min_count < 1 || t.min_count > t.max_count || t.count_multiple < 1)
    return false;
  if (t.players() > t.max_count) return false;
  return top_count(t) >= t.min_count;
}

bool older(const Ticket* a, const Ticket* b) {
  return a->created != b->created ? a->created < b->created : a->id < b->id;
}


// The form run() evaluates: keys and string values interned to integers, properties in small
// vectors sorted by key, so a pair check is a few integer compares instead of map lookups.
struct CTerm {
  Occur occur;
  Op op;
  uint32_t key;
  uint32_t text;  // eq: interned value
  double number;
  bool numeric;
};
struct Compiled {
  std::vector<std::pair<uint32_t, uint32_t>> strs;  // key -> value, sorted by key
  std::vector<std::pair<uint32_t, double>> nums;    // key -> value, sorted by key
  std::vector<CTerm> terms;
};

// One ticket's compiled form as spans into its Entry's vectors (run() indexes them by age position).
struct View {
  std::span<const std::pair<uint32_t, uint32_t>> strs;
  std::span<const std::pair<uint32_t, double>> nums;
  std::span<const CTerm> terms;
};

template <class V>
const V* lookup(std::span<const std::pair<uint32_t, V>> v, uint32_t key) {
  for (const auto& [k, x] : v) {
    if (k == key) return &x;
    if (k > key) break;
  }
  return nullptr;
}

// A +range term's bound at `step` (< widen_steps): docs/matchmaking.md, "Widening".
double widened_bound(Op op, double number, uint32_t step, const MatcherOptions& o) {
  const double widen = step * o.range_widen_fraction * std::max(std::fabs(number), 1.0);
  return (op == Op::ge || op == Op::gt) ? number - widen : number + widen;
}

bool in_range(Op op, double v, double bound) {
  switch (op) {
    case Op::ge: return v >= bound;
    case Op::gt: return v > bound;
    case Op::le: return v <= bound;
    case Op::lt: return v < bound;
    default: return false;
  }
}

bool c_holds(const CTerm& t, double bound, const View& b) {
  if (t.op == Op::any) return lookup(b.strs, t.key) || lookup(b.nums, t.key);
  if (t.op == Op::eq) {
    if (const uint32_t* s = lookup(b.strs, t.key)) return *s == t.text;
    if (const double* d = lookup(b.nums, t.key)) return t.numeric && *d == t.number;
    return false;
  }
  const double* d = lookup(b.nums, t.key);
  if (!d) return false;
  switch (t.op) {
    case Op::ge: return *d >= bound;
    case Op::gt: return *d > bound;
    case Op::le: return *d <= bound;
    case Op::lt: return *d < bound;
    default: return false;
  }
}

// The same rule as accepts_at, on the compiled form (the tests check run()'s matches with the
// map-based group_valid, so the two are checked against each other).
bool c_accepts(const View& a, uint32_t a_step, const View& b, const MatcherOptions& o, int* score) {
  for (const CTerm& term : a.terms) {
    double bound = term.number;
    const bool range = term.op == Op::ge || term.op == Op::gt || term.op == Op::le || term.op == Op::lt;
    if (term.occur == Occur::must && range) {
      if (a_step >= o.widen_steps) continue;
      bound = widened_bound(term.op, term.number, a_step, o);
    }
    const bool h = c_holds(term, bound, b);
    if (term.occur == Occur::must) {
      if (!h) return false;
    } else if (term.occur == Occur::must_not) {
      if (h) return false;
    } else if (h && score) {
      ++*score;
    }
  }
  return true;
}

}  // namespace

// Heterogeneous lookup: interning a string_view allocates only for a string never seen.
struct SvHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Matcher::Interner {
  using Table = std::unordered_map<std::string, uint32_t, SvHash, std::equal_to<>>;
  Table keys, values;
  static uint32_t id(Table& m, std::string_view s) {
    auto it = m.find(s);
    if (it != m.end()) return it->second;
    const auto n = static_cast<uint32_t>(m.size());
    m.emplace(std::string(s), n);
    return n;
  }
  // Into c's existing vectors: a recycled Entry keeps their capacity.
  void compile(const Ticket& t, Compiled& c) {
    c.strs.clear();
    c.nums.clear();
    c.terms.clear();
    for (auto& [k, v] : t.string_properties) c.strs.emplace_back(id(keys, k), id(values, v));
    for (auto& [k, v] : t.numeric_properties) c.nums.emplace_back(id(keys, k), v);
    std::sort(c.strs.begin(), c.strs.end());
    std::sort(c.nums.begin(), c.nums.end());
    for (const Term& term : t.query.terms)
      c.terms.push_back(CTerm{term.occur, term.op, id(keys, term.key),
                              term.op == Op::eq ? id(values, term.text) : 0, term.number, term.numeric});
  }
};

// The tickets carrying one value tuple of a Sig, oldest first.
struct Matcher::Bucket {
  std::vector<Entry*> members;
  bool sorted = true;      // members in age order (false after an out-of-order add)
  // run() only: members as run positions with their hot-key value, contiguous, so the
  // candidate scan reads one array instead of chasing an Entry per member.
  struct Slot {
    uint32_t pos;
    double hot;     // the member's value of the run's hot key (NaN: none)
    double lo, hi;  // the member's own +range window on it, widened (+-inf: none)
  };
  std::vector<Slot> scan;
  // Matched members stay in scan (a run never reorders it); jump[i] of a matched member
  // points further on, towards the next unmatched one, path-compressed like a union-find,
  // so a later anchor skips runs of matched members in near-constant time instead of
  // rereading them (matches leave holes all over a bucket, not just a matched prefix).
  std::vector<uint32_t> jump;
  // Live tickets whose own must-equality tuple this is (Entry::want): the bucket stays, even
  // empty, while they are in the pool, so their run looks it up with no hashing.
  std::size_t wanted = 0;

  std::size_t next_unmatched(std::size_t i, const std::vector<char>& matched) {
    std::size_t r = i;
    while (r < scan.size() && matched[scan[r].pos]) r = jump[r];
    while (i < r) {
      const std::size_t nx = jump[i];
      jump[i] = static_cast<uint32_t>(r);
      i = nx;
    }
    return r;
  }
};

struct TupleHash {
  std::size_t operator()(const std::vector<uint32_t>& v) const {
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (uint32_t x : v) h = (h ^ x) * 0x100000001b3ull;
    return static_cast<std::size_t>(h ^ (h >> 29));
  }
};

struct Matcher::Sig {
  std::vector<uint32_t> keys;  // interned, sorted
  std::size_t users = 0;       // live tickets whose must-equality key set this is
  std::unordered_map<std::vector<uint32_t>, Bucket, TupleHash> buckets;  // values in keys order
};

struct Matcher::Entry {
  Ticket t;
  Compiled c;
  // The bucket key, computed at add(): the ticket's must-equality terms on non-numeric text
  // (only a string property of that value can meet one), interned, sorted by key, deduplicated.
  std::vector<std::pair<uint32_t, uint32_t>> must_eq;
  bool impossible = false;  // +k:x +k:y: nobody else can satisfy it
  Sig* sig = nullptr;       // the composite index of must_eq's keys, when it has one
  Bucket* want = nullptr;   // with sig: the bucket of must_eq's values (its candidates)
  bool dead = false;        // removed or matched: skipped, dropped by compact()
  uint32_t pos = 0;         // position in the current run's age order
};

// Ticket id -> Entry: open addressing with linear probing and backward-shift deletion, so
// handing 10,000 matched tickets out of a run costs one probe each instead of the linked
// bucket walk (three cold nodes) of std::unordered_map's erase. Load kept at or under 1/2;
// the multiplicative hash spreads sequential ids over the table.
struct Matcher::IdTable {
  struct Slot {
    uint64_t id = 0;
    Entry* e = nullptr;  // nullptr: empty
  };
  std::vector<Slot> slots = std::vector<Slot>(16);
  std::size_t count = 0;
  unsigned shift = 60;  // 64 - log2(slots.size())

  std::size_t home(uint64_t id) const { return static_cast<std::size_t>((id * 0x9E3779B97F4A7C15ull) >> shift); }
  std::size_t mask() const { return slots.size() - 1; }

  Entry* find(uint64_t id) const {
    for (std::size_t i = home(id);; i = (i + 1) & mask()) {
      if (!slots[i].e) return nullptr;
      if (slots[i].id == id) return slots[i].e;
    }
  }
  void insert(uint64_t id, Entry* e) {  // id not present
    if (2 * (count + 1) > slots.size()) grow();
    std::size_t i = home(id);
    while (slots[i].e) i = (i + 1) & mask();
    slots[i] = {id, e};
    ++count;
  }
  bool erase(uint64_t id) {
    std::size_t i = home(id);
    for (;; i = (i + 1) & mask()) {
      if (!slots[i].e) return false;
      if (slots[i].id == id) break;
    }
    // Backward shift: pull later members of the probe run into the hole, so no tombstones.
    for (std::size_t j = (i + 1) & mask();; j = (j + 1) & mask()) {
      if (!slots[j].e) break;
      const std::size_t h = home(slots[j].id);
      // Move j into the hole i unless its home lies cyclically in (i, j].
      const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (stays) continue;
      slots[i] = slots[j];
      i = j;
    }
    slots[i] = Slot{};
    --count;
    return true;
  }
  void grow() {
    std::vector<Slot> old;
    old.swap(slots);
    slots.assign(old.size() * 2, Slot{});
    --shift;
    count = 0;
    for (const Slot& s : old)
      if (s.e) insert(s.id, s.e);
  }
};

// run()'s working vectors, reused between runs (no page faults for fresh arrays each run).
struct Matcher::Scratch {
  std::vector<const Ticket*> order;
  std::vector<View> comp;
  // The compiled forms copied contiguously in age order each run: a bucket scan then walks
  // memory forward instead of missing the cache on three heap blocks per candidate. Kept
  // between runs, so the copy touches warm pages (a fresh arena per run page-faulted).
  std::vector<std::pair<uint32_t, uint32_t>> arena_strs;
  std::vector<std::pair<uint32_t, double>> arena_nums;
  std::vector<CTerm> arena_terms;
  std::vector<Matcher::Entry*> emitted;
  struct Offsets {
    uint32_t strs, nums, terms;
  };
  std::vector<Offsets> offsets;  // per position: where its compiled form sits in the arena
  std::vector<char> laid;  // the matched tickets, in the order of out's ids
  std::vector<double> hot;
  std::vector<std::pair<double, double>> window;  // per position: +range window on the hot key
  struct Counts {
    uint32_t players, max_count, count_multiple;
  };
  std::vector<Counts> counts;  // per position, so the search does not touch the Tickets
  std::vector<uint64_t> ids;
  std::vector<uint32_t> step, lo_of;
  std::vector<char> matched;
  std::vector<uint32_t> tuple;
};

namespace {

void compute_must_eq(const Compiled& c, std::vector<std::pair<uint32_t, uint32_t>>& kv, bool& impossible) {
  kv.clear();
  impossible = false;
  for (const CTerm& term : c.terms)
    if (term.occur == Occur::must && term.op == Op::eq && !term.numeric) kv.emplace_back(term.key, term.text);
  if (kv.empty()) return;
  std::sort(kv.begin(), kv.end());
  for (std::size_t i = 1; i < kv.size(); ++i)
    if (kv[i].first == kv[i - 1].first && kv[i].second != kv[i - 1].second) {
      impossible = true;
      return;
    }
  kv.erase(std::unique(kv.begin(), kv.end()), kv.end());
}

bool is_range(Op op) { return op == Op::ge || op == Op::gt || op == Op::le || op == Op::lt; }

}  // namespace

uint32_t widen_step(const Ticket& t, TimePoint now, const MatcherOptions& o) { return step_of(t, now, o); }

uint32_t accepted_min(const Ticket& t, TimePoint now, const MatcherOptions& o) {
  return min_at(t, step_of(t, now, o), o);
}

bool accepts(const Ticket& a, const Ticket& b, TimePoint now, const MatcherOptions& o, int* score) {
  return accepts_at(a, step_of(a, now, o), b, o, score);
}

bool group_valid(Group group, TimePoint now, const MatcherOptions& o) {
  if (group.empty()) return false;
  uint64_t total = 0;
  std::unordered_set<uint64_t> ids;
  for (const Ticket* t : group) {
    if (!t || !counts_valid(*t) || !ids.insert(t->id).second) return false;
    total += t->players();
  }
  for (const Ticket* t : group) {
    if (total < accepted_min(*t, now, o) || total > t->max_count || total % t->count_multiple != 0)
      return false;
  }
  for (const Ticket* a : group)
    for (const Ticket* b : group)
      if (a != b && !accepts(*a, *b, now, o)) return false;
  return true;
}

Matcher::Matcher(MatcherOptions options)
    : options_(options), pool_(std::make_unique<IdTable>()), interner_(std::make_unique<Interner>()), scratch_(std::make_unique<Scratch>()) {}
Matcher::~Matcher() = default;

Matcher::Sig* Matcher::register_sig(const std::vector<uint32_t>& keys) {
  for (auto& s : sigs_)
    if (s->keys == keys) return s.get();
  if (sigs_.size() >= kMaxCompositeIndexes) return nullptr;
  auto s = std::make_unique<Sig>();
  s->keys = keys;
  // Index the tickets already in the pool (the new one is appended by index_entry).
  std::vector<uint32_t> tuple;
  for (Entry* m : order_) {
    if (m->dead) continue;
    tuple.clear();
    for (uint32_t k : keys) {
      const uint32_t* v = lookup(std::span<const std::pair<uint32_t, uint32_t>>(m->c.strs), k);
      if (!v) break;
      tuple.push_back(*v);
    }
    if (tuple.size() == keys.size()) {
      Bucket& b = s->buckets[tuple];
      b.members.push_back(m);
      b.sorted = order_sorted_;
    }
  }
  sigs_.push_back(std::move(s));
  return sigs_.back().get();
}

void Matcher::index_entry(Entry* e) {
  compute_must_eq(e->c, e->must_eq, e->impossible);
  e->sig = nullptr;
  if (!e->must_eq.empty() && !e->impossible) {
    std::vector<uint32_t>& keys = scratch_->tuple;
    keys.clear();
    for (auto& [k, v] : e->must_eq) keys.push_back(k);
    const std::vector<uint32_t> sig_keys = keys;
    e->sig = register_sig(sig_keys);
    if (e->sig) ++e->sig->users;
  }
  for (const CTerm& t : e->c.terms)
    if (t.occur == Occur::must && is_range(t.op)) ++range_uses_[t.key];
  const bool in_order = order_.empty() || older(&order_.back()->t, &e->t);
  if (!in_order) order_sorted_ = false;
  order_.push_back(e);
  std::vector<uint32_t>& tuple = scratch_->tuple;
  e->want = nullptr;
  if (e->sig) {
    tuple.clear();
    for (auto& [k, v] : e->must_eq) tuple.push_back(v);
    auto it = e->sig->buckets.find(tuple);
    if (it == e->sig->buckets.end()) it = e->sig->buckets.emplace(tuple, Bucket{}).first;
    e->want = &it->second;
    ++e->want->wanted;
  }
  for (auto& s : sigs_) {
    tuple.clear();
    for (uint32_t k : s->keys) {
      const uint32_t* v = lookup(std::span<const std::pair<uint32_t, uint32_t>>(e->c.strs), k);
      if (!v) break;
      tuple.push_back(*v);
    }
    if (tuple.size() != s->keys.size()) continue;
    auto it = s->buckets.find(tuple);
    if (it == s->buckets.end()) it = s->buckets.emplace(tuple, Bucket{}).first;
    Bucket& b = it->second;
    if (!b.members.empty() && !older(&b.members.back()->t, &e->t)) b.sorted = false;
    b.members.push_back(e);
  }
}

// The counts of +range terms per key, for the hot key: a leaving ticket's terms come out.
void forget_ranges(std::unordered_map<uint32_t, std::size_t>& uses, std::span<const CTerm> terms) {
  for (const CTerm& t : terms)
    if (t.occur == Occur::must && is_range(t.op))
      if (auto it = uses.find(t.key); it != uses.end() && --it->second == 0) uses.erase(it);
}

void Matcher::bury(Entry* e) {
  e->dead = true;
  if (e->sig) --e->sig->users;
  if (e->want) --e->want->wanted;
  pool_->erase(e->t.id);
  graveyard_.push_back(e);
}

void Matcher::compact() {
  if (!graveyard_.empty()) {
    std::erase_if(order_, [](const Entry* e) { return e->dead; });
    for (auto& s : sigs_)
      for (auto it = s->buckets.begin(); it != s->buckets.end();) {
        std::erase_if(it->second.members, [](const Entry* e) { return e->dead; });
        it = it->second.members.empty() && it->second.wanted == 0 ? s->buckets.erase(it) : std::next(it);
      }
    // Key sets nobody uses any more make room for others (at most kMaxCompositeIndexes).
    std::erase_if(sigs_, [](const std::unique_ptr<Sig>& s) { return s->users == 0; });
    for (Entry* e : graveyard_) {
      e->dead = false;
      e->sig = nullptr;
      e->want = nullptr;
      e->t = Ticket{};
      free_.push_back(e);
    }
    graveyard_.clear();
  }
  if (!order_sorted_) {
    std::sort(order_.begin(), order_.end(), [](const Entry* x, const Entry* y) { return older(&x->t, &y->t); });
    order_sorted_ = true;
  }
  for (auto& s : sigs_)
    for (auto& [tuple, b] : s->buckets) {
      if (!b.sorted) {
        std::sort(b.members.begin(), b.members.end(),
                  [](const Entry* x, const Entry* y) { return older(&x->t, &y->t); });
        b.sorted = true;
      }
    }
}

void Matcher::rebuild() {
  compact();
  interner_ = std::make_unique<Interner>();
  sigs_.clear();
  range_uses_.clear();
  std::vector<Entry*> all;
  all.swap(order_);
  order_sorted_ = true;
  for (Entry* e : all) {
    interner_->compile(e->t, e->c);
    index_entry(e);
  }
}

AddResult Matcher::add(Ticket ticket) {
  if (!counts_valid(ticket)) return AddResult::bad_counts;
  if (pool_->count >= options_.max_pool_size) return AddResult::pool_full;
  if (pool_->find(ticket.id)) return AddResult::duplicate_id;
  // The intern tables only grow: rebuild them (and every compiled ticket) when they hold far
  // more strings than the pool could use, so a stream of one-off strings cannot grow them
  // without bound.
  if (interner_->keys.size() + interner_->values.size() > 64 * (pool_->count + 1024)) rebuild();
  // Tombstones wait for the next run; without runs (add/remove churn), drop them here so
  // they cannot pile up.
  if (graveyard_.size() > pool_->count + 1024) compact();
  Entry* e;
  if (!free_.empty()) {
    e = free_.back();
    free_.pop_back();
  } else {
    entries_.push_back(std::make_unique<Entry>());
    e = entries_.back().get();
  }
  e->t = std::move(ticket);
  interner_->compile(e->t, e->c);
  index_entry(e);
  pool_->insert(e->t.id, e);
  return AddResult::ok;
}

bool Matcher::remove(uint64_t id) {
  Entry* e = pool_->find(id);
  if (!e) return false;
  forget_ranges(range_uses_, e->c.terms);
  bury(e);
  return true;
}

const Ticket* Matcher::find(uint64_t id) const {
  const Entry* e = pool_->find(id);
  return e ? &e->t : nullptr;
}

std::size_t Matcher::size() const { return pool_->count; }

void Matcher::set_group_filter(GroupFilter filter) { filter_ = std::move(filter); }
void Matcher::set_group_former(GroupFormer former) { former_ = std::move(former); }

// One run's working state: the pool in age order (positions index the Scratch vectors),
// per-ticket widening, the hot-key values.
struct Matcher::Run {
  const MatcherOptions& o;
  TimePoint now;
  RunStats& stats;
  const GroupFilter& filter;
  const std::vector<Entry*>& entries;  // order_, oldest first
  Scratch& sc;
  std::vector<const Ticket*>& order;
  std::vector<View>& comp;
  // The numeric key most used by +range terms in the pool (skill, typically) and every
  // ticket's value of it (NaN: none), contiguous: collect() rejects a candidate outside the
  // anchor's +ranges on that key without touching the candidate's compiled form. Exact: a
  // candidate it skips would fail the anchor's query.
  uint32_t hot_key = UINT32_MAX;
  std::vector<double>& hot;
  std::vector<std::pair<Op, double>> hot_terms;
  std::vector<uint32_t>& step;
  std::vector<uint32_t>& lo_of;
  std::vector<char>& matched;

  // Used when the pool has more must-equality key sets than kMaxCompositeIndexes: built at
  // most once per run, (key << 32 | value) -> tickets with that string property, age order.
  std::unordered_map<uint64_t, Bucket> single;
  bool single_built = false;

  // Search state for one anchor.
  struct Cand {
    uint32_t pos;
    int score;
  };
  std::vector<Cand> cands;
  std::vector<uint64_t> suffix;  // players in cands[j..]
  std::vector<uint32_t> group, best;
  uint64_t best_total = 0;
  std::size_t nodes = 0, nodes_at_best = 0;
  bool gave_up = false, done = false;

  Run(const MatcherOptions& opts, TimePoint t, RunStats& s, const GroupFilter& f, const std::vector<Entry*>& es,
      Scratch& scratch)
      : o(opts),
        now(t),
        stats(s),
        filter(f),
        entries(es),
        sc(scratch),
        order(scratch.order),
        comp(scratch.comp),
        hot(scratch.hot),
        step(scratch.step),
        lo_of(scratch.lo_of),
        matched(scratch.matched) {}

  bool mutual(uint32_t a, uint32_t b, int* score) {
    ++stats.pair_checks;
    return c_accepts(comp[a], step[a], comp[b], o, score) && c_accepts(comp[b], step[b], comp[a], o, score);
  }

  Bucket* source_for(uint32_t a, bool& impossible) {
    const Entry& e = *entries[a];
    impossible = e.impossible;
    if (e.must_eq.empty() || e.impossible) return nullptr;
    if (e.sig) return e.want;  // may be empty: then only a party filling its own count matches
    // Too many key sets in the pool: the smallest single key=value posting list.
    if (!single_built) {
      single_built = true;
      for (uint32_t p = 0; p < entries.size(); ++p) {
        if (matched[p]) continue;
        for (auto& [k, v] : entries[p]->c.strs) {
          Bucket& b = single[(static_cast<uint64_t>(k) << 32) | v];
          b.jump.push_back(static_cast<uint32_t>(b.scan.size() + 1));
          b.scan.push_back({p, hot.empty() ? 0.0 : hot[p], sc.window[p].first, sc.window[p].second});
        }
      }
    }
    Bucket* smallest = nullptr;
    for (auto& [k, v] : e.must_eq) {
      auto b = single.find((static_cast<uint64_t>(k) << 32) | v);
      if (b == single.end()) {
        impossible = true;
        return nullptr;
      }
      if (!smallest || b->second.scan.size() < smallest->scan.size()) smallest = &b->second;
    }
    return smallest;
  }
  bool over_budget() {
    if (nodes >= o.max_search_nodes) {
      gave_up = true;
      return true;
    }
    return !best.empty() && nodes - nodes_at_best >= kImproveNodes;
  }

  // Depth-first over cands[from..]: group holds the anchor first; lo/hi/mult the intersection
  // of the members' accepted counts.
  void search(std::size_t from, uint64_t total, uint64_t lo, uint64_t hi, uint64_t mult) {
    ++nodes;
    if (total >= lo && total <= hi && total % mult == 0 && total > best_total) {
      bool ok = true;
      if (filter) {
        std::vector<const Ticket*> g;
        for (uint32_t p : group) g.push_back(order[p]);
        std::sort(g.begin(), g.end(), older);
        ok = filter(Group(g), now);
      }
      if (ok) {
        best = group;
        best_total = total;
        nodes_at_best = nodes;
        if (total == hi) {
          done = true;
          return;
        }
      }
    }
    for (std::size_t j = from; j < cands.size(); ++j) {
      if (done || over_budget()) return;
      // Not enough players left to reach any accepted count, or to beat the best: stop.
      if (total + suffix[j] < std::max<uint64_t>(lo, best_total + 1)) return;
      const uint32_t c = cands[j].pos;
      const Scratch::Counts& ct = sc.counts[c];
      const uint64_t nhi = std::min<uint64_t>(hi, ct.max_count);
      const uint64_t ntotal = total + ct.players;
      if (ntotal > nhi) continue;
      const uint64_t nmult = std::lcm(mult, static_cast<uint64_t>(ct.count_multiple));
      if (nmult > nhi) continue;
      bool fits = true;
      for (std::size_t g = 1; g < group.size() && fits; ++g) fits = mutual(group[g], c, nullptr);
      if (!fits) continue;
      group.push_back(c);
      search(j + 1, ntotal, std::max<uint64_t>(lo, lo_of[c]), nhi, nmult);
      group.pop_back();
    }
  }

  // The best group for anchor a among cands (already compatible with a), or empty.
  bool find_group(uint32_t a) {
    suffix.assign(cands.size() + 1, 0);
    for (std::size_t j = cands.size(); j-- > 0;) suffix[j] = suffix[j + 1] + sc.counts[cands[j].pos].players;
    group.assign(1, a);
    best.clear();
    best_total = 0;
    nodes = nodes_at_best = 0;
    gave_up = done = false;
    const Scratch::Counts& at = sc.counts[a];
    search(0, at.players, lo_of[a], at.max_count, at.count_multiple);
    stats.search_nodes += nodes;
    if (gave_up && best.empty()) ++stats.search_gave_up;
    return !best.empty();
  }

  void collect(uint32_t a, Bucket* src, std::size_t limit, bool& truncated) {
    cands.clear();
    truncated = false;
    hot_terms.clear();
    if (hot_key != UINT32_MAX && step[a] < o.widen_steps)
      for (const CTerm& t : comp[a].terms)
        if (t.occur == Occur::must && t.key == hot_key &&
            (t.op == Op::ge || t.op == Op::gt || t.op == Op::le || t.op == Op::lt))
          hot_terms.emplace_back(t.op, widened_bound(t.op, t.number, step[a], o));
    std::size_t scanned = 0;
    // The other direction, from the candidate's window: only when the anchor has a hot
    // value (a candidate with a +range on the key refuses an anchor without it, but the
    // exact check below finds that).
    const double ha = hot.empty() ? std::numeric_limits<double>::quiet_NaN() : hot[a];
    const bool reverse = !std::isnan(ha);
    auto consider = [&](uint32_t p, double hv, double plo, double phi) -> bool {
      ++scanned;
      if (p == a || matched[p]) return true;
      if (cands.size() >= limit) {
        truncated = true;
        return false;
      }
      for (const auto& [op, bound] : hot_terms)
        if (!in_range(op, hv, bound)) return true;  // NaN (no such property) fails too
      if (reverse && (ha < plo || ha > phi)) return true;
      int score = 0;
      if (mutual(a, p, &score)) cands.push_back({p, score});
      return true;
    };
    if (src) {
      const auto& scan = src->scan;
      for (std::size_t i = src->next_unmatched(0, matched); i < scan.size();
           i = src->next_unmatched(i + 1, matched))
        if (!consider(scan[i].pos, scan[i].hot, scan[i].lo, scan[i].hi)) break;
    } else {
      const double nan = std::numeric_limits<double>::quiet_NaN();
      for (uint32_t p = 0; p < order.size(); ++p)
        if (!consider(p, hot.empty() ? nan : hot[p], sc.window[p].first, sc.window[p].second)) break;
    }
    stats.scanned += scanned;
    // More should-matches first; age order (the scan order) among equals.
    std::stable_sort(cands.begin(), cands.end(), [](const Cand& x, const Cand& y) { return x.score > y.score; });
  }
};

std::vector<Match> Matcher::run(TimePoint now) {
  stats_ = RunStats{};
  std::vector<Match> out;
  compact();
  Scratch& sc = *scratch_;
  const std::size_t n = order_.size();
  Run r(options_, now, stats_, filter_, order_, sc);
  sc.order.resize(n);
  sc.comp.resize(n);
  sc.step.resize(n);
  sc.lo_of.resize(n);
  sc.matched.assign(n, 0);
  sc.counts.resize(n);
  sc.ids.resize(n);
  sc.window.resize(n);
  {
    std::size_t best_uses = 0;
    for (auto [key, count] : range_uses_)
      if (count > best_uses || (count == best_uses && key < r.hot_key)) {
        best_uses = count;
        r.hot_key = key;
      }
  }
  sc.hot.resize(r.hot_key != UINT32_MAX ? n : 0);
  // The arena is laid out bucket by bucket (of the most used key set), age order inside a
  // bucket: an anchor's candidates then sit next to each other in memory.
  for (uint32_t p = 0; p < n; ++p) order_[p]->pos = p;
  sc.arena_strs.clear();
  sc.arena_nums.clear();
  sc.arena_terms.clear();
  sc.offsets.resize(n);
  sc.laid.assign(n, 0);
  auto lay = [&](const Entry* e) {
    if (sc.laid[e->pos]) return;
    sc.laid[e->pos] = 1;
    sc.offsets[e->pos] = {static_cast<uint32_t>(sc.arena_strs.size()), static_cast<uint32_t>(sc.arena_nums.size()),
                          static_cast<uint32_t>(sc.arena_terms.size())};
    sc.arena_strs.insert(sc.arena_strs.end(), e->c.strs.begin(), e->c.strs.end());
    sc.arena_nums.insert(sc.arena_nums.end(), e->c.nums.begin(), e->c.nums.end());
    sc.arena_terms.insert(sc.arena_terms.end(), e->c.terms.begin(), e->c.terms.end());
  };
  const Sig* primary = nullptr;
  for (const auto& sg : sigs_)
    if (!primary || sg->users > primary->users) primary = sg.get();
  if (primary)
    for (const auto& [tuple, b] : primary->buckets)
      for (const Entry* e : b.members) lay(e);
  for (const Entry* e : order_) lay(e);
  for (uint32_t p = 0; p < n; ++p) {
    Entry* e = order_[p];
    sc.order[p] = &e->t;
    const auto [os, on, ot] = sc.offsets[p];
    sc.comp[p] = View{std::span(sc.arena_strs).subspan(os, e->c.strs.size()),
                      std::span(sc.arena_nums).subspan(on, e->c.nums.size()),
                      std::span(sc.arena_terms).subspan(ot, e->c.terms.size())};
    sc.step[p] = step_of(e->t, now, options_);
    sc.lo_of[p] = min_at(e->t, sc.step[p], options_);
    sc.counts[p] = {e->t.players(), e->t.max_count, e->t.count_multiple};
    sc.ids[p] = e->t.id;
    double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
    if (r.hot_key != UINT32_MAX) {
      const double* v = lookup(sc.comp[p].nums, r.hot_key);
      sc.hot[p] = v ? *v : std::numeric_limits<double>::quiet_NaN();
      // >= for > too: a looser window only lets the exact check decide.
      if (sc.step[p] < options_.widen_steps)
        for (const CTerm& t : sc.comp[p].terms) {
          if (t.occur != Occur::must || t.key != r.hot_key || !is_range(t.op)) continue;
          const double b = widened_bound(t.op, t.number, sc.step[p], options_);
          if (t.op == Op::ge || t.op == Op::gt) lo = std::max(lo, b);
          else hi = std::min(hi, b);
        }
    }
    sc.window[p] = {lo, hi};
  }
  for (auto& s : sigs_)
    for (auto& [tuple, b] : s->buckets) {
      b.scan.resize(b.members.size());
      b.jump.resize(b.members.size());
      for (std::size_t i = 0; i < b.members.size(); ++i) {
        const uint32_t p = b.members[i]->pos;
        b.scan[i] = {p, sc.hot.empty() ? 0.0 : sc.hot[p], sc.window[p].first, sc.window[p].second};
        b.jump[i] = static_cast<uint32_t>(i + 1);
      }
    }

  sc.emitted.clear();
  // g: run positions; position order is age order. Reads only the per-position vectors
  // (the Tickets are cold by now).
  auto emit = [&](std::vector<uint32_t>& g) {
    std::sort(g.begin(), g.end());
    Match m;
    m.tickets.reserve(g.size());
    for (uint32_t p : g) {
      m.tickets.push_back(sc.ids[p]);
      m.players += sc.counts[p].players;
      sc.emitted.push_back(order_[p]);
    }
    out.push_back(std::move(m));
  };

  if (former_) {
    auto groups = former_(Group(sc.order), now);
    std::unordered_set<uint64_t> used;
    for (auto& ids : groups) {
      std::vector<uint32_t> g;
      std::vector<const Ticket*> tickets;
      bool ok = !ids.empty();
      for (uint64_t id : ids) {
        Entry* e = pool_->find(id);
        if (!e || used.count(id)) {
          ok = false;
          break;
        }
        g.push_back(e->pos);
        tickets.push_back(&e->t);
      }
      if (!ok || !group_valid(Group(tickets), now, options_)) continue;
      for (uint64_t id : ids) used.insert(id);
      emit(g);
    }
  } else {
    for (uint32_t a = 0; a < n; ++a) {
      if (r.matched[a]) continue;
      ++stats_.anchors;
      bool impossible = false;
      Bucket* src = r.source_for(a, impossible);
      bool truncated = false;
      bool found = false;
      if (!impossible) {
        r.collect(a, src, options_.candidate_limit, truncated);
        found = r.find_group(a);
        if (!found && truncated && r.step[a] >= options_.widen_steps) {
          // A fully widened anchor gets an exhaustive second pass over every compatible
          // ticket, so a group that exists is found (within max_search_nodes): the widening
          // bound (docs/matchmaking.md). Younger anchors wait; they are retried next run.
          r.collect(a, src, SIZE_MAX, truncated);
          found = r.find_group(a);
        }
      } else {
        r.cands.clear();
        found = r.find_group(a);  // alone: a party that fills its own count
      }
      if (!found) continue;
      for (uint32_t p : r.best) r.matched[p] = 1;
      emit(r.best);
    }
  }
  std::size_t next = 0;
  for (Match& m : out) {
    m.ticket_data.reserve(m.tickets.size());
    for (std::size_t i = 0; i < m.tickets.size(); ++i) {
      // The Tickets are cold: ask for a few ahead while this one moves.
      if (next + 4 < sc.emitted.size()) __builtin_prefetch(&sc.emitted[next + 4]->t);
      Entry* e = sc.emitted[next++];
      // The arena's copy of the terms is warm; the Entry's would be a cache miss.
      forget_ranges(range_uses_, sc.comp[e->pos].terms);
      m.ticket_data.push_back(std::move(e->t));
      bury(e);
    }
  }
  stats_.matches = out.size();
  return out;
}

}  // namespace craft::matchmaker
