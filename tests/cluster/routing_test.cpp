// Issue 14's cross-node joins with real parts: a real redis-server, three real craftd nodes
// and the C++ client. A room created on node A is joined by a client connected to node C:
// C answers room_redirect (A's URL and a seat reservation made by A over the bus), the client
// (with Options::follow_redirects off, to see it) joins at A with it; the reservation is spent once, expires, and is bound to the account
// that asked (real PostgreSQL shared by the nodes). A node that does not answer costs the
// client cluster.seat_request_timeout_ms, and at most cluster.max_pending_seat_requests wait.
//
// C learns where the room is from the shared room directory (RoomDirectory::locate over
// Redis). A build without it cannot route at all: those tests skip, naming why.
#include "../integration/craftd_process.hpp"
#include "../store/pg_server.hpp"
#include "cluster/seat_message.hpp"
#include "cluster_nodes.hpp"
#include "redis_server.hpp"

#include <craft/client.hpp>

#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <memory>
#include <optional>
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

std::unique_ptr<CraftdProcess> node(const RedisServer& redis, const std::string& id,
                                    std::vector<std::string> extra = {"--store.backend", "none"}) {
  std::vector<std::string> flags{"--cluster.redis-url", redis.url(), "--cluster.node-id", id};
  flags.insert(flags.end(), extra.begin(), extra.end());
  return std::make_unique<CraftdProcess>(flags);
}

// These tests look at the redirect itself: the client throws it instead of following it
// (follow_test.cpp has the client that follows).
std::unique_ptr<client::Client> connect(const CraftdProcess& p, const std::string& name, const std::string& token = "") {
  client::Options o;
  o.port = p.http_port();
  o.follow_redirects = false;
  auto c = std::make_unique<client::Client>(o);
  c->connect();
  c->hello(name, token);
  return c;
}

constexpr const char* no_directory =
    "node C never listed node A's room: this build has no shared room directory (RoomDirectory over Redis)";

// join() on `c` must answer room_redirect; returns it (fails the test otherwise).
std::optional<v1::RoomRedirect> redirect_of(client::Client& c, const std::string& room_id) {
  try {
    auto joined = c.join(room_id);
    ADD_FAILURE() << "joined " << joined.room_id() << " on the wrong node";
  } catch (const client::Redirected& r) {
    return r.redirect;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected room_redirect, got " << e.what();
  }
  return std::nullopt;
}

v1::ErrorCode error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const client::Error& e) {
    return e.code;
  }
  return v1::ERROR_UNSPECIFIED;
}

}  // namespace

TEST(ClusterSeatMessage, RoundTripsAndRefusesWhatIsNotOne) {
  using namespace craft::cluster;
  auto req = decode_seat_request(encode_seat_request({"AbC123", "acc-1"}));
  ASSERT_TRUE(req);
  EXPECT_EQ(req->room_id, "AbC123");
  EXPECT_EQ(req->account_id, "acc-1");
  auto anon = decode_seat_request(encode_seat_request({"AbC123", ""}));
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->account_id, "");
  std::string token(32, 'a');
  auto ok = decode_seat_answer(encode_seat_answer({0, token, 15000, {}}));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->code, 0);
  EXPECT_EQ(ok->reservation, token);
  EXPECT_EQ(ok->ttl_ms, 15000u);
  auto no = decode_seat_answer(encode_seat_answer({7, {}, 0, "room x is\tfull\n\xc3\xa9"}));
  ASSERT_TRUE(no);
  EXPECT_EQ(no->code, 7);
  EXPECT_EQ(no->message, "room x is full   ");  // tabs, line breaks and non-ASCII travel as spaces
  for (std::string bad : {std::string(""), std::string("1"), std::string("2\tAbC\t"), std::string("1\t\tacc"),
                          std::string("1\tAbC\tacc\textra"), std::string("1\tA\x01" "C\t"), std::string(300, 'x'),
                          "1\t" + std::string(65, 'r') + "\t"}) {
    EXPECT_FALSE(decode_seat_request(bad)) << bad;
  }
  for (std::string bad : {std::string("1\tok\t" + token + "\t"), std::string("1\tok\t" + token + "\t-1"),
                          std::string("1\tok\t" + std::string(32, 'g') + "\t1"), std::string("1\tok\tabc\t1"),
                          std::string("1\terror\t0\tx"), std::string("1\terror\tx\tx"), std::string("1\terror\t6"),
                          std::string("1\tmaybe\t6\tx"), std::string("1\terror\t6\tx\ty"), std::string(2000, '1'),
                          std::string("1\tok\t" + token + "\t99999999999")}) {
    EXPECT_FALSE(decode_seat_answer(bad)) << bad;
  }
}

