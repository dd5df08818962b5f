// Issue 14, "everything that spans players spans nodes", with real parts: a real redis-server,
// real craftd nodes, real WebSocket clients (the C++ client). A party whose members are on
// two nodes, led from the node that is not its home, is queued at its home, matched with a
// player of a third node, and every member gets its own match_found wherever it is connected
// and joins the one room; cancels reach the home. A chat room on one node is joined from
// another through the redirect: history, messages both ways, limits.
#include "../integration/helpers.hpp"
#include "cluster_nodes.hpp"
#include "redis_server.hpp"

#include <charconv>
#include <map>
#include <set>
#include <thread>

using namespace craft::testing;
namespace v1 = craft::v1;
namespace client = craft::client;

namespace {
using craft::testing::cluster::all_see;
using craft::testing::cluster::eventually;
using craft::testing::cluster::hlen;
using craft::testing::cluster::holder;
using craft::testing::cluster::quick_node;

// matchmaker_add for a match of three, "+mode:trio"; with `party` the whole party.
v1::Envelope trio(const std::string& party = "") {
  v1::Envelope e;
  auto* a = e.mutable_matchmaker_add();
  a->set_min_count(3);
  a->set_max_count(3);
  a->set_query("+mode:trio");
  (*a->mutable_string_properties())["mode"] = "trio";
  a->set_party_id(party);
  return e;
}

v1::Envelope cancel(const std::string& ticket) {
  v1::Envelope e;
  e.mutable_matchmaker_remove()->set_ticket(ticket);
  return e;
}

// The next party_state `c` receives whose ticket is `ticket`.
bool sees_ticket(Client& c, const std::string& ticket) {
  return c
      .wait_for([&](const v1::Envelope& e) { return e.has_party_state() && e.party_state().ticket() == ticket; }, 5s)
      .has_value();
}

uint16_t port_of(const std::string& url) {  // ws://127.0.0.1:<port>/ws
  auto colon = url.rfind(':');
  uint16_t port = 0;
  if (colon != std::string::npos) std::from_chars(url.data() + colon + 1, url.data() + url.size(), port);
  return port;
}

std::string url_of(const CraftdProcess& p) { return "ws://127.0.0.1:" + std::to_string(p.http_port()) + "/ws"; }

// A client that throws the room_redirect (Options::follow_redirects off) instead of following
// it, for the test that looks at the redirect itself (follow_test.cpp has the one that follows).
std::unique_ptr<Client> hello_raw(const CraftdProcess& p, const std::string& name) {
  client::Options o;
  o.port = p.http_port();
  o.follow_redirects = false;
  auto c = std::make_unique<Client>(o);
  c->connect();
  c->hello(name);
  return c;
}

// A party living on A with members on A (Ann) and B (Bob), led from B, matched with Dan on
// C. `matcher` ("a", "b" or "c") starts first and takes the matcher lease, so the match room
// is made there: on the party's home, on the leader's node, or on the solo player's node.
void party_led_from_another_node(const std::string& matcher) {
  RedisServer redis;
  std::map<std::string, std::unique_ptr<CraftdProcess>> by_id;
  by_id[matcher] = quick_node(redis, matcher);
  ASSERT_TRUE(eventually([&] { return by_id[matcher]->metric("craft_cluster_matcher_holder") == 1; }));
  for (auto id : {"a", "b", "c"}) {
    if (!by_id[id]) by_id[id] = quick_node(redis, id);
  }
  auto &a = by_id["a"], &b = by_id["b"], &c = by_id["c"];
  std::vector<CraftdProcess*> nodes{a.get(), b.get(), c.get()};
  ASSERT_TRUE(eventually([&] { return all_see(nodes, 3); }));
  ASSERT_EQ(holder(nodes), matcher[0] - 'a');

  // A party living on A (ann there), with Bob on B and Cat on C.
  auto ann = hello(*a, "ann"), bob = hello(*b, "bob"), cat = hello(*c, "cat"), dan = hello(*c, "dan");
  const auto bob_id = bob->session_id();
  auto party = ann->party_create(true, 4).party_id();
  ASSERT_NE(party.find("@a"), std::string::npos) << party;
  ASSERT_TRUE(bob->party_join(party));
  ASSERT_TRUE(cat->party_join(party));

  // Only the leader queues the party: Bob's request goes to A, whose answer comes back to him.
  auto denied = ask(*bob, trio(party));
  ASSERT_TRUE(denied.has_error()) << denied.DebugString();
  EXPECT_EQ(denied.error().code(), v1::PERMISSION_DENIED);
  auto promoted = ann->party_promote(party, bob_id);
  ASSERT_TRUE(promoted);
  ASSERT_EQ(promoted->leader(), bob_id);
  // A party of three does not fit a ticket of max_count 2: checked at the home, told on B.
  auto too_big = trio(party);
  too_big.mutable_matchmaker_add()->set_min_count(2);
  too_big.mutable_matchmaker_add()->set_max_count(2);
  auto refused = ask(*bob, too_big);
  ASSERT_TRUE(refused.has_error()) << refused.DebugString();
  EXPECT_EQ(refused.error().code(), v1::BAD_REQUEST);

  // Bob (on B) queues the party living on A; the leader's node answers like a local request.
  auto queued = ask(*bob, trio(party));
  ASSERT_TRUE(queued.has_matchmaker_ticket()) << queued.DebugString();
  auto ticket = queued.matchmaker_ticket().ticket();
  for (auto* m : {ann.get(), bob.get(), cat.get()}) EXPECT_TRUE(sees_ticket(*m, ticket)) << "a member missed the ticket";
  EXPECT_TRUE(eventually([&] { return hlen(redis) == 1; })) << "the party's ticket is in the shared pool";
  // A second ticket for the party: LIMIT_REACHED, from the home.
  auto twice = ask(*bob, trio(party));
  ASSERT_TRUE(twice.has_error());
  EXPECT_EQ(twice.error().code(), v1::LIMIT_REACHED);

  // Bob cancels from B: the ticket is gone from Redis, and every member sees it.
  auto ended = ask(*bob, cancel(ticket));
  ASSERT_TRUE(ended.has_matchmaker_ticket_ended()) << ended.DebugString();
  EXPECT_EQ(ended.matchmaker_ticket_ended().reason(), "cancelled");
  EXPECT_TRUE(eventually([&] { return hlen(redis) == 0; }));
  for (auto* m : {ann.get(), bob.get(), cat.get()}) EXPECT_TRUE(sees_ticket(*m, ""));
  // Cancelled already: NOT_FOUND (the remove is answered locally now: no ticket of his is known).
  auto again = ask(*bob, cancel(ticket));
  ASSERT_TRUE(again.has_error());
  EXPECT_EQ(again.error().code(), v1::NOT_FOUND);

  // Queued again; Cat (on C) leaves: the party changed, the ticket goes everywhere and Bob
  // hears why (cid 0).
  queued = ask(*bob, trio(party));
  ASSERT_TRUE(queued.has_matchmaker_ticket()) << queued.DebugString();
  ticket = queued.matchmaker_ticket().ticket();
  ASSERT_TRUE(eventually([&] { return hlen(redis) == 1; }));
  cat->party_leave(party);
  auto changed = bob->wait_for([](const v1::Envelope& e) { return e.has_matchmaker_ticket_ended(); }, 5s);
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->cid(), 0u);
  EXPECT_EQ(changed->matchmaker_ticket_ended().ticket(), ticket);
  EXPECT_EQ(changed->matchmaker_ticket_ended().reason(), "party changed");
  EXPECT_TRUE(eventually([&] { return hlen(redis) == 0; }));

