// Issue 14, what spans players spans nodes: a ban or logout made through one node closes the
// account's sockets on every node, a party's members on different nodes see one party, and
// a node drains on SIGTERM (--drain). Real parts only: a real redis-server, a real PostgreSQL
// (accounts are shared), real craftd processes, the C++ client over WebSocket.
#include "../integration/craftd_process.hpp"
#include "../store/pg_server.hpp"
#include "cluster/node_record.hpp"
#include "redis_server.hpp"

#include <craft/client.hpp>
#include <craft/close_codes.hpp>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <memory>
#include <thread>

using craft::test::PgServer;
using craft::testing::CraftdProcess;
using craft::testing::http_request;
using craft::testing::RedisServer;
using namespace std::chrono_literals;
namespace client = craft::client;
namespace v1 = craft::v1;

namespace {

constexpr const char* token_key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#define NEED_REDIS()                                                                        \
  if (!RedisServer::installed()) GTEST_SKIP() << "redis-server is not installed (scripts/setup)"

std::vector<std::string> cluster_flags(const RedisServer& redis, const std::string& id) {
  // A short heartbeat: a node that leaves or dies is noticed within ~1 s.
  return {"--cluster.redis-url", redis.url(), "--cluster.node-id", id, "--cluster.heartbeat-ms", "200",
          "--cluster.node-ttl-ms", "800", "--store.backend", "none"};
}

// The exit code of a craftd that exits by itself within `timeout`, else nullopt (it is not
// signalled meanwhile: WNOWAIT leaves it for stop() to reap).
std::optional<int> exit_code(CraftdProcess& p, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    siginfo_t info{};
    if (waitid(P_PID, static_cast<id_t>(p.pid()), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == p.pid()) {
      return p.stop(1000);
    }
    std::this_thread::sleep_for(20ms);
  }
  return std::nullopt;
}

// Waits until `node` lists `count` nodes at /cluster/nodes.
bool until_nodes(const CraftdProcess& node, size_t count) {
  for (int i = 0; i < 100; ++i) {
    auto body = node.http_get("/cluster/nodes");
    size_t n = 0;
    for (auto at = body.find("{\"id\":"); at != std::string::npos; at = body.find("{\"id\":", at + 1)) ++n;
    if (n == count) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

std::unique_ptr<client::Client> connect(const CraftdProcess& node) {
  client::Options o;
  o.port = node.http_port();
  auto c = std::make_unique<client::Client>(o);
  c->connect();
  return c;
}

std::string field(const std::string& json, const std::string& name) {
  auto key = "\"" + name + "\":\"";
  auto at = json.find(key);
  if (at == std::string::npos) return {};
  at += key.size();
  return json.substr(at, json.find('"', at) - at);
}

std::string post(const CraftdProcess& node, const std::string& path, const std::string& body,
                 const std::string& bearer = "") {
  return http_request(node.http_port(), "POST", path, body,
                      bearer.empty() ? "" : "Authorization: Bearer " + bearer + "\r\n");
}

// Three nodes on one Redis and one PostgreSQL database.
struct AccountCluster {
  RedisServer redis;
  std::unique_ptr<PgServer> pg;
  std::vector<std::unique_ptr<CraftdProcess>> nodes;
  std::string why;

  bool start() {
    pg = PgServer::start(&why);
    if (!pg) return false;
    if (auto e = pg->create_database("cbus"); !e.empty()) {
      why = e;
      return false;
    }
    for (auto id : {"a", "b", "c"}) {
      auto flags = cluster_flags(redis, id);
      for (auto f : {"--store.backend", "postgres", "--auth.admin-key", "admin", "--auth.password-cost", "minimum"})
        flags.push_back(f);
      flags.push_back("--store.postgres-url");
      flags.push_back(pg->url("cbus"));
      flags.push_back("--auth.token-key");
      flags.push_back(token_key);
      nodes.push_back(std::make_unique<CraftdProcess>(flags));
    }
    return until_nodes(*nodes[0], 3) && until_nodes(*nodes[1], 3) && until_nodes(*nodes[2], 3);
  }
};

#define START_ACCOUNT_CLUSTER(c)                                    \
  NEED_REDIS();                                                     \
  if (PgServer::bin_dir().empty()) {                                \
    if (PgServer::required()) FAIL() << PgServer::missing_message(); \
    GTEST_SKIP() << PgServer::missing_message();                    \
  }                                                                 \
  AccountCluster c;                                                 \
  ASSERT_TRUE(c.start()) << c.why

}  // namespace

TEST(ClusterSocial, ABanThroughNodeAClosesTheAccountsSocketOnNodeB) {
  START_ACCOUNT_CLUSTER(cl);
  auto& a = *cl.nodes[0];
  auto& b = *cl.nodes[1];
  auto& c = *cl.nodes[2];
  auto ann = post(a, "/v1/auth/device", R"({"deviceId":"cbus-ban-ann","create":true})");
  auto bob = post(a, "/v1/auth/device", R"({"deviceId":"cbus-ban-bob","create":true})");
  ASSERT_FALSE(field(ann, "token").empty()) << ann;
  // Ann on B and on C; Bob on B, to see nobody else is touched.
  auto ann_b = connect(b), ann_c = connect(c), bob_b = connect(b);
  ann_b->hello("", field(ann, "token"));
  ann_c->hello("", field(ann, "token"));
  bob_b->hello("", field(bob, "token"));
  auto room = ann_b->join_or_create("relay");
  bob_b->join(room.room_id());

  auto start = std::chrono::steady_clock::now();
  auto banned = post(a, "/v1/admin/ban", R"({"accountId":")" + field(ann, "accountId") + R"(","banned":true})", "admin");
  ASSERT_NE(banned.find("200 OK"), std::string::npos) << banned;
  for (auto* s : {ann_b.get(), ann_c.get()}) {
    auto error = s->wait_for([](const v1::Envelope& e) { return e.has_error(); }, 3s);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->error().code(), v1::ACCOUNT_BANNED);
    EXPECT_EQ(s->wait_closed(3s), craft::close_code::auth_failed);
  }
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  EXPECT_LT(took, 2s) << "the ban reached the other nodes' sockets after " << took.count() << " ms";
  std::printf("ban through A closed the sockets on B and C in %lld ms\n", static_cast<long long>(took.count()));
  auto left = bob_b->wait_for([](const v1::Envelope& e) { return e.has_presence() && e.presence().leaves_size() > 0; }, 3s);
  ASSERT_TRUE(left);
  bob_b->ping();  // Bob is still connected
  EXPECT_GE(b.metric("craft_cluster_revocations_received_total"), 1);
  EXPECT_GE(a.metric("craft_cluster_revocations_sent_total"), 1);
}

TEST(ClusterSocial, ALogoutOnNodeAClosesTheTokensSocketsOnNodesBAndC) {
  START_ACCOUNT_CLUSTER(cl);
  auto& a = *cl.nodes[0];
  auto& b = *cl.nodes[1];
  auto& c = *cl.nodes[2];
  auto first = post(a, "/v1/auth/device", R"({"deviceId":"cbus-logout","create":true})");
  auto second = post(c, "/v1/auth/device", R"({"deviceId":"cbus-logout","create":false})");
  auto token = field(first, "token"), other = field(second, "token");
  ASSERT_FALSE(token.empty()) << first;
  ASSERT_FALSE(other.empty()) << second;
  ASSERT_NE(token, other);
  auto on_b = connect(b), on_c = connect(c), other_on_b = connect(b);
  on_b->hello("", token);
  on_c->hello("", token);
  other_on_b->hello("", other);

  // Through the socket API on node A this time.
  auto on_a = connect(a);
  on_a->hello("", token);
  v1::Envelope logout;
  logout.mutable_api_request()->mutable_auth_logout();
  auto reply = on_a->request(logout);
  ASSERT_TRUE(reply.has_api_response()) << reply.DebugString();
  for (auto* s : {on_a.get(), on_b.get(), on_c.get()}) {
    auto error = s->wait_for([](const v1::Envelope& e) { return e.has_error(); }, 3s);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->error().code(), v1::TOKEN_REVOKED);
    EXPECT_EQ(s->wait_closed(3s), craft::close_code::auth_failed);
  }
  // The same account's other token is not logged out.
  other_on_b->ping();
  EXPECT_FALSE(other_on_b->is_closed());
}

