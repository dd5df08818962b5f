// The C++ client follows cross-node joins by itself (issue 14: routing "transparent to game
// code and to the SDK user"), with real parts: a real redis-server, real craftd nodes, the
// C++ client. A Client connected to node C joins a room living on node A and just gets
// room_joined: it opened a connection to A (same name and token), joined with the seat
// reservation, and from then on sends, properties and leave go over that connection and its
// events come out of the Client's own next_event()/poll(). The last room left closes that
// connection; a node that dies turns its rooms into room_left{"node lost"} plus an
// on_connection node_lost. A match whose room is on the other player's node is joined by
// both; a node that redirects again is an error, not a loop; the opt-out still throws.
#include "../integration/craftd_process.hpp"
#include "cluster_nodes.hpp"
#include "redis_server.hpp"

#include <craft/client.hpp>

#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

using craft::testing::CraftdProcess;
using craft::testing::RedisServer;
using namespace std::chrono_literals;
namespace client = craft::client;
namespace v1 = craft::v1;

namespace {
using craft::testing::cluster::lists;
using craft::testing::cluster::url_of;
using craft::testing::cluster::all_alive;
using craft::testing::cluster::eventually;
using craft::testing::cluster::quick_node;

std::unique_ptr<client::Client> connect(const CraftdProcess& p, const std::string& name,
                                        client::Options o = client::Options{}) {
  o.port = p.http_port();
  auto c = std::make_unique<client::Client>(o);
  c->connect();
  c->hello(name);
  return c;
}

bool has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

auto room_data(uint32_t op) {
  return [op](const v1::Envelope& e) { return e.has_room_data() && e.room_data().op() == op; };
}

}  // namespace

