// The shared room directory (issue 14; docs/cluster.md "The room directory"): rooms of every
// node listed, filtered, found by join_or_create and watched by lobby subscriptions from any
// node.
//
// Every node keeps a mirror of the whole directory in memory (a local RoomDirectory: its
// filter, sort, pagination and per-type change history), so reads never wait on Redis and
// still answer while Redis is down (with the last rooms seen). Redis holds the truth that a
// node (re)starting reads:
//   craft:rooms:<node>  hash, room id -> encoded entry (room_entry_codec.hpp); written by its
//                       node only, DEL'd on a clean stop and by any node that sees it die.
// and the bus carries every change to every node at once: kind "dir", a batch of changed
// entries and removed ids from one node.
//
// Writes never block a shard: publish/remove update the mirror and mark the room dirty; the
// cluster thread flushes dirty rooms at most every cluster.directory_flush_ms as one HSET,
// one HDEL and one broadcast, so a room that changes 20 times in a flush interval is written
// once. Threads: publish/remove/reads from any shard; everything Redis on the cluster thread.
#pragma once
#include "presence/room_entry_codec.hpp"
#include "presence/room_directory.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace craft::cluster {

class NodeRegistry;
struct Reply;

struct DirectoryOptions {
  std::string node_id;
  uint64_t incarnation = 0;                  // this process' start, wall µs: tells a restart apart
  std::chrono::milliseconds flush{50};       // cluster.directory_flush_ms
  std::chrono::milliseconds audit{1000};     // cluster.heartbeat_ms: how often Redis' copy is checked
  std::chrono::milliseconds node_ttl{3000};  // cluster.node_ttl_ms: deaths seen right after a (re)registration wait this long
  EntryLimits limits;                        // cluster.max_room_entry_bytes, rooms.max_metadata
  size_t max_message_bytes = 65'536;         // cluster.max_message_bytes, less the bus' header
  uint32_t max_rooms_per_node = 100'000;     // rooms.max_rooms: a node's hash past it is not read
  std::function<uint64_t()> wall_us;         // the server clock (creation order across nodes)
};

// For /metrics; read from any thread.
struct DirectoryCounters {
  std::atomic<uint64_t> local_rooms{0};      // gauge: this node's rooms
  std::atomic<uint64_t> remote_rooms{0};     // gauge: other nodes' rooms in the mirror
  std::atomic<uint64_t> changes{0};          // publish/remove calls by this node's rooms
  std::atomic<uint64_t> coalesced{0};        // of those, folded into a write already pending
  std::atomic<uint64_t> flushes{0};          // flushes that wrote something
  std::atomic<uint64_t> written{0};          // entries written (HSET) or deleted (HDEL)
  std::atomic<uint64_t> received{0};         // entries and removals taken from other nodes
  std::atomic<uint64_t> rejected{0};         // entries or messages that did not parse or lied about their node
  std::atomic<uint64_t> oversized{0};        // own entries past max_room_entry_bytes: listed on this node only
  std::atomic<uint64_t> republishes{0};      // whole re-writes of this node's rooms (registration, audit)
  std::atomic<uint64_t> resyncs{0};          // whole reads of the directory from Redis
  std::atomic<uint64_t> dead_node_rooms{0};  // rooms dropped because their node died or restarted
};

class RedisRoomDirectory final : public presence::RoomDirectory {
 public:
  explicit RedisRoomDirectory(DirectoryOptions options);
  ~RedisRoomDirectory() override;

  // Registers the bus handler and hooks; before registry.start().
  void attach(NodeRegistry& registry);
  // A clean stop, before the registry stops: this node's rooms leave Redis (the others drop
  // them from their mirrors when the node leaves), and nothing more is written.
  void leave();
  // After the registry stopped: rooms disposed later change the mirror only.
  void detach();

  void publish(presence::RoomEntry entry) override;
  void remove(const std::string& id) override;
  void list(presence::RoomQuery query, Shard& reply_on,
            std::function<void(std::vector<presence::RoomEntry>, bool)> done) override;
  void find_joinable(presence::RoomQuery query, std::vector<std::string> skip, Shard& reply_on,
                     std::function<void(std::optional<std::string>)> done) override;
  void watch(const std::string& type, bool on) override;
  void changes(const std::string& type, uint64_t since, Shard& reply_on,
               std::function<void(presence::Changes)> done) override;
  void locate(const std::string& room_id, Shard& reply_on,
              std::function<void(std::optional<presence::RoomEntry>)> done) override;

  const DirectoryCounters& counters() const { return counters_; }

 private:
  struct Own {
    presence::RoomEntry entry;
    uint64_t rev = 0;
  };
  struct Remote {
    std::string node;
    uint64_t incarnation = 0;
    uint64_t rev = 0;
    uint64_t touched = 0;  // touch_ when last applied: a resync only drops rooms untouched since it began
  };

  // locate's second looks at the mirror (a room just made elsewhere), this far apart.
  static constexpr std::chrono::milliseconds look_again{10};
  void relocate(const std::string& room_id, Shard& reply_on,
                std::function<void(std::optional<presence::RoomEntry>)> done, int64_t looks_left);

  // Cluster thread.
  void schedule_flush();  // caller holds mutex_
  void flush();
  void republish();
  void resync();
  void read_node(const std::string& node, uint64_t started_touch);
  void audit();
  void arm_audit();
  void on_dir_message(const std::string& from, const std::string& payload);
  bool apply_remote(StoredEntry stored);
  void drop_remote(const std::string& id);
  void drop_node(const std::string& node, uint64_t keep_incarnation, bool any_incarnation);
  void node_dead(const std::string& node);
  void forget_node(const std::string& node);
  void written(const Reply& reply);
  std::string hash_key(const std::string& node) const { return "craft:rooms:" + node; }

  DirectoryOptions options_;
  DirectoryCounters counters_;
  std::unique_ptr<presence::RoomDirectory> mirror_;

  std::mutex mutex_;  // own_, dirty_, flags below; taken before the mirror's own lock
  std::unordered_map<std::string, Own> own_;
  std::set<std::string> dirty_;
  uint64_t rev_ = 0;
  uint64_t last_created_ = 0;
  bool flush_scheduled_ = false;
  bool leaving_ = false;
  NodeRegistry* registry_ = nullptr;

  // Cluster thread only.
  std::unordered_map<std::string, Remote> remote_;
  std::unordered_map<std::string, std::unordered_set<std::string>> by_node_;  // other node -> its rooms
  std::unordered_map<std::string, uint64_t> incarnations_;                    // other node -> last seen
  std::unordered_set<std::string> stored_;  // own rooms HSET and not HDEL'd: what HLEN should say
  uint64_t touch_ = 0;
  bool need_republish_ = false;
  bool audit_pending_ = false;
  std::chrono::steady_clock::time_point registered_at_{};  // the last re-registration (not the first)
  uint64_t registrations_ = 0;
};

}  // namespace craft::cluster
