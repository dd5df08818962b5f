// The C++ SDK's issue 12 helpers without a server (craft/lobby.hpp): plain values, filters,
// and how RoomProperties and LobbyList apply what the server sends.
#include <craft/client.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace craft::client {
namespace {

TEST(SdkValues, PlainValuesMapToValueKindsAndBack) {
  EXPECT_EQ(to_value("ctf").text(), "ctf");
  EXPECT_EQ(to_value(PlainValue(2.5)).number(), 2.5);
  EXPECT_TRUE(to_value(PlainValue(true)).boolean());
  EXPECT_EQ(to_value(PlainValue(false)).kind_case(), v1::Value::kBoolean);
  for (PlainValue v : {PlainValue(std::string("x")), PlainValue(-0.5), PlainValue(false)}) EXPECT_EQ(from_value(to_value(v)), v);
  EXPECT_FALSE(from_value(v1::Value{}).has_value());
  EXPECT_THROW(to_value(PlainValue(std::nan(""))), std::invalid_argument);
  EXPECT_THROW(to_value(PlainValue(std::numeric_limits<double>::infinity())), std::invalid_argument);
}

TEST(SdkValues, FiltersAndSorts) {
  auto f = filter({equals("mode", "ctf"), in_range("level", 3, std::nullopt), equals("ranked", PlainValue(true))}, true);
  ASSERT_EQ(f.conditions_size(), 3);
  EXPECT_EQ(f.conditions(0).equals().text(), "ctf");
  EXPECT_TRUE(f.conditions(1).has_min());
  EXPECT_FALSE(f.conditions(1).has_max());
  EXPECT_FALSE(f.conditions(1).has_equals());
  EXPECT_TRUE(f.conditions(2).equals().boolean());
  EXPECT_TRUE(f.free_seats());
  auto s = sort_by("clients", true);
  EXPECT_EQ(s.key(), "clients");
  EXPECT_TRUE(s.descending());
}

v1::PropertiesChanged change(uint64_t version, uint64_t player, const std::string& key, std::optional<PlainValue> to) {
  v1::PropertiesChanged c;
  c.set_room_id("R");
  c.set_version(version);
  c.set_player(player);
  auto* w = c.add_writes();
  w->set_key(key);
  if (to) *w->mutable_to() = to_value(*to);
  return c;
}

TEST(SdkRoomProperties, JoinStateThenChangesInVersionOrderStaleSkipped) {
  v1::RoomJoined joined;
  joined.set_room_id("R");
  (*joined.mutable_properties())["turn"] = to_value(PlainValue(1.0));
  auto* pp = joined.add_player_properties();
  pp->set_player(2);
  (*pp->mutable_properties())["ready"] = to_value(PlainValue(true));
  joined.set_properties_version(5);
  RoomProperties props(joined);
  EXPECT_EQ(props.room().at("turn"), PlainValue(1.0));
  EXPECT_EQ(props.player(2).at("ready"), PlainValue(true));
  EXPECT_TRUE(props.player(3).empty());
  EXPECT_FALSE(props.apply(change(5, 0, "turn", PlainValue(9.0))));  // the join state has it
  EXPECT_EQ(props.room().at("turn"), PlainValue(1.0));
  EXPECT_TRUE(props.apply(change(6, 0, "turn", PlainValue(2.0))));
  EXPECT_TRUE(props.apply(change(7, 3, "name", PlainValue(std::string("zed")))));
  EXPECT_TRUE(props.apply(change(8, 2, "ready", std::nullopt)));  // deleted
  auto other = change(9, 0, "turn", PlainValue(3.0));
  other.set_room_id("S");
  EXPECT_FALSE(props.apply(other));
  EXPECT_EQ(props.room().at("turn"), PlainValue(2.0));
  EXPECT_EQ(props.player(3).at("name"), PlainValue(std::string("zed")));
  EXPECT_TRUE(props.player(2).empty());
  EXPECT_EQ(props.version(), 8u);
  props.forget(3);
  EXPECT_TRUE(props.player(3).empty());
}

v1::RoomInfo room(const std::string& id, uint32_t clients = 0) {
  v1::RoomInfo r;
  r.set_room_id(id);
  r.set_clients(clients);
  return r;
}

TEST(SdkLobbyList, ResetAddedUpdatedRemovedEnded) {
  LobbyList list;
  v1::LobbyUpdate first;
  first.set_subscription(4);
  first.set_reset(true);
  *first.add_added() = room("A", 1);
  *first.add_added() = room("B");
  auto c = list.apply(first);
  EXPECT_TRUE(c.reset);
  EXPECT_EQ(list.subscription(), 4u);
  ASSERT_EQ(list.rooms().size(), 2u);

  v1::LobbyUpdate next;
  next.set_subscription(4);
  *next.add_added() = room("C");
  *next.add_updated() = room("A", 2);
  next.add_removed("B");
  next.add_removed("nope");
  c = list.apply(next);
  EXPECT_EQ(c.added, std::vector<std::string>{"C"});
  EXPECT_EQ(c.updated, std::vector<std::string>{"A"});
  EXPECT_EQ(c.removed, std::vector<std::string>{"B"});
  ASSERT_EQ(list.rooms().size(), 2u);
  EXPECT_EQ(list.rooms()[0].room_id(), "A");
  EXPECT_EQ(list.find("A")->clients(), 2u);
  EXPECT_EQ(list.find("B"), nullptr);

  v1::LobbyUpdate foreign;
  foreign.set_subscription(5);
  *foreign.add_added() = room("X");
  EXPECT_TRUE(list.apply(foreign).added.empty());

  v1::LobbyUpdate end;
  end.set_subscription(4);
  end.set_ended(true);
  list.apply(end);
  EXPECT_TRUE(list.ended());
  EXPECT_TRUE(list.apply(next).added.empty());
}

// sdk/cpp/README.md's example, compiled (not run: it needs a server) so it stays true.
[[maybe_unused]] void readme_example(Client& client) {
  using namespace std::chrono_literals;
  ListOptions opts;
  opts.filter = filter({equals("mode", "ctf")}, /*free_seats=*/true);
  opts.sort = {sort_by("clients", /*descending=*/true)};
  opts.limit = 20;
  auto page = client.list_rooms("arena", opts);           // page.rooms(), page.more()
  auto first = client.lobby_subscribe("arena", opts);
  LobbyList lobby;
  lobby.apply(first);
  client.on_event = [&](const craft::v1::Envelope& e) {
    if (e.has_lobby_update()) lobby.apply(e.lobby_update());
  };
  auto joined = client.join_or_create("arena", R"({"mode":"ctf"})", filter({equals("mode", "ctf")}));
  RoomProperties props(joined);
  props.apply(client.set_properties(joined.room_id(), {{"turn", PlainValue(4.0)}}, {{0, "turn", PlainValue(3.0)}}));
  craft::v1::MatchmakerAdd ticket;
  ticket.set_min_count(2);
  client.matchmaker_add(ticket);
  auto match = client.wait_for([](const craft::v1::Envelope& e) { return e.has_match_found(); }, 10s);
  if (match) client.join_match(match->match_found());
}

}  // namespace
}  // namespace craft::client
