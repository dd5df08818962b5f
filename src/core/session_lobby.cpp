// Room properties (check-and-swap) and live room lists, from a session (protocol.md §4.16,
// §4.17). The lobby pulls: a subscribed session asks the room directory, at most every
// lobby.update_interval_ms, for the rooms of its type that changed since its last look
// (each room once, however often it changed: coalesced), and turns them into
// added/updated/removed against its filter and what it already sent. Nobody subscribed to
// a type: the directory keeps no history for it and a listing change costs nothing more.
#include "core/session_lobby.hpp"

#include "core/world.hpp"
#include "net/shard.hpp"

#include <craft/room_options.hpp>

#include <algorithm>

namespace craft {

bool Session::filter_keys(const std::string& type, std::string_view options, presence::RoomQuery* query,
                          Properties& metadata, std::string& error) {
  auto type_options = core().world().type_options(type);
  if (!type_options || type_options->filter_by.empty()) return true;
  // RoomOptions checks size and nesting before it parses, never throws (room_options.hpp).
  RoomOptions parsed(options);
  const auto max_bytes = core().config().rooms.max_property_bytes;
  for (const auto& key : type_options->filter_by) {
    if (!parsed.ok()) break;
    auto value = parsed.scalar(key, max_bytes > key.size() ? max_bytes - key.size() : 0);
    if (!value) continue;
    if (query) query->conditions.push_back({key, *value, std::nullopt, std::nullopt});
    metadata.insert_or_assign(key, std::move(*value));
  }
  if (!parsed.ok()) {
    error = parsed.error();
    return false;
  }
  return true;
}

void Session::handle_properties_set(const v1::Envelope& e) {
  const auto& r = e.properties_set();
  auto* room = find_room(r.room_id());
  if (!room) return send_error(e.cid(), v1::NOT_IN_ROOM, "not in room " + r.room_id());
  // The room's shard checks the expectations and applies the writes, one request at a time:
  // the answer (properties_changed or an error) comes from there.
  (*room)->shard().dispatch([room = *room, by = id_, cid = e.cid(), request = r] {
    room->properties_set(by, cid, request);
  });
}

namespace {

// The first page of a subscription from a full read of its type: passing rooms in the
// query's order, at most query.limit.
std::vector<const presence::RoomEntry*> first_page(const presence::RoomQuery& q,
                                                   const std::vector<presence::RoomEntry>& all) {
  std::vector<const presence::RoomEntry*> page;
  for (const auto& entry : all) {
    if (presence::passes(q, entry)) page.push_back(&entry);
  }
  std::sort(page.begin(), page.end(),
            [&](const presence::RoomEntry* a, const presence::RoomEntry* b) { return presence::sorts_before(q.sort, *a, *b); });
  if (page.size() > q.limit) page.resize(q.limit);
  return page;
}

}  // namespace

void Session::handle_lobby(const v1::Envelope& e) {
  auto& world = core().world();
  const auto& config = core().config();
  if (e.has_lobby_unsubscribe()) {
    const uint32_t id = e.lobby_unsubscribe().subscription();
    if (!lobby_) return send_error(e.cid(), v1::NOT_FOUND, "no lobby subscription " + std::to_string(id));
    auto& subs = lobby_->subscriptions;
    auto it = std::find_if(subs.begin(), subs.end(), [&](auto& sub) { return sub.id == id; });
    if (it == subs.end()) return send_error(e.cid(), v1::NOT_FOUND, "no lobby subscription " + std::to_string(id));
    world.directory().watch(it->query.type, false);
    shard().metrics().lobby_subscriptions.sub();
    subs.erase(it);
    v1::Envelope reply;
    reply.set_cid(e.cid());
    reply.mutable_lobby_update()->set_subscription(id);
    reply.mutable_lobby_update()->set_ended(true);
    return send_envelope(reply);
  }
  const auto& s = e.lobby_subscribe();
  if (s.type().empty()) return send_error(e.cid(), v1::BAD_REQUEST, "lobby_subscribe needs a room type");
  if (!world.has_type(s.type())) return send_error(e.cid(), v1::UNKNOWN_ROOM_TYPE, "no room type " + s.type());
  const auto max = config.lobby.max_subscriptions_per_session;
  if ((lobby_ ? lobby_->subscriptions.size() : 0) >= max) {
    return send_error(e.cid(), v1::LIMIT_REACHED,
                      "lobby.max_subscriptions_per_session is " + std::to_string(max));
  }
  LobbyState::Subscription sub;
  sub.query.type = s.type();
  std::string problem;
  if (!presence::read_filter(s.filter(), s.sort(), config.rooms.max_filter_conditions, sub.query, problem)) {
    shard().metrics().room_filters_refused.add();
    return send_error(e.cid(), v1::BAD_REQUEST, std::move(problem));
  }
  sub.query.limit = s.limit() == 0 ? config.rooms.max_list_results : std::min(s.limit(), config.rooms.max_list_results);
  if (!lobby_) lobby_ = std::make_unique<LobbyState>(shard().context());
  sub.id = lobby_->next_id++;
  sub.fetching = true;
  sub.due = shard().now() + std::chrono::milliseconds(config.lobby.update_interval_ms);
  const uint32_t id = sub.id;
  world.directory().watch(s.type(), true);
  shard().metrics().lobby_subscriptions.add();
  lobby_->subscriptions.push_back(std::move(sub));
  // The first page comes from the directory later: later requests wait behind it, so the
  // reply keeps its place in this connection's order.
  ++pending_joins_;
  world.directory().changes(s.type(), 0, shard(),
                            [self = std::static_pointer_cast<Session>(shared_from_this()), id,
                             cid = e.cid()](presence::Changes changes) {
                              --self->pending_joins_;
                              self->lobby_deliver(id, cid, std::move(changes));
                              self->release_held();
                            });
  arm_lobby_timer();
}

void Session::lobby_deliver(uint32_t id, uint32_t cid, presence::Changes changes) {
  if (!lobby_ || !alive()) return;
  auto& subs = lobby_->subscriptions;
  auto it = std::find_if(subs.begin(), subs.end(), [&](auto& s) { return s.id == id; });
  if (it == subs.end()) return;  // unsubscribed meanwhile
  auto& sub = *it;
  sub.fetching = false;
  sub.since = changes.up_to;
  v1::Envelope e;
  e.set_cid(cid);
  auto* u = e.mutable_lobby_update();
  u->set_subscription(id);
  if (changes.reset) {
    u->set_reset(true);
    sub.known.clear();
    for (const auto* entry : first_page(sub.query, changes.changed)) {
      sub.known.insert(entry->id);
      presence::to_info(*entry, u->add_added());
    }
  } else {
    const size_t cap = core().config().rooms.max_list_results;
    for (const auto& entry : changes.changed) {
      const bool has = sub.known.contains(entry.id);
      if (presence::passes(sub.query, entry)) {
        if (has) {
          presence::to_info(entry, u->add_updated());
        } else if (sub.known.size() < cap) {
          // Past rooms.max_list_results known rooms, new ones wait until some are removed.
          sub.known.insert(entry.id);
          presence::to_info(entry, u->add_added());
        }
      } else if (has) {
        sub.known.erase(entry.id);
        u->add_removed(entry.id);
      }
    }
    for (auto& gone : changes.removed) {
      if (sub.known.erase(gone)) u->add_removed(std::move(gone));
    }
    if (u->added_size() == 0 && u->updated_size() == 0 && u->removed_size() == 0) return;
  }
  shard().metrics().lobby_updates.add();
  send_envelope(e);
}

void Session::arm_lobby_timer() {
  if (!lobby_ || lobby_->timer_armed || lobby_->subscriptions.empty()) return;
  lobby_->timer_armed = true;
  // Wake when the earliest idle subscription is due by the server clock, at least 1 ms and at
  // most one interval from now (a ManualClock that does not move: a wake per interval, no spin).
  const auto interval = std::chrono::milliseconds(core().config().lobby.update_interval_ms);
  const auto now = shard().now();
  auto wake = std::chrono::duration_cast<std::chrono::milliseconds>(interval);
  for (const auto& sub : lobby_->subscriptions) {
    if (sub.fetching) continue;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(sub.due - now);
    wake = std::clamp(left, std::chrono::milliseconds(1), wake);
  }
  lobby_->timer.expires_after(wake);
  lobby_->timer.async_wait([self = std::static_pointer_cast<Session>(shared_from_this())](const std::error_code& ec) {
    if (ec || !self->lobby_) return;
    self->lobby_->timer_armed = false;
    self->flush_lobby();
  });
}

void Session::flush_lobby() {
  if (!lobby_ || !alive()) return;
  auto& world = core().world();
  const auto now = shard().now();
  const auto interval = std::chrono::milliseconds(core().config().lobby.update_interval_ms);
  for (auto& sub : lobby_->subscriptions) {
    if (sub.fetching || now < sub.due) continue;
    sub.fetching = true;
    sub.due = now + interval;
    world.directory().changes(sub.query.type, sub.since, shard(),
                              [self = std::static_pointer_cast<Session>(shared_from_this()),
                               id = sub.id](presence::Changes changes) { self->lobby_deliver(id, 0, std::move(changes)); });
  }
  arm_lobby_timer();
}

void Session::end_lobby() {
  if (!lobby_) return;
  for (auto& sub : lobby_->subscriptions) {
    core().world().directory().watch(sub.query.type, false);
    shard().metrics().lobby_subscriptions.sub();
  }
  lobby_->subscriptions.clear();
  lobby_->timer.cancel();
  lobby_.reset();
}

}  // namespace craft
