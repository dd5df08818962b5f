#include "matchmaker/matcher.hpp"

#include <algorithm>
#include <unordered_set>
#include <utility>

#include "matchmaker/matcher_internal.hpp"

namespace craft::matchmaker {

using namespace detail;

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
  e->hot = {e->t.id, e->t.created, e->t.players(), e->t.min_count, e->t.max_count, e->t.count_multiple};
  compute_must_eq(e->c, e->must_eq, e->impossible);
  e->has_eq = !e->must_eq.empty();
  e->sig = nullptr;
  if (!e->must_eq.empty() && !e->impossible) {
    std::vector<uint32_t>& keys = scratch_->tuple;
    keys.clear();
    for (auto& [k, v] : e->must_eq) keys.push_back(k);
    const std::vector<uint32_t> sig_keys = keys;
    e->sig = register_sig(sig_keys);
    if (e->sig) ++e->sig->users;
  }
  e->nranges = 0;
  for (const CTerm& t : e->c.terms)
    if (t.occur == Occur::must && is_range(t.op)) ++e->nranges;
  const bool in_order = order_.empty() || older(&order_.back()->hot, &e->hot);
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
  if (e->want) compute_fast(e->c, e->must_eq, e->fast);
  else e->fast = Fast{};
  count_ranges(*e, +1);
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
    if (!b.members.empty() && !older(&b.members.back()->hot, &e->hot)) b.sorted = false;
    b.members.push_back(e);
  }
}

void Matcher::count_ranges(const Entry& e, int sign) {
  auto bump = [&](uint32_t key, std::size_t n) {
    if (key >= range_uses_.size()) range_uses_.resize(key + 1, 0);
    if (sign < 0) {
      range_uses_[key] -= n;
      return;
    }
    if (range_uses_[key] == 0) range_keys_.push_back(key);
    range_uses_[key] += n;
  };
  if (e.nranges == 0) return;
  // A fast-form ticket has all its +ranges on one key: no walk over its (cold) terms.
  if (e.fast.simple) return bump(e.fast.range_key, e.nranges);
  for (const CTerm& t : e.c.terms)
    if (t.occur == Occur::must && is_range(t.op)) bump(t.key, 1);
}

void Matcher::bury(Entry* e) {
  e->dead = true;
  if (e->sig) --e->sig->users;
  if (e->want) --e->want->wanted;
  pool_->erase(e->hot.id);
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
    std::sort(order_.begin(), order_.end(), [](const Entry* x, const Entry* y) { return older(&x->hot, &y->hot); });
    order_sorted_ = true;
  }
  for (auto& s : sigs_)
    for (auto& [tuple, b] : s->buckets) {
      if (!b.sorted) {
        std::sort(b.members.begin(), b.members.end(),
                  [](const Entry* x, const Entry* y) { return older(&x->hot, &y->hot); });
        b.sorted = true;
      }
    }
}

void Matcher::rebuild() {
  compact();
  interner_ = std::make_unique<Interner>();
  sigs_.clear();
  range_uses_.clear();
  range_keys_.clear();
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
  pool_->insert(e->hot.id, e);
  return AddResult::ok;
}

bool Matcher::remove(uint64_t id) {
  Entry* e = pool_->find(id);
  if (!e) return false;
  count_ranges(*e, -1);
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
}  // namespace craft::matchmaker
