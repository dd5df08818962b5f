// Listing metadata and room/player properties with check-and-swap (docs/protocol.md §4.15,
// §4.16). Everything runs on the room's shard, one request at a time, so a properties_set's
// expectations are checked and its writes applied with nothing in between: of concurrent
// writes with the same expectation, the first to reach the room's shard wins and the
// others get PROPERTY_CONFLICT. Every applied batch bumps the room's one version counter
// and goes to every member in version order.
#include "core/room_host.hpp"
#include "core/server_core.hpp"
#include "core/session.hpp"
#include "net/shard.hpp"
#include "net/ws_codec.hpp"
#include "presence/room_directory.hpp"

#include <map>

namespace craft::detail {

namespace {
bool good_key(std::string_view key) { return !key.empty() && ws::is_valid_utf8(key); }
}  // namespace

void RoomHost::preset(RoomTypeOptions options, Properties metadata) {
  type_options_ = std::move(options);
  metadata_ = std::move(metadata);
  listing.metadata = metadata_;
}

bool RoomHost::set_metadata(std::string key, Value value) {
  const auto& rooms = core_of(shard_).config().rooms;
  // Room code gets false; the counter lets an operator see a room type that keeps hitting it.
  if (!good_key(key) || !value_valid(value) || key.size() + value_bytes(value) > rooms.max_property_bytes) {
    shard_.metrics().metadata_refused.add();
    return false;
  }
  auto it = metadata_.find(key);
  if (it == metadata_.end()) {
    if (metadata_.size() >= rooms.max_metadata) {
      shard_.metrics().metadata_refused.add();
      return false;
    }
    metadata_.emplace(std::move(key), std::move(value));
  } else {
    if (it->second == value) return true;
    it->second = std::move(value);
  }
  publish_listing();
  return true;
}

void RoomHost::erase_metadata(std::string_view key) {
  auto it = metadata_.find(key);
  if (it == metadata_.end()) return;
  metadata_.erase(it);
  publish_listing();
}

const Properties* RoomHost::player_properties(SessionId player) const {
  auto it = player_properties_.find(player);
  return it == player_properties_.end() ? nullptr : &it->second;
}

std::string RoomHost::check_writes(const Properties& current, std::span<const PropertyChange> writes,
                                   int& code) const {
  const auto& rooms = core_of(shard_).config().rooms;
  code = v1::BAD_REQUEST;
  if (writes.empty()) return "properties_set needs at least one write";
  if (writes.size() > rooms.max_properties) return "more writes than rooms.max_properties";
  // The last write of each key decides (later writes in a batch win).
  std::map<std::string_view, const PropertyChange*> last;
  for (const auto& w : writes) {
    if (!good_key(w.key)) return "a property key must be non-empty UTF-8";
    if (w.to && !value_valid(*w.to)) return "property '" + w.key + "': numbers must be finite";
    size_t bytes = w.key.size() + (w.to ? value_bytes(*w.to) : 0);
    if (bytes > rooms.max_property_bytes) {
      return "property '" + w.key + "' is over rooms.max_property_bytes (" + std::to_string(rooms.max_property_bytes) +
             ")";
    }
    last[w.key] = &w;
  }
  size_t added = 0, removed = 0;
  for (const auto& [key, w] : last) {
    bool present = current.find(key) != current.end();
    if (w->to && !present) ++added;
    if (!w->to && present) ++removed;
  }
  if (current.size() + added - removed > rooms.max_properties) {
    code = v1::LIMIT_REACHED;
    return "rooms.max_properties (" + std::to_string(rooms.max_properties) + ") keys";
  }
  return {};
}

void RoomHost::error_to(SessionId who, uint32_t cid, int code, std::string message) {
  v1::Envelope e;
  e.set_cid(cid);
  e.mutable_error()->set_code(static_cast<v1::ErrorCode>(code));
  e.mutable_error()->set_message(std::move(message));
  for (size_t i = 0; i < clients_.size(); ++i) {
    if (clients_[i].id != who) continue;
    shard_.metrics().count_error(code);
    deliver_to(i, protocol::frame(e, members_[i].format));
    return;
  }
}

void RoomHost::properties_set(SessionId by, uint32_t cid, const v1::PropertiesSet& r) {
  if (disposed_) return;
  const Client* writer = find_client(by);
  if (!writer) return;  // left while the request was on its way; nothing to answer
  auto self = shared_from_this();  // the veto is game code: it may dispose the room
  const SessionId player = r.player();
  if (player != 0 && !find_client(player)) return error_to(by, cid, v1::BAD_REQUEST, "player is not a member");
  std::vector<PropertyChange> writes;
  writes.reserve(static_cast<size_t>(std::min(r.writes_size(), 1 << 16)));
  const auto& rooms = core_of(shard_).config().rooms;
  // Counts before any per-entry work (a hostile batch may be as large as the message limit).
  if (static_cast<uint32_t>(r.writes_size()) > rooms.max_properties ||
      static_cast<uint32_t>(r.expect_size()) > rooms.max_properties) {
    return error_to(by, cid, v1::BAD_REQUEST, "more writes or expectations than rooms.max_properties");
  }
  for (const auto& w : r.writes()) {
    PropertyChange c{w.key(), std::nullopt};
    if (w.has_to()) {
      c.to = presence::from_proto(w.to());
      if (!c.to) return error_to(by, cid, v1::BAD_REQUEST, "property '" + w.key() + "': a value must be text, a finite number or a boolean");
    }
    writes.push_back(std::move(c));
  }
  // Who may write where: the room type's rule (room code is not bound by it).
  const bool allowed = type_options_.property_writers != PropertyWriters::nobody &&
                       (player == by || (player == 0 && type_options_.property_writers ==
                                                            PropertyWriters::room_and_own_player));
  if (!allowed) {
    return error_to(by, cid, v1::PERMISSION_DENIED,
                    player == 0 ? "this room type does not let players write room properties"
                                : "a player may write only its own player properties");
  }
  static const Properties none;
  const Properties& current = player == 0 ? properties_ : (player_properties(player) ? *player_properties(player) : none);
  int code = 0;
  if (auto problem = check_writes(current, writes, code); !problem.empty()) return error_to(by, cid, code, problem);
  // Check-and-swap: every expectation against the state right now, on this shard.
  for (const auto& x : r.expect()) {
    const Properties* where = x.player() == 0 ? &properties_ : player_properties(x.player());
    const Value* have = nullptr;
    if (where) {
      auto it = where->find(x.key());
      if (it != where->end()) have = &it->second;
    }
    bool holds;
    if (!x.has_equals()) {
      holds = have == nullptr;
    } else {
      auto want = presence::from_proto(x.equals());
      holds = want && have && *have == *want;
    }
    if (!holds) {
      shard_.metrics().property_conflicts.add();
      return error_to(by, cid, v1::PROPERTY_CONFLICT,
                      "expectation on '" + x.key() + "' did not hold (properties version " +
                          std::to_string(properties_version_) + ")");
    }
  }
  bool accepted = true;
  const Client who = *writer;
  if (!ask_room(who, player, writes, accepted)) return;
  if (disposed_) return;
  if (!accepted) return error_to(by, cid, v1::PERMISSION_DENIED, "the room refused the write");
  if (player != 0 && !find_client(player)) return error_to(by, cid, v1::BAD_REQUEST, "player is not a member");
  apply_writes(player, std::move(writes), by, cid);
}

bool RoomHost::set_properties(SessionId player, std::vector<PropertyChange> writes) {
  if (disposed_) return false;
  if (player != 0 && !find_client(player)) return false;
  static const Properties none;
  const Properties& current = player == 0 ? properties_ : (player_properties(player) ? *player_properties(player) : none);
  int code = 0;
  if (!check_writes(current, writes, code).empty()) return false;
  apply_writes(player, std::move(writes), 0, 0);
  return true;
}

void RoomHost::apply_writes(SessionId player, std::vector<PropertyChange> writes, SessionId by, uint32_t cid) {
  Properties& target = player == 0 ? properties_ : player_properties_[player];
  v1::Envelope e;
  auto* changed = e.mutable_properties_changed();
  changed->set_room_id(id_);
  changed->set_player(player);
  changed->set_version(++properties_version_);
  changed->set_by(by);
  for (auto& w : writes) {
    auto* out = changed->add_writes();
    out->set_key(w.key);
    if (w.to) {
      presence::to_proto(*w.to, out->mutable_to());
      target[w.key] = std::move(*w.to);
    } else {
      target.erase(w.key);
    }
  }
  if (player != 0 && target.empty()) player_properties_.erase(player);
  if (members_.empty()) return;
  if (by == 0) return deliver(protocol::frame_all(e, formats_), 0);
  // Everyone gets the same envelope; the writer's copy echoes its cid.
  deliver(protocol::frame_all(e, formats_), by);
  e.set_cid(cid);
  for (size_t i = 0; i < clients_.size(); ++i) {
    if (clients_[i].id == by) deliver_to(i, protocol::frame(e, members_[i].format));
  }
}

void RoomHost::fill_properties(v1::RoomJoined* j) const {
  for (const auto& [k, v] : properties_) presence::to_proto(v, &(*j->mutable_properties())[k]);
  for (const auto& [player, props] : player_properties_) {
    auto* pp = j->add_player_properties();
    pp->set_player(player);
    for (const auto& [k, v] : props) presence::to_proto(v, &(*pp->mutable_properties())[k]);
  }
  j->set_properties_version(properties_version_);
}

}  // namespace craft::detail
