#include "presence/redis_room_directory.hpp"

#include "cluster/node_record.hpp"
#include "cluster/node_registry.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace craft::cluster {

namespace {

constexpr const char* bus_kind = "dir";
constexpr size_t max_command_bytes = 1 << 20;  // one HSET/HDEL; more rooms go in more commands
constexpr std::chrono::milliseconds second_read_delay{2500};
// A field of every node's hash besides its rooms (never a room id): written by each whole
// rewrite, so a hash without it is one its node has not rewritten since Redis came back.
constexpr const char* written_marker = "~";

// Sends `base` + items as one or more commands of about max_command_bytes each.
void chunked(NodeRegistry& registry, const std::vector<std::string>& base, const std::vector<std::string>& items,
             size_t per_item, const RedisLink::Callback& done) {
  std::vector<std::string> args = base;
  size_t bytes = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    bytes += items[i].size();
    args.push_back(items[i]);
    bool item_done = (i + 1) % per_item == 0;
    if (item_done && bytes >= max_command_bytes) {
      registry.command(std::move(args), done);
      args = base;
      bytes = 0;
    }
  }
  if (args.size() > base.size()) registry.command(std::move(args), done);
}

}  // namespace

RedisRoomDirectory::RedisRoomDirectory(DirectoryOptions options)
    : options_(std::move(options)), mirror_(presence::make_local_room_directory()) {}

RedisRoomDirectory::~RedisRoomDirectory() = default;

void RedisRoomDirectory::attach(NodeRegistry& registry) {
  {
    std::lock_guard lock(mutex_);
    registry_ = &registry;
  }
  registry.on_message(bus_kind, [this](const std::string& from, const std::string& payload) {
    on_dir_message(from, payload);
  });
  // After every (re)registration Redis may have restarted empty, or lost writes while it was
  // away: write this node's rooms whole, then read everyone else's.
  registry.on_registered([this] {
    if (++registrations_ > 1) registered_at_ = std::chrono::steady_clock::now();
    republish();
    resync();
    // Once more when the subscription has surely reconnected too (its backoff is at most 2 s):
    // another node that re-registered between this read and our resubscribing broadcast its
    // rooms where this node could not hear them, but its hash has them by then.
    registry_->post_after(second_read_delay, [this] {
      if (registry_ && registry_->connected()) resync();
    });
  });
  registry.on_node_dead([this](const std::string& node) { node_dead(node); });
  registry.post([this] { arm_audit(); });
}

void RedisRoomDirectory::leave() {
  std::lock_guard lock(mutex_);
  if (!registry_ || leaving_) return;
  leaving_ = true;
  dirty_.clear();
  // Posted before the registry's own stop work, so it is sent before the node says "leave".
  registry_->post([this] { registry_->command({"DEL", hash_key(options_.node_id)}); });
}

void RedisRoomDirectory::detach() {
  std::lock_guard lock(mutex_);
  registry_ = nullptr;
}

// --- the rooms' side (shards) ---

void RedisRoomDirectory::publish(presence::RoomEntry entry) {
  std::lock_guard lock(mutex_);
  counters_.changes.fetch_add(1, std::memory_order_relaxed);
  auto [it, fresh] = own_.try_emplace(entry.id);
  if (fresh) {
    // Creation order across nodes: the wall clock in µs (exact in a double up to 2^53, so the
    // "created" sort key stays exact), strictly increasing on this node.
    uint64_t now = options_.wall_us ? options_.wall_us() : 0;
    last_created_ = std::max(last_created_ + 1, now);
    it->second.entry.created = last_created_;
    counters_.local_rooms.fetch_add(1, std::memory_order_relaxed);
  }
  entry.created = it->second.entry.created;
  entry.node = options_.node_id;
  it->second.rev = ++rev_;
  it->second.entry = entry;
  mirror_->publish(std::move(entry));
  if (!dirty_.insert(it->first).second) counters_.coalesced.fetch_add(1, std::memory_order_relaxed);
  schedule_flush();
}

