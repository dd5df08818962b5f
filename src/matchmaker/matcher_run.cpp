// Matcher::run(): the candidate scan over the buckets and the group search per anchor
// (docs/matchmaking.md, "The search"); the pool and its index live in matcher.cpp.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_set>
#include <utility>

#include "matchmaker/matcher.hpp"
#include "matchmaker/matcher_internal.hpp"

namespace craft::matchmaker {

using namespace detail;

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

  double hot_of(uint32_t p) const { return hot.empty() ? std::numeric_limits<double>::quiet_NaN() : hot[p]; }

  bool mutual(uint32_t a, uint32_t b, int* score) {
    ++stats.pair_checks;
    if (sc.fw[a] && sc.fw[a] == sc.fw[b]) {
      // Both in the fast form and in their shared bucket: the must-equality terms hold both
      // ways (bucket membership), the rest is the two +range windows and the should scores.
      if (!sc.window[a].holds(hot_of(b)) || !sc.window[b].holds(hot_of(a))) return false;
      if (score) {
        const Fast& fa = entries[a]->fast;
        const Fast& fb = entries[b]->fast;
        *score += fast_score(fa, fb) + fast_score(fb, fa);
      }
      return true;
    }
    return c_accepts(view(a), step[a], view(b), o, score) && c_accepts(view(b), step[b], view(a), o, score);
  }

  // A fast-form ticket's compiled form is not copied into the arena: its view points at the
  // Entry's own vectors, made the first time a generic pair check needs it.
  const View& view(uint32_t p) {
    if (!sc.has_comp[p]) {
      const Compiled& c = entries[p]->c;
      comp[p] = View{c.strs, c.nums, c.terms};
      sc.has_comp[p] = 1;
    }
    return comp[p];
  }

