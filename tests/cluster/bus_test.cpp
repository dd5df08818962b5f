// The cluster bus (src/cluster/node_bus.cpp) with a real redis-server: node-to-node messages,
// broadcasts, requests and their timeouts, hostile messages published straight into Redis,
// the node-death and registration hooks. The registries run in this process (each with its
// own thread and Redis links, as in craftd).
#include "cluster/bus_message.hpp"
#include "cluster/node_registry.hpp"
#include "cluster/redis_url.hpp"
#include "redis_server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

using craft::cluster::BusMessage;
using craft::cluster::NodeRegistry;
using craft::cluster::RegistryOptions;
using craft::testing::RedisServer;
using namespace std::chrono_literals;

namespace {

// What handlers saw, from the cluster threads.
struct Inbox {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::string> items;
  void add(std::string s) {
    std::lock_guard lock(m);
    items.push_back(std::move(s));
    cv.notify_all();
  }
  // Waits until `n` items arrived; all of them (fewer on timeout).
  std::vector<std::string> wait(size_t n, std::chrono::milliseconds limit = 3s) {
    std::unique_lock lock(m);
    cv.wait_for(lock, limit, [&] { return items.size() >= n; });
    return items;
  }
};

std::unique_ptr<NodeRegistry> registry(const RedisServer& redis, const std::string& id, uint32_t max_pending = 10'000) {
  std::string why;
  RegistryOptions o;
  o.redis = *craft::cluster::parse_redis_url(redis.url(), why);
  o.node_id = id;
  o.advertise = "ws://127.0.0.1:1/ws";
  o.heartbeat = 200ms;
  o.node_ttl = 600ms;
  o.max_pending_requests = max_pending;
  o.max_message_bytes = 1024;
  return std::make_unique<NodeRegistry>(o, [] { return craft::cluster::NodeLoad{}; });
}

// Until every registry sees `n` nodes alive.
bool until_nodes(const std::vector<NodeRegistry*>& regs, size_t n) {
  for (int i = 0; i < 100; ++i) {
    bool all = true;
    for (auto* r : regs) all = all && r->nodes().size() == n;
    if (all) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

#define NEED_REDIS()                                                                        \
  if (!RedisServer::installed()) GTEST_SKIP() << "redis-server is not installed (scripts/setup)"

}  // namespace

TEST(ClusterBusMessage, RoundTripsAndRefusesWhatIsNotOne) {
  BusMessage m{BusMessage::Type::request, "seat.reserve", "node-a", 42, "room\twith\ttabs"};
  auto text = craft::cluster::encode_bus_message(m);
  auto back = craft::cluster::decode_bus_message(text, 1024);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->type, BusMessage::Type::request);
  EXPECT_EQ(back->kind, "seat.reserve");
  EXPECT_EQ(back->from, "node-a");
  EXPECT_EQ(back->id, 42u);
  EXPECT_EQ(back->payload, "room\twith\ttabs");
  EXPECT_FALSE(craft::cluster::decode_bus_message(text, text.size() - 1));  // over the limit
  for (const char* bad : {"", "1", "2\tm\tk\ta\t0\tp", "1\tx\tk\ta\t0\tp", "1\tm\tK\ta\t0\tp", "1\tm\tk\ta b\t0\tp",
                          "1\tm\tk\ta\t-1\tp", "1\tm\tk\ta\t99999999999999999999999\tp", "1\tq\tk\ta\t0\tp",
                          "1\tm\tk\ta\t\tp", "1\tm\t\ta\t0\tp", "1\tmm\tk\ta\t0\tp", "1\tm\tk\ta\t0"}) {
    EXPECT_FALSE(craft::cluster::decode_bus_message(bad, 1024)) << bad;
  }
  EXPECT_FALSE(craft::cluster::valid_bus_kind(std::string(33, 'a')));
  EXPECT_TRUE(craft::cluster::valid_bus_kind(std::string(32, 'a')));
}

TEST(ClusterBus, MessagesReachTheirNodeAndBroadcastsReachEveryNode) {
  NEED_REDIS();
  RedisServer redis;
  auto a = registry(redis, "a"), b = registry(redis, "b"), c = registry(redis, "c");
  Inbox inbox;
  for (auto* r : {a.get(), b.get(), c.get()}) {
    std::string self = r->node_id();
    r->on_message("note", [&inbox, self](const std::string& from, const std::string& payload) {
      inbox.add(self + "<" + from + ":" + payload);
    });
    r->start();
  }
  ASSERT_TRUE(until_nodes({a.get(), b.get(), c.get()}, 3));
  a->send_to("b", "note", "one");
  auto got = inbox.wait(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], "b<a:one");
  c->broadcast("note", "all");
  got = inbox.wait(4);
  ASSERT_EQ(got.size(), 4u);
  std::sort(got.begin() + 1, got.end());
  EXPECT_EQ(got[1], "a<c:all");
  EXPECT_EQ(got[2], "b<c:all");
  EXPECT_EQ(got[3], "c<c:all");
  // Order from one sender to one receiver is kept.
  for (int i = 0; i < 50; ++i) a->send_to("c", "note", std::to_string(i));
  got = inbox.wait(54);
  ASSERT_EQ(got.size(), 54u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(got[4 + i], "c<a:" + std::to_string(i));
  // Too big to send: not sent, counted.
  a->send_to("c", "note", std::string(2000, 'x'));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(inbox.wait(55, 100ms).size(), 54u);
  EXPECT_EQ(a->bus_counters().dropped.load(), 1u);
}

TEST(ClusterBus, RequestsAreAnsweredOrTimeOutAndEveryCallerHearsOnce) {
  NEED_REDIS();
  RedisServer redis;
  auto a = registry(redis, "a", 16), b = registry(redis, "b");
  b->on_request("echo", [](const std::string& from, const std::string& payload, NodeRegistry::Respond respond) {
    // Answered from another thread, twice: only the first counts.
    std::thread([=] {
      respond(from + ":" + payload + "!");
      respond("again");
    }).detach();
  });
  b->on_request("silent", [](const std::string&, const std::string&, NodeRegistry::Respond) {});
  a->start();
  b->start();
  ASSERT_TRUE(until_nodes({a.get(), b.get()}, 2));

  Inbox inbox;
  auto record = [&inbox](std::optional<std::string> answer) { inbox.add(answer ? *answer : "<none>"); };
  a->request("b", "echo", "hi", 2s, record);
  auto got = inbox.wait(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], "a:hi!");

