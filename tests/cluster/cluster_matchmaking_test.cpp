// Matchmaking across nodes (issue 14; docs/cluster.md, "Matchmaking across nodes") with real
// parts: a real redis-server, three real craftd nodes, real WebSocket clients. A match forms
// from tickets queued on all three nodes, each player gets match_found naming the room's node
// and joins there with its reservation; a cancel on one node removes the ticket everywhere;
// the matcher node killed with SIGKILL hands the lease on and matching goes on; a ticket of
// a node killed with SIGKILL is never matched meanwhile; a Redis
// restart gets every live ticket back; ticket records read from Redis are hostile input.
#include "../integration/helpers.hpp"
#include "core/room_host.hpp"
#include "presence/ticket_record.hpp"
#include "cluster_nodes.hpp"
#include "redis_server.hpp"

#include <signal.h>

#include <charconv>
#include <set>
#include <thread>

using namespace craft::testing;
namespace v1 = craft::v1;
namespace presence = craft::presence;
namespace client = craft::client;
using craft::MatchmakerConfig;

namespace {
using craft::testing::cluster::all_see;
using craft::testing::cluster::eventually;
using craft::testing::cluster::hlen;
using craft::testing::cluster::holder;
using craft::testing::cluster::quick_node;

v1::Envelope queue(Client& c, const std::string& mode, uint32_t count) {
  v1::Envelope e;
  auto* a = e.mutable_matchmaker_add();
  a->set_min_count(count);
  a->set_max_count(count);
  a->set_query("+mode:" + mode);
  (*a->mutable_string_properties())["mode"] = mode;
  return ask(c, e);
}

std::optional<v1::MatchFound> match_found(Client& c, std::chrono::milliseconds timeout = 8000ms) {
  auto e = c.wait_for([](const v1::Envelope& x) { return x.has_match_found(); }, timeout);
  if (!e) return std::nullopt;
  return e->match_found();
}

uint16_t port_of(const std::string& url) {  // ws://127.0.0.1:<port>/ws
  auto colon = url.rfind(':');
  uint16_t port = 0;
  if (colon != std::string::npos) std::from_chars(url.data() + colon + 1, url.data() + url.size(), port);
  return port;
}

std::unique_ptr<Client> hello_at(uint16_t port, const std::string& name) {
  client::Options o;
  o.port = port;
  auto c = std::make_unique<Client>(o);
  c->connect();
  c->hello(name);
  return c;
}

v1::Envelope join(Client& c, const std::string& room, const std::string& reservation) {
  v1::Envelope e;
  e.mutable_room_join()->set_room_id(room);
  e.mutable_room_join()->set_reservation(reservation);
  return ask(c, e);
}

}  // namespace