void RedisRoomDirectory::remove(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = own_.find(id);
  if (it == own_.end()) return;
  counters_.changes.fetch_add(1, std::memory_order_relaxed);
  counters_.local_rooms.fetch_sub(1, std::memory_order_relaxed);
  own_.erase(it);
  mirror_->remove(id);
  if (!dirty_.insert(id).second) counters_.coalesced.fetch_add(1, std::memory_order_relaxed);
  schedule_flush();
}

void RedisRoomDirectory::schedule_flush() {
  if (flush_scheduled_ || !registry_ || leaving_) return;
  flush_scheduled_ = true;
  registry_->post_after(options_.flush, [this] { flush(); });
}

// --- reads: the mirror answers, Redis or not ---

void RedisRoomDirectory::list(presence::RoomQuery query, Shard& reply_on,
                              std::function<void(std::vector<presence::RoomEntry>, bool)> done) {
  mirror_->list(std::move(query), reply_on, std::move(done));
}

void RedisRoomDirectory::find_joinable(presence::RoomQuery query, std::vector<std::string> skip, Shard& reply_on,
                                       std::function<void(std::optional<std::string>)> done) {
  // Without a sort, any open room will do: one here costs no redirect, no seat request and
  // no second connection, and every node sees its own rooms' seats at once (docs/cluster.md).
  if (query.sort.empty()) query.prefer_node = options_.node_id;
  mirror_->find_joinable(std::move(query), std::move(skip), reply_on, std::move(done));
}

void RedisRoomDirectory::watch(const std::string& type, bool on) { mirror_->watch(type, on); }

void RedisRoomDirectory::changes(const std::string& type, uint64_t since, Shard& reply_on,
                                 std::function<void(presence::Changes)> done) {
  mirror_->changes(type, since, reply_on, std::move(done));
}

void RedisRoomDirectory::locate(const std::string& room_id, Shard& reply_on,
                                std::function<void(std::optional<presence::RoomEntry>)> done) {
  // A room made on another node a moment ago reaches this mirror up to one flush interval
  // (plus the bus) later, and a room id is often shared right after its creation: a miss is
  // looked up again every 10 ms for two flush intervals before it counts as no room. One
  // lookup waits per session at a time (a join holds the session's later requests).
  auto window = 2 * options_.flush + std::chrono::milliseconds(20);
  relocate(room_id, reply_on, std::move(done), (window + look_again - std::chrono::milliseconds(1)) / look_again);
}

void RedisRoomDirectory::relocate(const std::string& room_id, Shard& reply_on,
                                  std::function<void(std::optional<presence::RoomEntry>)> done, int64_t looks_left) {
  mirror_->locate(room_id, reply_on, [this, room_id, &reply_on, done = std::move(done), looks_left](
                                         std::optional<presence::RoomEntry> found) mutable {
    if (found || looks_left <= 0) return done(std::move(found));
    std::lock_guard lock(mutex_);
    if (!registry_ || leaving_) return done(std::nullopt);
    registry_->post_after(look_again, [this, room_id, &reply_on, done = std::move(done), looks_left]() mutable {
      relocate(room_id, reply_on, std::move(done), looks_left - 1);
    });
  });
}

// --- the cluster thread ---

void RedisRoomDirectory::written(const Reply& reply) {
  // A write Redis did not take (down, over max_pending): the next audit writes everything.
  if (!reply.ok()) need_republish_ = true;
}