  Bucket* source_for(uint32_t a, bool& impossible) {
    // The common cases from the per-position copy, without touching the (cold) Entry.
    impossible = sc.src_kind[a] == Scratch::src_impossible;
    if (sc.src_kind[a] != Scratch::src_single) return sc.src[a];  // its bucket (may be empty), or none
    const Entry& e = *entries[a];
    // Too many key sets in the pool: the smallest single key=value posting list.
    if (!single_built) {
      single_built = true;
      for (uint32_t p = 0; p < entries.size(); ++p) {
        if (matched[p]) continue;
        const Closed w(sc.window[p]);
        for (auto& [k, v] : entries[p]->c.strs) {
          Bucket& b = single[(static_cast<uint64_t>(k) << 32) | v];
          b.pos.push_back(p);
          b.hot.push_back(hot_of(p));
          b.lo.push_back(w.lo);
          b.hi.push_back(w.hi);
          b.binds.push_back(sc.window[p].binds);
          b.own.push_back(0);
          b.score.emplace_back();
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
        std::sort(g.begin(), g.end(), older<Ticket>);
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
    if (src) {
      collect_bucket(a, *src, limit, truncated);
    } else {
      collect_pool(a, limit, truncated);
    }
    // More should-matches first; age order (the scan order) among equals. Insertion sort:
    // stable, and the list is candidate_limit long unless the anchor is fully widened.
    if (cands.size() <= 32) {
      for (std::size_t i = 1; i < cands.size(); ++i) {
        const Cand c = cands[i];
        std::size_t j = i;
        for (; j > 0 && cands[j - 1].score < c.score; --j) cands[j] = cands[j - 1];
        cands[j] = c;
      }
    } else {
      std::stable_sort(cands.begin(), cands.end(), [](const Cand& x, const Cand& y) { return x.score > y.score; });
    }
  }

  // An anchor with no must-equality term: every ticket in the pool, age order.
  void collect_pool(uint32_t a, std::size_t limit, bool& truncated) {
    std::size_t scanned = 0;
    const Window& aw = sc.window[a];
    const double ha = hot_of(a);
    for (uint32_t p = 0; p < order.size(); ++p) {
      ++scanned;
      if (p == a || matched[p]) continue;
      if (cands.size() >= limit) {
        truncated = true;
        break;
      }
      if (!aw.holds(hot_of(p)) || !sc.window[p].holds(ha)) continue;
      int score = 0;
      if (mutual(a, p, &score)) cands.push_back({p, score});
    }
    stats.scanned += scanned;
  }

  // The anchor's bucket, age order, until `limit` compatible members. The hot-key windows
  // (exact: a member either window refuses would fail the pair check) are tested without
  // branches and the passing slots buffered; only those get the pair check (for a fast
  // anchor and a fast member of this bucket, the windows are the whole check).
  void collect_bucket(uint32_t a, Bucket& b, std::size_t limit, bool& truncated) {
    const Window& aw = sc.window[a];
    const Closed ac(aw);
    const double ha = hot_of(a);
    const bool afast = sc.fw[a] && sc.fw[a] == &b;
    const FastScore* af = afast ? &sc.fscore[a] : nullptr;
    const uint32_t* P = b.pos.data();
    const double* H = b.hot.data();
    const double* L = b.lo.data();
    const double* U = b.hi.data();
    const uint8_t* B = b.binds.data();
    const char* M = matched.data();
    const std::size_t end = b.pos.size();
    const std::size_t begin = b.begin;
    std::size_t i = begin, unmatched = 0;
    constexpr std::size_t kBuf = 64;
    uint32_t buf[kBuf];
    // The window tests for slot j: the anchor's window on the member's value (a NaN value
    // fails a window that binds), the member's window on the anchor's value.
    auto scan = [&](auto anchor_binds, auto anchor_nan, std::size_t want) {
      std::size_t k = 0;
      for (; i < end; ++i) {
        const uint32_t p = P[i];
        const bool live = !M[p];
        unmatched += live;
        bool ok = live & (p != a);
        if constexpr (anchor_binds) ok &= (H[i] >= ac.lo) & (H[i] <= ac.hi);
        if constexpr (anchor_nan) ok &= !B[i];
        else ok &= (ha >= L[i]) & (ha <= U[i]);
        buf[k] = static_cast<uint32_t>(i);
        k += ok;
        if (k == want) {
          ++i;
          break;
        }
      }
      return k;
    };
    const bool anan = std::isnan(ha);
    bool full = cands.size() >= limit;
    while (!full && i < end) {
      const std::size_t want = std::min(limit - cands.size(), kBuf);
      const std::size_t k = aw.binds ? (anan ? scan(std::true_type{}, std::true_type{}, want)
                                             : scan(std::true_type{}, std::false_type{}, want))
                                     : (anan ? scan(std::false_type{}, std::true_type{}, want)
                                             : scan(std::false_type{}, std::false_type{}, want));
      for (std::size_t j = 0; j < k; ++j) {
        const uint32_t s = buf[j];
        const uint32_t p = P[s];
        if (af && b.own[s]) {
          ++stats.pair_checks;
          cands.push_back({p, fast_score(*af, b.score[s]) + fast_score(b.score[s], *af)});
          continue;
        }
        int score = 0;
        if (mutual(a, p, &score)) cands.push_back({p, score});
      }
      full = cands.size() >= limit;
    }
    // Past the limit: truncated when another unmatched member (not the anchor) follows.
    if (full)
      for (; i < end; ++i) {
        const uint32_t p = P[i];
        if (M[p]) continue;
        ++unmatched;
        if (p != a) {
          truncated = true;
          break;
        }
      }
    stats.scanned += unmatched;
    // The walked prefix mostly matched: pack it (see Bucket::begin).
    const std::size_t walked = std::min(i, end) - begin;
    const std::size_t dead = walked - (unmatched - (truncated ? 1 : 0));
    if (dead >= 16 && 2 * dead >= walked) b.pack(std::min(i, end), matched);
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
  sc.has_comp.resize(n);
  sc.src.resize(n);
  sc.src_kind.resize(n);
  sc.fw.resize(n);
  {
    std::erase_if(range_keys_, [&](uint32_t k) { return range_uses_[k] == 0; });
    std::sort(range_keys_.begin(), range_keys_.end());
    range_keys_.erase(std::unique(range_keys_.begin(), range_keys_.end()), range_keys_.end());
    std::size_t best_uses = 0;
    for (uint32_t key : range_keys_)  // ascending: the smallest key wins a tie
      if (range_uses_[key] > best_uses) {
        best_uses = range_uses_[key];
        r.hot_key = key;
      }
  }
  sc.hot.resize(r.hot_key != UINT32_MAX ? n : 0);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  sc.fscore.resize(n);
  // Per position, from the Entry's first two lines (Entry::Hot and the fast form): the fast
  // form decides whether the ticket's compiled form is needed at all this run. The Entries
  // are cold (the pool outgrows the L2), so the loop asks for a few ahead.
  bool any_generic = false;
  for (uint32_t p = 0; p < n; ++p) {
    if (p + 6 < n) {
      const char* ahead = reinterpret_cast<const char*>(order_[p + 6]);
      __builtin_prefetch(ahead);
      __builtin_prefetch(ahead + 64);
    }
    Entry* e = order_[p];
    e->pos = p;
    const Fast& f = e->fast;
    const Entry::Hot& h = e->hot;
    sc.src[p] = e->want;  // with a sig: may be empty, then only a party filling its own count matches
    sc.src_kind[p] = e->impossible ? Scratch::src_impossible
                     : e->sig      ? Scratch::src_bucket
                     : e->has_eq   ? Scratch::src_single
                                   : Scratch::src_pool;
    if (sc.src_kind[p] != Scratch::src_bucket) sc.src[p] = nullptr;
    const bool fast = f.simple && f.self_member && (f.range_key == UINT32_MAX || f.range_key == r.hot_key);
    sc.fw[p] = fast ? e->want : nullptr;
    any_generic = any_generic || !fast;
    sc.order[p] = &e->t;
    sc.has_comp[p] = 0;
    sc.step[p] = step_of(h, now, options_);
    sc.lo_of[p] = min_at(h, sc.step[p], options_);
    sc.counts[p] = {h.players, h.max_count, h.count_multiple};
    sc.ids[p] = h.id;
    Window w;
    if (r.hot_key != UINT32_MAX) {
      const double* v = nullptr;
      if (fast && f.nnums != UINT8_MAX)
        v = lookup(std::span<const std::pair<uint32_t, double>>(f.nums, f.nnums), r.hot_key);
      else
        v = lookup(std::span<const std::pair<uint32_t, double>>(e->c.nums), r.hot_key);
      sc.hot[p] = v ? *v : nan;
      if (sc.step[p] < options_.widen_steps) {
        if (fast) {
          for (uint8_t i = 0; i < f.nranges; ++i)
            w.add(f.rop[i], widened_bound(f.rop[i], f.rnum[i], sc.step[p], options_));
        } else {
          for (const CTerm& t : e->c.terms)
            if (t.occur == Occur::must && t.key == r.hot_key && is_range(t.op))
              w.add(t.op, widened_bound(t.op, t.number, sc.step[p], options_));
        }
      }
    }
    sc.window[p] = w;
    if (fast) {
      FastScore& fs = sc.fscore[p];
      fs.nstrs = f.nstrs;
      fs.nshould = f.nshould;
      std::copy_n(f.strs, kFastStrs, fs.strs);
      std::copy_n(f.should, kFastShould, fs.should);
    }
  }
  // The compiled forms of the tickets the generic check may read as the first party (not
  // in the fast form) are copied into the arena, bucket by bucket (of the most used key
  // set), age order inside a bucket: an anchor's candidates then sit next to each other in
  // memory. A fast-form ticket's view points at its Entry's own vectors: read only when it
  // meets a ticket outside its bucket's fast form.
  sc.arena_strs.clear();
  sc.arena_nums.clear();
  sc.arena_terms.clear();
  if (any_generic) {
    sc.offsets.resize(n);
    sc.laid.assign(n, 0);
    auto lay = [&](const Entry* e) {
      if (sc.laid[e->pos]) return;
      sc.laid[e->pos] = 1;
      if (sc.fw[e->pos]) return;
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
      if (sc.fw[p]) continue;
      const Entry* e = order_[p];
      sc.has_comp[p] = 1;
      const auto [os, on, ot] = sc.offsets[p];
      sc.comp[p] = View{std::span(sc.arena_strs).subspan(os, e->c.strs.size()),
                        std::span(sc.arena_nums).subspan(on, e->c.nums.size()),
                        std::span(sc.arena_terms).subspan(ot, e->c.terms.size())};
    }
  }
  for (auto& s : sigs_)
    for (auto& [tuple, b] : s->buckets) {
      const std::size_t m = b.members.size();
      b.resize_slots(m);
      for (std::size_t i = 0; i < m; ++i) {
        if (i + 8 < m) __builtin_prefetch(b.members[i + 8]);
        const uint32_t p = b.members[i]->pos;
        const bool own = sc.fw[p] == &b;
        const Closed w(sc.window[p]);
        b.pos[i] = p;
        b.hot[i] = r.hot_of(p);
        b.lo[i] = w.lo;
        b.hi[i] = w.hi;
        b.binds[i] = sc.window[p].binds;
        b.own[i] = own;
        if (own) b.score[i] = sc.fscore[p];
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
      sc.emitted.push_back(p);
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
  const std::size_t emitted = sc.emitted.size();
  for (Match& m : out) {
    m.ticket_data.reserve(m.tickets.size());
    for (std::size_t i = 0; i < m.tickets.size(); ++i, ++next) {
      // The Entries and their id-table slots are cold: ask for a few ahead while this one
      // moves.
      if (next + 8 < emitted) __builtin_prefetch(order_[sc.emitted[next + 8]]);
      if (next + 4 < emitted) {
        __builtin_prefetch(&order_[sc.emitted[next + 4]]->t);
        pool_->prefetch(sc.ids[sc.emitted[next + 4]]);
      }
      Entry* e = order_[sc.emitted[next]];
      count_ranges(*e, -1);
      m.ticket_data.push_back(std::move(e->t));
      bury(e);
    }
  }
  stats_.matches = out.size();
  return out;
}

}  // namespace craft::matchmaker