TEST(ClusterSeatMessage, NodeUrlsBecomeClientOptions) {
  client::Options base;
  base.timeout = 1234ms;
  auto o = client::options_for_url("ws://127.0.0.1:7001/ws", base);
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 7001);
  EXPECT_EQ(o.path, "/ws");
  EXPECT_EQ(o.timeout, 1234ms);
  auto v6 = client::options_for_url("ws://[::1]:80/game/ws", base);
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 80);
  EXPECT_EQ(v6.path, "/game/ws");
  for (auto bad : {"wss://h:1/ws", "http://h/ws", "ws://:1/ws", "ws://h:0/ws", "ws://h:x/ws", "ws://[::1/ws",
                   "ws://h:70000/ws"}) {
    EXPECT_THROW(client::options_for_url(bad, base), std::invalid_argument) << bad;
  }
}

TEST(ClusterRouting, ARoomOnNodeAIsJoinedFromNodeCWithARedirectAndItsSeatIsUsedOnce) {
  NEED_REDIS();
  RedisServer redis;
  auto a = node(redis, "node-a");
  auto b = node(redis, "node-b");
  auto c = node(redis, "node-c");
  ASSERT_TRUE(all_alive({a.get(), b.get(), c.get()}, 3));
  auto owner = connect(*a, "owner");
  auto room = owner->create("relay");
  auto player = connect(*c, "player");
  if (!lists(*player, "relay", room.room_id())) GTEST_SKIP() << no_directory;

  auto r = redirect_of(*player, room.room_id());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->room_id(), room.room_id());
  EXPECT_EQ(r->url(), url_of(*a));
  EXPECT_EQ(r->node(), "node-a");
  EXPECT_EQ(r->reservation().size(), 32u);
  EXPECT_EQ(r->reservation_ttl_ms(), 15000u);  // matchmaker.reservation_ttl_ms
  // Per-connection order (§2.1) holds across the redirect: the next request is answered after it.
  EXPECT_NO_THROW(player->ping());

  auto followed = client::follow_redirect(*r, client::Options{}, "player");
  EXPECT_EQ(followed.joined.room_id(), room.room_id());
  EXPECT_EQ(followed.joined.members_size(), 2);
  auto joined = owner->wait_for([](const v1::Envelope& e) { return e.has_presence() && e.presence().joins_size() == 1; }, 3s);
  ASSERT_TRUE(joined);
  EXPECT_EQ(joined->presence().joins(0).name(), "player");
  // The room works across the redirect: data from the player reaches the owner on A.
  followed.client->send(room.room_id(), 5, "hi from C");
  auto data = owner->wait_for([](const v1::Envelope& e) { return e.has_room_data(); }, 3s);
  ASSERT_TRUE(data);
  EXPECT_EQ(data->room_data().data(), "hi from C");

  // One use: the same reservation again, from anyone, is refused.
  auto thief = connect(*a, "thief");
  EXPECT_EQ(error_of([&] { thief->join_reserved(room.room_id(), r->reservation()); }), v1::RESERVATION_INVALID);
  EXPECT_EQ(error_of([&] { thief->join_reserved(room.room_id(), std::string(32, '0')); }), v1::RESERVATION_INVALID);

  // join_or_create on C whose best room of the type is on A: redirected there too.
  auto second = connect(*c, "second");
  try {
    second->join_or_create("relay");
    ADD_FAILURE() << "join_or_create on C should have been redirected to A's room";
  } catch (const client::Redirected& rr) {
    EXPECT_EQ(rr.redirect.room_id(), room.room_id());
    EXPECT_EQ(rr.redirect.url(), url_of(*a));
    auto there = client::follow_redirect(rr.redirect, client::Options{}, "second");
    EXPECT_EQ(there.joined.members_size(), 3);
  }
  // A room nobody has.
  EXPECT_EQ(error_of([&] { player->join("NoSuchRoom01"); }), v1::ROOM_NOT_FOUND);

  EXPECT_EQ(c->metric("craft_cluster_redirects_total"), 2);
  EXPECT_EQ(c->metric("craft_cluster_seat_requests_total"), 2);
  EXPECT_EQ(c->metric("craft_cluster_seat_requests_failed_total"), 0);
  EXPECT_EQ(c->metric("craft_cluster_seat_requests_pending"), 0);
  EXPECT_EQ(a->metric("craft_cluster_seats_granted_total"), 2);
  EXPECT_EQ(b->metric("craft_cluster_seats_granted_total"), 0);
}