  auto start = std::chrono::steady_clock::now();
  a->request("b", "silent", "x", 300ms, record);
  got = inbox.wait(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1], "<none>");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 290ms);

  a->request("nobody", "echo", "x", 10s, record);  // not alive: at once
  got = inbox.wait(3, 1s);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2], "<none>");

  // max_pending_requests = 16: the 17th waiting request fails at once.
  for (int i = 0; i < 17; ++i) a->request("b", "silent", "x", 2s, record);
  got = inbox.wait(4, 1s);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[3], "<none>");
  EXPECT_EQ(a->bus_counters().pending.load(), 16u);
  got = inbox.wait(20, 4s);  // the 16 time out
  EXPECT_EQ(got.size(), 20u);
  EXPECT_EQ(a->bus_counters().timed_out.load(), 19u);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(inbox.wait(21, 100ms).size(), 20u);  // "again" never reached anyone
}

// A node killed with SIGKILL stays alive in the others' view until its key expires, but Redis
// drops its subscription at once: a request to it fails as soon as PUBLISH says nobody got it,
// not at its timeout. Here "ghost" has a live key and no subscription at all.
TEST(ClusterBus, ARequestToANodeThatNobodyListensForFailsAtOnce) {
  NEED_REDIS();
  RedisServer redis;
  redis.command({"SET", "craft:node:ghost", "1\tghost\tws://127.0.0.1:2/ws\t0\t0\t0", "PX", "60000"});
  redis.command({"SADD", "craft:nodes", "ghost"});
  auto a = registry(redis, "a");
  a->start();
  ASSERT_TRUE(until_nodes({a.get()}, 2));
  ASSERT_TRUE(a->is_alive("ghost"));

  Inbox inbox;
  auto start = std::chrono::steady_clock::now();
  a->request("ghost", "echo", "x", 10s, [&inbox](std::optional<std::string> answer) {
    inbox.add(answer ? *answer : "<none>");
  });
  auto got = inbox.wait(1, 2s);
  ASSERT_EQ(got.size(), 1u) << "waited for the 10 s timeout";
  EXPECT_EQ(got[0], "<none>");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_EQ(a->bus_counters().unheard.load(), 1u);
  EXPECT_EQ(a->bus_counters().timed_out.load(), 1u);
  EXPECT_EQ(a->bus_counters().pending.load(), 0u);
}

