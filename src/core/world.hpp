// The registry of room types and live rooms, shared by all shards. Touched on create, join,
// list and dispose only — never per message — so one mutex is enough.
#pragma once
#include "core/room_host.hpp"

#include <craft/room.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace craft::detail {

class ServerCore;

class World {
 public:
  explicit World(ServerCore& core);

  void define(std::string type, RoomFactory factory);
  bool has_type(const std::string& type) const;

  // Makes and registers a room; on_create runs on its shard: `shard` (the creator's, whose
  // first member then needs no cross-thread hop) unless that shard holds clearly more rooms
  // than the emptiest one, which then gets it. On failure returns null and sets an
  // ErrorCode and message.
  std::shared_ptr<RoomHost> create(const std::string& type, bool is_private, const std::string& options,
                                   int& error, std::string& message, std::optional<uint32_t> shard = {});
  std::shared_ptr<RoomHost> find(const std::string& id) const;
  // The oldest public, unlocked, not full room of `type` for which `skip` is false.
  std::shared_ptr<RoomHost> find_joinable(const std::string& type,
                                          const std::function<bool(const std::string&)>& skip) const;
  // At most `limit` public rooms of `type` (every type if empty), oldest first within a type;
  // `more` says whether rooms were left out. The cap keeps the work under the mutex and the
  // answer's size bounded however many rooms there are (docs/security.md).
  std::vector<v1::RoomInfo> list(const std::string& type, size_t limit, bool* more = nullptr) const;
  std::vector<std::shared_ptr<RoomHost>> all() const;
  size_t size() const;

  // Called by a room on its shard.
  void update_listing(RoomHost& room, const std::function<void(Listing&)>& change);
  void remove(const std::string& id);

 private:
  std::string new_room_id();  // caller holds mutex_

  ServerCore& core_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, RoomFactory> types_;
  std::unordered_map<std::string, std::shared_ptr<RoomHost>> rooms_;
  // Creation order per type, for join-or-create and listings.
  std::unordered_map<std::string, std::map<uint64_t, RoomHost*>> by_type_;
  std::unordered_map<const RoomHost*, uint64_t> sequence_;
  uint64_t next_sequence_ = 0;
  std::vector<uint32_t> rooms_per_shard_;
};

}  // namespace craft::detail