TEST(ClusterMatchmaking, AMatchFormsFromTicketsOnAllThreeNodesAndEveryoneJoinsOnTheRoomsNode) {
  NEED_REDIS();
  RedisServer redis;
  auto a = quick_node(redis, "a"), b = quick_node(redis, "b"), c = quick_node(redis, "c");
  std::vector<CraftdProcess*> nodes{a.get(), b.get(), c.get()};
  ASSERT_TRUE(eventually([&] { return all_see(nodes, 3); }));
  ASSERT_TRUE(eventually([&] { return holder(nodes) >= 0; })) << "nobody took the matcher lease";

  std::vector<std::unique_ptr<Client>> players;
  std::vector<std::string> tickets;
  for (size_t i = 0; i < nodes.size(); ++i) {
    players.push_back(hello(*nodes[i], "p" + std::to_string(i)));
    auto t = queue(*players.back(), "trio", 3);
    ASSERT_TRUE(t.has_matchmaker_ticket()) << t.DebugString();
    tickets.push_back(t.matchmaker_ticket().ticket());
  }
  std::vector<v1::MatchFound> found;
  for (auto& p : players) {
    auto f = match_found(*p);
    ASSERT_TRUE(f) << "no match_found";
    found.push_back(*f);
  }
  int h = holder(nodes);
  ASSERT_GE(h, 0);
  const std::string room_url = "ws://127.0.0.1:" + std::to_string(nodes[h]->http_port()) + "/ws";
  std::set<std::string> reservations;
  for (size_t i = 0; i < found.size(); ++i) {
    EXPECT_EQ(found[i].match_id(), found[0].match_id());
    EXPECT_EQ(found[i].room_id(), found[0].room_id());
    EXPECT_EQ(found[i].ticket(), tickets[i]);
    EXPECT_EQ(found[i].players_size(), 3);
    reservations.insert(found[i].reservation());
    // The room lives on the matcher's node: its own player is told nothing more, the others
    // the URL to go to.
    EXPECT_EQ(found[i].room_url(), static_cast<int>(i) == h ? "" : room_url) << "player " << i;
  }
  EXPECT_EQ(reservations.size(), 3u);
  EXPECT_EQ(nodes[h]->metric("craft_cluster_matcher_matches_total"), 1);
  EXPECT_EQ(nodes[h]->metric("craft_cluster_matcher_sent_total"), 2);
  EXPECT_EQ(hlen(redis), 0) << "matched tickets left the pool in Redis";

  // Everyone joins on the room's node; the remote players through a new connection there.
  std::vector<std::unique_ptr<Client>> there;
  for (size_t i = 0; i < found.size(); ++i) {
    Client* joiner = players[i].get();
    if (!found[i].room_url().empty()) {
      there.push_back(hello_at(port_of(found[i].room_url()), "p" + std::to_string(i)));
      joiner = there.back().get();
      // A made-up token is not a seat.
      auto wrong = join(*joiner, found[i].room_id(), found[i].reservation() + "0");
      EXPECT_EQ(wrong.error().code(), v1::RESERVATION_INVALID) << wrong.DebugString();
    }
    auto joined = join(*joiner, found[i].room_id(), found[i].reservation());
    ASSERT_TRUE(joined.has_room_joined()) << "player " << i << ": " << joined.DebugString();
  }
  // A token spends once: a second connection with a used bearer token is refused.
  for (size_t i = 0; i < found.size(); ++i) {
    if (found[i].room_url().empty()) continue;
    auto again = hello_at(port_of(found[i].room_url()), "thief");
    auto r = join(*again, found[i].room_id(), found[i].reservation());
    EXPECT_EQ(r.error().code(), v1::RESERVATION_INVALID) << r.DebugString();
    break;
  }
}

TEST(ClusterMatchmaking, ACancelOnOneNodeRemovesTheTicketEverywhere) {
  NEED_REDIS();
  RedisServer redis;
  auto a = quick_node(redis, "a"), b = quick_node(redis, "b"), c = quick_node(redis, "c");
  std::vector<CraftdProcess*> nodes{a.get(), b.get(), c.get()};
  ASSERT_TRUE(eventually([&] { return all_see(nodes, 3) && holder(nodes) >= 0; }));

  auto pb = hello(*b, "bo");
  auto t = queue(*pb, "duel", 2);
  ASSERT_TRUE(t.has_matchmaker_ticket());
  ASSERT_TRUE(eventually([&] { return hlen(redis) == 1; }));
  int h = holder(nodes);
  ASSERT_TRUE(eventually([&] { return nodes[h]->metric("craft_cluster_matcher_mirrored") == 1; }))
      << "the matcher sees b's ticket";

  v1::Envelope cancel;
  cancel.mutable_matchmaker_remove()->set_ticket(t.matchmaker_ticket().ticket());
  auto ended = ask(*pb, cancel);
  ASSERT_TRUE(ended.has_matchmaker_ticket_ended()) << ended.DebugString();
  EXPECT_EQ(ended.matchmaker_ticket_ended().reason(), "cancelled");
  EXPECT_TRUE(eventually([&] { return hlen(redis) == 0; })) << "gone from Redis";
  EXPECT_TRUE(eventually([&] { return nodes[h]->metric("craft_cluster_matcher_mirrored") == 0; }))
      << "gone from the matcher's pool";

  // A duel ticket on c finds nobody: b's cancelled ticket never matches.
  auto pc = hello(*c, "cy");
  ASSERT_TRUE(queue(*pc, "duel", 2).has_matchmaker_ticket());
  EXPECT_FALSE(match_found(*pc, 1500ms));
  EXPECT_FALSE(match_found(*pb, 100ms));

  // A session ending takes its tickets out of the pool on every node too.
  pc.reset();
  EXPECT_TRUE(eventually([&] { return hlen(redis) == 0; }));
}