TEST(ClusterBus, HostileMessagesPublishedIntoRedisAreDroppedAndForgedAnswersIgnored) {
  NEED_REDIS();
  RedisServer redis;
  auto a = registry(redis, "a"), b = registry(redis, "b");
  Inbox inbox;
  a->on_message("note", [&inbox](const std::string& from, const std::string& payload) { inbox.add(from + ":" + payload); });
  b->on_request("slow", [](const std::string&, const std::string&, NodeRegistry::Respond respond) {
    std::thread([respond] {
      std::this_thread::sleep_for(300ms);
      respond("real");
    }).detach();
  });
  a->start();
  b->start();
  ASSERT_TRUE(until_nodes({a.get(), b.get()}, 2));
  std::optional<std::string> answer;
  Inbox answers;
  a->request("b", "slow", "", 3s, [&answers](std::optional<std::string> r) { answers.add(r ? *r : "<none>"); });
  std::this_thread::sleep_for(50ms);
  // Anything that can PUBLISH can write these: garbage, oversize, an unknown kind, a response
  // to request 1 claiming to be from b on craft:all, and one from c on craft:to:a.
  for (const std::string& raw : {std::string("garbage"), std::string(5000, 'z'), std::string("1\tm\tnobody\tb\t0\tx"),
                                 std::string("1\tr\tslow\tb\t1\tforged-all"), std::string("1\tr\tslow\tc\t1\tforged-c"),
                                 std::string("1\tr\tother\tb\t1\tforged-kind")}) {
    redis.command({"PUBLISH", raw.find("forged-all") != std::string::npos ? "craft:all" : "craft:to:a", raw});
  }
  redis.command({"PUBLISH", "craft:to:a", "1\tm\tnote\tb\t0\tstill works"});
  auto got = inbox.wait(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], "b:still works");
  auto r = answers.wait(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0], "real");
  EXPECT_EQ(a->bus_counters().dropped.load(), 6u);
}

TEST(ClusterBus, NodeDeathAndRegistrationHooksRun) {
  NEED_REDIS();
  RedisServer redis;
  auto a = registry(redis, "a"), b = registry(redis, "b");
  Inbox dead, registered;
  a->on_node_dead([&dead](const std::string& id) { dead.add(id); });
  a->on_registered([&registered] { registered.add("a"); });
  a->start();
  b->start();
  ASSERT_TRUE(until_nodes({a.get(), b.get()}, 2));
  EXPECT_EQ(registered.wait(1).size(), 1u);
  // Registered late: runs once now.
  Inbox late;
  a->on_registered([&late] { late.add("late"); });
  EXPECT_EQ(late.wait(1).size(), 1u);

  b->stop();  // leaves cleanly: "leave b"
  auto got = dead.wait(1, 1500ms);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], "b");
  EXPECT_FALSE(a->is_alive("b"));
  EXPECT_TRUE(a->is_alive("a"));
  ASSERT_TRUE(a->node("a"));
  EXPECT_EQ(a->node("a")->advertise, "ws://127.0.0.1:1/ws");

  // Redis restarts empty: the node registers again, and its hooks run again.
  redis.kill9();
  redis.start();
  EXPECT_EQ(registered.wait(2, 5s).size(), 2u);
  EXPECT_EQ(late.wait(2, 1s).size(), 2u);
  EXPECT_EQ(dead.wait(2, 300ms).size(), 1u);  // never itself
}
