// The room directory (issue 12 item 6): the listing entries that room_list, join_or_create
// and lobby subscriptions read. World keeps owning the rooms (RoomHost); a room publishes its
// entry here from its own shard whenever its listing changes. Reads are asynchronous: a
// Redis-backed directory (issue 14) answers over the network, so every read takes the shard
// to answer on and runs `done` there later, through Shard::post (the local directory posts
// too), and no caller may assume one process.
#pragma once
#include "craft.pb.h"

#include <craft/value.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace craft {
class Shard;
}

namespace craft::presence {

// One room as listings show it.
struct RoomEntry {
  std::string id;
  std::string type;
  uint32_t clients = 0;
  uint32_t max_clients = 0;
  std::string label;
  bool locked = false;
  bool is_private = false;
  uint64_t created = 0;  // creation order across the server ("created" sort key)
  std::map<std::string, Value, std::less<>> metadata;
  uint64_t change = 0;   // the directory's change number of the entry's last publish
  std::string node;      // the owning node's cluster.node_id; "" on a single node (docs/cluster.md)
};

// craft.proto's Condition, checked: `equals`, or a numeric range (min and/or max, inclusive).
struct Condition {
  std::string key;
  std::optional<Value> equals;
  std::optional<double> min, max;
};

struct SortKey {
  std::string key;  // "clients", "max_clients", "created" or a metadata key
  bool descending = false;
};

// A listing request: which rooms (type, conditions, free_seats), in which order, which page.
// Locked and private rooms never pass.
struct RoomQuery {
  std::string type;  // empty: every type (room_list only)
  std::vector<Condition> conditions;
  bool free_seats = false;
  std::vector<SortKey> sort;  // empty: creation order
  // find_joinable only: a joinable room of this node (RoomEntry::node) wins over any other
  // node's; empty = no preference. A cluster sets it for join_or_create without a sort.
  std::string prefer_node;
  uint32_t offset = 0;
  uint32_t limit = 0;
};

// Reads a client's filter and sort into `out`. Refuses (false, `error` says why) more than
// `max_conditions` conditions or sort keys, empty or over-long (> 128 bytes) or non-UTF-8
// keys, a condition with neither equals nor a range, NaN or infinite numbers.
bool read_filter(const v1::RoomFilter& filter, const google::protobuf::RepeatedPtrField<v1::RoomSort>& sort,
                 uint32_t max_conditions, RoomQuery& out, std::string& error);
// Value <-> craft.proto's Value. from_proto: nullopt for an unset or non-finite value.
std::optional<Value> from_proto(const v1::Value& v);
void to_proto(const Value& v, v1::Value* out);
// Whether `entry` passes the query's type, conditions, free_seats; locked/private never do.
bool passes(const RoomQuery& q, const RoomEntry& entry);
// Sort order for listings: the query's keys, rooms without a key last, ties by creation.
bool sorts_before(const std::vector<SortKey>& sort, const RoomEntry& a, const RoomEntry& b);
void to_info(const RoomEntry& entry, v1::RoomInfo* out);

// What changed for one room type since a subscriber's last look (lobby subscriptions).
struct Changes {
  std::vector<RoomEntry> changed;   // entries published since, each once (latest state)
  std::vector<std::string> removed; // rooms gone since
  uint64_t up_to = 0;               // pass as `since` next time
  bool reset = false;               // `since` is too old (tombstones pruned): start over
};

class RoomDirectory {
 public:
  virtual ~RoomDirectory() = default;

  // The room's side, from its shard (fire and forget).
  virtual void publish(RoomEntry entry) = 0;
  virtual void remove(const std::string& id) = 0;

  // Reads; `done` runs on `reply_on` later. `more`: rooms past offset + limit pass too.
  // The work is bounded by the rooms of the type (rooms.max_rooms) times the conditions
  // (rooms.max_filter_conditions); the answer by query.limit.
  virtual void list(RoomQuery query, Shard& reply_on,
                    std::function<void(std::vector<RoomEntry> rooms, bool more)> done) = 0;
  // The first room in query order that is joinable (passes, free seat) and not in `skip`
  // (one of query.prefer_node's if it has one). The work is bounded by the type's rooms that
  // have a free seat, not by all its rooms: full rooms are never looked at.
  virtual void find_joinable(RoomQuery query, std::vector<std::string> skip, Shard& reply_on,
                             std::function<void(std::optional<std::string> room_id)> done) = 0;
  // Where room `room_id` is: its entry (entry.node names the owning node in a cluster), or
  // nullopt when no node lists it. Private and locked rooms are found too: a join by id
  // decides about them. A cross-node join by id asks this first (docs/cluster.md).
  virtual void locate(const std::string& room_id, Shard& reply_on,
                      std::function<void(std::optional<RoomEntry>)> done) = 0;
  // Lobby: changes to rooms of `type` after change number `since` (0: everything, reset).
  // A directory only keeps change history for types someone watches: watch/unwatch count.
  virtual void watch(const std::string& type, bool on) = 0;
  virtual void changes(const std::string& type, uint64_t since, Shard& reply_on,
                       std::function<void(Changes)> done) = 0;
};

std::unique_ptr<RoomDirectory> make_local_room_directory();

}  // namespace craft::presence
