// Filters, sorting and the in-process room directory (room_directory.hpp).
#include "presence/room_directory.hpp"

#include "net/shard.hpp"
#include "net/ws_codec.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <mutex>
#include <set>
#include <unordered_map>

namespace craft::presence {

namespace {
constexpr size_t max_key_bytes = 128;

bool good_key(const std::string& key) { return !key.empty() && key.size() <= max_key_bytes && ws::is_valid_utf8(key); }

// A sort or condition key's number for a room: clients, max_clients, created, or a numeric
// metadata value.
std::optional<double> number_of(const RoomEntry& e, std::string_view key) {
  if (key == "clients") return e.clients;
  if (key == "max_clients") return e.max_clients;
  if (key == "created") return static_cast<double>(e.created);
  auto it = e.metadata.find(key);
  if (it == e.metadata.end()) return std::nullopt;
  if (auto* d = std::get_if<double>(&it->second)) return *d;
  return std::nullopt;
}

const Value* metadata_of(const RoomEntry& e, std::string_view key, Value& scratch) {
  if (key == "clients" || key == "max_clients") {
    scratch = static_cast<double>(key == "clients" ? e.clients : e.max_clients);
    return &scratch;
  }
  auto it = e.metadata.find(key);
  return it == e.metadata.end() ? nullptr : &it->second;
}

// Orders two present values of a key: numbers by value, text bytewise, false < true;
// different kinds by kind (text, number, boolean), so the order stays total.
int compare(const Value& a, const Value& b) {
  if (a.index() != b.index()) return a.index() < b.index() ? -1 : 1;
  if (auto* s = std::get_if<std::string>(&a)) {
    int c = s->compare(std::get<std::string>(b));
    return c < 0 ? -1 : c > 0;
  }
  if (auto* d = std::get_if<double>(&a)) {
    double e = std::get<double>(b);
    return *d < e ? -1 : *d > e;
  }
  return static_cast<int>(std::get<bool>(a)) - static_cast<int>(std::get<bool>(b));
}
}  // namespace

std::optional<Value> from_proto(const v1::Value& v) {
  switch (v.kind_case()) {
    case v1::Value::kText: return Value{v.text()};
    case v1::Value::kNumber:
      if (!std::isfinite(v.number())) return std::nullopt;
      return Value{v.number()};
    case v1::Value::kBoolean: return Value{v.boolean()};
    default: return std::nullopt;
  }
}

void to_proto(const Value& v, v1::Value* out) {
  if (auto* s = std::get_if<std::string>(&v)) {
    out->set_text(*s);
  } else if (auto* d = std::get_if<double>(&v)) {
    out->set_number(*d);
  } else {
    out->set_boolean(std::get<bool>(v));
  }
}

bool read_filter(const v1::RoomFilter& filter, const google::protobuf::RepeatedPtrField<v1::RoomSort>& sort,
                 uint32_t max_conditions, RoomQuery& out, std::string& error) {
  // Counts first: nothing below loops over more than max_conditions entries.
  if (static_cast<uint32_t>(filter.conditions_size()) > max_conditions) {
    error = "more than rooms.max_filter_conditions (" + std::to_string(max_conditions) + ") conditions";
    return false;
  }
  if (static_cast<uint32_t>(sort.size()) > max_conditions) {
    error = "more than rooms.max_filter_conditions (" + std::to_string(max_conditions) + ") sort keys";
    return false;
  }
  out.free_seats = filter.free_seats();
  for (const auto& c : filter.conditions()) {
    if (!good_key(c.key())) {
      error = "a condition key must be 1-128 bytes of UTF-8";
      return false;
    }
    Condition cond;
    cond.key = c.key();
    if (c.has_equals()) {
      cond.equals = from_proto(c.equals());
      if (!cond.equals) {
        error = "condition '" + c.key() + "': equals must be text, a finite number or a boolean";
        return false;
      }
    }
    if (c.has_min()) {
      if (!std::isfinite(c.min())) return error = "condition '" + c.key() + "': min must be finite", false;
      cond.min = c.min();
    }
    if (c.has_max()) {
      if (!std::isfinite(c.max())) return error = "condition '" + c.key() + "': max must be finite", false;
      cond.max = c.max();
    }
    if (!cond.equals && !cond.min && !cond.max) {
      error = "condition '" + c.key() + "' needs equals, min or max";
      return false;
    }
    out.conditions.push_back(std::move(cond));
  }
  for (const auto& s : sort) {
    if (!good_key(s.key())) {
      error = "a sort key must be 1-128 bytes of UTF-8";
      return false;
    }
    out.sort.push_back({s.key(), s.descending()});
  }
  return true;
}

bool passes(const RoomQuery& q, const RoomEntry& e) {
  if (e.is_private || e.locked) return false;
  if (!q.type.empty() && e.type != q.type) return false;
  if (q.free_seats && e.clients >= e.max_clients) return false;
  Value scratch;
  for (const auto& c : q.conditions) {
    if (c.equals) {
      const Value* v = metadata_of(e, c.key, scratch);
      if (!v || *v != *c.equals) return false;
    }
    if (c.min || c.max) {
      auto n = number_of(e, c.key);
      if (c.key == "created") n = std::nullopt;  // not a condition key: only a sort key
      if (!n || (c.min && *n < *c.min) || (c.max && *n > *c.max)) return false;
    }
  }
  return true;
}

bool sorts_before(const std::vector<SortKey>& sort, const RoomEntry& a, const RoomEntry& b) {
  Value sa, sb;
  for (const auto& k : sort) {
    const Value *va, *vb;
    if (k.key == "created") {
      sa = static_cast<double>(a.created), sb = static_cast<double>(b.created);
      va = &sa, vb = &sb;
    } else {
      va = metadata_of(a, k.key, sa);
      vb = metadata_of(b, k.key, sb);
    }
    if (!va || !vb) {
      if (va != vb) return va != nullptr;  // missing last, whatever the direction
      continue;
    }
    int c = compare(*va, *vb);
    if (c != 0) return k.descending ? c > 0 : c < 0;
  }
  return a.created < b.created;  // stable: ties keep creation order
}

void to_info(const RoomEntry& e, v1::RoomInfo* out) {
  out->set_room_id(e.id);
  out->set_type(e.type);
  out->set_clients(e.clients);
  out->set_max_clients(e.max_clients);
  out->set_label(e.label);
  out->set_locked(e.locked);
  auto& md = *out->mutable_metadata();
  for (const auto& [k, v] : e.metadata) to_proto(v, &md[k]);
}

namespace {

class LocalRoomDirectory final : public RoomDirectory {
 public:
  void publish(RoomEntry entry) override {
    std::lock_guard lock(mutex_);
    auto& slot = entries_[entry.id];
    if (slot.id.empty()) {
      by_type_[entry.type].insert(entry.id);
    } else {
      close(slot);
    }
    entry.change = ++change_;
    auto type_it = types_.find(entry.type);
    if (type_it != types_.end() && type_it->second.watchers > 0) {
      if (slot.change) type_it->second.log.erase(slot.change);
      type_it->second.log.emplace(entry.change, entry.id);
    }
    slot = std::move(entry);
    if (joinable(slot)) open_[slot.type].emplace(slot.created, &slot);
  }

