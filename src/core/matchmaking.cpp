// The matchmaker loop (docs/matchmaking.md, docs/protocol.md §4.18): a timer on shard 0 runs
// one pass of the ticket pool every matchmaker.interval_ms; each match becomes a private room
// of matchmaker.room_type with one seat reservation per matched player, and every matched
// session gets match_found with its own reservation through the session directory.
#include "core/cluster_parties.hpp"
#include "core/server_core.hpp"
#include "net/shard.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

namespace craft::detail {

namespace {

// JSON string text for `s` (UTF-8 already: tickets and names are checked on the way in).
void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
}

// The room's create options (documented in docs/matchmaking.md, "The match room"):
// {"match_id": "...", "players": [{"session": "<id>", "name": "...",
//   "string_properties": {...}, "numeric_properties": {...}}, ...]}. The session id is a
// string: 64-bit ids do not survive every JSON reader's doubles.
std::string match_options(const std::string& match_id, const std::vector<presence::Ticket>& tickets) {
  std::string out = "{\"match_id\":";
  json_string(out, match_id);
  out += ",\"players\":[";
  bool first = true;
  for (auto& t : tickets) {
    for (auto& p : t.players) {
      if (!first) out += ',';
      first = false;
      out += "{\"session\":";
      json_string(out, std::to_string(p.presence().session_id()));
      out += ",\"name\":";
      json_string(out, p.presence().name());
      out += ",\"string_properties\":{";
      bool f = true;
      for (auto& [k, v] : p.string_properties()) {
        if (!f) out += ',';
        f = false;
        json_string(out, k);
        out += ':';
        json_string(out, v);
      }
      out += "},\"numeric_properties\":{";
      f = true;
      for (auto& [k, v] : p.numeric_properties()) {
        if (!f) out += ',';
        f = false;
        json_string(out, k);
        char buf[32];
        std::snprintf(buf, sizeof buf, ":%.17g", v);  // finite: check_ticket refused the rest
        out += buf;
      }
      out += "}}";
    }
  }
  out += ']';
  // A property every player shares with the same value (the matched tickets' common ground,
  // e.g. "region": "eu") is also a top-level option, so a room type that reads plain options
  // (the movement2d example: region, mode) needs no matchmaker-specific code.
  const v1::MatchedPlayer* sample = nullptr;
  for (auto& t : tickets) {
    if (!t.players.empty()) {
      sample = &t.players.front();
      break;
    }
  }
  auto shared = [&](auto field, const std::string& key, const auto& value) {
    for (auto& t : tickets) {
      for (auto& p : t.players) {
        auto& map = (p.*field)();
        auto it = map.find(key);
        if (it == map.end() || !(it->second == value)) return false;
      }
    }
    return key != "match_id" && key != "players";
  };
  if (sample) {
    for (auto& [k, v] : sample->string_properties()) {
      if (!shared(&v1::MatchedPlayer::string_properties, k, v)) continue;
      out += ',';
      json_string(out, k);
      out += ':';
      json_string(out, v);
    }
    for (auto& [k, v] : sample->numeric_properties()) {
      if (!shared(&v1::MatchedPlayer::numeric_properties, k, v)) continue;
      out += ',';
      json_string(out, k);
      char buf[32];
      std::snprintf(buf, sizeof buf, ":%.17g", v);
      out += buf;
    }
  }
  out += '}';
  return out;
}

}  // namespace

void ServerCore::queue_party_ticket(const v1::Presence& who, const v1::MatchmakerAdd& add, uint32_t cid,
                                    TimePoint created) {
  const auto leader = who.session_id();
  // The leader queues the whole party: every member is a player of the ticket, with the
  // leader's properties (members' own properties are not known to the server).
  parties_->queue_ticket(who, add.party_id(), cid, [&](const std::vector<v1::Presence>& members) -> std::string {
    presence::Ticket t;
    t.owner = leader;
    t.party_id = add.party_id();
    t.created = created;
    if (auto why = presence::check_ticket(add, config_.matchmaker, config_.rooms.max_property_bytes,
                                          static_cast<uint32_t>(members.size()), t);
        !why.empty()) {
      v1::Envelope error;
      error.set_cid(cid);
      error.mutable_error()->set_code(v1::BAD_REQUEST);
      error.mutable_error()->set_message(std::move(why));
      deliver_anywhere(leader, std::move(error));
      return {};
    }
    bool elsewhere = false;
    for (auto& m : members) {
      t.players.push_back(presence::matched_player(m, add));
      // Where each member's match_found goes, and whether its seat is bound to its session.
      t.player_nodes.push_back(cluster_parties_ ? cluster_parties_->node_of(m.session_id()) : std::string());
      elsewhere = elsewhere || !t.player_nodes.back().empty();
    }
    if (!elsewhere) t.player_nodes.clear();
    return tickets_->add(std::move(t), cid);
  });
}

