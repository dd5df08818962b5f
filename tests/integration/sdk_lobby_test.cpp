// The C++ SDK's issue 12 calls against a real craftd: listings with filter/sort/pages, lobby
// subscriptions, properties with check-and-swap, matchmaking with seat reservations, parties.
// A craftd built before a feature landed answers UNKNOWN_MESSAGE "... not available yet";
// that test then skips, naming the reason.
#include "helpers.hpp"

#include <algorithm>
#include <set>

using namespace craft;
using namespace craft::testing;
using namespace craft::client;

namespace {

// The server's refusal of a feature it does not have yet, or "" when it has it.
std::string missing(Client& c, v1::Envelope probe) {
  try {
    c.request(std::move(probe));
  } catch (const Error& e) {
    std::string what = e.what();
    if (e.code == v1::UNKNOWN_MESSAGE && what.find("not available yet") != std::string::npos) return what;
  }
  return "";
}

#define SKIP_WITHOUT(client, body_setter)                             \
  do {                                                                \
    v1::Envelope probe_;                                              \
    probe_.body_setter;                                               \
    if (auto why = missing(client, std::move(probe_)); !why.empty()) \
      GTEST_SKIP() << "craftd has not got this yet: " << why;         \
  } while (0)

ListOptions page(uint32_t offset, uint32_t limit) {
  ListOptions o;
  o.offset = offset;
  o.limit = limit;
  return o;
}
ListOptions where(v1::RoomFilter f) {
  ListOptions o;
  o.filter = std::move(f);
  return o;
}
ListOptions sorted_by(std::vector<v1::RoomSort> sort) {
  ListOptions o;
  o.sort = std::move(sort);
  return o;
}

std::vector<std::string> ids(const google::protobuf::RepeatedPtrField<v1::RoomInfo>& rooms, const std::set<std::string>& ours) {
  std::vector<std::string> out;
  for (const auto& r : rooms)
    if (ours.count(r.room_id())) out.push_back(r.room_id());
  return out;
}

TEST(SdkLobby, ListRoomsPagesFiltersSortsAndJoinOrCreatePicks) {
  CraftdProcess server;
  auto a = hello(server, "a");
  SKIP_WITHOUT(*a, mutable_lobby_subscribe()->set_type("relay"));
  auto b = hello(server, "b", Transport::websocket, Format::json);
  auto r1 = a->create("relay").room_id();
  auto r2 = a->create("relay").room_id();
  b->join(r2);
  auto r3 = b->create("relay").room_id();
  std::set<std::string> ours{r1, r2, r3};

  auto first = a->list_rooms("relay", page(0, 2));
  EXPECT_EQ(first.rooms_size(), 2);
  EXPECT_TRUE(first.more());
  auto rest = a->list_rooms("relay", page(2, 100));
  EXPECT_FALSE(rest.more());
  auto all = ids(first.rooms(), ours);
  for (auto& id : ids(rest.rooms(), ours)) all.push_back(id);
  EXPECT_EQ(all, (std::vector<std::string>{r1, r2, r3}));

  auto busy = b->list_rooms("relay", where(filter({in_range("clients", 2.0, std::nullopt)})));
  EXPECT_EQ(ids(busy.rooms(), ours), std::vector<std::string>{r2});
  auto sorted = a->list_rooms("relay", sorted_by({sort_by("clients", true), sort_by("created")}));
  EXPECT_EQ(ids(sorted.rooms(), ours), (std::vector<std::string>{r2, r1, r3}));
  EXPECT_EQ(a->list_rooms("relay", where(filter({equals("clients", PlainValue(99.0))}))).rooms_size(), 0);

  auto c = hello(server, "c", Transport::tcp);
  auto picked = c->join_or_create("relay", "", filter({}, true), {sort_by("clients", true)});
  EXPECT_EQ(picked.room_id(), r2);
}

TEST(SdkLobby, LobbySubscriptionFollowsRoomsUntilUnsubscribed) {
  CraftdProcess server;
  auto watcher = hello(server, "watcher", Transport::websocket, Format::json);
  SKIP_WITHOUT(*watcher, mutable_lobby_unsubscribe()->set_subscription(999));
  LobbyList lobby;
  auto first = watcher->lobby_subscribe("relay", where(filter({in_range("clients", 1.0, std::nullopt)}, true)));
  EXPECT_TRUE(first.reset());
  lobby.apply(first);
  EXPECT_GT(lobby.subscription(), 0u);

  auto host = hello(server, "host");
  auto room = host->create("relay").room_id();
  auto until = [&](const std::function<bool()>& done) {
    auto e = watcher->wait_for([&](const v1::Envelope& x) { return x.has_lobby_update() && (lobby.apply(x.lobby_update()), done()); }, 5000ms);
    return e.has_value();
  };
  ASSERT_TRUE(until([&] { return lobby.find(room) != nullptr; })) << "no add";
  auto guest = hello(server, "guest");
  guest->join(room);
  ASSERT_TRUE(until([&] { return lobby.find(room) && lobby.find(room)->clients() == 2; })) << "no update";
  guest->close();
  host->close();
  ASSERT_TRUE(until([&] { return lobby.find(room) == nullptr; })) << "no remove (clients 0 fails the filter)";
  auto last = watcher->lobby_unsubscribe(lobby.subscription());
  EXPECT_TRUE(last.ended());
  lobby.apply(last);
  EXPECT_TRUE(lobby.ended());
}

TEST(SdkLobby, PlayerPropertiesCheckAndSwap) {
  CraftdProcess server;
  auto a = hello(server, "a");
  SKIP_WITHOUT(*a, mutable_lobby_subscribe()->set_type("relay"));
  auto b = hello(server, "b", Transport::tcp);
  auto joined = a->create("relay");
  RoomProperties mine(joined);
  RoomProperties theirs(b->join(joined.room_id()));
  const uint64_t me = a->session_id();

  auto change = a->set_properties(joined.room_id(), {{"ready", PlainValue(true)}, {"speed", PlainValue(1.5)}},
                                  {{me, "ready", std::nullopt}}, me);
  EXPECT_EQ(change.by(), me);
  EXPECT_TRUE(mine.apply(change));
  EXPECT_EQ(mine.player(me).at("ready"), PlainValue(true));
  auto seen = b->wait_for([](const v1::Envelope& e) { return e.has_properties_changed(); }, 3000ms);
  ASSERT_TRUE(seen);
  EXPECT_TRUE(theirs.apply(seen->properties_changed()));
  EXPECT_EQ(theirs.player(me), mine.player(me));

  try {
    a->set_properties(joined.room_id(), {{"ready", PlainValue(false)}}, {{me, "ready", PlainValue(false)}}, me);
    ADD_FAILURE() << "an expectation that does not hold must not write";
  } catch (const Error& e) {
    EXPECT_EQ(e.code, v1::PROPERTY_CONFLICT);
  }
  try {
    b->set_properties(joined.room_id(), {{"ready", PlainValue(false)}}, {}, me);
    ADD_FAILURE() << "another member's properties are not b's to write";
  } catch (const Error& e) {
    EXPECT_EQ(e.code, v1::PERMISSION_DENIED);
  }
  auto del = a->set_properties(joined.room_id(), {{"speed", std::nullopt}}, {}, me);
  EXPECT_EQ(del.version(), change.version() + 1);
  EXPECT_TRUE(mine.apply(del));
  EXPECT_EQ(mine.player(me).count("speed"), 0u);
  auto late = hello(server, "late");
  RoomProperties lates(late->join(joined.room_id()));
  EXPECT_EQ(lates.player(me), mine.player(me));
  EXPECT_EQ(lates.version(), del.version());
}

TEST(SdkMatchmaker, TwoTicketsMatchAndJoinWithReservations) {
  CraftdProcess server;
  auto a = hello(server, "a");
  SKIP_WITHOUT(*a, mutable_matchmaker_remove()->set_ticket("none"));
  auto b = hello(server, "b", Transport::tcp);
  v1::MatchmakerAdd t;
  (*t.mutable_string_properties())["mode"] = "sdk";
  t.set_min_count(2);
  auto ta = a->matchmaker_add(t);
  auto tb = b->matchmaker_add(t);
  auto is_match = [](const v1::Envelope& e) { return e.has_match_found(); };
  auto ma = a->wait_for(is_match, 15000ms);
  auto mb = b->wait_for(is_match, 15000ms);
  ASSERT_TRUE(ma && mb);
  EXPECT_EQ(ma->match_found().ticket(), ta);
  EXPECT_EQ(mb->match_found().ticket(), tb);
  EXPECT_EQ(ma->match_found().room_id(), mb->match_found().room_id());
  EXPECT_EQ(ma->match_found().players_size(), 2);
  v1::MatchFound stolen = ma->match_found();
  stolen.set_reservation(mb->match_found().reservation());
  try {
    a->join_match(stolen);
    ADD_FAILURE() << "b's reservation is not a's";
  } catch (const Error& e) {
    EXPECT_EQ(e.code, v1::RESERVATION_INVALID);
  }
  EXPECT_EQ(a->join_match(ma->match_found()).room_id(), ma->match_found().room_id());
  EXPECT_EQ(b->join_match(mb->match_found()).members_size(), 2);

  v1::MatchmakerAdd alone;
  alone.set_min_count(3);
  auto tc = a->matchmaker_add(alone);
  auto ended = a->matchmaker_remove(tc);
  EXPECT_EQ(ended.ticket(), tc);
  EXPECT_EQ(ended.reason(), "cancelled");
}

TEST(SdkParty, InviteJoinDataPromoteKick) {
  CraftdProcess server;
  auto lead = hello(server, "lead");
  SKIP_WITHOUT(*lead, mutable_party_leave()->set_party_id("none"));
  auto mate = hello(server, "mate", Transport::websocket, Format::json);
  auto party = lead->party_create(false, 4);
  EXPECT_EQ(party.leader(), lead->session_id());
  lead->party_invite(party.party_id(), mate->session_id());
  auto inv = mate->wait_for([](const v1::Envelope& e) { return e.has_party_invite(); }, 3000ms);
  ASSERT_TRUE(inv);
  EXPECT_EQ(inv->party_invite().party_id(), party.party_id());
  EXPECT_EQ(inv->party_invite().from().session_id(), lead->session_id());
  mate->party_join(party.party_id());
  auto two = lead->wait_for([](const v1::Envelope& e) { return e.has_party_state() && e.party_state().members_size() == 2; }, 3000ms);
  ASSERT_TRUE(two);
  lead->party_send(party.party_id(), 3, "go");
  auto data = mate->wait_for([](const v1::Envelope& e) { return e.has_party_data(); }, 3000ms);
  ASSERT_TRUE(data);
  EXPECT_EQ(data->party_data().data(), "go");
  EXPECT_EQ(data->party_data().sender(), lead->session_id());
  lead->party_promote(party.party_id(), mate->session_id());
  mate->party_kick(party.party_id(), lead->session_id());
  auto left = lead->wait_for([](const v1::Envelope& e) { return e.has_party_left(); }, 3000ms);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->party_left().reason(), "kicked");
}

}  // namespace