// A room id is often shared the moment the room exists; it reaches the other nodes' mirrors
// up to one flush interval later. A join by id that misses looks once more two flush
// intervals later before it is ROOM_NOT_FOUND (flush 400 ms here, so the race is certain).
TEST(ClusterRouting, ARoomJoinedByIdFromAnotherNodeRightAfterItsCreationIsFound) {
  NEED_REDIS();
  RedisServer redis;
  const std::vector<std::string> slow{"--store.backend", "none", "--cluster.directory-flush-ms", "400"};
  auto a = node(redis, "node-a", slow);
  auto c = node(redis, "node-c", slow);
  ASSERT_TRUE(all_alive({a.get(), c.get()}, 2));
  auto owner = connect(*a, "owner");
  auto player = connect(*c, "player");
  for (int i = 0; i < 3; ++i) {
    auto room = owner->create("relay");
    auto asked = std::chrono::steady_clock::now();
    auto r = redirect_of(*player, room.room_id());
    ASSERT_TRUE(r) << "room " << i;
    EXPECT_EQ(r->url(), url_of(*a));
    EXPECT_LT(std::chrono::steady_clock::now() - asked, 2s);
    owner->leave(room.room_id());
  }
  // An id nobody has is still ROOM_NOT_FOUND, after the second look (2 x 400 ms).
  auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(error_of([&] { player->join("NoSuchRoom01"); }), v1::ROOM_NOT_FOUND);
  EXPECT_GE(std::chrono::steady_clock::now() - asked, 800ms);
}

TEST(ClusterRouting, ALockedOrFullRoomIsNotHandedOutAndJoinOrCreateMakesOneHereInstead) {
  NEED_REDIS();
  RedisServer redis;
  // Rooms of two seats: the owner and one reserved seat fill it.
  auto a = node(redis, "node-a", {"--store.backend", "none", "--rooms.max-clients", "2"});
  auto c = node(redis, "node-c", {"--store.backend", "none", "--rooms.max-clients", "2"});
  ASSERT_TRUE(all_alive({a.get(), c.get()}, 2));
  auto owner = connect(*a, "owner");
  auto room = owner->create("relay");
  auto p1 = connect(*c, "p1");
  if (!lists(*p1, "relay", room.room_id())) GTEST_SKIP() << no_directory;
  auto r = redirect_of(*p1, room.room_id());
  ASSERT_TRUE(r);
  // The reserved seat counts: the room is full for anyone else until it is used or expires.
  auto p2 = connect(*c, "p2");
  EXPECT_EQ(error_of([&] { p2->join(room.room_id()); }), v1::ROOM_FULL);
  EXPECT_EQ(a->metric("craft_cluster_seats_denied_total"), 1);
  // join_or_create does not give up: A's room had no seat, so C makes one of its own.
  auto made = p2->join_or_create("relay");
  EXPECT_NE(made.room_id(), room.room_id());
  EXPECT_EQ(made.members_size(), 1);
}

TEST(ClusterRouting, AnExpiredReservationIsRefused) {
  NEED_REDIS();
  RedisServer redis;
  std::vector<std::string> flags{"--store.backend", "none", "--matchmaker.reservation-ttl-ms", "300"};
  auto a = node(redis, "node-a", flags);
  auto c = node(redis, "node-c", flags);
  ASSERT_TRUE(all_alive({a.get(), c.get()}, 2));
  auto owner = connect(*a, "owner");
  auto room = owner->create("relay");
  auto player = connect(*c, "player");
  if (!lists(*player, "relay", room.room_id())) GTEST_SKIP() << no_directory;
  auto r = redirect_of(*player, room.room_id());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reservation_ttl_ms(), 300u);
  std::this_thread::sleep_for(600ms);
  try {
    client::follow_redirect(*r, client::Options{}, "player");
    ADD_FAILURE() << "an expired reservation was accepted";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code, v1::RESERVATION_INVALID);
  }
  EXPECT_GE(a->metric("craft_reservations_expired_total"), 1);
}