void RedisRoomDirectory::flush() {
  std::vector<std::string> sets, dels;
  DirectoryMessage m;
  m.incarnation = options_.incarnation;
  {
    std::lock_guard lock(mutex_);
    flush_scheduled_ = false;
    if (leaving_ || !registry_) return;
    for (const auto& id : dirty_) {
      auto it = own_.find(id);
      if (it != own_.end()) {
        auto text = encode_room_entry({it->second.entry, options_.incarnation, it->second.rev});
        if (text.size() <= options_.limits.max_bytes) {
          sets.push_back(id);
          sets.push_back(text);
          m.changed.push_back(std::move(text));
          stored_.insert(id);
          continue;
        }
        // Too big to share: listed on this node only, and gone from everyone else's view.
        counters_.oversized.fetch_add(1, std::memory_order_relaxed);
      }
      if (stored_.erase(id)) dels.push_back(id);
      m.removed.push_back(id);
    }
    dirty_.clear();
  }
  if (m.changed.empty() && m.removed.empty()) return;
  auto key = hash_key(options_.node_id);
  auto done = [this](const Reply& r) { written(r); };
  chunked(*registry_, {"HSET", key}, sets, 2, done);
  chunked(*registry_, {"HDEL", key}, dels, 1, done);
  for (auto& text : encode_directory_messages(m, options_.max_message_bytes)) {
    registry_->broadcast(bus_kind, std::move(text));
  }
  counters_.flushes.fetch_add(1, std::memory_order_relaxed);
  counters_.written.fetch_add(sets.size() / 2 + dels.size(), std::memory_order_relaxed);
}

void RedisRoomDirectory::republish() {
  std::vector<std::string> sets;
  DirectoryMessage m;
  m.incarnation = options_.incarnation;
  {
    std::lock_guard lock(mutex_);
    if (leaving_ || !registry_) return;
    dirty_.clear();  // everything current goes out below
    stored_.clear();
    for (const auto& [id, own] : own_) {
      auto text = encode_room_entry({own.entry, options_.incarnation, own.rev});
      if (text.size() > options_.limits.max_bytes) continue;
      sets.push_back(id);
      sets.push_back(text);
      m.changed.push_back(std::move(text));
      stored_.insert(id);
    }
  }
  need_republish_ = false;
  counters_.republishes.fetch_add(1, std::memory_order_relaxed);
  // Built aside and renamed over the old hash: a node reading meanwhile sees the old rooms or
  // the new ones, never none; rooms removed while Redis was away are gone from it.
  auto key = hash_key(options_.node_id), scratch = key + ":new";  // ':' is never in a node id
  auto done = [this](const Reply& r) { written(r); };
  registry_->command({"DEL", scratch}, done);
  registry_->command({"HSET", scratch, written_marker, std::to_string(options_.incarnation)}, done);
  chunked(*registry_, {"HSET", scratch}, sets, 2, done);
  registry_->command({"RENAME", scratch, key}, done);
  // Always at least one message: the others learn this node's incarnation even with no rooms.
  for (auto& text : encode_directory_messages(m, options_.max_message_bytes)) {
    registry_->broadcast(bus_kind, std::move(text));
  }
}

