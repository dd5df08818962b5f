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

// One ticket's compiled form as spans into a run's contiguous arena (age order), so the scan
// of a bucket walks memory forward instead of chasing three heap blocks per ticket.
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

struct Matcher::Interner {
  std::unordered_map<std::string, uint32_t> keys, values;
  static uint32_t id(std::unordered_map<std::string, uint32_t>& m, std::string_view s) {
    auto it = m.find(std::string(s));
    if (it != m.end()) return it->second;
    const auto n = static_cast<uint32_t>(m.size());
    m.emplace(std::string(s), n);
    return n;
  }
  Compiled compile(const Ticket& t) {
    Compiled c;
    for (auto& [k, v] : t.string_properties) c.strs.emplace_back(id(keys, k), id(values, v));
    for (auto& [k, v] : t.numeric_properties) c.nums.emplace_back(id(keys, k), v);
    std::sort(c.strs.begin(), c.strs.end());
    std::sort(c.nums.begin(), c.nums.end());
    for (const Term& term : t.query.terms)
      c.terms.push_back(CTerm{term.occur, term.op, id(keys, term.key),
                              term.op == Op::eq ? id(values, term.text) : 0, term.number, term.numeric});
    return c;
  }
};

// A ticket's bucket key, computed once at add(): its must-equality terms on non-numeric text
// (only a string property of that value can meet one), sorted and deduplicated.
struct IndexKey {
  bool none = true;        // no such term: the anchor scans the pool
  bool impossible = false; // +k:x +k:y: nobody else can satisfy it
  std::vector<std::string> keys;
  std::string sig, tuple;  // length-prefixed keys / values
};

void put_lp(std::string& out, std::string_view v) {
  out += std::to_string(v.size());
  out.push_back(':');
  out.append(v);
}

IndexKey index_key(const Ticket& t) {
  IndexKey ik;
  std::vector<std::pair<std::string_view, std::string_view>> kv;
  for (const Term& term : t.query.terms)
    if (term.occur == Occur::must && term.op == Op::eq && !term.numeric) kv.emplace_back(term.key, term.text);
  if (kv.empty()) return ik;
  ik.none = false;
  std::sort(kv.begin(), kv.end());
  for (std::size_t i = 1; i < kv.size(); ++i)
    if (kv[i].first == kv[i - 1].first && kv[i].second != kv[i - 1].second) {
      ik.impossible = true;
      return ik;
    }
  kv.erase(std::unique(kv.begin(), kv.end()), kv.end());
  for (auto& [k, v] : kv) {
    ik.keys.emplace_back(k);
    put_lp(ik.sig, k);
    put_lp(ik.tuple, v);
  }
  return ik;
}

struct Matcher::Entry {
  Ticket t;
  Compiled c;
  IndexKey ik;
};

namespace {
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

Matcher::Matcher(MatcherOptions options) : options_(options), interner_(std::make_unique<Interner>()) {}
Matcher::~Matcher() = default;

AddResult Matcher::add(Ticket ticket) {
  if (!counts_valid(ticket)) return AddResult::bad_counts;
  if (pool_.size() >= options_.max_pool_size) return AddResult::pool_full;
  if (pool_.count(ticket.id)) return AddResult::duplicate_id;
  const uint64_t id = ticket.id;
  // The intern tables only grow: rebuild them (and every compiled ticket) when they hold far
  // more strings than the pool could use, so a stream of one-off strings cannot grow them
  // without bound.
  if (interner_->keys.size() + interner_->values.size() > 64 * (pool_.size() + 1024)) {
    interner_ = std::make_unique<Interner>();
    for (auto& [eid, e] : pool_) e->c = interner_->compile(e->t);
  }
  auto e = std::make_unique<Entry>();
  e->c = interner_->compile(ticket);
  e->ik = index_key(ticket);
  e->t = std::move(ticket);
  pool_.emplace(id, std::move(e));
  return AddResult::ok;
}

bool Matcher::remove(uint64_t id) { return pool_.erase(id) > 0; }

const Ticket* Matcher::find(uint64_t id) const {
  auto it = pool_.find(id);
  return it == pool_.end() ? nullptr : &it->second->t;
}

std::size_t Matcher::size() const { return pool_.size(); }

void Matcher::set_group_filter(GroupFilter filter) { filter_ = std::move(filter); }
void Matcher::set_group_former(GroupFormer former) { former_ = std::move(former); }

// One run's working state: the pool in age order, per-ticket widening, the indexes.
struct Matcher::Run {
  const MatcherOptions& o;
  TimePoint now;
  RunStats& stats;
  const GroupFilter& filter;
  std::vector<const Ticket*> order;  // oldest first
  std::vector<View> comp;
  std::vector<const IndexKey*> keys_of;
  // The numeric key most used by +range terms this run (skill, typically) and every
  // ticket's value of it (NaN: none), contiguous: collect() rejects a candidate outside the
  // anchor's +ranges on that key without touching the candidate's compiled form. Exact: a
  // candidate it skips would fail the anchor's query.
  uint32_t hot_key = UINT32_MAX;
  std::vector<double> hot;
  std::vector<std::pair<Op, double>> hot_terms;
  std::vector<std::pair<uint32_t, uint32_t>> arena_strs;
  std::vector<std::pair<uint32_t, double>> arena_nums;
  std::vector<CTerm> arena_terms;
  std::vector<uint32_t> step, lo_of;
  std::vector<char> matched;