TEST(ClusterMatchmaking, KillingTheMatcherNodeMovesTheLeaseAndMatchingGoesOn) {
  NEED_REDIS();
  RedisServer redis;
  auto a = quick_node(redis, "a"), b = quick_node(redis, "b"), c = quick_node(redis, "c");
  std::vector<CraftdProcess*> nodes{a.get(), b.get(), c.get()};
  ASSERT_TRUE(eventually([&] { return all_see(nodes, 3) && holder(nodes) >= 0; }));
  int h = holder(nodes);

  // A ticket on the node about to die: it leaves the pool with its node.
  auto doomed = hello(*nodes[h], "doomed");
  ASSERT_TRUE(queue(*doomed, "lonely", 2).has_matchmaker_ticket());
  ASSERT_TRUE(eventually([&] { return hlen(redis) == 1; }));

  kill(nodes[h]->pid(), SIGKILL);
  auto killed = std::chrono::steady_clock::now();
  nodes[h] = nullptr;
  std::vector<CraftdProcess*> alive;
  for (auto* p : nodes) {
    if (p) alive.push_back(p);
  }
  ASSERT_TRUE(eventually([&] { return holder(alive) >= 0; }, 10s)) << "nobody took the lease over";
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed);
  EXPECT_LT(took.count(), 3000) << "lease 1000 ms + interval 100 ms";
  std::printf("matcher lease taken over %lld ms after kill -9 of its holder\n", static_cast<long long>(took.count()));
  EXPECT_TRUE(eventually([&] { return hlen(redis) == 0; }, 5s)) << "the dead node's ticket left the pool";

  auto p0 = hello(*alive[0], "x");
  auto p1 = hello(*alive[1], "y");
  ASSERT_TRUE(queue(*p0, "duel", 2).has_matchmaker_ticket());
  ASSERT_TRUE(queue(*p1, "duel", 2).has_matchmaker_ticket());
  auto f0 = match_found(*p0), f1 = match_found(*p1);
  ASSERT_TRUE(f0 && f1);
  EXPECT_EQ(f0->room_id(), f1->room_id());
  EXPECT_NE(f0->room_url().empty(), f1->room_url().empty()) << "exactly one of them is on the room's node";
}

// A node killed with SIGKILL keeps its key, and so its tickets in the pool, until the key
// expires, while Redis drops its connections at once. A live player queued in that window must
// not be matched with the dead node's ticket (the match_found for it would go to nobody, and the
// live player would wait in a room for a player who cannot come): the claim checks that the
// ticket's node is subscribed. Once the node is seen dead its ticket is gone.
TEST(ClusterMatchmaking, ATicketOfANodeKilledWithSigkillIsNeverMatchedWithALivePlayer) {
  NEED_REDIS();
  RedisServer redis;
  // The default death time (node_ttl_ms 3000 + heartbeat_ms 1000): a window of 2-4 s.
  auto start = [&](const std::string& id) {
    return std::make_unique<CraftdProcess>(std::vector<std::string>{
        "--cluster.redis-url", redis.url(), "--cluster.node-id", id, "--store.backend", "none",
        "--cluster.heartbeat-ms", "1000", "--cluster.node-ttl-ms", "3000", "--matchmaker.interval-ms", "100",
        "--cluster.matcher-lease-ms", "1000"});
  };
  auto a = start("a");  // first: the matcher, so the lease does not move with b
  ASSERT_TRUE(eventually([&] { return holder({a.get()}) == 0; }));
  auto b = start("b"), c = start("c");
  ASSERT_TRUE(eventually([&] { return all_see({a.get(), b.get(), c.get()}, 3); }));

  auto doomed = hello(*b, "doomed");
  ASSERT_TRUE(queue(*doomed, "ghost", 2).has_matchmaker_ticket());
  ASSERT_TRUE(eventually([&] { return hlen(redis) == 1; }));
  kill(b->pid(), SIGKILL);
  auto live = hello(*a, "live");
  ASSERT_TRUE(queue(*live, "ghost", 2).has_matchmaker_ticket());
  // b's ticket is still in Redis (b is not seen dead yet), and the matcher tries it every 1 s.
  EXPECT_FALSE(match_found(*live, 2000ms)) << "matched with the ticket of a node killed with SIGKILL";
  EXPECT_GE(a->metric("craft_cluster_matcher_unreachable_total"), 1);
  EXPECT_TRUE(eventually([&] { return hlen(redis) == 1; }, 5s)) << "b's ticket left the pool when b was seen dead";

  auto partner = hello(*c, "partner");
  ASSERT_TRUE(queue(*partner, "ghost", 2).has_matchmaker_ticket());
  auto f0 = match_found(*live), f1 = match_found(*partner);
  ASSERT_TRUE(f0 && f1);
  EXPECT_EQ(f0->room_id(), f1->room_id());
}