void RedisRoomDirectory::resync() {
  counters_.resyncs.fetch_add(1, std::memory_order_relaxed);
  const uint64_t started = touch_;
  // Which nodes are alive, read here rather than from the registry's view: right after a
  // (re)connect that view may not be refreshed yet.
  registry_->command({"SMEMBERS", "craft:nodes"}, [this, started](const Reply& members) {
    if (members.type != Reply::Type::array) return;
    std::vector<std::string> ids;
    for (const auto& e : members.elements) {
      if (ids.size() >= 1'000) break;  // RegistryOptions::max_nodes
      if (e.type == Reply::Type::string && valid_node_id(e.text) && e.text != options_.node_id) ids.push_back(e.text);
    }
    // Nodes in the mirror that are not even listed any more are gone.
    std::vector<std::string> gone;
    for (const auto& [node, rooms] : by_node_) {
      if (std::find(ids.begin(), ids.end(), node) == ids.end()) gone.push_back(node);
    }
    for (const auto& node : gone) node_dead(node);
    if (ids.empty()) return;
    std::vector<std::string> args{"MGET"};
    for (const auto& id : ids) args.push_back("craft:node:" + id);
    registry_->command(std::move(args), [this, ids, started](const Reply& keys) {
      if (keys.type != Reply::Type::array || keys.elements.size() != ids.size()) return;
      for (size_t i = 0; i < ids.size(); ++i) {
        if (keys.elements[i].type == Reply::Type::nil) {
          node_dead(ids[i]);
        } else {
          read_node(ids[i], started);
        }
      }
    });
  });
}

void RedisRoomDirectory::read_node(const std::string& node, uint64_t started) {
  auto key = hash_key(node);
  // Counted before read: a hash past rooms.max_rooms is not one craftd wrote.
  registry_->command({"HLEN", key}, [this, node, key, started](const Reply& len) {
    if (len.type != Reply::Type::integer) return;
    if (len.integer < 0 || static_cast<uint64_t>(len.integer) > options_.max_rooms_per_node + 1) {
      counters_.rejected.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("cluster: {} holds {} rooms, more than rooms.max_rooms: not read", key, len.integer);
      return;
    }
    registry_->command({"HGETALL", key}, [this, node, started](const Reply& all) {
      if (all.type != Reply::Type::array || all.elements.size() % 2 != 0 ||
          all.elements.size() / 2 > options_.max_rooms_per_node + 1) {
        return;
      }
      std::unordered_set<std::string> seen;
      bool rewritten = false;
      for (size_t i = 0; i + 1 < all.elements.size(); i += 2) {
        const auto& field = all.elements[i];
        const auto& value = all.elements[i + 1];
        if (field.type == Reply::Type::string && field.text == written_marker) {
          rewritten = true;
          continue;
        }
        auto stored = value.type == Reply::Type::string ? decode_room_entry(value.text, options_.limits) : std::nullopt;
        if (!stored || field.type != Reply::Type::string || stored->entry.id != field.text ||
            stored->entry.node != node) {
          counters_.rejected.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        seen.insert(stored->entry.id);
        apply_remote(std::move(*stored));
      }
      // Rooms of the node that Redis no longer holds, unless a message changed them after
      // this read began (that message is newer than the read). Not while the node has not
      // rewritten its hash since Redis came back empty: its rewrite and broadcast will tell.
      auto rooms = by_node_.find(node);
      if (rooms == by_node_.end() || !rewritten) return;
      std::vector<std::string> stale;
      for (const auto& id : rooms->second) {
        auto r = remote_.find(id);
        if (!seen.contains(id) && r != remote_.end() && r->second.touched <= started) stale.push_back(id);
      }
      for (const auto& id : stale) drop_remote(id);
    });
  });
}

void RedisRoomDirectory::arm_audit() {
  registry_->post_after(options_.audit, [this] {
    if (!registry_) return;
    audit();
    arm_audit();
  });
}

void RedisRoomDirectory::audit() {
  {
    std::lock_guard lock(mutex_);
    if (leaving_) return;
  }
  if (!registry_->connected() || audit_pending_) return;
  if (need_republish_) return republish();
  // Redis must hold exactly the rooms written: fewer means another node thought this one dead
  // and deleted its hash (it was only slow), or Redis lost writes. HLEN runs after every
  // write sent before it on the same connection, so stored_ now is what it must count.
  audit_pending_ = true;
  registry_->command({"HLEN", hash_key(options_.node_id)}, [this, expected = stored_.size() + 1](const Reply& r) {
    audit_pending_ = false;
    if (r.type == Reply::Type::integer && static_cast<uint64_t>(r.integer) == expected) return;
    if (r.type != Reply::Type::integer) return;  // Redis away: registration will republish
    spdlog::info("cluster: redis holds {} of this node's {} rooms: writing them again", r.integer, expected);
    republish();
  });
}

void RedisRoomDirectory::on_dir_message(const std::string& from, const std::string& payload) {
  if (from == options_.node_id) return;  // a broadcast reaches its sender too: the mirror has it already
  auto m = decode_directory_message(payload, options_.max_message_bytes);
  if (!m) {
    counters_.rejected.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto known = incarnations_.find(from);
  if (known != incarnations_.end() && m->incarnation != known->second) {
    if (m->incarnation < known->second) {  // from a previous life of the node: stale
      counters_.rejected.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    drop_node(from, m->incarnation, false);
  }
  incarnations_[from] = m->incarnation;
  for (const auto& id : m->removed) {
    auto r = remote_.find(id);
    if (r == remote_.end() || r->second.node != from) continue;
    drop_remote(id);
    counters_.received.fetch_add(1, std::memory_order_relaxed);
  }
  for (const auto& text : m->changed) {
    auto stored = decode_room_entry(text, options_.limits);
    if (!stored || stored->entry.node != from || stored->incarnation != m->incarnation || !apply_remote(std::move(*stored))) {
      counters_.rejected.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    counters_.received.fetch_add(1, std::memory_order_relaxed);
  }
}

bool RedisRoomDirectory::apply_remote(StoredEntry stored) {
  const std::string node = stored.entry.node;
  if (node == options_.node_id) return false;  // only this node speaks for its rooms
  auto inc = incarnations_.find(node);
  if (inc == incarnations_.end()) {
    incarnations_[node] = stored.incarnation;
  } else if (stored.incarnation != inc->second) {
    if (stored.incarnation < inc->second) return false;
    drop_node(node, stored.incarnation, false);
    inc->second = stored.incarnation;
  }
  auto [it, fresh] = remote_.try_emplace(stored.entry.id);
  if (!fresh) {
    if (it->second.node != node) return false;  // a room id claimed by two nodes: keep the first
    if (stored.rev <= it->second.rev && stored.incarnation == it->second.incarnation) return true;  // not newer
  }
  {
    std::lock_guard lock(mutex_);
    if (own_.contains(stored.entry.id)) {
      if (fresh) remote_.erase(it);
      return false;
    }
  }
  it->second = Remote{node, stored.incarnation, stored.rev, ++touch_};
  if (fresh) {
    by_node_[node].insert(stored.entry.id);
    counters_.remote_rooms.fetch_add(1, std::memory_order_relaxed);
  }
  mirror_->publish(std::move(stored.entry));
  return true;
}

void RedisRoomDirectory::drop_remote(const std::string& id) {
  auto it = remote_.find(id);
  if (it == remote_.end()) return;
  if (auto n = by_node_.find(it->second.node); n != by_node_.end()) {
    n->second.erase(id);
    if (n->second.empty()) by_node_.erase(n);
  }
  remote_.erase(it);
  counters_.remote_rooms.fetch_sub(1, std::memory_order_relaxed);
  mirror_->remove(id);
}

void RedisRoomDirectory::drop_node(const std::string& node, uint64_t keep_incarnation, bool any_incarnation) {
  auto rooms = by_node_.find(node);
  if (rooms == by_node_.end()) return;
  std::vector<std::string> drop;
  for (const auto& id : rooms->second) {
    auto r = remote_.find(id);
    if (any_incarnation || (r != remote_.end() && r->second.incarnation != keep_incarnation)) drop.push_back(id);
  }
  counters_.dead_node_rooms.fetch_add(drop.size(), std::memory_order_relaxed);
  for (const auto& id : drop) drop_remote(id);
}

void RedisRoomDirectory::node_dead(const std::string& node) {
  if (node == options_.node_id) return;
  // Right after this node registered again, e.g. when Redis came back empty, every other node
  // looks dead until it registers again too (within its reconnect backoff): look once more
  // after node_ttl before dropping its rooms. (After the first registration the view starts
  // empty, so no death reported then is of that kind.)
  if (registrations_ > 1 && std::chrono::steady_clock::now() - registered_at_ < options_.node_ttl + options_.audit) {
    registry_->post_after(options_.node_ttl, [this, node] {
      if (!registry_) return;
      registry_->command({"EXISTS", "craft:node:" + node}, [this, node](const Reply& r) {
        if (r.type == Reply::Type::integer && r.integer == 0) forget_node(node);
      });
    });
    return;
  }
  forget_node(node);
}

void RedisRoomDirectory::forget_node(const std::string& node) {
  drop_node(node, 0, true);
  incarnations_.erase(node);
  // Every node that sees the death deletes the hash: the first one does the work, the rest
  // find nothing. A node that was only slow writes it again at its next audit.
  if (registry_ && registry_->connected()) registry_->command({"DEL", hash_key(node)});
}

}  // namespace craft::cluster