TEST(ClusterRouting, AReservationIsBoundToTheAccountThatAskedForIt) {
  NEED_REDIS();
  std::string why;
  auto pg = craft::test::PgServer::start(&why);
  if (!pg) {
    if (craft::test::PgServer::required()) FAIL() << why;
    GTEST_SKIP() << craft::test::PgServer::missing_message() << ": " << why;
  }
  ASSERT_EQ(pg->create_database("routing"), "");
  RedisServer redis;
  // One account database and one token key: a token from any node is good on every node.
  std::vector<std::string> flags{"--store.backend", "postgres", "--store.postgres-url", pg->url("routing"),
                                 "--auth.token-key", std::string(64, 'c')};
  auto a = node(redis, "node-a", flags);
  auto c = node(redis, "node-c", flags);
  ASSERT_TRUE(all_alive({a.get(), c.get()}, 2));
  auto token_of = [&](const std::string& device) {
    auto response = craft::testing::http_request(a->http_port(), "POST", "/v1/auth/device",
                                                 R"({"deviceId":")" + device + R"(","create":true})",
                                                 "Content-Type: application/json\r\n");
    auto at = response.find("\"token\":\"");
    EXPECT_NE(at, std::string::npos) << response;
    if (at == std::string::npos) return std::string();
    at += 9;
    return response.substr(at, response.find('"', at) - at);
  };
  auto ann_token = token_of("routing-device-ann");
  auto bob_token = token_of("routing-device-bob");
  ASSERT_FALSE(ann_token.empty());
  ASSERT_FALSE(bob_token.empty());
  auto owner = connect(*a, "owner", bob_token);
  auto room = owner->create("relay");
  auto ann = connect(*c, "", ann_token);
  if (!lists(*ann, "relay", room.room_id())) GTEST_SKIP() << no_directory;
  auto r = redirect_of(*ann, room.room_id());
  ASSERT_TRUE(r);
  // Another account, or nobody, holding ann's reservation is refused, and it stays ann's.
  auto bob = connect(*a, "", bob_token);
  EXPECT_EQ(error_of([&] { bob->join_reserved(room.room_id(), r->reservation()); }), v1::RESERVATION_INVALID);
  auto anonymous = connect(*a, "anon");
  EXPECT_EQ(error_of([&] { anonymous->join_reserved(room.room_id(), r->reservation()); }), v1::RESERVATION_INVALID);
  auto there = client::follow_redirect(*r, client::Options{}, "", ann_token);
  EXPECT_EQ(there.joined.room_id(), room.room_id());
  EXPECT_FALSE(there.joined.you().account_id().empty());

  // A client that follows by itself (the default) says hello at A with the same token: the
  // seat bound to the account is its own.
  auto cara_token = token_of("routing-device-cara");
  ASSERT_FALSE(cara_token.empty());
  client::Options follows;
  follows.port = c->http_port();
  client::Client cara(follows);
  cara.connect();
  auto welcome = cara.hello("", cara_token);
  ASSERT_FALSE(welcome.account_id().empty());
  auto joined = cara.join(room.room_id());
  EXPECT_EQ(joined.room_id(), room.room_id());
  EXPECT_EQ(joined.you().account_id(), welcome.account_id());
  EXPECT_EQ(cara.node_of(room.room_id()), url_of(*a));
}

