// Issue 14's foundation with real parts: a real redis-server on a free loopback port and real
// craftd processes with cluster.redis_url set. Nodes register and see each other, a node
// killed with SIGKILL is dropped by the others within 5 s, a Redis restart is survived
// (reconnect + register again), and with clustering off craftd never talks to Redis.
#include "../integration/craftd_process.hpp"
#include "cluster/node_record.hpp"
#include "cluster/redis_url.hpp"
#include "redis_server.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

using craft::testing::CraftdProcess;
using craft::testing::RedisServer;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<CraftdProcess> node(const RedisServer& redis, const std::string& id) {
  return std::make_unique<CraftdProcess>(std::vector<std::string>{
      "--cluster.redis-url", redis.url(), "--cluster.node-id", id, "--store.backend", "none"});
}

// The ids a node lists at GET /cluster/nodes, in order ("" entries never appear).
std::vector<std::string> listed(const CraftdProcess& p) {
  auto body = p.http_get("/cluster/nodes");
  std::vector<std::string> ids;
  for (size_t at = body.find("{\"id\":\""); at != std::string::npos; at = body.find("{\"id\":\"", at + 1)) {
    auto start = at + 7;
    ids.push_back(body.substr(start, body.find('"', start) - start));
  }
  return ids;
}

// Waits until every node in `nodes` lists exactly `ids`; the time it took, or nullopt at `limit`.
std::optional<std::chrono::milliseconds> until_listed(const std::vector<const CraftdProcess*>& nodes,
                                                      const std::vector<std::string>& ids,
                                                      std::chrono::milliseconds limit) {
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < limit) {
    bool all = std::all_of(nodes.begin(), nodes.end(), [&](const CraftdProcess* p) { return listed(*p) == ids; });
    if (all) return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    std::this_thread::sleep_for(50ms);
  }
  return std::nullopt;
}

#define NEED_REDIS()                                                                        \
  if (!RedisServer::installed()) GTEST_SKIP() << "redis-server is not installed (scripts/setup)"

}  // namespace

TEST(ClusterUrl, ParsesWhatRedisUrlsSayAndRefusesTheRest) {
  std::string why;
  auto a = craft::cluster::parse_redis_url("redis://:s3cret@10.0.0.5:6380/2", why);
  ASSERT_TRUE(a) << why;
  EXPECT_EQ(a->host, "10.0.0.5");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->password, "s3cret");
  EXPECT_EQ(a->database, 2u);
  auto v6 = craft::cluster::parse_redis_url("redis://[::1]", why);
  ASSERT_TRUE(v6) << why;
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 6379);
  for (auto bad : {"http://x", "redis://", "redis://h:0", "redis://h:70000", "redis://h:x", "redis://h/x",
                   "redis://user:pw@h", "redis://[::1"}) {
    EXPECT_FALSE(craft::cluster::parse_redis_url(bad, why)) << bad;
  }
}

TEST(ClusterNodeRecord, RoundTripsAndRefusesWhatIsNotOne) {
  craft::cluster::NodeRecord r{"node-a", "ws://127.0.0.1:7777/ws", 1764570000000, 12, 3400};
  auto text = craft::cluster::encode_node_record(r);
  auto back = craft::cluster::decode_node_record(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, "node-a");
  EXPECT_EQ(back->advertise, "ws://127.0.0.1:7777/ws");
  EXPECT_EQ(back->started_ms, 1764570000000);
  EXPECT_EQ(back->rooms, 12u);
  EXPECT_EQ(back->connections, 3400u);
  for (std::string bad : {std::string(""), std::string("2\tnode-a\tws://x\t1\t2\t3"), std::string("1\tnode a\tws://x\t1\t2\t3"),
                          std::string("1\tnode-a\tws://x\t1\t2"), std::string("1\tnode-a\tws://x\t1\t2\t3\t4"),
                          std::string("1\tnode-a\tws://x\t1\t-2\t3"), std::string("1\tnode-a\tws://x\t1\t2\t3x"),
                          std::string(2000, '1')}) {
    EXPECT_FALSE(craft::cluster::decode_node_record(bad)) << bad;
  }
}