  // Ann (A) and Bob (B), led from B, matched with Dan (C).
  queued = ask(*bob, trio(party));
  ASSERT_TRUE(queued.has_matchmaker_ticket()) << queued.DebugString();
  ticket = queued.matchmaker_ticket().ticket();
  for (auto* m : {ann.get(), bob.get()}) ASSERT_TRUE(sees_ticket(*m, ticket));
  auto solo = ask(*dan, trio());
  ASSERT_TRUE(solo.has_matchmaker_ticket()) << solo.DebugString();

  struct Player {
    Client* client;
    int node;
    std::string name;
    v1::MatchFound found;
  };
  std::vector<Player> players{{ann.get(), 0, "ann", {}}, {bob.get(), 1, "bob", {}}, {dan.get(), 2, "dan", {}}};
  for (auto& p : players) {
    // The party's ticket leaves the pool first: its members see it cleared, then the match.
    if (p.name != "dan") {
      EXPECT_TRUE(sees_ticket(*p.client, "")) << p.name;
    }
    auto e = p.client->wait_for([](const v1::Envelope& x) { return x.has_match_found(); }, 8s);
    ASSERT_TRUE(e) << p.name << " got no match_found";
    p.found = e->match_found();
  }
  int h = holder(nodes);
  ASSERT_GE(h, 0);
  std::printf("matcher on node %c; party home a, leader on b, solo on c\n", "abc"[h]);
  std::set<std::string> reservations;
  for (auto& p : players) {
    EXPECT_EQ(p.found.room_id(), players[0].found.room_id()) << p.name;
    EXPECT_EQ(p.found.match_id(), players[0].found.match_id()) << p.name;
    EXPECT_EQ(p.found.players_size(), 3) << p.name;
    EXPECT_EQ(p.found.ticket(), p.name == "dan" ? solo.matchmaker_ticket().ticket() : ticket) << p.name;
    // The room lives on the matcher's node: a player connected there is told nothing more.
    EXPECT_EQ(p.found.room_url(), p.node == h ? "" : url_of(*nodes[h])) << p.name;
    reservations.insert(p.found.reservation());
  }
  EXPECT_EQ(reservations.size(), 3u);
  EXPECT_TRUE(eventually([&] { return hlen(redis) == 0; }));