TEST(ClusterRouting, ANodeThatDoesNotAnswerCostsTheTimeoutAndPendingRequestsAreBounded) {
  NEED_REDIS();
  RedisServer redis;
  auto a = node(redis, "node-a");
  auto c = node(redis, "node-c", {"--store.backend", "none", "--cluster.seat-request-timeout-ms", "1000",
                                  "--cluster.max-pending-seat-requests", "1"});
  ASSERT_TRUE(all_alive({a.get(), c.get()}, 2));
  auto owner = connect(*a, "owner");
  auto room = owner->create("relay");
  auto p1 = connect(*c, "p1");
  auto p2 = connect(*c, "p2");
  if (!lists(*p1, "relay", room.room_id())) GTEST_SKIP() << no_directory;
  // A hangs (its node key stays for node_ttl_ms: C still thinks it is alive).
  ASSERT_TRUE(craft::testing::cluster::hang(a->pid()));
  auto start = std::chrono::steady_clock::now();
  v1::Envelope e;
  e.set_cid(900);
  e.mutable_room_join()->set_room_id(room.room_id());
  p1->send_envelope(e);
  // p2 asks only once p1's seat request is under way (a fixed sleep was too short under load).
  ASSERT_TRUE(craft::testing::cluster::eventually([&] { return c->metric("craft_cluster_seat_requests_pending") == 1; },
                                                  800ms));
  auto refused_at = std::chrono::steady_clock::now();
  try {
    p2->join(room.room_id());
    ADD_FAILURE() << "a second seat request past max_pending_seat_requests was not refused";
  } catch (const client::Error& err) {
    EXPECT_EQ(err.code, v1::UNAVAILABLE);
    EXPECT_NE(std::string(err.what()).find("max_pending_seat_requests"), std::string::npos) << err.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - refused_at, 500ms) << "refused at once, not after a wait";
  auto answer = p1->wait_for([](const v1::Envelope& x) { return x.cid() == 900; }, 5s);
  auto took = std::chrono::steady_clock::now() - start;
  kill(a->pid(), SIGCONT);
  ASSERT_TRUE(answer);
  ASSERT_TRUE(answer->has_error()) << answer->DebugString();
  EXPECT_EQ(answer->error().code(), v1::UNAVAILABLE);
  EXPECT_NE(answer->error().message().find("seat_request_timeout_ms"), std::string::npos) << answer->error().message();
  EXPECT_GE(took, 1000ms);
  EXPECT_LT(took, 3000ms);
  EXPECT_EQ(c->metric("craft_cluster_seat_requests_failed_total"), 1);
  EXPECT_EQ(c->metric("craft_cluster_seat_requests_refused_total"), 1);
  EXPECT_EQ(c->metric("craft_cluster_seat_requests_pending"), 0);
}

// A draining node refuses every room_join, reservations included: it must not hand out seats
// either, or the player is redirected there only to be refused (and the held seat keeps the
// room, and so the drain, alive for reservation_ttl_ms). join_or_create makes a room here.
TEST(ClusterRouting, ADrainingNodeHandsOutNoSeatsAndJoinOrCreateMakesARoomHere) {
  NEED_REDIS();
  RedisServer redis;
  auto a = node(redis, "node-a", {"--store.backend", "none", "--drain", "--rooms.empty-dispose-ms", "200",
                                  "--server.drain-timeout-ms", "30000"});
  auto c = node(redis, "node-c");
  ASSERT_TRUE(all_alive({a.get(), c.get()}, 2));
  auto owner = connect(*a, "owner");
  auto room = owner->create("relay");
  auto player = connect(*c, "player");
  if (!lists(*player, "relay", room.room_id())) GTEST_SKIP() << no_directory;
  ASSERT_EQ(kill(a->pid(), SIGTERM), 0);
  bool draining = false;
  for (int i = 0; i < 100 && !draining; ++i) {
    draining = a->metric("craft_draining") == 1;
    if (!draining) std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(draining);

  try {
    auto joined = player->join(room.room_id());
    ADD_FAILURE() << "joined " << joined.room_id() << " on the wrong node";
  } catch (const client::Redirected& r) {
    ADD_FAILURE() << "redirected to draining node " << r.redirect.node();
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code, v1::SERVER_SHUTTING_DOWN) << e.what();
  }
  try {
    auto made = player->join_or_create("relay");
    EXPECT_NE(made.room_id(), room.room_id());
    EXPECT_EQ(made.members_size(), 1);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "join_or_create on C did not make a room on C: " << e.what();
  }
  ASSERT_TRUE(a->running()) << "the draining node stopped while its room still ran";
  EXPECT_EQ(a->metric("craft_cluster_seats_granted_total"), 0);
  EXPECT_EQ(c->metric("craft_cluster_redirects_total"), 0);
  // The drain still ends when the owner leaves (no held seat keeps the room).
  owner->leave(room.room_id());
}