TEST(ClusterSocial, ABusPayloadThatIsNotOneIsRefused) {
  NEED_REDIS();
  RedisServer redis;
  CraftdProcess a(cluster_flags(redis, "a"));
  ASSERT_TRUE(until_nodes(a, 1));
  std::this_thread::sleep_for(300ms);  // its bus subscriptions connect alongside the registration
  // Published straight into Redis, as a node with bad data (or anyone with Redis access) would.
  // Well-formed bus messages (cluster/bus_message.hpp) from a node "x" whose payloads are not.
  for (auto [kind, bad] : std::vector<std::pair<std::string, std::string>>{
           {"user.ban", "2\tid"}, {"user.ban", "1\t"}, {"user.ban", "1\tsp ace"}, {"user.logout", "nope"},
           {"party.req", "1\t999\tab"}, {"party.req", "1\tz\t"}, {"party.deliver", "1\t-1\t"},
           {"party.ended", "1\t1e3"}}) {
    redis.command({"PUBLISH", "craft:all", "1\tm\t" + kind + "\tx\t0\t" + bad});
  }
  for (int i = 0; i < 40 && a.metric("craft_cluster_party_messages_refused_total") < 4; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(a.metric("craft_cluster_revocations_refused_total"), 4);
  EXPECT_EQ(a.metric("craft_cluster_party_messages_refused_total"), 4);
  EXPECT_TRUE(a.running());
}

TEST(ClusterSocial, APartyOfTwoPlayersOnTwoNodes) {
  NEED_REDIS();
  RedisServer redis;
  CraftdProcess a(cluster_flags(redis, "a")), b(cluster_flags(redis, "b"));
  ASSERT_TRUE(until_nodes(a, 2) && until_nodes(b, 2));
  auto ann = connect(a), bob = connect(b), cat = connect(b);
  auto ann_id = ann->hello("ann").session_id();
  auto bob_id = bob->hello("bob").session_id();
  auto cat_id = cat->hello("cat").session_id();
  EXPECT_NE(ann_id, bob_id) << "session ids collide across nodes";
  EXPECT_NE(ann_id >> 32, bob_id >> 32) << "each node counts from its own prefix";
  EXPECT_LT(bob_id, uint64_t{1} << 53);

  // A closed party on A; Bob (on B) asks, Ann accepts: both see one party of two.
  auto created = ann->party_create(false, 2);
  auto party = created.party_id();
  EXPECT_NE(party.find("@a"), std::string::npos) << party;
  auto asked = bob->party_join(party);
  ASSERT_TRUE(asked) << "no answer to a join from another node";
  EXPECT_EQ(asked->requests_size(), 1);
  EXPECT_EQ(asked->members_size(), 1);
  auto seen = ann->wait_for([](const v1::Envelope& e) { return e.has_party_state() && e.party_state().requests_size() == 1; }, 3s);
  ASSERT_TRUE(seen);
  auto accepted = ann->party_accept(party, bob_id);
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->members_size(), 2);
  auto state = bob->wait_for([](const v1::Envelope& e) { return e.has_party_state() && e.party_state().members_size() == 2; }, 3s);
  ASSERT_TRUE(state) << "party_state did not reach the member on node B";
  EXPECT_EQ(state->party_state().leader(), ann_id);

  // One party per session, across nodes: Bob cannot make another on his own node.
  try {
    bob->party_create();
    ADD_FAILURE() << "a member of a party on A created a second party on B";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code, v1::LIMIT_REACHED);
  }
  // Full (max_size 2): Cat, on B, may ask, but the leader cannot take her (the home's rule).
  auto cat_asked = cat->party_join(party);
  ASSERT_TRUE(cat_asked);
  EXPECT_EQ(cat_asked->requests_size(), 1);
  try {
    ann->party_accept(party, cat_id);
    ADD_FAILURE() << "a full party took a third member";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code, v1::PARTY_FULL);
  }
  ann->party_kick(party, cat_id);  // refuses Cat's request
  auto refused = cat->wait_for([](const v1::Envelope& e) { return e.has_party_left(); }, 3s);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->party_left().reason(), "kicked");

  // party_data both ways.
  ann->party_send(party, 5, "from a");
  auto at_b = bob->wait_for([](const v1::Envelope& e) { return e.has_party_data(); }, 3s);
  ASSERT_TRUE(at_b);
  EXPECT_EQ(at_b->party_data().data(), "from a");
  EXPECT_EQ(at_b->party_data().sender(), ann_id);
  bob->party_send(party, 6, "from b");
  auto at_a = ann->wait_for([](const v1::Envelope& e) { return e.has_party_data(); }, 3s);
  ASSERT_TRUE(at_a);
  EXPECT_EQ(at_a->party_data().data(), "from b");
  EXPECT_EQ(at_a->party_data().sender(), bob_id);

  // The leader on A promotes Bob (on B), who then kicks Ann: the rules run at the home.
  auto promoted = ann->party_promote(party, bob_id);
  ASSERT_TRUE(promoted);
  EXPECT_EQ(promoted->leader(), bob_id);
  auto kicked = bob->party_kick(party, ann_id);
  ASSERT_TRUE(kicked);
  EXPECT_EQ(kicked->members_size(), 1);
  auto ann_left = ann->wait_for([](const v1::Envelope& e) { return e.has_party_left(); }, 3s);
  ASSERT_TRUE(ann_left);
  EXPECT_EQ(ann_left->party_left().reason(), "kicked");

  // An invitation from B's member to Ann on A, then Ann joins; then Bob leaves.
  auto invited = bob->party_invite(party, ann_id);
  ASSERT_TRUE(invited);
  auto invite = ann->wait_for([](const v1::Envelope& e) { return e.has_party_invite(); }, 3s);
  ASSERT_TRUE(invite) << "the invitation did not reach node A";
  EXPECT_EQ(invite->party_invite().from().session_id(), bob_id);
  auto rejoined = ann->party_join(party);
  ASSERT_TRUE(rejoined);
  EXPECT_EQ(rejoined->members_size(), 2);
  bob->party_leave(party);
  auto alone = ann->wait_for([](const v1::Envelope& e) { return e.has_party_state() && e.party_state().members_size() == 1; }, 3s);
  ASSERT_TRUE(alone);
  EXPECT_EQ(alone->party_state().leader(), ann_id);  // the oldest member left leads

  // A member's session ending on B takes it out of the party on A.
  ASSERT_TRUE(bob->party_join(party));
  auto back = ann->party_accept(party, bob_id);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->members_size(), 2);
  ASSERT_TRUE(bob->wait_for([](const v1::Envelope& e) { return e.has_party_state() && e.party_state().members_size() == 2; }, 3s));
  bob->close();
  auto after = ann->wait_for([](const v1::Envelope& e) { return e.has_party_state() && e.party_state().members_size() == 1; }, 3s);
  ASSERT_TRUE(after) << "the member's end on B did not reach the party's home";
  EXPECT_GE(a.metric("craft_cluster_party_messages_received_total"), 6);
}

