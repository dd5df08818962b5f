#include "core/world.hpp"

#include "core/server_core.hpp"
#include "net/shard.hpp"

#include <spdlog/spdlog.h>

#include <random>

namespace craft::detail {

World::World(ServerCore& core) : core_(core) {}

void World::define(std::string type, RoomFactory factory) {
  std::lock_guard lock(mutex_);
  types_[std::move(type)] = std::move(factory);
}

bool World::has_type(const std::string& type) const {
  std::lock_guard lock(mutex_);
  return types_.contains(type);
}

std::string World::new_room_id() {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, sizeof(alphabet) - 2);
  for (;;) {
    std::string id(12, ' ');
    for (auto& c : id) c = alphabet[pick(rng)];
    if (!rooms_.contains(id)) return id;
  }
}

std::shared_ptr<RoomHost> World::create(const std::string& type, bool is_private, const std::string& options,
                                        int& error, std::string& message, std::optional<uint32_t> shard_index) {
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
  auto sequence = next_sequence_++;
  rooms_.emplace(host->id(), host);
  by_type_[type].emplace(sequence, host.get());
  sequence_.emplace(host.get(), sequence);
  return host;
}

std::shared_ptr<RoomHost> World::find(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = rooms_.find(id);
  return it == rooms_.end() ? nullptr : it->second;
}

std::shared_ptr<RoomHost> World::find_joinable(const std::string& type,
                                               const std::function<bool(const std::string&)>& skip) const {
  std::lock_guard lock(mutex_);
  auto it = by_type_.find(type);
  if (it == by_type_.end()) return nullptr;
  for (auto& [sequence, room] : it->second) {
    const auto& l = room->listing;
    if (l.is_private || l.locked || l.disposed || l.clients >= l.max_clients) continue;
    if (skip(room->id())) continue;
    return rooms_.at(room->id());
  }
  return nullptr;
}

std::vector<v1::RoomInfo> World::list(const std::string& type, size_t limit, bool* more) const {
  std::vector<v1::RoomInfo> out;
  if (more) *more = false;
  std::lock_guard lock(mutex_);
  auto add_all = [&](const std::map<uint64_t, RoomHost*>& rooms) {
    for (auto& [sequence, room] : rooms) {
      const auto& l = room->listing;
      if (l.is_private || l.disposed) continue;
      if (out.size() >= limit) {
        if (more) *more = true;
        return;
      }
      v1::RoomInfo info;
      info.set_room_id(room->id());
      info.set_type(l.type);
      info.set_clients(l.clients);
      info.set_max_clients(l.max_clients);
      info.set_label(l.label);
      info.set_locked(l.locked);
      out.push_back(std::move(info));
    }
  };
  if (type.empty()) {
    for (auto& [t, rooms] : by_type_) add_all(rooms);
  } else if (auto it = by_type_.find(type); it != by_type_.end()) {
    add_all(it->second);
  }
  return out;
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
}

}  // namespace craft::detail