  void remove(const std::string& id) override {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    auto type_it = types_.find(it->second.type);
    if (type_it != types_.end() && type_it->second.watchers > 0) {
      auto& t = type_it->second;
      if (it->second.change) t.log.erase(it->second.change);
      t.tombstones.emplace_back(++change_, id);
      // Bounded: a subscriber further behind than the kept tombstones starts over (reset).
      while (t.tombstones.size() > max_tombstones) {
        t.pruned_up_to = t.tombstones.front().first;
        t.tombstones.pop_front();
      }
    }
    close(it->second);
    if (auto bt = by_type_.find(it->second.type); bt != by_type_.end()) {
      bt->second.erase(id);
      if (bt->second.empty()) by_type_.erase(bt);
    }
    entries_.erase(it);
  }

  void list(RoomQuery q, Shard& reply_on, std::function<void(std::vector<RoomEntry>, bool)> done) override {
    std::vector<RoomEntry> out;
    bool more = false;
    {
      std::lock_guard lock(mutex_);
      auto matching = select(q);
      size_t begin = std::min<size_t>(q.offset, matching.size());
      size_t end = std::min<size_t>(begin + q.limit, matching.size());
      more = end < matching.size();
      if (end > begin) {
        std::partial_sort(matching.begin(), matching.begin() + static_cast<std::ptrdiff_t>(end), matching.end(),
                          [&](const RoomEntry* a, const RoomEntry* b) { return sorts_before(q.sort, *a, *b); });
      }
      for (size_t i = begin; i < end; ++i) out.push_back(*matching[i]);
    }
    reply_on.post([done = std::move(done), out = std::move(out), more]() mutable { done(std::move(out), more); });
  }