TEST(ClusterSocial, WhenThePartysHomeDiesItsMembersElsewhereAreTold) {
  NEED_REDIS();
  RedisServer redis;
  auto a = std::make_unique<CraftdProcess>(cluster_flags(redis, "a"));
  CraftdProcess b(cluster_flags(redis, "b"));
  ASSERT_TRUE(until_nodes(*a, 2) && until_nodes(b, 2));
  auto ann = connect(*a), bob = connect(b);
  ann->hello("ann");
  bob->hello("bob");
  auto party = ann->party_create(true).party_id();
  ASSERT_TRUE(bob->party_join(party));
  kill(a->pid(), SIGKILL);
  auto lost = bob->wait_for([](const v1::Envelope& e) { return e.has_party_left(); }, 5s);
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->party_left().reason(), "node lost");
  // Free again: Bob makes a party on his own node.
  EXPECT_NE(bob->party_create().party_id().find("@b"), std::string::npos);
}

TEST(ClusterDrain, ADrainingNodesRecordSaysSoAndOnlyThatSeventhFieldIsRead) {
  craft::cluster::NodeRecord r{"a", "ws://127.0.0.1:1/ws", 1, 2, 3};
  r.draining = true;
  auto text = craft::cluster::encode_node_record(r);
  EXPECT_EQ(text, "1\ta\tws://127.0.0.1:1/ws\t1\t2\t3\tdraining");
  auto back = craft::cluster::decode_node_record(text);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->draining);
  r.draining = false;
  back = craft::cluster::decode_node_record(craft::cluster::encode_node_record(r));
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->draining);
  for (auto bad : {"1\ta\tws://x\t1\t2\t3\tyes", "1\ta\tws://x\t1\t2\t3\tdraining\t", "1\ta\tws://x\t1\t2\t3\t"}) {
    EXPECT_FALSE(craft::cluster::decode_node_record(bad)) << bad;
  }
}