// A seat handed out by a redirect counts against the asking session's
// limits.max_rooms_per_session until it is used or expires, so one socket cannot fill (and
// keep alive) a room on another node with redirects it never follows.
TEST(ClusterRouting, UnfollowedRedirectsCountAgainstTheSessionsRoomLimit) {
  NEED_REDIS();
  RedisServer redis;
  std::vector<std::string> flags{"--store.backend", "none", "--limits.max-rooms-per-session", "3",
                                 "--matchmaker.reservation-ttl-ms", "1000"};
  auto a = node(redis, "node-a", flags);
  auto c = node(redis, "node-c", flags);
  ASSERT_TRUE(all_alive({a.get(), c.get()}, 2));
  auto owner = connect(*a, "owner");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(owner->create("relay").room_id());
  auto squatter = connect(*c, "squatter");
  for (auto& id : ids) {
    if (!lists(*squatter, "relay", id)) GTEST_SKIP() << no_directory;
  }
  // Three rooms: a second join of a room it holds a seat in gets that seat again (below).
  for (auto& id : ids) ASSERT_TRUE(redirect_of(*squatter, id)) << id;
  auto owner2 = connect(*a, "owner2");
  auto room4 = owner2->create("relay");
  ASSERT_TRUE(lists(*squatter, "relay", room4.room_id()));
  EXPECT_EQ(error_of([&] { squatter->join(room4.room_id()); }), v1::TOO_MANY_ROOMS);
  EXPECT_EQ(a->metric("craft_cluster_seats_granted_total"), 3);
  // Once the seats expire, the session may ask again.
  std::this_thread::sleep_for(1200ms);
  EXPECT_TRUE(redirect_of(*squatter, room4.room_id()));
  auto room = room4;
  // Another player still gets a seat: the squatter holds one of the room's seats, not all.
  auto player = connect(*c, "player");
  auto r = redirect_of(*player, room.room_id());
  ASSERT_TRUE(r);
  auto there = client::follow_redirect(*r, client::Options{}, "player");
  EXPECT_EQ(there.joined.room_id(), room.room_id());
}

// A session asking again for a room it holds a seat in trades that seat for a new one (not
// a second seat), and the seats it never used are freed when it ends, not
// reservation_ttl_ms later. Before, one socket held limits.max_rooms_per_session seats of one
// room, and a loop of connect, join, close kept any room on another node full (63 seats in
// 248 ms from one socket at a time).
TEST(ClusterRouting, ASessionHoldsOneSeatPerRoomAndItsUnusedSeatsAreFreedWhenItEnds) {
  NEED_REDIS();
  RedisServer redis;
  std::vector<std::string> flags{"--store.backend", "none", "--rooms.max-clients", "2"};
  auto a = node(redis, "node-a", flags);
  auto c = node(redis, "node-c", flags);
  ASSERT_TRUE(all_alive({a.get(), c.get()}, 2));
  auto owner = connect(*a, "owner");
  auto room = owner->create("relay");
  auto squatter = connect(*c, "squatter");
  if (!lists(*squatter, "relay", room.room_id())) GTEST_SKIP() << no_directory;
  // The room's two seats: the owner's, and one for the squatter at a time.
  auto first = redirect_of(*squatter, room.room_id());
  auto again = redirect_of(*squatter, room.room_id());
  ASSERT_TRUE(first && again);
  EXPECT_NE(again->reservation(), first->reservation());
  auto player = connect(*c, "player");
  EXPECT_EQ(error_of([&] { player->join(room.room_id()); }), v1::ROOM_FULL);
  // The traded-in reservation is void.
  EXPECT_EQ(error_of([&] { client::follow_redirect(*first, client::Options{}, "stale"); }), v1::RESERVATION_INVALID);
  squatter.reset();
  auto start = std::chrono::steady_clock::now();
  while (a->metric("craft_cluster_seats_released_total") < 2 && std::chrono::steady_clock::now() - start < 3s) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(a->metric("craft_cluster_seats_released_total"), 2);
  auto r = redirect_of(*player, room.room_id());
  ASSERT_TRUE(r);
  auto there = client::follow_redirect(*r, client::Options{}, "player");
  EXPECT_EQ(there.joined.room_id(), room.room_id());
}

TEST(ClusterSeatMessage, AReleaseRoundTripsAndRefusesWhatIsNotOne) {
  using namespace craft::cluster;
  std::string token(32, 'f');
  auto r = decode_seat_release(encode_seat_release({"AbC123", token}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->room_id, "AbC123");
  EXPECT_EQ(r->reservation, token);
  EXPECT_FALSE(decode_seat_release("1\tAbC123\t" + std::string(31, 'f')));
  EXPECT_FALSE(decode_seat_release("1\tAbC123\t" + std::string(32, 'F')));
  EXPECT_FALSE(decode_seat_release("2\tAbC123\t" + token));
  EXPECT_FALSE(decode_seat_release("1\t\t" + token));
  EXPECT_FALSE(decode_seat_release("1\tAbC123\t" + token + "\t"));
  EXPECT_FALSE(decode_seat_release("1\t" + std::string(65, 'a') + "\t" + token));
  EXPECT_FALSE(decode_seat_release(std::string(100000, '\t')));
}
