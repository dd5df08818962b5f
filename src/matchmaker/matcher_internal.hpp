// Internal to src/matchmaker (not a public header): the compiled ticket form, the pool's
// index structures and the rule helpers shared by matcher.cpp (the pool: add, remove, the
// index kept between runs) and matcher_run.cpp (run(): candidate scan and group search).
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "matchmaker/matcher.hpp"

namespace craft::matchmaker {
namespace detail {


// Extra search nodes spent looking for a larger group once a valid one is known: bounds the
// work of "prefer the largest accepted count" (the first valid group is always kept).
inline constexpr std::size_t kImproveNodes = 256;
// Distinct must-equality key sets that get a composite bucket index (kept between runs; a key
// set no pooled ticket uses any more frees its slot at the next run); tickets past it use the
// single key=value index built once per run (so a pool of tickets with all-different key
// sets costs O(properties) to index, not O(n) per key set).
inline constexpr std::size_t kMaxCompositeIndexes = 32;

// T: a Ticket, or an Entry's copy of its counts and age (Matcher::Entry::Hot).
template <class T>
inline uint32_t top_count(const T& t) {
  const uint32_t m = std::max<uint32_t>(t.count_multiple, 1);
  return t.max_count / m * m;  // >= min_count: add() refuses tickets with no multiple in range
}

template <class T>
inline uint32_t step_of(const T& t, TimePoint now, const MatcherOptions& o) {
  if (o.widen_steps == 0) return 0;
  if (now <= t.created) return 0;
  if (o.widen_after.count() <= 0) return o.widen_steps;
  const auto age = now - t.created;
  const auto k = static_cast<uint64_t>(age / o.widen_after);
  return static_cast<uint32_t>(std::min<uint64_t>(k, o.widen_steps));
}

template <class T>
inline uint32_t min_at(const T& t, uint32_t step, const MatcherOptions& o) {
  if (step >= o.widen_steps) return t.min_count;
  const uint32_t top = top_count(t);
  const uint64_t span = top - t.min_count;
  return top - static_cast<uint32_t>(span * step / o.widen_steps);
}

// Does `term` hold on `b`? `bound` is the (possibly widened) range bound.
inline bool holds(const Term& term, double bound, const Ticket& b) {
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

inline bool accepts_at(const Ticket& a, uint32_t a_step, const Ticket& b, const MatcherOptions& o, int* score) {
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

inline bool counts_valid(const Ticket& t) {
  if (t.members.empty() || t.min_count < 1 || t.min_count > t.max_count || t.count_multiple < 1)
    return false;
  if (t.players() > t.max_count) return false;
  return top_count(t) >= t.min_count;
}

template <class T>
inline bool older(const T* a, const T* b) {  // T: a Ticket or an Entry::Hot
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
inline const V* lookup(std::span<const std::pair<uint32_t, V>> v, uint32_t key) {
  for (const auto& [k, x] : v) {
    if (k == key) return &x;
    if (k > key) break;
  }
  return nullptr;
}

// A +range term's bound at `step` (< widen_steps): docs/matchmaking.md, "Widening".
inline double widened_bound(Op op, double number, uint32_t step, const MatcherOptions& o) {
  const double widen = step * o.range_widen_fraction * std::max(std::fabs(number), 1.0);
  return (op == Op::ge || op == Op::gt) ? number - widen : number + widen;
}

inline bool in_range(Op op, double v, double bound) {
  switch (op) {
    case Op::ge: return v >= bound;
    case Op::gt: return v > bound;
    case Op::le: return v <= bound;
    case Op::lt: return v < bound;
    default: return false;
  }
}

inline bool c_holds(const CTerm& t, double bound, const View& b) {
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
inline bool c_accepts(const View& a, uint32_t a_step, const View& b, const MatcherOptions& o, int* score) {
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


inline void compute_must_eq(const Compiled& c, std::vector<std::pair<uint32_t, uint32_t>>& kv, bool& impossible) {
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

inline bool is_range(Op op) { return op == Op::ge || op == Op::gt || op == Op::le || op == Op::lt; }

// The common query shape, checked without the generic term loop: every term is a
// must-equality on text (the bucket proves it), a +range on one numeric key, or a should
// equality on text (a score). Two such tickets that share their own bucket (each carries the
// other's must-equality tuple) accept each other exactly when each one's hot-key value lies
// in the other's +range window: the pair check is two interval tests and the should scores,
// over one cache line per ticket. Anything else (must-not, key:*, numeric equality, ranges on
// two keys, more than kFastStrs string properties) takes the generic c_accepts.
inline constexpr std::size_t kFastStrs = 4, kFastShould = 2, kFastRanges = 2, kFastNums = 2;
// Laid out so what run()'s setup reads (the window and the hot-key value) fills the first 64
// bytes and the should data (read for the bucket's score copy) the next 48.
struct Fast {
  bool simple = false;
  bool self_member = false;  // its own string properties carry its must-equality tuple
  uint8_t nstrs = 0, nshould = 0, nranges = 0;
  uint8_t nnums = UINT8_MAX;  // UINT8_MAX: more numeric properties than kFastNums (not inline)
  Op rop[kFastRanges] = {};
  uint32_t range_key = UINT32_MAX;  // the key of its +range terms (UINT32_MAX: none)
  double rnum[kFastRanges] = {};    // its +range terms' (unwidened) bounds
  std::pair<uint32_t, double> nums[kFastNums] = {};        // its numeric properties, when few
  std::pair<uint32_t, uint32_t> strs[kFastStrs] = {};      // all its string properties, by key
  std::pair<uint32_t, uint32_t> should[kFastShould] = {};  // its should terms: key, value
};

// must_eq: from compute_must_eq (not impossible). Sets f.simple only for the shape above.
inline void compute_fast(const Compiled& c, std::span<const std::pair<uint32_t, uint32_t>> must_eq, Fast& f) {
  f = Fast{};
  if (must_eq.empty() || c.strs.size() > kFastStrs) return;
  for (const CTerm& t : c.terms) {
    if (t.occur == Occur::must && t.op == Op::eq && !t.numeric) continue;  // in must_eq
    if (t.occur == Occur::must && is_range(t.op)) {
      if ((f.range_key != UINT32_MAX && f.range_key != t.key) || f.nranges == kFastRanges) return;
      f.range_key = t.key;
      f.rop[f.nranges] = t.op;
      f.rnum[f.nranges++] = t.number;
      continue;
    }
    if (t.occur == Occur::should && t.op == Op::eq && !t.numeric && f.nshould < kFastShould) {
      f.should[f.nshould++] = {t.key, t.text};
      continue;
    }
    return;
  }
  f.self_member = true;
  for (auto [k, v] : must_eq) {
    const uint32_t* own = lookup(std::span<const std::pair<uint32_t, uint32_t>>(c.strs), k);
    if (!own || *own != v) f.self_member = false;
  }
  for (auto kv : c.strs) f.strs[f.nstrs++] = kv;
  if (c.nums.size() <= kFastNums) {
    f.nnums = 0;
    for (auto kv : c.nums) f.nums[f.nnums++] = kv;
  }
  f.simple = true;
}

// a's should terms that hold on b: the fast form of c_accepts' score (text equality holds
// only on a string property of that value).
template <class A, class B>
inline int fast_score(const A& a, const B& b) {
  int s = 0;
  for (uint8_t i = 0; i < a.nshould; ++i)
    for (uint8_t j = 0; j < b.nstrs; ++j)
      if (b.strs[j] == a.should[i]) {
        ++s;
        break;
      }
  return s;
}

// What fast_score reads of a bucket member, kept next to the bucket's scan array (a bucket's
// members are scattered over the pool's age order; this keeps a candidate's score data in
// the bucket's own memory).
struct FastScore {
  uint8_t nstrs = 0, nshould = 0;
  std::pair<uint32_t, uint32_t> strs[kFastStrs] = {};
  std::pair<uint32_t, uint32_t> should[kFastShould] = {};
};

// A ticket's +range terms on the run's hot key, intersected and widened for its step, with
// strictness: `v` passes exactly when every one of those terms holds on v (NaN, a missing
// property, fails).
struct Window {
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  bool binds = false, lo_strict = false, hi_strict = false;
  void add(Op op, double bound) {
    binds = true;
    const bool strict = op == Op::gt || op == Op::lt;
    if (op == Op::ge || op == Op::gt) {
      if (bound > lo) {
        lo = bound;
        lo_strict = strict;
      } else if (bound == lo) {
        lo_strict = lo_strict || strict;
      }
    } else if (bound < hi) {
      hi = bound;
      hi_strict = strict;
    } else if (bound == hi) {
      hi_strict = hi_strict || strict;
    }
  }
  bool holds(double v) const {
    if (!binds) return true;
    return (lo_strict ? v > lo : v >= lo) && (hi_strict ? v < hi : v <= hi);
  }
};

// A Window as closed bounds: for a value v that is not NaN, w.holds(v) == (v >= lo && v <= hi)
// (a strict bound becomes the next double inward: v > x exactly when v >= nextafter(x, +inf);
// "> +inf" and "< -inf" hold for nothing: NaN, which no compare passes). A window that does
// not bind is [-inf, +inf]. A NaN value passes exactly when the window does not bind.
struct Closed {
  double lo, hi;
  explicit Closed(const Window& w) {
    constexpr double inf = std::numeric_limits<double>::infinity();
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    if (!w.binds) {
      lo = -inf;
      hi = inf;
      return;
    }
    lo = !w.lo_strict ? w.lo : w.lo == inf ? nan : std::nextafter(w.lo, inf);
    hi = !w.hi_strict ? w.hi : w.hi == -inf ? nan : std::nextafter(w.hi, -inf);
  }
};


}  // namespace detail



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
  void compile(const Ticket& t, detail::Compiled& c) {
    c.strs.clear();
    c.nums.clear();
    c.terms.clear();
    for (auto& [k, v] : t.string_properties) c.strs.emplace_back(id(keys, k), id(values, v));
    for (auto& [k, v] : t.numeric_properties) c.nums.emplace_back(id(keys, k), v);
    std::sort(c.strs.begin(), c.strs.end());
    std::sort(c.nums.begin(), c.nums.end());
    for (const Term& term : t.query.terms)
      c.terms.push_back(detail::CTerm{term.occur, term.op, id(keys, term.key),
                              term.op == Op::eq ? id(values, term.text) : 0, term.number, term.numeric});
  }
};

// The tickets carrying one value tuple of a Sig, oldest first.
struct Matcher::Bucket {
  std::vector<Entry*> members;
  bool sorted = true;      // members in age order (false after an out-of-order add)
  // run() only: members as run positions with what the candidate scan tests, one array per
  // field (structure of arrays), so the scan streams through a few contiguous arrays and its
  // window tests compile to compares without branches (Run::collect).
  std::vector<uint32_t> pos;
  std::vector<double> hot;        // the member's value of the run's hot key (NaN: none)
  std::vector<double> lo, hi;     // its own +range window on the hot key, closed (Closed)
  std::vector<uint8_t> binds;     // its window binds (a NaN value then fails it)
  std::vector<uint8_t> own;       // a fast-form member whose own bucket this is (Scratch::fw)
  std::vector<detail::FastScore> score;  // the own members' should data
  // Matched members stay in the arrays until a scan finds the prefix it walked mostly
  // matched: it then packs that prefix's unmatched members against its end (order kept) and
  // moves `begin` up, so later anchors do not reread matched members (matches leave holes
  // all over a bucket, not just a matched prefix). Amortized O(1) per matched member.
  uint32_t begin = 0;
  // Live tickets whose own must-equality tuple this is (Entry::want): the bucket stays, even
  // empty, while they are in the pool, so their run looks it up with no hashing.
  std::size_t wanted = 0;

  void clear_slots() {
    pos.clear();
    hot.clear();
    lo.clear();
    hi.clear();
    binds.clear();
    own.clear();
    score.clear();
    begin = 0;
  }
  void resize_slots(std::size_t n) {
    pos.resize(n);
    hot.resize(n);
    lo.resize(n);
    hi.resize(n);
    binds.resize(n);
    own.resize(n);
    score.resize(n);
    begin = 0;
  }
  // Packs the unmatched members of [begin, end) against `end`, in order; begin moves up.
  void pack(std::size_t end, const std::vector<char>& matched) {
    std::size_t w = end;
    for (std::size_t r = end; r-- > begin;) {
      if (matched[pos[r]]) continue;
      if (--w != r) {
        pos[w] = pos[r];
        hot[w] = hot[r];
        lo[w] = lo[r];
        hi[w] = hi[r];
        binds[w] = binds[r];
        own[w] = own[r];
        score[w] = score[r];
      }
    }
    begin = static_cast<uint32_t>(w);
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

// Cache-line aligned: a run's setup reads every pooled Entry (cold: the pool is larger than
// the L2), so what it reads sits in the first two lines (the fields below, then the fast
// form's window), not in the Ticket further on.
struct alignas(64) Matcher::Entry {
  bool dead = false;        // removed or matched: skipped, dropped by compact()
  bool impossible = false;  // +k:x +k:y: nobody else can satisfy it
  bool has_eq = false;      // must_eq is not empty
  uint32_t pos = 0;         // position in the current run's age order
  uint32_t nranges = 0;     // its +range terms (Matcher::range_uses_)
  Sig* sig = nullptr;       // the composite index of must_eq's keys, when it has one
  Bucket* want = nullptr;   // with sig: the bucket of must_eq's values (its candidates)
  // The Ticket's id, age and counts, copied at add() (step_of / min_at take either).
  struct Hot {
    uint64_t id = 0;
    TimePoint created{};
    uint32_t players = 0, min_count = 0, max_count = 0, count_multiple = 1;
  } hot;
  detail::Fast fast;
  Ticket t;
  detail::Compiled c;
  // The bucket key, computed at add(): the ticket's must-equality terms on non-numeric text
  // (only a string property of that value can meet one), interned, sorted by key, deduplicated.
  std::vector<std::pair<uint32_t, uint32_t>> must_eq;
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
  void prefetch(uint64_t id) const { __builtin_prefetch(&slots[home(id)]); }
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
  std::vector<detail::View> comp;
  // The compiled forms copied contiguously in age order each run: a bucket scan then walks
  // memory forward instead of missing the cache on three heap blocks per candidate. Kept
  // between runs, so the copy touches warm pages (a fresh arena per run page-faulted).
  std::vector<std::pair<uint32_t, uint32_t>> arena_strs;
  std::vector<std::pair<uint32_t, double>> arena_nums;
  std::vector<detail::CTerm> arena_terms;
  std::vector<uint32_t> emitted;  // positions of the matched tickets, in the order of out's ids
  struct Offsets {
    uint32_t strs, nums, terms;
  };
  std::vector<Offsets> offsets;  // per position: where its compiled form sits in the arena
  std::vector<char> laid;
  std::vector<double> hot;
  std::vector<detail::Window> window;  // per position: +range window on the hot key
  std::vector<detail::FastScore> fscore;  // per position, fast-form tickets: should data
  // Per position, for a ticket the fast pair check applies to, its own bucket (else
  // nullptr): two tickets with the same non-null fw are checked by Run::mutual's fast path.
  std::vector<const Matcher::Bucket*> fw;
  std::vector<char> has_comp;
  // Per position: where the anchor's candidates come from (Run::source_for).
  enum SrcKind : uint8_t { src_pool, src_bucket, src_single, src_impossible };
  std::vector<Matcher::Bucket*> src;
  std::vector<SrcKind> src_kind;  // comp[p] is filled (a fast-form ticket's only on demand)
  struct Counts {
    uint32_t players, max_count, count_multiple;
  };
  std::vector<Counts> counts;  // per position, so the search does not touch the Tickets
  std::vector<uint64_t> ids;
  std::vector<uint32_t> step, lo_of;
  std::vector<char> matched;
  std::vector<uint32_t> tuple;
};

}  // namespace craft::matchmaker