  // Everyone joins the one room, each with its own reservation, where the room lives.
  std::vector<std::unique_ptr<Client>> there;
  int members = 0;
  for (auto& p : players) {
    Client* joiner = p.client;
    if (!p.found.room_url().empty()) {
      auto& x = there.emplace_back(std::make_unique<Client>([&] {
        client::Options o;
        o.port = port_of(p.found.room_url());
        return o;
      }()));
      x->connect();
      x->hello(p.name);
      joiner = x.get();
    }
    auto joined = joiner->join_reserved(p.found.room_id(), p.found.reservation());
    members = joined.members_size();
  }
  EXPECT_EQ(members, 3) << "the last to join sees all three";
  EXPECT_EQ(nodes[h]->metric("craft_cluster_matcher_matches_total"), 1);
}

}  // namespace

TEST(ClusterPartyMatchmaking, APartyLedFromAnotherNodeThanItsHomeIsMatchedOnTheLeadersNode) {
  NEED_REDIS();
  party_led_from_another_node("b");
}

TEST(ClusterPartyMatchmaking, APartyLedFromAnotherNodeThanItsHomeIsMatchedOnItsHome) {
  NEED_REDIS();
  party_led_from_another_node("a");
}

TEST(ClusterPartyMatchmaking, APartyLedFromAnotherNodeThanItsHomeIsMatchedOnAThirdNode) {
  NEED_REDIS();
  party_led_from_another_node("c");
}

// A node's party.req carrying a matchmaker_add for a party that does not live there is
// refused and counted (a node forwards only to the party's home).
TEST(ClusterPartyMatchmaking, AMatchmakerRequestForAPartyLivingElsewhereIsRefused) {
  NEED_REDIS();
  RedisServer redis;
  auto a = quick_node(redis, "a");
  ASSERT_TRUE(eventually([&] { return a->metric("craft_cluster_nodes") == 1; }));
  std::this_thread::sleep_for(300ms);  // the bus subscription connects alongside the registration
  v1::Presence who;
  who.set_session_id(5);
  who.set_name("x");
  auto who_bytes = who.SerializeAsString();
  v1::Envelope add = trio("0123456789abcdef0123456789abcdef@zz");
  auto payload = "1\t" + std::to_string(who_bytes.size()) + "\t" + who_bytes + add.SerializeAsString();
  redis.command({"PUBLISH", "craft:to:a", "1\tm\tparty.req\tx\t0\t" + payload});
  EXPECT_TRUE(eventually([&] { return a->metric("craft_cluster_party_messages_refused_total") == 1; }, 3s));
  EXPECT_EQ(hlen(redis), 0);
  EXPECT_TRUE(a->running());
}