void ServerCore::arm_matchmaker() {
  matchmaker_timer_->expires_after(std::chrono::milliseconds(std::max<uint32_t>(1, config_.matchmaker.interval_ms)));
  matchmaker_timer_->async_wait([this](const std::error_code& ec) {
    if (ec || stopping()) return;
    run_matchmaker();
    arm_matchmaker();
  });
}

void ServerCore::set_match_filter(MatchFilter filter) {
  match_filter_ = {};
  if (filter) {
    match_filter_ = [this, f = std::move(filter)](std::span<const MatchTicket> group) {
      try {
        return f(group);
      } catch (const std::exception& e) {
        spdlog::error("the match filter threw: {}; that group is not matched", e.what());
      } catch (...) {
        spdlog::error("the match filter threw something that is not a std::exception; that group is not matched");
      }
      shards_.front()->metrics().room_errors.add();
      return false;
    };
  }
  tickets_->set_match_filter(match_filter_);  // kept: a cluster pool made at start() gets it too
}

void ServerCore::run_matchmaker() {
  if (tickets_->idle()) return;  // the common case on a single node: nothing to look at
  for (auto& match : tickets_->run(clock_.now())) start_match(std::move(match));
}

void ServerCore::start_match(std::vector<presence::Ticket> tickets) {
  const auto& mm = config_.matchmaker;
  auto match_id = presence::random_id();
  int error = 0;
  std::string message;
  auto room = world_.create(mm.room_type, /*is_private=*/true, match_options(match_id, tickets), error, message);
  // Who hears of the match, and where (a ticket of another node is answered through it).
  std::vector<presence::Ticket> heads;
  for (auto& t : tickets) {
    presence::Ticket h;
    h.id = t.id;
    h.owner = t.owner;
    h.node = t.node;
    heads.push_back(std::move(h));
  }
  auto room_failed = [this, heads] {
    for (auto& h : heads) {
      v1::Envelope e;
      e.mutable_matchmaker_ticket_ended()->set_ticket(h.id);
      e.mutable_matchmaker_ticket_ended()->set_reason("room failed");
      tickets_->deliver_match(h, h.owner, std::move(e));
    }
  };
  if (!room) {
    spdlog::warn("matchmaker: match {} got no room of type '{}': {}", match_id, mm.room_type, message);
    return room_failed();
  }

  // One match_found per player, each with its own token; the players list is shared.
  v1::MatchFound common;
  common.set_match_id(match_id);
  common.set_room_id(room->id());
  common.set_room_type(mm.room_type);
  common.set_reservation_ttl_ms(mm.reservation_ttl_ms);
  for (auto& t : tickets) {
    for (auto& p : t.players) *common.add_players() = p;
  }
  struct Seat {
    size_t head;  // the ticket, in `heads`
    SessionId session;
    RoomHost::SeatHolder holder;
    std::string token;
    v1::Envelope found;
  };
  std::vector<Seat> seats;
  for (size_t i = 0; i < tickets.size(); ++i) {
    auto& t = tickets[i];
    for (size_t j = 0; j < t.players.size(); ++j) {
      const auto& p = t.players[j];
      // A player of another node (cluster) joins on this one: its session id means nothing
      // here, so the seat is bound to its account when it has one, else to the token alone.
      // A party's members may each be on another node than the ticket's.
      const auto& node = presence::player_node(t, j);
      const bool remote = !node.empty() && node != cluster_node_id_;
      Seat seat{i, p.presence().session_id(), {}, presence::random_id(), {}};
      if (remote) {
        seat.holder.account_id = p.presence().account_id();
      } else {
        seat.holder.session = seat.session;
      }
      auto* f = seat.found.mutable_match_found();
      *f = common;
      f->set_ticket(t.id);
      f->set_reservation(seat.token);
      if (remote) f->set_room_url(cluster_advertise_);
      seats.push_back(std::move(seat));
    }
  }
  auto expires = clock_.now() + std::chrono::milliseconds(mm.reservation_ttl_ms);
  // The seats are in place on the room's shard before anyone hears of them, so no join can
  // overtake its own reservation.
  auto* host = room.get();
  host->shard().dispatch([this, room = std::move(room), seats = std::move(seats), heads = std::move(heads), expires,
                          room_failed]() mutable {
    // on_create runs now, with the players in its options, and puts the room on its shard's
    // sweep (so one nobody comes to is disposed once its reservations lapse).
    room->open();
    if (room->disposed()) {
      spdlog::warn("matchmaker: the room of match {} refused its options or failed", room->id());
      return room_failed();
    }
    room->shard().metrics().matchmaker_matches.add();  // on the room's shard: its counters are its own
    for (auto& s : seats) room->reserve(s.token, std::move(s.holder), expires);
    for (auto& s : seats) tickets_->deliver_match(heads[s.head], s.session, std::move(s.found));
  });
}

}  // namespace craft::detail
