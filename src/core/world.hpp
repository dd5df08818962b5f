// The registry of room types and live rooms, shared by all shards. Touched on create, join,
// list and dispose only — never per message — so one mutex is enough.
#pragma once
#include "core/room_host.hpp"
#include "presence/room_directory.hpp"

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

  void define(std::string type, RoomFactory factory, RoomTypeOptions options = {});
  bool has_type(const std::string& type) const;
  // The type's options (a copy), or nullopt for an unknown type.
  std::optional<RoomTypeOptions> type_options(const std::string& type) const;

  // Makes and registers a room; on_create runs on its shard: `shard` (the creator's, whose
  // first member then needs no cross-thread hop) unless that shard holds clearly more rooms
  // than the emptiest one, which then gets it. On failure returns null and sets an
  // ErrorCode and message.
  std::shared_ptr<RoomHost> create(const std::string& type, bool is_private, const std::string& options,
                                   int& error, std::string& message, std::optional<uint32_t> shard = {},
                                   Properties metadata = {});
  std::shared_ptr<RoomHost> find(const std::string& id) const;
  // Listings, join_or_create's search and lobby feeds read the room directory (asynchronous;
  // presence/room_directory.hpp); rooms publish to it through update_listing.
  presence::RoomDirectory& directory() { return *directory_; }
  // The cluster's shared directory instead of the local one (docs/cluster.md); before any room
  // exists (ServerCore's constructor).
  void set_directory(std::unique_ptr<presence::RoomDirectory> directory) { directory_ = std::move(directory); }
  std::vector<std::shared_ptr<RoomHost>> all() const;
  size_t size() const;

  // Called by a room on its shard.
  void update_listing(RoomHost& room, const std::function<void(Listing&)>& change);
  void remove(const std::string& id);

 private:
  std::string new_room_id();  // caller holds mutex_
  void publish(RoomHost& room);  // the room's directory entry from its listing; caller holds mutex_

  ServerCore& core_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, RoomFactory> types_;
  std::unordered_map<std::string, RoomTypeOptions> type_options_;
  std::unique_ptr<presence::RoomDirectory> directory_ = presence::make_local_room_directory();
  std::unordered_map<std::string, std::shared_ptr<RoomHost>> rooms_;
  // Creation order per type, for join-or-create and listings.
  std::unordered_map<std::string, std::map<uint64_t, RoomHost*>> by_type_;
  std::unordered_map<const RoomHost*, uint64_t> sequence_;
  uint64_t next_sequence_ = 0;
  std::vector<uint32_t> rooms_per_shard_;
};

}  // namespace craft::detail