TEST(ClusterFollow, AJoinOfARoomOnAnotherNodeJustWorksBothWaysAndLeavingClosesTheNodeConnection) {
  NEED_REDIS();
  RedisServer redis;
  auto a = quick_node(redis, "node-a");
  auto b = quick_node(redis, "node-b");
  auto c = quick_node(redis, "node-c");
  ASSERT_TRUE(all_alive({a.get(), b.get(), c.get()}, 3));
  auto owner = connect(*a, "owner");
  auto there = owner->create("relay").room_id();
  auto player = connect(*c, "player");
  ASSERT_TRUE(lists(*player, "relay", there)) << "node C never listed node A's room";
  auto here = player->create("relay").room_id();  // a room on the player's own node too
  const long a_before = a->metric("craft_connections");

  auto joined = player->join(there);
  EXPECT_EQ(joined.room_id(), there);
  EXPECT_EQ(joined.members_size(), 2);
  EXPECT_NE(joined.you().session_id(), player->session_id()) << "a session of its own on node A";
  EXPECT_EQ(player->node_urls(), std::vector<std::string>{url_of(*a)});
  EXPECT_EQ(player->node_of(there), url_of(*a));
  EXPECT_EQ(player->node_of(here), "");
  EXPECT_TRUE(has(player->rooms(), there));
  EXPECT_TRUE(has(player->rooms(), here));
  EXPECT_EQ(a->metric("craft_connections"), a_before + 1) << "the player's node connection";
  EXPECT_EQ(c->metric("craft_cluster_redirects_total"), 1);
  auto presence = owner->wait_for([](const v1::Envelope& e) { return e.has_presence() && e.presence().joins_size() == 1; }, 3s);
  ASSERT_TRUE(presence);
  EXPECT_EQ(presence->presence().joins(0).name(), "player");

  // Messages both ways, through the Client's one send() and one event stream.
  player->send(there, 5, "hi from C");
  auto got = owner->wait_for(room_data(5), 3s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->room_data().data(), "hi from C");
  owner->send(there, 6, "hi from A");
  auto back = player->wait_for(room_data(6), 3s);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->room_data().room_id(), there);
  EXPECT_EQ(back->room_data().data(), "hi from A");
  // poll() and its callbacks see node events too, in the order that connection got them.
  std::vector<std::string> seen;
  player->on_room_data = [&](const v1::RoomData& d) { seen.push_back(d.data()); };
  for (int i = 0; i < 3; ++i) owner->send(there, 7, std::to_string(i));
  ASSERT_TRUE(eventually([&] {
    player->poll(50ms);
    return seen.size() >= 3;
  }, 3000ms));
  EXPECT_EQ(seen, (std::vector<std::string>{"0", "1", "2"}));
  player->on_room_data = nullptr;
  // Room-scoped requests go to the room's node.
  auto changed = player->set_properties(there, {{"ready", client::PlainValue(true)}}, {}, joined.you().session_id());
  EXPECT_EQ(changed.room_id(), there);
  auto seen_by_owner = owner->wait_for([](const v1::Envelope& e) { return e.has_properties_changed(); }, 3s);
  ASSERT_TRUE(seen_by_owner);
  EXPECT_EQ(seen_by_owner->properties_changed().version(), changed.version());

  // Leaving the last room there closes the node connection; the home one goes on.
  player->leave(there);
  EXPECT_TRUE(player->node_urls().empty());
  EXPECT_EQ(player->rooms(), std::vector<std::string>{here});
  EXPECT_TRUE(eventually([&] { return a->metric("craft_connections") == a_before; }, 3000ms));
  auto left = owner->wait_for([](const v1::Envelope& e) { return e.has_presence() && e.presence().leaves_size() == 1; }, 3s);
  EXPECT_TRUE(left);
  EXPECT_NO_THROW(player->ping());

  // join_or_create from B, which has no room of the type (a node prefers its own rooms): the
  // best one (the oldest) is on A, and it is followed too.
  auto second = connect(*b, "second");
  ASSERT_TRUE(lists(*second, "relay", there));
  auto made = second->join_or_create("relay");
  EXPECT_EQ(made.room_id(), there);
  EXPECT_EQ(made.members_size(), 2);
  EXPECT_EQ(second->node_of(there), url_of(*a));
  second->send(there, 8, "second here");
  auto from_second = owner->wait_for(room_data(8), 3s);
  ASSERT_TRUE(from_second);
  EXPECT_EQ(from_second->room_data().data(), "second here");

  // The opt-out: the redirect comes back as Redirected, nothing is opened.
  client::Options raw;
  raw.follow_redirects = false;
  auto plain = connect(*c, "plain", raw);
  try {
    plain->join(there);
    ADD_FAILURE() << "followed a redirect with follow_redirects off";
  } catch (const client::Redirected& r) {
    EXPECT_EQ(r.redirect.room_id(), there);
    EXPECT_EQ(r.redirect.url(), url_of(*a));
  }
  EXPECT_TRUE(plain->node_urls().empty());
  EXPECT_EQ(c->metric("craft_cluster_redirects_total"), 2);
  EXPECT_EQ(b->metric("craft_cluster_redirects_total"), 1);
  EXPECT_EQ(a->metric("craft_cluster_seats_granted_total"), 3);
  EXPECT_EQ(b->metric("craft_cluster_seats_granted_total"), 0);
  // close() says goodbye on the node connections too.
  second->close();
  EXPECT_TRUE(eventually([&] { return a->metric("craft_connections") == a_before; }, 3000ms));
}

TEST(ClusterFollow, AMatchWhoseRoomIsOnTheOtherPlayersNodeIsJoinedByBoth) {
  NEED_REDIS();
  RedisServer redis;
  auto a = quick_node(redis, "a");
  auto b = quick_node(redis, "b");
  ASSERT_TRUE(all_alive({a.get(), b.get()}, 2));
  ASSERT_TRUE(eventually([&] {
    return a->metric("craft_cluster_matcher_holder") + b->metric("craft_cluster_matcher_holder") == 1;
  })) << "nobody took the matcher lease";
  std::vector<std::unique_ptr<client::Client>> players;
  players.push_back(connect(*a, "ann"));
  players.push_back(connect(*b, "bob"));
  for (auto& p : players) {
    v1::MatchmakerAdd ticket;
    ticket.set_min_count(2);
    ticket.set_max_count(2);
    ticket.set_query("+mode:duel");
    (*ticket.mutable_string_properties())["mode"] = "duel";
    p->matchmaker_add(ticket);
  }
  std::vector<v1::MatchFound> found;
  for (auto& p : players) {
    auto f = p->wait_for([](const v1::Envelope& e) { return e.has_match_found(); }, 8s);
    ASSERT_TRUE(f) << "no match_found";
    found.push_back(f->match_found());
  }
  ASSERT_EQ(found[0].room_id(), found[1].room_id());
  ASSERT_NE(found[0].room_url().empty(), found[1].room_url().empty()) << "exactly one is on the room's node";
  const std::string room = found[0].room_id();
  for (size_t i = 0; i < players.size(); ++i) {
    auto joined = players[i]->join_match(found[i]);
    EXPECT_EQ(joined.room_id(), room) << i;
    EXPECT_EQ(players[i]->node_of(room), found[i].room_url()) << i;
  }
  // Both ways, whichever of them is remote.
  players[0]->send(room, 3, "from ann");
  auto at_bob = players[1]->wait_for(room_data(3), 3s);
  ASSERT_TRUE(at_bob);
  EXPECT_EQ(at_bob->room_data().data(), "from ann");
  players[1]->send(room, 4, "from bob");
  auto at_ann = players[0]->wait_for(room_data(4), 3s);
  ASSERT_TRUE(at_ann);
  EXPECT_EQ(at_ann->room_data().data(), "from bob");
  for (auto& p : players) {
    p->leave(room);
    EXPECT_TRUE(p->node_urls().empty());
  }
}

