#include "core/world.hpp"

#include "core/server_core.hpp"
#include "net/shard.hpp"

#include <spdlog/spdlog.h>

#include <sodium.h>

namespace craft::detail {

World::World(ServerCore& core) : core_(core) {}

void World::define(std::string type, RoomFactory factory, RoomTypeOptions options) {
  std::lock_guard lock(mutex_);
  type_options_[type] = std::move(options);
  types_[std::move(type)] = std::move(factory);
}

std::optional<RoomTypeOptions> World::type_options(const std::string& type) const {
  std::lock_guard lock(mutex_);
  auto it = type_options_.find(type);
  if (it == type_options_.end()) return std::nullopt;
  return it->second;
}

bool World::has_type(const std::string& type) const {
  std::lock_guard lock(mutex_);
  return types_.contains(type);
}

// A private room's id is all it takes to join it, so ids come from libsodium's CSPRNG
// (about 71 bits), not from a seeded std:: engine whose next outputs its past ones give away.
std::string World::new_room_id() {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  for (;;) {
    std::string id(12, ' ');
    for (auto& c : id) c = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];  // unbiased
    if (!rooms_.contains(id)) return id;
  }
}

std::shared_ptr<RoomHost> World::create(const std::string& type, bool is_private, const std::string& options,
                                        int& error, std::string& message, std::optional<uint32_t> shard_index,
                                        Properties metadata) {
  RoomFactory factory;
  {
    std::lock_guard lock(mutex_);
    auto it = types_.find(type);
    if (it == types_.end()) {
      error = v1::UNKNOWN_ROOM_TYPE;
      message = "no room type '" + type + "'";
      return nullptr;
    }
    if (rooms_.size() >= core_.config().rooms.max_rooms) {
      error = v1::TOO_MANY_ROOMS;
      message = "the server holds rooms.max_rooms rooms";
      return nullptr;
    }
    factory = it->second;
  }
  // The factory is game code too: a throw fails this create, not the shard.
  std::unique_ptr<Room> room;
  try {
    room = factory();
  } catch (const std::exception& e) {
    spdlog::error("room factory for '{}' threw: {}", type, e.what());
  } catch (...) {
    spdlog::error("room factory for '{}' threw an exception that is not a std::exception", type);
  }
  if (!room) {
    error = v1::INTERNAL;
    message = "room error: the factory for room type '" + type + "' failed";
    return nullptr;
  }
  std::lock_guard lock(mutex_);
  rooms_per_shard_.resize(core_.shard_count());
  uint32_t least = 0, total = 0;
  for (uint32_t s = 0; s < rooms_per_shard_.size(); ++s) {
    total += rooms_per_shard_[s];
    if (rooms_per_shard_[s] < rooms_per_shard_[least]) least = s;
  }
  // The creator's shard unless that would unbalance the shards by more than about 6%.
  uint32_t slack = 1 + total / 16;
  uint32_t chosen = shard_index && *shard_index < rooms_per_shard_.size() &&
                            rooms_per_shard_[*shard_index] <= rooms_per_shard_[least] + slack
                        ? *shard_index
                        : least;
  ++rooms_per_shard_[chosen];
  auto& shard = core_.shard(chosen);
  auto host = std::make_shared<RoomHost>(shard, new_room_id(), type, std::move(room), is_private, options);
  // Set before anyone else can reach the room (it is not in rooms_ yet).
  host->preset(type_options_[type], std::move(metadata));
  auto sequence = next_sequence_++;
  rooms_.emplace(host->id(), host);
  by_type_[type].emplace(sequence, host.get());
  sequence_.emplace(host.get(), sequence);
  publish(*host);  // listed from now on, so a join_or_create racing this one finds it
  return host;
}

std::shared_ptr<RoomHost> World::find(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = rooms_.find(id);
  return it == rooms_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<RoomHost>> World::all() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<RoomHost>> out;
  out.reserve(rooms_.size());
  for (auto& [id, room] : rooms_) out.push_back(room);
  return out;
}

size_t World::size() const {
  std::lock_guard lock(mutex_);
  return rooms_.size();
}

void World::update_listing(RoomHost& room, const std::function<void(Listing&)>& change) {
  std::lock_guard lock(mutex_);
  change(room.listing);
  if (rooms_.contains(room.id()) && !room.listing.disposed) publish(room);
}

void World::publish(RoomHost& room) {
  const auto& l = room.listing;
  presence::RoomEntry e;
  e.id = room.id();
  e.type = l.type;
  e.clients = l.clients;
  e.max_clients = l.max_clients;
  e.label = l.label;
  e.locked = l.locked;
  e.is_private = l.is_private;
  e.metadata = l.metadata;
  if (auto seq = sequence_.find(&room); seq != sequence_.end()) e.created = seq->second;
  directory_->publish(std::move(e));
}

void World::remove(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = rooms_.find(id);
  if (it == rooms_.end()) return;
  auto* host = it->second.get();
  if (host->shard().index() < rooms_per_shard_.size()) --rooms_per_shard_[host->shard().index()];
  if (auto seq = sequence_.find(host); seq != sequence_.end()) {
    by_type_[host->type()].erase(seq->second);
    sequence_.erase(seq);
  }
  rooms_.erase(it);
  directory_->remove(id);
}

}  // namespace craft::detail
