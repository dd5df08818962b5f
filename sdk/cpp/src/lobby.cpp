// Issue 12's calls of Client (listings, lobby, properties, matchmaker, parties) and the pure
// helpers of craft/lobby.hpp.
#include "craft/client.hpp"

#include <algorithm>
#include <cmath>

namespace craft::client {

namespace {

std::string body_name(const v1::Envelope& e) {
  if (e.body_case() == v1::Envelope::BODY_NOT_SET) return "an empty envelope";
  return std::string(v1::Envelope::descriptor()->FindFieldByNumber(static_cast<int>(e.body_case()))->name());
}

[[noreturn]] void unexpected(const char* wanted, const v1::Envelope& got) {
  throw std::runtime_error(std::string("expected ") + wanted + ", got " + body_name(got));
}

}  // namespace

v1::Value to_value(const PlainValue& v) {
  v1::Value out;
  if (const auto* s = std::get_if<std::string>(&v)) {
    out.set_text(*s);
  } else if (const auto* d = std::get_if<double>(&v)) {
    if (!std::isfinite(*d)) throw std::invalid_argument("a value's number must be finite");
    out.set_number(*d);
  } else {
    out.set_boolean(std::get<bool>(v));
  }
  return out;
}

std::optional<PlainValue> from_value(const v1::Value& v) {
  switch (v.kind_case()) {
    case v1::Value::kText: return PlainValue(v.text());
    case v1::Value::kNumber: return PlainValue(v.number());
    case v1::Value::kBoolean: return PlainValue(v.boolean());
    default: return std::nullopt;
  }
}

PlainValues from_values(const google::protobuf::Map<std::string, v1::Value>& map) {
  PlainValues out;
  for (const auto& [k, v] : map)
    if (auto plain = from_value(v)) out.emplace(k, std::move(*plain));
  return out;
}

v1::Condition equals(std::string key, const PlainValue& v) {
  v1::Condition c;
  c.set_key(std::move(key));
  *c.mutable_equals() = to_value(v);
  return c;
}

v1::Condition in_range(std::string key, std::optional<double> min, std::optional<double> max) {
  v1::Condition c;
  c.set_key(std::move(key));
  if (min) c.set_min(*min);
  if (max) c.set_max(*max);
  return c;
}

v1::RoomFilter filter(std::vector<v1::Condition> conditions, bool free_seats) {
  v1::RoomFilter f;
  for (auto& c : conditions) *f.add_conditions() = std::move(c);
  f.set_free_seats(free_seats);
  return f;
}

v1::RoomSort sort_by(std::string key, bool descending) {
  v1::RoomSort s;
  s.set_key(std::move(key));
  s.set_descending(descending);
  return s;
}

RoomProperties::RoomProperties(const v1::RoomJoined& joined)
    : room_id_(joined.room_id()), room_(from_values(joined.properties())), version_(joined.properties_version()) {
  for (const auto& p : joined.player_properties()) players_[p.player()] = from_values(p.properties());
}

const PlainValues& RoomProperties::player(uint64_t session_id) const {
  static const PlainValues none;
  auto it = players_.find(session_id);
  return it == players_.end() ? none : it->second;
}

bool RoomProperties::apply(const v1::PropertiesChanged& change) {
  if (change.room_id() != room_id_ || change.version() <= version_) return false;
  version_ = change.version();
  PlainValues& target = change.player() == 0 ? room_ : players_[change.player()];
  for (const auto& w : change.writes()) {
    auto v = w.has_to() ? from_value(w.to()) : std::nullopt;
    if (v) target.insert_or_assign(w.key(), std::move(*v));
    else target.erase(w.key());
  }
  return true;
}

LobbyList::Changes LobbyList::apply(const v1::LobbyUpdate& u) {
  Changes out;
  if (subscription_ == 0) subscription_ = u.subscription();
  if (u.subscription() != subscription_ || ended_) return out;
  auto index = [this](const std::string& id) {
    return std::find_if(rooms_.begin(), rooms_.end(), [&](const v1::RoomInfo& r) { return r.room_id() == id; });
  };
  if (u.reset()) {
    rooms_.clear();
    out.reset = true;
  }
  for (const auto& r : u.added()) {
    auto it = index(r.room_id());
    if (it == rooms_.end()) rooms_.push_back(r);
    else *it = r;
    out.added.push_back(r.room_id());
  }
  for (const auto& r : u.updated()) {
    auto it = index(r.room_id());
    if (it == rooms_.end()) {
      rooms_.push_back(r);
      out.added.push_back(r.room_id());
    } else {
      *it = r;
      out.updated.push_back(r.room_id());
    }
  }
  for (const auto& id : u.removed()) {
    auto it = index(id);
    if (it == rooms_.end()) continue;
    rooms_.erase(it);
    out.removed.push_back(id);
  }
  if (u.ended()) ended_ = true;
  return out;
}

const v1::RoomInfo* LobbyList::find(const std::string& room_id) const {
  for (const auto& r : rooms_)
    if (r.room_id() == room_id) return &r;
  return nullptr;
}

// ---- Client calls ---------------------------------------------------------------------------

v1::RoomList Client::list_rooms(std::string type, const ListOptions& opts) {
  v1::Envelope e;
  auto* l = e.mutable_room_list();
  l->set_type(std::move(type));
  if (opts.filter) *l->mutable_filter() = *opts.filter;
  for (const auto& s : opts.sort) *l->add_sort() = s;
  l->set_offset(opts.offset);
  l->set_limit(opts.limit);
  auto reply = request(std::move(e));
  if (!reply.has_room_list_result()) unexpected("room_list_result", reply);
  return std::move(*reply.mutable_room_list_result());
}

v1::RoomJoined Client::join_or_create(std::string type, std::string options, const v1::RoomFilter& filter,
                                      const std::vector<v1::RoomSort>& sort) {
  v1::Envelope e;
  auto* j = e.mutable_room_join_or_create();
  j->set_type(std::move(type));
  j->set_options(std::move(options));
  *j->mutable_filter() = filter;
  for (const auto& s : sort) *j->add_sort() = s;
  return expect_joined(std::move(e));
}

v1::PropertiesChanged Client::set_properties(const std::string& room_id, const std::vector<PropertyWrite>& writes,
                                             const std::vector<PropertyExpect>& expect, uint64_t player) {
  v1::Envelope e;
  auto* p = e.mutable_properties_set();
  p->set_room_id(room_id);
  p->set_player(player);
  for (const auto& w : writes) {
    auto* out = p->add_writes();
    out->set_key(w.key);
    if (w.to) *out->mutable_to() = to_value(*w.to);
  }
  for (const auto& x : expect) {
    auto* out = p->add_expect();
    out->set_player(x.player);
    out->set_key(x.key);
    if (x.equals) *out->mutable_equals() = to_value(*x.equals);
  }
  // A room on another node's connection: its properties live there too.
  Client* node = node_holding(room_id);
  auto reply = node ? node->request(std::move(e)) : request(std::move(e));
  if (node) reap_nodes();
  if (!reply.has_properties_changed()) unexpected("properties_changed", reply);
  return std::move(*reply.mutable_properties_changed());
}

v1::LobbyUpdate Client::lobby_subscribe(std::string type, const ListOptions& opts) {
  v1::Envelope e;
  auto* s = e.mutable_lobby_subscribe();
  s->set_type(std::move(type));
  if (opts.filter) *s->mutable_filter() = *opts.filter;
  for (const auto& k : opts.sort) *s->add_sort() = k;
  s->set_limit(opts.limit);
  auto reply = request(std::move(e));
  if (!reply.has_lobby_update()) unexpected("lobby_update", reply);
  return std::move(*reply.mutable_lobby_update());
}

v1::LobbyUpdate Client::lobby_unsubscribe(uint32_t subscription) {
  v1::Envelope e;
  e.mutable_lobby_unsubscribe()->set_subscription(subscription);
  auto reply = request(std::move(e));
  if (!reply.has_lobby_update()) unexpected("lobby_update", reply);
  return std::move(*reply.mutable_lobby_update());
}

std::string Client::matchmaker_add(v1::MatchmakerAdd ticket) {
  v1::Envelope e;
  *e.mutable_matchmaker_add() = std::move(ticket);
  auto reply = request(std::move(e));
  if (!reply.has_matchmaker_ticket()) unexpected("matchmaker_ticket", reply);
  return reply.matchmaker_ticket().ticket();
}

v1::MatchmakerTicketEnded Client::matchmaker_remove(std::string ticket) {
  v1::Envelope e;
  e.mutable_matchmaker_remove()->set_ticket(std::move(ticket));
  auto reply = request(std::move(e));
  if (!reply.has_matchmaker_ticket_ended()) unexpected("matchmaker_ticket_ended", reply);
  return std::move(*reply.mutable_matchmaker_ticket_ended());
}

namespace {
std::optional<v1::PartyState> state_of(v1::Envelope reply) {
  if (reply.has_party_state()) return std::move(*reply.mutable_party_state());
  return std::nullopt;
}
}  // namespace

v1::PartyState Client::party_create(bool open, uint32_t max_size) {
  v1::Envelope e;
  e.mutable_party_create()->set_open(open);
  e.mutable_party_create()->set_max_size(max_size);
  auto reply = request(std::move(e));
  if (!reply.has_party_state()) unexpected("party_state", reply);
  return std::move(*reply.mutable_party_state());
}

std::optional<v1::PartyState> Client::party_join(std::string party_id) {
  v1::Envelope e;
  e.mutable_party_join()->set_party_id(std::move(party_id));
  return state_of(request(std::move(e)));
}

void Client::party_leave(std::string party_id) {
  v1::Envelope e;
  e.mutable_party_leave()->set_party_id(std::move(party_id));
  request(std::move(e));
}

std::optional<v1::PartyState> Client::party_promote(std::string party_id, uint64_t session_id) {
  v1::Envelope e;
  e.mutable_party_promote()->set_party_id(std::move(party_id));
  e.mutable_party_promote()->set_session_id(session_id);
  return state_of(request(std::move(e)));
}

std::optional<v1::PartyState> Client::party_kick(std::string party_id, uint64_t session_id) {
  v1::Envelope e;
  e.mutable_party_kick()->set_party_id(std::move(party_id));
  e.mutable_party_kick()->set_session_id(session_id);
  return state_of(request(std::move(e)));
}

std::optional<v1::PartyState> Client::party_accept(std::string party_id, uint64_t session_id) {
  v1::Envelope e;
  e.mutable_party_accept()->set_party_id(std::move(party_id));
  e.mutable_party_accept()->set_session_id(session_id);
  return state_of(request(std::move(e)));
}

std::optional<v1::PartyState> Client::party_invite(std::string party_id, uint64_t session_id) {
  v1::Envelope e;
  e.mutable_party_invite()->set_party_id(std::move(party_id));
  e.mutable_party_invite()->set_session_id(session_id);
  return state_of(request(std::move(e)));
}

void Client::party_send(const std::string& party_id, uint32_t op, std::string_view data) {
  v1::Envelope e;
  auto* d = e.mutable_party_data();
  d->set_party_id(party_id);
  d->set_op(op);
  d->set_data(data.data(), data.size());
  send_envelope(e);
}

}  // namespace craft::client