TEST(ClusterMatchmaking, ARedisRestartGetsEveryLiveTicketBackAndBadRecordsAreSkipped) {
  NEED_REDIS();
  RedisServer redis;
  auto a = quick_node(redis, "a"), b = quick_node(redis, "b");
  std::vector<CraftdProcess*> nodes{a.get(), b.get()};
  ASSERT_TRUE(eventually([&] { return all_see(nodes, 2) && holder(nodes) >= 0; }));
  auto pa = hello(*a, "ann");
  ASSERT_TRUE(queue(*pa, "duel", 2).has_matchmaker_ticket());
  ASSERT_TRUE(eventually([&] { return hlen(redis) == 1; }));

  redis.kill9();
  std::this_thread::sleep_for(300ms);
  redis.start();
  EXPECT_TRUE(eventually([&] { return hlen(redis) == 1; }, 10s)) << "a re-added its live ticket";
  ASSERT_TRUE(eventually([&] { return holder(nodes) >= 0; }, 10s));

  // Hostile records straight into Redis: too long, and garbage. Skipped and counted by
  // whichever node holds the lease (it may move once more while the restart settles).
  auto bad = [&] {
    long n = 0;
    for (auto* p : nodes) n += p->metric("craft_cluster_matcher_bad_records_total");
    return n;
  };
  long bad_before = bad();
  redis.command({"HSET", "craft:tickets", "0badc0de", std::string(300'000, 'x')});
  redis.command({"HSET", "craft:tickets", "0badc0df", "1\tz\t0badc0df\t1\t\t2\t2\t1\t0\t99999\nq"});
  redis.command({"INCR", "craft:tickets:version"});
  EXPECT_TRUE(eventually([&] { return bad() >= bad_before + 2; }));

  // ... and matching still works, across the two nodes.
  auto pb = hello(*b, "bob");
  ASSERT_TRUE(queue(*pb, "duel", 2).has_matchmaker_ticket());
  auto fa = match_found(*pa), fb = match_found(*pb);
  ASSERT_TRUE(fa && fb);
  EXPECT_EQ(fa->room_id(), fb->room_id());
}

TEST(ClusterTicketRecord, RoundTripsAndRefusesWhatIsNotOne) {
  MatchmakerConfig config;
  presence::Ticket t;
  t.id = "0123456789abcdef0123456789abcdef";
  t.node = "node-a";
  t.owner = 42;
  t.party_id = "";
  t.query = "+mode:duel\tskill:>=10";  // a tab inside the query: the length prefix carries it
  t.min_count = 2;
  t.max_count = 4;
  t.count_multiple = 2;
  v1::MatchedPlayer p;
  p.mutable_presence()->set_session_id(42);
  p.mutable_presence()->set_name("ann");
  (*p.mutable_string_properties())["mode"] = "duel";
  (*p.mutable_numeric_properties())["skill"] = 12;
  t.players.push_back(p);
  auto text = presence::encode_ticket_record(t, 1'700'000'000'000);
  auto back = presence::decode_ticket_record(text, config, 262'144);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->ticket.id, t.id);
  EXPECT_EQ(back->ticket.node, "node-a");
  EXPECT_EQ(back->ticket.owner, 42u);
  EXPECT_EQ(back->ticket.query, t.query);
  EXPECT_EQ(back->ticket.max_count, 4u);
  EXPECT_EQ(back->created_wall_ms, 1'700'000'000'000);
  ASSERT_EQ(back->ticket.players.size(), 1u);
  EXPECT_EQ(back->ticket.players[0].presence().name(), "ann");

  EXPECT_FALSE(presence::decode_ticket_record(text, config, static_cast<uint32_t>(text.size() - 1))) << "over the limit";
  for (size_t cut = 0; cut < text.size(); ++cut) {
    EXPECT_FALSE(presence::decode_ticket_record(std::string_view(text).substr(0, cut), config, 262'144)) << cut;
  }
  auto with = [&](size_t field, const std::string& value) {
    std::string s = text;
    size_t at = 0;
    for (size_t i = 0; i < field; ++i) at = s.find('\t', at) + 1;
    size_t end = s.find_first_of("\t\n", at);
    return s.replace(at, end - at, value);
  };
  EXPECT_FALSE(presence::decode_ticket_record(with(0, "2"), config, 262'144)) << "unknown version";
  EXPECT_FALSE(presence::decode_ticket_record(with(1, "bad node"), config, 262'144));
  EXPECT_FALSE(presence::decode_ticket_record(with(2, "XYZ"), config, 262'144)) << "ticket id not hex";
  EXPECT_FALSE(presence::decode_ticket_record(with(3, "-1"), config, 262'144));
  EXPECT_FALSE(presence::decode_ticket_record(with(5, "0"), config, 262'144)) << "min_count 0";
  EXPECT_FALSE(presence::decode_ticket_record(with(6, "1000"), config, 262'144)) << "above matchmaker.max_count";
  EXPECT_FALSE(presence::decode_ticket_record(with(7, "9"), config, 262'144)) << "multiple above max";
  EXPECT_FALSE(presence::decode_ticket_record(with(9, "999999"), config, 262'144)) << "query longer than the rest";
  EXPECT_FALSE(presence::decode_ticket_record("1\tx\n", config, 262'144));

  // A party ticket whose members are on other nodes than the ticket's: one entry per player.
  presence::Ticket party = t;
  party.party_id = "00112233445566778899aabbccddeeff@node-a";  // a cluster's party id names its home
  party.players.push_back(p);
  party.players.push_back(p);
  party.player_nodes = {"", "node-b", "node-a"};
  auto party_text = presence::encode_ticket_record(party, 1);
  EXPECT_NE(party_text.find("\t,node-b,\n"), std::string::npos) << "the ticket's own node is written empty";
  auto party_back = presence::decode_ticket_record(party_text, config, 262'144);
  ASSERT_TRUE(party_back);
  ASSERT_EQ(party_back->ticket.player_nodes.size(), 3u);
  EXPECT_EQ(presence::player_node(party_back->ticket, 0), "node-a");
  EXPECT_EQ(presence::player_node(party_back->ticket, 1), "node-b");
  EXPECT_EQ(presence::player_node(party_back->ticket, 2), "node-a");
  EXPECT_TRUE(presence::decode_ticket_record(text, config, 262'144)->ticket.player_nodes.empty())
      << "no entry when every player is on the ticket's node";
  auto nodes_field = [&](const std::string& list) {
    auto s = party_text;
    auto at = s.find("\t,node-b,\n") + 1;
    return s.replace(at, std::string(",node-b,").size(), list);
  };
  EXPECT_TRUE(presence::decode_ticket_record(nodes_field(",node-b,"), config, 262'144));
  EXPECT_FALSE(presence::decode_ticket_record(nodes_field(",node-b"), config, 262'144)) << "fewer entries than players";
  EXPECT_FALSE(presence::decode_ticket_record(nodes_field(",node-b,,"), config, 262'144)) << "more entries than players";
  EXPECT_FALSE(presence::decode_ticket_record(nodes_field(",bad node,"), config, 262'144)) << "not a node id";
  EXPECT_FALSE(presence::decode_ticket_record(nodes_field(",node-b,\tx"), config, 262'144)) << "a 12th field";
  EXPECT_EQ(party_back->ticket.party_id, party.party_id);
  EXPECT_TRUE(presence::valid_party_id("00ff"));
  EXPECT_FALSE(presence::valid_party_id("00ff@"));
  EXPECT_FALSE(presence::valid_party_id("@a"));
  EXPECT_FALSE(presence::valid_party_id("00ff@a@b"));
  EXPECT_FALSE(presence::valid_party_id("00FF@a"));
  EXPECT_FALSE(presence::decode_ticket_record(std::string(500, '\t'), config, 262'144));

  v1::Envelope e;
  e.mutable_match_found()->set_room_id("r");
  auto d = presence::decode_match_delivery(presence::encode_match_delivery(t.id, 7, e));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->player, 7u);
  EXPECT_EQ(d->envelope.match_found().room_id(), "r");
  v1::Envelope other;
  other.mutable_room_data()->set_op(1);
  EXPECT_FALSE(presence::decode_match_delivery(presence::encode_match_delivery(t.id, 7, other)))
      << "only match_found and matchmaker_ticket_ended cross nodes this way";
  EXPECT_FALSE(presence::decode_match_delivery("1\tzz\t7\n"));
}

TEST(ClusterSeatReservation, ASeatIsTheSessionsHereTheAccountsFromAnotherNodeElseTheTokensAlone) {
  using Holder = craft::detail::RoomHost::SeatHolder;
  craft::Client ann(7, "ann", "acc-1"), ann_elsewhere(9, "ann", "acc-1"), bob(7, "bob", "acc-2"), anon(11, "x");
  // A player of this node: its session, whatever account.
  EXPECT_TRUE(craft::detail::RoomHost::seat_fits(Holder{7, {}}, ann));
  EXPECT_TRUE(craft::detail::RoomHost::seat_fits(Holder{7, {}}, bob));
  EXPECT_FALSE(craft::detail::RoomHost::seat_fits(Holder{7, {}}, ann_elsewhere));
  // A logged-in player of another node: any session of its account here.
  EXPECT_TRUE(craft::detail::RoomHost::seat_fits(Holder{0, "acc-1"}, ann_elsewhere));
  EXPECT_FALSE(craft::detail::RoomHost::seat_fits(Holder{0, "acc-1"}, bob));
  EXPECT_FALSE(craft::detail::RoomHost::seat_fits(Holder{0, "acc-1"}, anon));
  // An anonymous player of another node: the token is the seat.
  EXPECT_TRUE(craft::detail::RoomHost::seat_fits(Holder{0, {}}, anon));
  EXPECT_TRUE(craft::detail::RoomHost::seat_fits(Holder{0, {}}, bob));
}

// A draining node refuses every room_join, a match's reserved ones too: as the matcher it
// would make match rooms nobody can enter. It gives the lease up; another node matches on.
TEST(ClusterMatchmaking, ADrainingMatcherGivesTheLeaseUpAndMatchesAreMadeElsewhere) {
  NEED_REDIS();
  RedisServer redis;
  auto a = quick_node(redis, "a", {"--drain", "--server.drain-timeout-ms", "30000", "--rooms.empty-dispose-ms", "200"});
  ASSERT_TRUE(eventually([&] { return holder({a.get()}) == 0; })) << "a alone did not take the lease";
  auto b = quick_node(redis, "b");
  std::vector<CraftdProcess*> nodes{a.get(), b.get()};
  ASSERT_TRUE(eventually([&] { return all_see(nodes, 2); }));
  ASSERT_EQ(holder(nodes), 0);
  auto owner = hello(*a, "owner");  // a running room keeps the draining node up
  auto room = owner->create("relay");
  ASSERT_EQ(kill(a->pid(), SIGTERM), 0);
  ASSERT_TRUE(eventually([&] { return a->metric("craft_draining") == 1; }));
  EXPECT_TRUE(eventually([&] { return holder(nodes) == 1; }, 5s)) << "the draining node kept the matcher lease";
  EXPECT_EQ(a->metric("craft_cluster_matcher_holder"), 0);

  auto x = hello(*b, "x"), y = hello(*b, "y");
  ASSERT_TRUE(queue(*x, "duel", 2).has_matchmaker_ticket());
  ASSERT_TRUE(queue(*y, "duel", 2).has_matchmaker_ticket());
  auto fx = match_found(*x), fy = match_found(*y);
  ASSERT_TRUE(fx && fy);
  EXPECT_EQ(fx->room_url(), "") << "the match room is on b, the players' own node";
  EXPECT_TRUE(join(*x, fx->room_id(), fx->reservation()).has_room_joined());
  EXPECT_TRUE(join(*y, fy->room_id(), fy->reservation()).has_room_joined());
  owner->leave(room.room_id());
}
