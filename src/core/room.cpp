// Room's protected API forwards to its host on the same shard.
#include "core/room_host.hpp"
#include "api/api_service.hpp"
#include "store/store.hpp"

#include <craft/room.hpp>

namespace craft {

void Room::send(SessionId to, uint32_t op, std::string_view data, SessionId sender) {
  host_->send(std::span<const SessionId>(&to, 1), op, data, sender);
}
void Room::send(std::span<const SessionId> to, uint32_t op, std::string_view data, SessionId sender) {
  host_->send(to, op, data, sender);
}
void Room::broadcast(uint32_t op, std::string_view data, SessionId sender) { host_->broadcast(op, data, sender, 0); }
void Room::broadcast_except(SessionId except, uint32_t op, std::string_view data, SessionId sender) {
  host_->broadcast(op, data, sender, except);
}
void Room::reply_error(MessageError code, std::string_view message) { host_->reply_error(code, message); }
void Room::reject_create(std::string_view reason) { host_->reject_create(reason); }
void Room::kick(SessionId who, std::string_view reason) { host_->leave(who, reason, true); }
const std::vector<Client>& Room::clients() const { return host_->clients(); }
const Client* Room::find_client(SessionId id) const { return host_->find_client(id); }
const std::string& Room::id() const { return host_->id(); }
const std::string& Room::type() const { return host_->type(); }
TimePoint Room::now() const { return host_->now(); }
int64_t Room::wall_time_us() const { return host_->wall_time_us(); }
uint32_t Room::max_clients() const { return host_->max_clients(); }
void Room::set_max_clients(uint32_t n) { host_->update_settings(n, std::nullopt, std::nullopt, std::nullopt); }
void Room::set_label(std::string label) {
  host_->update_settings(std::nullopt, std::move(label), std::nullopt, std::nullopt);
}
void Room::set_locked(bool locked) { host_->update_settings(std::nullopt, std::nullopt, locked, std::nullopt); }
void Room::set_private(bool hidden) { host_->update_settings(std::nullopt, std::nullopt, std::nullopt, hidden); }
void Room::set_tick_rate(uint32_t hz) { host_->set_tick_rate(hz); }
void Room::dispose() { host_->dispose("disposed by the room"); }
void Room::set_replicator(sync::Replicator* replicator) { host_->set_replicator(replicator); }

void Room::storage_read(std::string collection, std::string key, std::string owner,
                        std::function<void(std::optional<std::string>)> done) {
  host_->with_store([collection = std::move(collection), key = std::move(key), owner = std::move(owner),
                     done = std::move(done)](store::Store* store) -> std::function<void()> {
    std::optional<std::string> value;
    if (store) {
      auto read = store->read_objects(store::Caller::server(), {{collection, key, owner}});
      if (read && !read->empty()) value = std::move(read->front().value);
    }
    return [done, value = std::move(value)] { if (done) done(value); };
  });
}

void Room::storage_write(std::string collection, std::string key, std::string owner, std::string json,
                         std::function<void(bool)> done) {
  host_->with_store([write = store::ObjectWrite{std::move(collection), std::move(key), std::move(owner),
                                                std::move(json), "", store::ReadPermission::owner,
                                                store::WritePermission::owner},
                     done = std::move(done)](store::Store* store) -> std::function<void()> {
    bool ok = store && store->write_objects(store::Caller::server(), {write}).ok();
    return [done, ok] { if (done) done(ok); };
  });
}

void Room::leaderboard_write(std::string leaderboard_id, const Client& player, int64_t score,
                             std::function<void(int64_t)> done) {
  host_->with_store([write = store::ScoreWrite{std::move(leaderboard_id), player.account_id, player.username, score, 0,
                                               "{}"},
                     now_s = wall_time_us() / 1'000'000,
                     done = std::move(done)](store::Store* store) -> std::function<void()> {
    int64_t rank = 0;
    if (store && !write.owner_id.empty()) {
      if (auto record = api::write_current_score(*store, write, now_s, /*from_player=*/false)) rank = record->rank;
    }
    return [done, rank] { if (done) done(rank); };
  });
}

}  // namespace craft

namespace craft {

bool Room::set_metadata(std::string key, Value value) { return host_->set_metadata(std::move(key), std::move(value)); }
void Room::erase_metadata(std::string_view key) { host_->erase_metadata(key); }
const Properties& Room::metadata() const { return host_->metadata(); }
bool Room::set_properties(SessionId player, std::vector<PropertyChange> writes) {
  return host_->set_properties(player, std::move(writes));
}
const Properties& Room::properties() const { return host_->properties(); }
const Properties* Room::player_properties(SessionId player) const { return host_->player_properties(player); }
uint64_t Room::properties_version() const { return host_->properties_version(); }

}  // namespace craft