TEST(ClusterConfig, ABadUrlOrATtlNotAboveTheHeartbeatStopsCraftdAtStart) {
  // Refused before anything listens: the process exits without printing its ports.
  EXPECT_THROW(CraftdProcess({"--cluster.redis-url", "redis://127.0.0.1:0"}), std::runtime_error);
  EXPECT_THROW(CraftdProcess({"--cluster.redis-url", "redis://127.0.0.1:6379", "--cluster.heartbeat-ms", "1000",
                              "--cluster.node-ttl-ms", "1000"}),
               std::runtime_error);
  EXPECT_THROW(CraftdProcess({"--cluster.redis-url", "http://127.0.0.1:6379"}), std::runtime_error);
}

TEST(Cluster, ThreeNodesRegisterAndSeeEachOther) {
  NEED_REDIS();
  RedisServer redis;
  auto a = node(redis, "node-a");
  auto b = node(redis, "node-b");
  auto c = node(redis, "node-c");
  auto took = until_listed({a.get(), b.get(), c.get()}, {"node-a", "node-b", "node-c"}, 5000ms);
  ASSERT_TRUE(took) << a->http_get("/cluster/nodes");
  EXPECT_EQ(a->metric("craft_cluster_nodes"), 3);
  EXPECT_EQ(b->metric("craft_cluster_redis_connected"), 1);
  EXPECT_GT(c->metric("craft_cluster_redis_commands_total"), 0);
  // What Redis holds: the set of ids and one expiring key per node, advertising its port.
  auto members = redis.command({"SMEMBERS", "craft:nodes"});
  std::sort(members.begin(), members.end());
  EXPECT_EQ(members, (std::vector<std::string>{"node-a", "node-b", "node-c"}));
  auto record = craft::cluster::decode_node_record(redis.command({"GET", "craft:node:node-b"}).at(0));
  ASSERT_TRUE(record);
  EXPECT_EQ(record->advertise, "ws://127.0.0.1:" + std::to_string(b->http_port()) + "/ws");
  auto ttl = std::stol(redis.command({"PTTL", "craft:node:node-b"}).at(0));
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 3000);
  // A clean stop says "leave": the others drop the node at once, not after its key expires.
  b->stop();
  auto left = until_listed({a.get(), c.get()}, {"node-a", "node-c"}, 5000ms);
  ASSERT_TRUE(left);
  EXPECT_LT(left->count(), 1500) << "a clean leave should not wait for the key's TTL";
  EXPECT_TRUE(redis.command({"EXISTS", "craft:node:node-b"}) == std::vector<std::string>{"0"});
}

TEST(Cluster, ANodeKilledWithSigkillIsDroppedWithinFiveSeconds) {
  NEED_REDIS();
  RedisServer redis;
  auto a = node(redis, "node-a");
  auto b = node(redis, "node-b");
  auto c = node(redis, "node-c");
  ASSERT_TRUE(until_listed({a.get(), b.get(), c.get()}, {"node-a", "node-b", "node-c"}, 5000ms));
  kill(b->pid(), SIGKILL);
  auto killed_at = std::chrono::steady_clock::now();
  b->stop(1000);  // reaps it
  auto took = until_listed({a.get(), c.get()}, {"node-a", "node-c"}, 6000ms);
  ASSERT_TRUE(took) << a->http_get("/cluster/nodes");
  auto since_kill = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed_at);
  EXPECT_LT(since_kill.count(), 5000);
  std::printf("kill -9 noticed by both survivors after %lld ms\n", static_cast<long long>(since_kill.count()));
  EXPECT_EQ(a->metric("craft_cluster_nodes"), 2);
  // The dead node's id is tidied out of the set too.
  auto members = redis.command({"SMEMBERS", "craft:nodes"});
  EXPECT_EQ(std::count(members.begin(), members.end(), "node-b"), 0);
}