TEST(ClusterFollow, ANodeThatDiesTurnsItsRoomsIntoNodeLost) {
  NEED_REDIS();
  RedisServer redis;
  auto a = quick_node(redis, "node-a");
  auto c = quick_node(redis, "node-c");
  ASSERT_TRUE(all_alive({a.get(), c.get()}, 2));
  auto owner = connect(*a, "owner");
  auto there = owner->create("relay").room_id();
  // One resumable player (it tries to resume the node connection first) and one plain one.
  client::Options resumable;
  resumable.resumable = true;
  resumable.resume_attempts = 3;
  resumable.resume_backoff = 50ms;
  auto p1 = connect(*c, "p1", resumable);
  auto p2 = connect(*c, "p2");
  ASSERT_TRUE(lists(*p1, "relay", there));
  std::vector<client::ConnectionEvent> e1, e2;
  p1->on_connection = [&](const client::ConnectionEvent& e) { e1.push_back(e); };
  p2->on_connection = [&](const client::ConnectionEvent& e) { e2.push_back(e); };
  ASSERT_EQ(p1->join(there).room_id(), there);
  ASSERT_EQ(p2->join(there).room_id(), there);
  ASSERT_EQ(p1->node_urls().size(), 1u);

  kill(a->pid(), SIGKILL);
  auto lost = [&](const v1::Envelope& e) { return e.has_room_left() && e.room_left().room_id() == there; };
  for (auto* p : {p1.get(), p2.get()}) {
    auto left = p->wait_for(lost, 5s);
    ASSERT_TRUE(left) << "no room_left for the dead node's room";
    EXPECT_EQ(left->room_left().reason(), "node lost");
    EXPECT_TRUE(p->node_urls().empty());
    EXPECT_FALSE(has(p->rooms(), there));
    EXPECT_NO_THROW(p->ping()) << "the home connection is untouched";
  }
  ASSERT_FALSE(e1.empty());
  EXPECT_EQ(e1.front().kind, client::ConnectionEvent::Kind::dropped);
  EXPECT_EQ(e1.front().node_url, url_of(*a));
  ASSERT_GE(e1.size(), 3u);
  EXPECT_EQ(e1[e1.size() - 2].kind, client::ConnectionEvent::Kind::failed) << "resumes were tried first";
  EXPECT_EQ(e1.back().kind, client::ConnectionEvent::Kind::node_lost);
  EXPECT_EQ(e1.back().node_url, url_of(*a));
  EXPECT_EQ(e1.back().lost_rooms, std::vector<std::string>{there});
  ASSERT_EQ(e2.size(), 1u) << "a plain session does not resume";
  EXPECT_EQ(e2[0].kind, client::ConnectionEvent::Kind::node_lost);
  EXPECT_EQ(e2[0].lost_rooms, std::vector<std::string>{there});
  // A send to the lost room is not thrown at the game (the server, if any, would say NOT_IN_ROOM).
  EXPECT_NO_THROW(p2->send(there, 1, "anyone?"));
}