// Chat across nodes: chat is a room (protocol.md §6.2), so a player on another node reaches
// it through the redirect, and then the room's node serves it as for its own players.
TEST(ClusterChat, AChatRoomOnAIsJoinedFromCWithItsHistoryMessagesBothWaysAndItsLimits) {
  NEED_REDIS();
  RedisServer redis;
  const std::vector<std::string> chat{"--rooms.chat-history", "3", "--rooms.chat-max-length", "10"};
  auto a = quick_node(redis, "a", chat), c = quick_node(redis, "c", chat);
  std::vector<CraftdProcess*> nodes{a.get(), c.get()};
  ASSERT_TRUE(eventually([&] { return all_see(nodes, 2); }));

  auto ann = hello(*a, "ann");
  auto room = ann->create("chat").room_id();
  for (auto text : {"one", "two", "three", "four"}) {
    ann->send(room, 1, text);
    ASSERT_TRUE(next_room_data(*ann));  // chat echoes to the sender too
  }

  // Carl, connected to C, finds the room in the shared directory and joins it through A.
  auto carl = hello_raw(*c, "carl");
  ASSERT_TRUE(eventually([&] {
    for (auto& r : carl->list_rooms("chat")) {
      if (r.room_id() == room) return true;
    }
    return false;
  })) << "C never listed A's chat room";
  std::optional<v1::RoomRedirect> redirect;
  try {
    carl->join(room);
    FAIL() << "C joined a room that lives on A";
  } catch (const client::Redirected& r) {
    redirect = r.redirect;
  }
  EXPECT_EQ(redirect->url(), url_of(*a));
  auto followed = client::follow_redirect(*redirect, client::Options{}, "carl");
  auto& there = *followed.client;
  // The history, as a player of A would get it: the last 3, oldest first, with names.
  const auto& state = followed.joined.state();
  for (auto text : {"two", "three", "four"}) {
    EXPECT_NE(state.find(std::string("\"name\":\"ann\",\"text\":\"") + text + "\""), std::string::npos) << state;
  }
  EXPECT_EQ(state.find("\"text\":\"one\""), std::string::npos) << state;

  // Messages both ways.
  there.send(room, 1, "hi ann");
  auto at_a = next_room_data(*ann);
  ASSERT_TRUE(at_a);
  EXPECT_EQ(at_a->sender(), there.session_id());
  EXPECT_NE(at_a->data().find("\"name\":\"carl\",\"text\":\"hi ann\""), std::string::npos) << at_a->data();
  ann->send(room, 1, "hi carl");
  auto at_c = there.wait_for(
      [](const v1::Envelope& e) { return e.has_room_data() && e.room_data().data().find("hi carl") != std::string::npos; },
      3s);
  ASSERT_TRUE(at_c) << "A's message did not reach the player from C";
  EXPECT_EQ(at_c->room_data().sender(), ann->session_id());

  // The room's limits hold for the player from C: too long, and not text.
  v1::Envelope e;
  e.set_cid(41);
  e.mutable_room_data()->set_room_id(room);
  e.mutable_room_data()->set_op(1);
  e.mutable_room_data()->set_data("01234567890");  // 11 bytes, rooms.chat_max_length 10
  there.send_envelope(e);
  auto err = there.wait_for([](const v1::Envelope& x) { return x.has_error(); }, 3s);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->cid(), 41u);
  EXPECT_EQ(err->error().code(), v1::MESSAGE_TOO_LARGE);
  e.set_cid(42);
  e.mutable_room_data()->set_op(2);
  e.mutable_room_data()->set_data("hi");
  there.send_envelope(e);
  err = there.wait_for([](const v1::Envelope& x) { return x.has_error(); }, 3s);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->cid(), 42u);
  EXPECT_EQ(err->error().code(), v1::BAD_REQUEST);

  // join_or_create("chat") on C finds A's room too: a lobby chat spans the nodes.
  auto dora = hello_raw(*c, "dora");
  try {
    dora->join_or_create("chat");
    ADD_FAILURE() << "C made a chat room of its own while A's had seats";
  } catch (const client::Redirected& r) {
    EXPECT_EQ(r.redirect.room_id(), room);
    auto dora_there = client::follow_redirect(r.redirect, client::Options{}, "dora");
    EXPECT_EQ(dora_there.joined.members_size(), 3);
  }
}