  void find_joinable(RoomQuery q, std::vector<std::string> skip, Shard& reply_on,
                     std::function<void(std::optional<std::string>)> done) override {
    std::optional<std::string> found;
    q.free_seats = true;
    {
      std::lock_guard lock(mutex_);
      // Only rooms with a free seat, oldest first: with the default order the first that
      // passes is the answer, so a join costs the open rooms it skips, not every room.
      const RoomEntry* best = nullptr;        // in query order
      const RoomEntry* best_here = nullptr;   // of those, on q.prefer_node
      auto open = open_.find(q.type);
      if (open != open_.end()) {
        for (const auto& [created, e] : open->second) {
          if (!passes(q, *e) || std::find(skip.begin(), skip.end(), e->id) != skip.end()) continue;
          bool here = !q.prefer_node.empty() && e->node == q.prefer_node;
          if (here && (!best_here || sorts_before(q.sort, *e, *best_here))) best_here = e;
          if (!best || sorts_before(q.sort, *e, *best)) best = e;
          if (q.sort.empty() && (q.prefer_node.empty() || here)) break;  // nothing later sorts before it
        }
      }
      if (best_here) best = best_here;
      if (best) found = best->id;
    }
    reply_on.post([done = std::move(done), found = std::move(found)]() mutable { done(std::move(found)); });
  }

  void locate(const std::string& room_id, Shard& reply_on, std::function<void(std::optional<RoomEntry>)> done) override {
    std::optional<RoomEntry> found;
    {
      std::lock_guard lock(mutex_);
      if (auto it = entries_.find(room_id); it != entries_.end()) found = it->second;
    }
    reply_on.post([done = std::move(done), found = std::move(found)]() mutable { done(std::move(found)); });
  }

  void watch(const std::string& type, bool on) override {
    std::lock_guard lock(mutex_);
    auto& t = types_[type];
    if (on) {
      if (t.watchers++ == 0) t.since = change_;
    } else if (t.watchers > 0 && --t.watchers == 0) {
      types_.erase(type);  // nobody watches: no history kept, nothing to pay per change
    }
  }

  void changes(const std::string& type, uint64_t since, Shard& reply_on, std::function<void(Changes)> done) override {
    Changes c;
    {
      std::lock_guard lock(mutex_);
      c.up_to = change_;
      auto t = types_.find(type);
      if (since == 0 || t == types_.end() || since < t->second.since || since < t->second.pruned_up_to) {
        c.reset = true;
        if (auto bt = by_type_.find(type); bt != by_type_.end()) {
          for (const auto& id : bt->second) c.changed.push_back(entries_.at(id));
        }
      } else {
        for (auto it = t->second.log.upper_bound(since); it != t->second.log.end(); ++it) {
          c.changed.push_back(entries_.at(it->second));
        }
        for (auto it = t->second.tombstones.rbegin(); it != t->second.tombstones.rend() && it->first > since; ++it) {
          c.removed.push_back(it->second);
        }
      }
    }
    reply_on.post([done = std::move(done), c = std::move(c)]() mutable { done(std::move(c)); });
  }

 private:
  static constexpr size_t max_tombstones = 4096;

  // A room join_or_create may pick: listed, unlocked, with a free seat.
  static bool joinable(const RoomEntry& e) { return !e.is_private && !e.locked && e.clients < e.max_clients; }
  // Takes `e` out of the open index (before it changes or goes); caller holds mutex_.
  void close(const RoomEntry& e) {
    if (!joinable(e)) return;
    auto it = open_.find(e.type);
    if (it == open_.end()) return;
    it->second.erase({e.created, &e});
    if (it->second.empty()) open_.erase(it);
  }

  // Rooms passing the query (unsorted); caller holds mutex_.
  std::vector<const RoomEntry*> select(const RoomQuery& q) const {
    std::vector<const RoomEntry*> out;
    auto add = [&](const std::set<std::string>& ids) {
      for (const auto& id : ids) {
        const auto& e = entries_.at(id);
        if (passes(q, e)) out.push_back(&e);
      }
    };
    if (q.type.empty()) {
      for (const auto& [type, ids] : by_type_) add(ids);
    } else if (auto it = by_type_.find(q.type); it != by_type_.end()) {
      add(it->second);
    }
    return out;
  }

  struct Watched {
    uint32_t watchers = 0;
    uint64_t since = 0;          // history kept from this change number on
    uint64_t pruned_up_to = 0;   // tombstones up to here were dropped
    std::map<uint64_t, std::string> log;  // last change number -> room (each room once)
    std::deque<std::pair<uint64_t, std::string>> tombstones;
  };

  std::mutex mutex_;
  uint64_t change_ = 1;  // from 1: changes(type, 0) means "everything", so no subscriber may be at 0
  std::unordered_map<std::string, RoomEntry> entries_;
  std::unordered_map<std::string, std::set<std::string>> by_type_;
  // Per type, the joinable rooms by creation (entries_ never moves its values, so the
  // pointers stay good until remove() closes them first).
  std::unordered_map<std::string, std::set<std::pair<uint64_t, const RoomEntry*>>> open_;
  std::unordered_map<std::string, Watched> types_;
};

}  // namespace

std::unique_ptr<RoomDirectory> make_local_room_directory() { return std::make_unique<LocalRoomDirectory>(); }

}  // namespace craft::presence