// A node connection that goes quiet (its node stopped for a moment: a half-open connection as
// far as the client can tell) is abandoned and resumed like the home one: same session on
// that node, same room, on_connection says so with the node's URL.
TEST(ClusterFollow, ALostNodeConnectionIsResumedLikeTheHomeOne) {
  NEED_REDIS();
  RedisServer redis;
  // Default liveness (a node is dead after 3 s): A stopped for 1.5 s stays alive for C. Pings
  // every 200 ms: a live connection is never quiet for the client's 800 ms silence_timeout.
  std::vector<std::string> flags{"--cluster.redis-url", redis.url(), "--store.backend", "none",
                                 "--limits.server-ping-interval-ms", "200"};
  auto with_id = [&](const std::string& id) {
    auto f = flags;
    f.insert(f.end(), {"--cluster.node-id", id});
    return std::make_unique<CraftdProcess>(f);
  };
  auto a = with_id("node-a");
  auto c = with_id("node-c");
  ASSERT_TRUE(all_alive({a.get(), c.get()}, 2));
  auto owner = connect(*a, "owner");
  auto there = owner->create("relay").room_id();
  client::Options o;
  o.resumable = true;
  o.silence_timeout = 800ms;
  auto player = connect(*c, "player", o);
  ASSERT_TRUE(lists(*player, "relay", there));
  std::vector<client::ConnectionEvent> events;
  player->on_connection = [&](const client::ConnectionEvent& e) { events.push_back(e); };
  auto joined = player->join(there);
  auto resumed = [&] {
    for (const auto& e : events) {
      if (e.kind == client::ConnectionEvent::Kind::resumed) return true;
    }
    return false;
  };

  ASSERT_TRUE(craft::testing::cluster::hang(a->pid()));
  // The client's resume waits inside its call (no thread of its own): wake A from here.
  std::thread waker([&] {
    std::this_thread::sleep_for(1500ms);
    kill(a->pid(), SIGCONT);
  });
  bool ok = eventually([&] {
    player->poll(50ms);
    return resumed();
  }, 6000ms);
  waker.join();
  ASSERT_TRUE(ok) << "the node connection was not resumed";
  for (const auto& e : events) EXPECT_EQ(e.node_url, url_of(*a)) << "the home connection was not touched";
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[0].kind, client::ConnectionEvent::Kind::dropped);
  EXPECT_EQ(events[0].node_url, url_of(*a));
  EXPECT_EQ(events.back().kind, client::ConnectionEvent::Kind::resumed);
  EXPECT_EQ(events.back().node_url, url_of(*a));
  for (const auto& e : events) EXPECT_NE(e.kind, client::ConnectionEvent::Kind::node_lost);
  EXPECT_EQ(player->node_of(there), url_of(*a));
  EXPECT_EQ(a->metric("craft_sessions_resumed_total"), 1);
  // The same session on A: the room works both ways, nothing was lost.
  owner->send(there, 9, "after the pause");
  auto got = player->wait_for(room_data(9), 3s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->room_data().data(), "after the pause");
  player->send(there, 10, "still here");
  auto back = owner->wait_for(room_data(10), 3s);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->room_data().sender(), joined.you().session_id());
}

// A node whose cluster.advertise names another node: the client is sent to B, B sends it on
// (the room is on A), and the client stops there instead of taking seat after seat.
TEST(ClusterFollow, ANodeThatRedirectsAgainIsAnErrorNotALoop) {
  NEED_REDIS();
  RedisServer redis;
  auto b = quick_node(redis, "node-b");
  auto a = quick_node(redis, "node-a", {"--cluster.advertise", url_of(*b)});
  auto c = quick_node(redis, "node-c");
  ASSERT_TRUE(all_alive({a.get(), b.get(), c.get()}, 3));
  auto owner = connect(*a, "owner");
  auto there = owner->create("relay").room_id();
  auto player = connect(*c, "player");
  ASSERT_TRUE(lists(*player, "relay", there));
  const long b_before = b->metric("craft_connections");
  try {
    player->join(there);
    ADD_FAILURE() << "joined through a node that redirected again";
  } catch (const client::Redirected& r) {
    ADD_FAILURE() << "a second redirect came back as Redirected: " << r.what();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("redirected again"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(player->node_urls().empty()) << "the connection to B, with no room, is closed";
  EXPECT_TRUE(eventually([&] { return b->metric("craft_connections") == b_before; }, 3000ms));
  EXPECT_EQ(a->metric("craft_cluster_seats_granted_total"), 2) << "one seat per hop, no more";
  EXPECT_NO_THROW(player->ping());
}