  // Composite index: must-equality key set -> value tuple -> positions (age order), with a
  // cursor past the matched prefix.
  struct Bucket {
    std::vector<uint32_t> pos;
    std::size_t cursor = 0;
  };
  std::unordered_map<std::string, std::unordered_map<std::string, Bucket>> composite;
  std::unordered_map<std::string, Bucket> single;  // "key\0value" -> positions
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

  Run(const MatcherOptions& opts, TimePoint t, RunStats& s, const GroupFilter& f)
      : o(opts), now(t), stats(s), filter(f) {}

  static void put(std::string& out, std::string_view v) {
    out += std::to_string(v.size());
    out.push_back(':');
    out.append(v);
  }

  bool mutual(uint32_t a, uint32_t b, int* score) {
    ++stats.pair_checks;
    return c_accepts(comp[a], step[a], comp[b], o, score) && c_accepts(comp[b], step[b], comp[a], o, score);
  }

  Bucket* source_for(uint32_t a, bool& impossible) {
    const IndexKey& ik = *keys_of[a];
    impossible = ik.impossible;
    if (ik.none || ik.impossible) return nullptr;
    const std::string& sig = ik.sig;
    const std::string& tuple = ik.tuple;
    auto it = composite.find(sig);
    if (it == composite.end() && composite.size() < kMaxCompositeIndexes) {
      auto& idx = composite[sig];
      std::string tup;
      for (uint32_t p = 0; p < order.size(); ++p) {
        if (matched[p]) continue;
        tup.clear();
        bool all = true;
        for (const std::string& k : ik.keys) {
          auto s = order[p]->string_properties.find(k);
          if (s == order[p]->string_properties.end()) {
            all = false;
            break;
          }
          put(tup, s->second);
        }
        if (all) idx[tup].pos.push_back(p);
      }
      it = composite.find(sig);
    }
    if (it != composite.end()) {
      auto b = it->second.find(tuple);
      if (b == it->second.end()) {
        impossible = true;
        return nullptr;
      }
      return &b->second;
    }
    // Too many key sets this run: the smallest single key=value posting list.
    if (!single_built) {
      single_built = true;
      std::string key;
      for (uint32_t p = 0; p < order.size(); ++p) {
        if (matched[p]) continue;
        for (auto& [k, v] : order[p]->string_properties) {
          key.clear();
          put(key, k);
          put(key, v);
          single[key].pos.push_back(p);
        }
      }
    }
    Bucket* smallest = nullptr;
    std::string key;
    std::string_view rest = ik.tuple;  // the values, length-prefixed, in ik.keys order
    for (const std::string& k : ik.keys) {
      const std::size_t colon = rest.find(':');
      std::size_t len = 0;
      for (char ch : rest.substr(0, colon)) len = len * 10 + static_cast<std::size_t>(ch - '0');
      std::string_view v = rest.substr(colon + 1, len);
      rest.remove_prefix(colon + 1 + len);
      key.clear();
      put(key, k);
      put(key, v);
      auto b = single.find(key);
      if (b == single.end()) {
        impossible = true;
        return nullptr;
      }
      if (!smallest || b->second.pos.size() < smallest->pos.size()) smallest = &b->second;
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
      const Ticket& ct = *order[c];
      const uint64_t nhi = std::min<uint64_t>(hi, ct.max_count);
      const uint64_t ntotal = total + ct.players();
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
    for (std::size_t j = cands.size(); j-- > 0;) suffix[j] = suffix[j + 1] + order[cands[j].pos]->players();
    group.assign(1, a);
    best.clear();
    best_total = 0;
    nodes = nodes_at_best = 0;
    gave_up = done = false;
    const Ticket& at = *order[a];
    search(0, at.players(), lo_of[a], at.max_count, at.count_multiple);
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
    auto consider = [&](uint32_t p) -> bool {
      if (p == a || matched[p]) return true;
      if (cands.size() >= limit) {
        truncated = true;
        return false;
      }
      for (const auto& [op, bound] : hot_terms)
        if (!in_range(op, hot[p], bound)) return true;  // NaN (no such property) fails too
      int score = 0;
      if (mutual(a, p, &score)) cands.push_back({p, score});
      return true;
    };
    if (src) {
      while (src->cursor < src->pos.size() && matched[src->pos[src->cursor]]) ++src->cursor;
      for (std::size_t i = src->cursor; i < src->pos.size(); ++i)
        if (!consider(src->pos[i])) break;
    } else {
      for (uint32_t p = 0; p < order.size(); ++p)
        if (!consider(p)) break;
    }
    // More should-matches first; age order (the scan order) among equals.
    std::stable_sort(cands.begin(), cands.end(), [](const Cand& x, const Cand& y) { return x.score > y.score; });
  }
};

std::vector<Match> Matcher::run(TimePoint now) {
  stats_ = RunStats{};
  std::vector<Match> out;
  Run r(options_, now, stats_, filter_);
  std::vector<const Entry*> entries;
  entries.reserve(pool_.size());
  for (auto& [id, e] : pool_) entries.push_back(e.get());
  std::sort(entries.begin(), entries.end(), [](const Entry* x, const Entry* y) { return older(&x->t, &y->t); });
  const std::size_t n = entries.size();
  r.order.reserve(n);
  std::size_t ns = 0, nn = 0, nt = 0;
  r.keys_of.reserve(n);
  for (const Entry* e : entries) {
    r.order.push_back(&e->t);
    r.keys_of.push_back(&e->ik);
    ns += e->c.strs.size();
    nn += e->c.nums.size();
    nt += e->c.terms.size();
  }
  r.arena_strs.reserve(ns);
  r.arena_nums.reserve(nn);
  r.arena_terms.reserve(nt);
  for (const Entry* e : entries) {
    r.arena_strs.insert(r.arena_strs.end(), e->c.strs.begin(), e->c.strs.end());
    r.arena_nums.insert(r.arena_nums.end(), e->c.nums.begin(), e->c.nums.end());
    r.arena_terms.insert(r.arena_terms.end(), e->c.terms.begin(), e->c.terms.end());
  }
  r.comp.reserve(n);
  ns = nn = nt = 0;
  for (const Entry* e : entries) {
    r.comp.push_back(View{std::span(r.arena_strs).subspan(ns, e->c.strs.size()),
                          std::span(r.arena_nums).subspan(nn, e->c.nums.size()),
                          std::span(r.arena_terms).subspan(nt, e->c.terms.size())});
    ns += e->c.strs.size();
    nn += e->c.nums.size();
    nt += e->c.terms.size();
  }
  {
    std::unordered_map<uint32_t, std::size_t> uses;
    for (const CTerm& t : r.arena_terms)
      if (t.occur == Occur::must && (t.op == Op::ge || t.op == Op::gt || t.op == Op::le || t.op == Op::lt))
        ++uses[t.key];
    std::size_t best_uses = 0;
    for (auto [key, count] : uses)
      if (count > best_uses || (count == best_uses && key < r.hot_key)) {
        best_uses = count;
        r.hot_key = key;
      }
    if (r.hot_key != UINT32_MAX) {
      r.hot.resize(n);
      for (std::size_t p = 0; p < n; ++p) {
        const double* v = lookup(r.comp[p].nums, r.hot_key);
        r.hot[p] = v ? *v : std::numeric_limits<double>::quiet_NaN();
      }
    }
  }
  r.step.resize(n);
  r.lo_of.resize(n);
  r.matched.assign(n, 0);
  for (std::size_t p = 0; p < n; ++p) {
    r.step[p] = step_of(*r.order[p], now, options_);
    r.lo_of[p] = min_at(*r.order[p], r.step[p], options_);
  }

  auto emit = [&](std::vector<const Ticket*> g) {
    std::sort(g.begin(), g.end(), older);
    Match m;
    for (const Ticket* t : g) {
      m.tickets.push_back(t->id);
      m.players += t->players();
    }
    out.push_back(std::move(m));
  };

  if (former_) {
    auto groups = former_(Group(r.order), now);
    std::unordered_set<uint64_t> used;
    for (auto& ids : groups) {
      std::vector<const Ticket*> g;
      bool ok = !ids.empty();
      for (uint64_t id : ids) {
        const Ticket* t = find(id);
        if (!t || used.count(id)) {
          ok = false;
          break;
        }
        g.push_back(t);
      }
      if (!ok || !group_valid(Group(g), now, options_)) continue;
      for (uint64_t id : ids) used.insert(id);
      emit(std::move(g));
    }
  } else {
    for (uint32_t a = 0; a < n; ++a) {
      if (r.matched[a]) continue;
      ++stats_.anchors;
      bool impossible = false;
      Run::Bucket* src = r.source_for(a, impossible);
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
      std::vector<const Ticket*> g;
      for (uint32_t p : r.best) {
        r.matched[p] = 1;
        g.push_back(r.order[p]);
      }
      emit(std::move(g));
    }
  }
  for (Match& m : out) {
    m.ticket_data.reserve(m.tickets.size());
    for (uint64_t id : m.tickets) {
      auto it = pool_.find(id);
      m.ticket_data.push_back(std::move(it->second->t));
      pool_.erase(it);
    }
  }
  stats_.matches = out.size();
  return out;
}

}  // namespace craft::matchmaker