// A drained node: rooms running keep running, new rooms and joins are refused, and it exits
// once they are gone.
TEST(ClusterDrain, SigtermDrainsRefusesNewJoinsAndExitsWhenTheRoomsAreGone) {
  NEED_REDIS();
  RedisServer redis;
  auto flags = cluster_flags(redis, "a");
  for (auto f : {"--drain", "--rooms.empty-dispose-ms", "200", "--server.drain-timeout-ms", "30000"}) flags.push_back(f);
  CraftdProcess a(flags);
  CraftdProcess b(cluster_flags(redis, "b"));
  ASSERT_TRUE(until_nodes(b, 2));
  auto ann = connect(a), bob = connect(a);
  ann->hello("ann");
  bob->hello("bob");
  auto room = ann->create("relay");
  ASSERT_EQ(kill(a.pid(), SIGTERM), 0);
  // Listed as draining to the other nodes.
  bool draining = false;
  for (int i = 0; i < 60 && !draining; ++i) {
    draining = b.http_get("/cluster/nodes").find("\"draining\":true") != std::string::npos;
    if (!draining) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(draining);
  EXPECT_EQ(a.metric("craft_draining"), 1);
  // New joins and rooms: refused.
  for (int i = 0; i < 3; ++i) {
    try {
      if (i == 0) bob->join(room.room_id());
      if (i == 1) bob->create("relay");
      if (i == 2) bob->join_or_create("relay");
      ADD_FAILURE() << "a draining node took a join (" << i << ")";
    } catch (const client::Error& e) {
      EXPECT_EQ(e.code, v1::SERVER_SHUTTING_DOWN);
    }
  }
  // The running room carries on.
  auto carl = connect(a);  // connections are still taken (players come back with resume)
  carl->hello("carl");
  ann->send(room.room_id(), 1, "still here");
  ann->ping();
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(a.running());
  // The last player leaves: the room goes (rooms.empty_dispose_ms), the node exits, and the
  // clients left are told to reconnect elsewhere.
  ann->leave(room.room_id());
  EXPECT_EQ(bob->wait_closed(10s), craft::close_code::service_restart);
  EXPECT_EQ(exit_code(a, 5s), 0);
}

TEST(ClusterDrain, AtTheDeadlineTheRoomsPlayersAreToldToReconnect) {
  CraftdProcess a({"--server.drain-on-sigterm", "true", "--server.drain-timeout-ms", "1500", "--store.backend", "none"});
  auto ann = connect(a);
  ann->hello("ann");
  ann->create("relay");
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(a.pid(), SIGTERM), 0);
  EXPECT_EQ(ann->wait_closed(10s), craft::close_code::service_restart);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 1400ms);
  EXPECT_LT(took, 5s);
  EXPECT_EQ(exit_code(a, 5s), 0);
}