TEST(Cluster, ARedisRestartIsSurvivedAndEveryNodeRegistersAgain) {
  NEED_REDIS();
  RedisServer redis;
  auto a = node(redis, "node-a");
  auto b = node(redis, "node-b");
  ASSERT_TRUE(until_listed({a.get(), b.get()}, {"node-a", "node-b"}, 5000ms));
  redis.kill9();
  // Without Redis the nodes keep serving and keep their last view.
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(a->metric("craft_cluster_redis_connected"), 0);
  EXPECT_EQ(listed(*a), (std::vector<std::string>{"node-a", "node-b"}));
  EXPECT_NE(a->http_get("/healthz").find("200 OK"), std::string::npos);
  redis.start();  // empty: no persistence
  auto start = std::chrono::steady_clock::now();
  std::vector<std::string> members;
  while (std::chrono::steady_clock::now() - start < 5s) {
    members = redis.command({"SMEMBERS", "craft:nodes"});
    std::sort(members.begin(), members.end());
    if (members == std::vector<std::string>{"node-a", "node-b"}) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(members, (std::vector<std::string>{"node-a", "node-b"}));
  EXPECT_EQ(redis.command({"EXISTS", "craft:node:node-a"}), std::vector<std::string>{"1"});
  ASSERT_TRUE(until_listed({a.get(), b.get()}, {"node-a", "node-b"}, 5000ms));
  EXPECT_EQ(a->metric("craft_cluster_redis_connected"), 1);
  EXPECT_GE(a->metric("craft_cluster_redis_reconnects_total"), 1);
  EXPECT_GE(b->metric("craft_cluster_redis_reconnects_total"), 1);
}

TEST(Cluster, AHungRedisHoldsAtMostMaxPendingCommandsAndTheRestAreRefused) {
  NEED_REDIS();
  RedisServer redis;
  CraftdProcess a({"--cluster.redis-url", redis.url(), "--cluster.node-id", "node-a", "--cluster.heartbeat-ms", "100",
                   "--cluster.node-ttl-ms", "1000", "--cluster.max-pending-commands", "16", "--store.backend", "none"});
  ASSERT_TRUE(until_listed({&a}, {"node-a"}, 5000ms));
  EXPECT_EQ(a.metric("craft_cluster_redis_refused_total"), 0);
  // Stopped, not dead: the connections stay open and nothing is ever answered.
  redis.signal(SIGSTOP);
  std::this_thread::sleep_for(2000ms);  // 20 heartbeats of 2 commands each: well past 16
  EXPECT_EQ(a.metric("craft_cluster_redis_pending"), 16);
  EXPECT_GT(a.metric("craft_cluster_redis_refused_total"), 0);
  EXPECT_NE(a.http_get("/healthz").find("200 OK"), std::string::npos);  // the shards never waited
  redis.signal(SIGCONT);
  auto start = std::chrono::steady_clock::now();
  while (a.metric("craft_cluster_redis_pending") > 4 && std::chrono::steady_clock::now() - start < 3s) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_LE(a.metric("craft_cluster_redis_pending"), 4);
  EXPECT_TRUE(until_listed({&a}, {"node-a"}, 3000ms));
}

TEST(Cluster, WithClusteringOffCraftdNeverTalksToRedis) {
  NEED_REDIS();
  RedisServer redis;
  auto before = redis.info("total_connections_received");
  ASSERT_GT(before, 0);
  CraftdProcess single({"--store.backend", "none"});
  std::this_thread::sleep_for(1500ms);
  // The only connection since `before` is the INFO that reads the counter.
  EXPECT_EQ(redis.info("total_connections_received"), before + 1);
  EXPECT_EQ(redis.command({"DBSIZE"}), std::vector<std::string>{"0"});
  EXPECT_NE(single.http_get("/cluster/nodes").find("404 Not Found"), std::string::npos);
  EXPECT_EQ(single.http_get("/metrics").find("craft_cluster_"), std::string::npos);
}
