#include "matchmaker/matcher.hpp"

#include <algorithm>
#include <cmath>
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

Matcher::Matcher(MatcherOptions options) : options_(options) {}
Matcher::~Matcher() = default;

AddResult Matcher::add(Ticket ticket) {
  if (!counts_valid(ticket)) return AddResult::bad_counts;
  if (pool_.size() >= options_.max_pool_size) return AddResult::pool_full;
  if (pool_.count(ticket.id)) return AddResult::duplicate_id;
  const uint64_t id = ticket.id;
  pool_.emplace(id, std::make_unique<Ticket>(std::move(ticket)));
  return AddResult::ok;
}

bool Matcher::remove(uint64_t id) { return pool_.erase(id) > 0; }

const Ticket* Matcher::find(uint64_t id) const {
  auto it = pool_.find(id);
  return it == pool_.end() ? nullptr : it->second.get();
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
    return accepts_at(*order[a], step[a], *order[b], o, score) &&
           accepts_at(*order[b], step[b], *order[a], o, score);
  }

  Bucket* source_for(uint32_t a, bool& impossible) {
    impossible = false;
    // The anchor's must-equality terms on non-numeric text can only be met by a string
    // property of that value: the candidates are in that bucket.
    std::vector<std::pair<std::string_view, std::string_view>> kv;
    for (const Term& t : order[a]->query.terms)
      if (t.occur == Occur::must && t.op == Op::eq && !t.numeric) kv.emplace_back(t.key, t.text);
    if (kv.empty()) return nullptr;
    std::sort(kv.begin(), kv.end());
    for (std::size_t i = 1; i < kv.size(); ++i)
      if (kv[i].first == kv[i - 1].first && kv[i].second != kv[i - 1].second) {
        impossible = true;  // +k:x +k:y: nobody else can satisfy it
        return nullptr;
      }
    kv.erase(std::unique(kv.begin(), kv.end()), kv.end());
    std::string sig, tuple;
    for (auto& [k, v] : kv) {
      put(sig, k);
      put(tuple, v);
    }
    auto it = composite.find(sig);
    if (it == composite.end() && composite.size() < kMaxCompositeIndexes) {
      auto& idx = composite[sig];
      std::string tup;
      for (uint32_t p = 0; p < order.size(); ++p) {
        if (matched[p]) continue;
        tup.clear();
        bool all = true;
        for (auto& [k, v] : kv) {
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
    for (auto& [k, v] : kv) {
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
    auto consider = [&](uint32_t p) -> bool {
      if (p == a || matched[p]) return true;
      if (cands.size() >= limit) {
        truncated = true;
        return false;
      }
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
  r.order.reserve(pool_.size());
  for (auto& [id, t] : pool_) r.order.push_back(t.get());
  std::sort(r.order.begin(), r.order.end(), older);
  const std::size_t n = r.order.size();
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
        if (!found && truncated) {
          // Exhaustive second pass: every compatible ticket, so a group that exists is found
          // (within max_search_nodes).
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
  for (const Match& m : out)
    for (uint64_t id : m.tickets) pool_.erase(id);
  stats_.matches = out.size();
  return out;
}

}  // namespace craft::matchmaker
