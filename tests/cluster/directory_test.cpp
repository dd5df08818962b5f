// Issue 14's shared room directory with real parts: a real redis-server and real craftd
// processes, clients over real sockets. A room on one node is listed (filtered, sorted, paged)
// and watched from another; a node killed with SIGKILL loses its rooms from every listing
// within 5 s; a Redis restart loses no live room; what Redis or another node sends is parsed
// as hostile input.
#include "../integration/craftd_process.hpp"
#include "presence/room_entry_codec.hpp"
#include "redis_server.hpp"

#include <craft/client.hpp>
#include <craft/lobby.hpp>
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <thread>

using craft::testing::CraftdProcess;
using craft::testing::RedisServer;
using namespace std::chrono_literals;
namespace client = craft::client;
namespace v1 = craft::v1;

namespace {

#define NEED_REDIS()                                                                        \
  if (!RedisServer::installed()) GTEST_SKIP() << "redis-server is not installed (scripts/setup)"

std::unique_ptr<CraftdProcess> node(const RedisServer& redis, const std::string& id,
                                    std::vector<std::string> more = {}) {
  std::vector<std::string> flags{"--cluster.redis-url", redis.url(), "--cluster.node-id", id, "--store.backend", "none",
                                 "--lobby.update-interval-ms", "100", "--rooms.empty-dispose-ms", "200"};
  flags.insert(flags.end(), more.begin(), more.end());
  return std::make_unique<CraftdProcess>(flags);
}

std::unique_ptr<client::Client> player(const CraftdProcess& p, const std::string& name) {
  client::Options o;
  o.port = p.http_port();
  auto c = std::make_unique<client::Client>(o);
  c->connect();
  c->hello(name);
  return c;
}

bool all_registered(const std::vector<const CraftdProcess*>& nodes, size_t count) {
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < 5s) {
    if (std::all_of(nodes.begin(), nodes.end(),
                    [&](const CraftdProcess* p) { return p->metric("craft_cluster_nodes") == long(count); })) {
      return true;
    }
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

std::vector<std::string> ids(const v1::RoomList& list) {
  std::vector<std::string> out;
  for (const auto& r : list.rooms()) out.push_back(r.room_id());
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Polls `list` until it returns `want` (in order); the time it took, or nullopt at `limit`.
std::optional<std::chrono::milliseconds> until(const std::function<std::vector<std::string>()>& list,
                                               const std::vector<std::string>& want, std::chrono::milliseconds limit,
                                               std::vector<std::string>* last = nullptr) {
  auto start = std::chrono::steady_clock::now();
  std::vector<std::string> got;
  while (std::chrono::steady_clock::now() - start < limit) {
    got = list();
    if (got == want) return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    std::this_thread::sleep_for(25ms);
  }
  if (last) *last = got;
  return std::nullopt;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + " ";
  return s;
}

}  // namespace

TEST(ClusterDirectoryCodec, RoundTripsAndRefusesWhatIsNotAnEntry) {
  using namespace craft::cluster;
  StoredEntry s;
  s.entry.id = "AbC123xyz789";
  s.entry.type = "movement2d";
  s.entry.node = "node-a";
  s.entry.clients = 3;
  s.entry.max_clients = 8;
  s.entry.label = "tabs\tand\nnewlines 1:2 \xc3\xa9";
  s.entry.locked = true;
  s.entry.created = 1764570000123456;
  s.entry.metadata["region"] = std::string("eu:west\t1");
  s.entry.metadata["level"] = 12.25;
  s.entry.metadata["tiny"] = 1e-300;
  s.entry.metadata["ranked"] = true;
  s.incarnation = 1764570000000001;
  s.rev = 42;
  EntryLimits limits;
  auto text = encode_room_entry(s);
  auto back = decode_room_entry(text, limits);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->entry.id, s.entry.id);
  EXPECT_EQ(back->entry.type, s.entry.type);
  EXPECT_EQ(back->entry.node, "node-a");
  EXPECT_EQ(back->entry.clients, 3u);
  EXPECT_EQ(back->entry.max_clients, 8u);
  EXPECT_EQ(back->entry.label, s.entry.label);
  EXPECT_TRUE(back->entry.locked);
  EXPECT_FALSE(back->entry.is_private);
  EXPECT_EQ(back->entry.created, s.entry.created);
  EXPECT_EQ(back->entry.metadata, s.entry.metadata);  // numbers exactly, text with its tabs
  EXPECT_EQ(back->incarnation, s.incarnation);
  EXPECT_EQ(back->rev, 42u);

  // Every prefix of a good entry is refused (a cut length never reads past the end), and so
  // is anything with a byte more.
  for (size_t n = 0; n < text.size(); ++n) EXPECT_FALSE(decode_room_entry(text.substr(0, n), limits)) << n;
  EXPECT_FALSE(decode_room_entry(text + "0", limits));
  auto with = [&](auto change) {
    StoredEntry t = s;
    change(t);
    return decode_room_entry(encode_room_entry(t), limits).has_value();
  };
  EXPECT_FALSE(with([](StoredEntry& t) { t.entry.id = "has space"; }));
  EXPECT_FALSE(with([](StoredEntry& t) { t.entry.id = ""; }));
  EXPECT_FALSE(with([](StoredEntry& t) { t.entry.node = "bad node"; }));
  EXPECT_FALSE(with([](StoredEntry& t) { t.entry.type = ""; }));
  EXPECT_FALSE(with([](StoredEntry& t) { t.entry.label = "\xff\xfe"; }));  // not UTF-8
  EXPECT_FALSE(with([](StoredEntry& t) { t.entry.metadata["k"] = std::string("\xc3"); }));
  EXPECT_FALSE(with([](StoredEntry& t) { t.entry.metadata[std::string(129, 'k')] = true; }));
  EXPECT_FALSE(with([](StoredEntry& t) {
    for (int i = 0; i < 40; ++i) t.entry.metadata["k" + std::to_string(i)] = 1.0;  // past rooms.max_metadata
  }));
  EXPECT_TRUE(with([](StoredEntry& t) { t.entry.metadata["k"] = -0.0; }));
  EXPECT_FALSE(decode_room_entry(text, EntryLimits{text.size() - 1, 32}));  // past max_room_entry_bytes
  for (std::string bad : {std::string("2:1"), std::string("1:2") + text.substr(3), std::string("99999999:x"),
                          std::string("-1:x"), std::string(":"), std::string("1:1") + "18446744073709551616:x"}) {
    EXPECT_FALSE(decode_room_entry(bad, limits)) << bad;
  }
  // Hand-made: a number that is not finite, a kind that is not one, a key given twice.
  auto entry = [](std::string meta) {
    return std::string("1:112:AbC123xyz7891:t1:n1:11:11:11:01:10:0:") + meta;
  };
  EXPECT_TRUE(decode_room_entry(entry("1:0"), limits));
  EXPECT_TRUE(decode_room_entry(entry("1:11:k2:n1"), limits));
  EXPECT_FALSE(decode_room_entry(entry("1:11:k4:nnan"), limits));
  EXPECT_FALSE(decode_room_entry(entry("1:11:k4:ninf"), limits));
  EXPECT_FALSE(decode_room_entry(entry("1:11:k7:n1e999"), limits));
  EXPECT_FALSE(decode_room_entry(entry("1:11:k2:x1"), limits));
  EXPECT_FALSE(decode_room_entry(entry("1:11:k2:b2"), limits));
  EXPECT_FALSE(decode_room_entry(entry("1:21:k2:b11:k2:b0"), limits));

  // Messages: split at the size given, each carrying the incarnation; records survive.
  DirectoryMessage m;
  m.incarnation = 7;
  for (int i = 0; i < 50; ++i) m.changed.push_back(text);
  m.removed = {"gone1", "gone2"};
  auto parts = encode_directory_messages(m, 2000);
  EXPECT_GT(parts.size(), 1u);
  size_t changed = 0, removed = 0;
  for (const auto& p : parts) {
    EXPECT_LE(p.size(), 2000u);
    auto d = decode_directory_message(p, 2000);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->incarnation, 7u);
    for (const auto& c : d->changed) EXPECT_EQ(c, text);
    changed += d->changed.size();
    removed += d->removed.size();
  }
  EXPECT_EQ(changed, 50u);
  EXPECT_EQ(removed, 2u);
  EXPECT_EQ(encode_directory_messages(DirectoryMessage{9, {}, {}}, 100).size(), 1u);  // the incarnation alone
  EXPECT_FALSE(decode_directory_message(parts[0], parts[0].size() - 1));
  EXPECT_TRUE(decode_directory_message("1:11:7", 1000));         // no records: the incarnation alone
  EXPECT_TRUE(decode_directory_message("1:11:75:rgone", 1000));  // one removal
  for (std::string bad : {std::string(""), std::string("2:11:7"), std::string("1:1"), std::string("1:11:70:"),
                          std::string("1:11:73:xyz"), std::string("1:11:74:r a"), std::string("1:11:76:rgone"),
                          std::string("1:11:x")}) {
    EXPECT_FALSE(decode_directory_message(bad, 1000)) << bad;
  }
}

TEST(ClusterDirectory, ARoomOnOneNodeIsListedFilteredSortedAndPagedFromAnother) {
  NEED_REDIS();
  RedisServer redis;
  auto a = node(redis, "node-a");
  auto b = node(redis, "node-b");
  auto c = node(redis, "node-c");
  ASSERT_TRUE(all_registered({a.get(), b.get(), c.get()}, 3));

  auto pa = player(*a, "pa");
  auto a_eu = pa->create("movement2d", R"({"region":"eu"})").room_id();
  auto pa2 = player(*a, "pa2");
  auto a_us = pa2->create("movement2d", R"({"region":"us"})").room_id();
  auto pa3 = player(*a, "pa3");
  auto a_private = pa3->create("movement2d", R"({"region":"eu"})", true).room_id();
  auto pb = player(*b, "pb");
  auto b_eu = pb->create("movement2d", R"({"region":"eu"})").room_id();
  auto pb2 = player(*b, "pb2");
  pb2->join(b_eu);  // two clients: sorts first by clients, descending

  auto pc = player(*c, "pc");
  client::ListOptions eu;
  eu.filter = client::filter({client::equals("region", "eu")});
  eu.sort = {client::sort_by("clients", true)};
  std::vector<std::string> last;
  auto took = until([&] { return ids(pc->list_rooms("movement2d", eu)); }, {b_eu, a_eu}, 3000ms, &last);
  ASSERT_TRUE(took) << join(last);
  std::printf("a room of node B reached a listing on node C after %lld ms\n", static_cast<long long>(took->count()));
  auto listed = pc->list_rooms("movement2d", eu);
  EXPECT_EQ(listed.rooms(0).clients(), 2u);
  EXPECT_EQ(listed.rooms(0).metadata().at("region").text(), "eu");
  EXPECT_FALSE(listed.more());
  // Pages.
  client::ListOptions page = eu;
  page.limit = 1;
  auto first = pc->list_rooms("movement2d", page);
  EXPECT_EQ(ids(first), std::vector<std::string>{b_eu});
  EXPECT_TRUE(first.more());
  page.offset = 1;
  auto second = pc->list_rooms("movement2d", page);
  EXPECT_EQ(ids(second), std::vector<std::string>{a_eu});
  EXPECT_FALSE(second.more());
  // Everything public, oldest first (creation order across nodes); the private room never.
  EXPECT_EQ(ids(pc->list_rooms("movement2d", client::ListOptions{})), (std::vector<std::string>{a_eu, a_us, b_eu}));
  // The same view from every node, the owners' too.
  EXPECT_EQ(ids(pa->list_rooms("movement2d", eu)), (std::vector<std::string>{b_eu, a_eu}));
  EXPECT_EQ(ids(pb->list_rooms("movement2d", eu)), (std::vector<std::string>{b_eu, a_eu}));

  // What Redis holds: one hash per node, entries that name their node (the private room too:
  // a join by id may name it).
  EXPECT_EQ(redis.command({"HLEN", "craft:rooms:node-a"}), std::vector<std::string>{"4"});  // and the marker "~"
  auto raw = redis.command({"HGET", "craft:rooms:node-b", b_eu});
  ASSERT_EQ(raw.size(), 1u);
  auto stored = craft::cluster::decode_room_entry(raw[0], {});
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->entry.node, "node-b");
  EXPECT_EQ(stored->entry.clients, 2u);
  EXPECT_TRUE(redis.command({"HGET", "craft:rooms:node-a", a_private}).size() == 1);
  EXPECT_EQ(c->metric("craft_cluster_directory_remote_rooms"), 4);
  EXPECT_EQ(c->metric("craft_cluster_directory_local_rooms"), 0);
  EXPECT_EQ(a->metric("craft_cluster_directory_local_rooms"), 3);
  EXPECT_GE(c->metric("craft_cluster_directory_received_total"), 4);
  EXPECT_EQ(c->metric("craft_cluster_directory_rejected_total"), 0);

  // A room that ends leaves every listing; a node that stops cleanly takes its rooms along.
  pa2->leave(a_us);
  ASSERT_TRUE(until([&] { return ids(pc->list_rooms("movement2d", client::ListOptions{})); }, {a_eu, b_eu}, 3000ms));
  EXPECT_EQ(redis.command({"HEXISTS", "craft:rooms:node-a", a_us}), std::vector<std::string>{"0"});
  pb.reset();
  pb2.reset();
  b->stop();
  auto gone = until([&] { return ids(pc->list_rooms("movement2d", client::ListOptions{})); }, {a_eu}, 3000ms);
  ASSERT_TRUE(gone);
  EXPECT_LT(gone->count(), 1500) << "a clean stop should not wait for the node's key to expire";
  EXPECT_EQ(redis.command({"EXISTS", "craft:rooms:node-b"}), std::vector<std::string>{"0"});
}

TEST(ClusterDirectory, ALobbySubscriptionOnOneNodeSeesARoomOfAnotherAppearChangeAndGo) {
  NEED_REDIS();
  RedisServer redis;
  auto a = node(redis, "node-a");
  auto c = node(redis, "node-c");
  ASSERT_TRUE(all_registered({a.get(), c.get()}, 2));
  auto watcher = player(*c, "watcher");
  auto first = watcher->lobby_subscribe("movement2d");
  EXPECT_TRUE(first.reset());
  EXPECT_EQ(first.added_size(), 0);
  auto next = [&](const std::function<bool(const v1::LobbyUpdate&)>& match) -> std::optional<v1::LobbyUpdate> {
    auto deadline = std::chrono::steady_clock::now() + 3s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto e = watcher->wait_for([](const v1::Envelope& x) { return x.has_lobby_update(); }, 3000ms);
      if (!e) return std::nullopt;
      if (match(e->lobby_update())) return e->lobby_update();
    }
    return std::nullopt;
  };

  auto p1 = player(*a, "p1");
  auto room = p1->create("movement2d", R"({"region":"eu"})").room_id();
  auto added = next([](const v1::LobbyUpdate& u) { return u.added_size() > 0; });
  ASSERT_TRUE(added);
  EXPECT_EQ(added->added(0).room_id(), room);
  EXPECT_EQ(added->added(0).clients(), 1u);
  auto p2 = player(*a, "p2");
  p2->join(room);
  auto updated = next([](const v1::LobbyUpdate& u) { return u.updated_size() > 0 && u.updated(0).clients() == 2; });
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->updated(0).room_id(), room);
  p1->leave(room);
  p2->leave(room);  // empty: disposed after rooms.empty_dispose_ms (200 ms here)
  auto removed = next([](const v1::LobbyUpdate& u) { return u.removed_size() > 0; });
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->removed(0), room);
}

TEST(ClusterDirectory, RoomsOfANodeKilledWithSigkillLeaveEveryListingWithinFiveSeconds) {
  NEED_REDIS();
  RedisServer redis;
  auto a = node(redis, "node-a");
  auto b = node(redis, "node-b");
  auto c = node(redis, "node-c");
  ASSERT_TRUE(all_registered({a.get(), b.get(), c.get()}, 3));
  auto pa = player(*a, "pa");
  auto ra = pa->create("relay").room_id();
  auto pb = player(*b, "pb");
  auto rb1 = pb->create("relay").room_id();
  auto pb2 = player(*b, "pb2");
  auto rb2 = pb2->create("relay").room_id();
  auto la = player(*a, "la");
  auto lc = player(*c, "lc");
  auto all = sorted({ra, rb1, rb2});
  auto list_a = [&] { return sorted(ids(la->list_rooms("relay", client::ListOptions{}))); };
  auto list_c = [&] { return sorted(ids(lc->list_rooms("relay", client::ListOptions{}))); };
  ASSERT_TRUE(until(list_a, all, 3000ms));
  ASSERT_TRUE(until(list_c, all, 3000ms));

  kill(b->pid(), SIGKILL);
  auto killed_at = std::chrono::steady_clock::now();
  std::vector<std::string> last;
  ASSERT_TRUE(until(list_a, {ra}, 6000ms, &last)) << join(last);
  ASSERT_TRUE(until(list_c, {ra}, 6000ms, &last)) << join(last);
  auto since_kill = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed_at);
  std::printf("node B's rooms left the listings of A and C %lld ms after kill -9\n",
              static_cast<long long>(since_kill.count()));
  EXPECT_LT(since_kill.count(), 5000);
  b->stop(1000);
  EXPECT_EQ(redis.command({"EXISTS", "craft:rooms:node-b"}), std::vector<std::string>{"0"});
  EXPECT_GE(c->metric("craft_cluster_directory_dead_node_rooms_total"), 2);
  EXPECT_EQ(c->metric("craft_cluster_directory_remote_rooms"), 1);
}

TEST(ClusterDirectory, AfterARedisRestartEveryLiveRoomIsListedAgain) {
  NEED_REDIS();
  RedisServer redis;
  auto a = node(redis, "node-a");
  auto b = node(redis, "node-b");
  ASSERT_TRUE(all_registered({a.get(), b.get()}, 2));
  auto pa = player(*a, "pa");
  auto ra = pa->create("relay").room_id();
  auto pa2 = player(*a, "pa2");
  auto ending = pa2->create("relay").room_id();
  auto pb = player(*b, "pb");
  auto rb = pb->create("relay").room_id();
  auto lb = player(*b, "lb");
  auto la = player(*a, "la");
  auto list_a = [&] { return sorted(ids(la->list_rooms("relay", client::ListOptions{}))); };
  auto list_b = [&] { return sorted(ids(lb->list_rooms("relay", client::ListOptions{}))); };
  // Both views, not only B's: B lists rb the moment it exists, A only once B's flush reached
  // it over Redis. Killing Redis before that leaves A without rb until Redis is back.
  ASSERT_TRUE(until(list_b, sorted({ra, ending, rb}), 3000ms));
  ASSERT_TRUE(until(list_a, sorted({ra, ending, rb}), 3000ms));

  redis.kill9();
  std::this_thread::sleep_for(300ms);
  // Without Redis, listings still answer: every room as last seen, this node's exactly.
  EXPECT_EQ(list_b(), sorted({ra, ending, rb}));
  auto during = pa->create("relay").room_id();  // a room made while Redis is away
  pa2->leave(ending);                            // and one that ends meanwhile
  // Its own node drops it at once, Redis or not: rooms.empty_dispose_ms (200 ms) and a sweep.
  std::vector<std::string> last;
  auto left = until(list_a, sorted({ra, during, rb}), 3000ms, &last);
  ASSERT_TRUE(left) << join(last);
  std::printf("a room that ended while Redis was away left its node's listing after %lld ms\n",
              static_cast<long long>(left->count()));
  EXPECT_EQ(list_b(), sorted({ra, ending, rb}));  // B cannot know yet

  redis.start();  // empty
  auto took = until(list_b, sorted({ra, during, rb}), 8000ms, &last);
  ASSERT_TRUE(took) << join(last);
  std::printf("every live room listed again on B %lld ms after Redis came back\n",
              static_cast<long long>(took->count()));
  EXPECT_EQ(list_a(), sorted({ra, during, rb}));
  auto until_redis = [&](const std::string& key, const std::string& want) {
    for (int i = 0; i < 100 && redis.command({"HLEN", key}) != std::vector<std::string>{want}; ++i) {
      std::this_thread::sleep_for(50ms);
    }
    return redis.command({"HLEN", key}) == std::vector<std::string>{want};
  };
  EXPECT_TRUE(until_redis("craft:rooms:node-a", "3"));  // rooms and the marker "~"
  EXPECT_TRUE(until_redis("craft:rooms:node-b", "2"));
  EXPECT_GE(a->metric("craft_cluster_directory_republishes_total"), 2);
  EXPECT_GE(b->metric("craft_cluster_directory_resyncs_total"), 2);
}

TEST(ClusterDirectory, WhatRedisAndOtherNodesSendIsCheckedAndAHashDeletedByMistakeIsWrittenAgain) {
  NEED_REDIS();
  RedisServer redis;
  // A node "node-z" that only exists in Redis: alive until its key goes, one good room, and entries that
  // are garbage, claim another node, or name another id than their field.
  craft::cluster::StoredEntry good;
  good.entry = {"ZroomGood001", "relay", 0, 8, "", false, false, 1, {}, 0, "node-z"};
  good.incarnation = 1;
  good.rev = 1;
  auto liar = good;
  liar.entry.id = "ZroomLiar001";
  liar.entry.node = "node-a";
  redis.command({"SET", "craft:node:node-z", "1\tnode-z\tws://127.0.0.1:1/ws\t1\t1\t0", "PX", "60000"});
  redis.command({"SADD", "craft:nodes", "node-z"});
  redis.command({"HSET", "craft:rooms:node-z", "ZroomGood001", craft::cluster::encode_room_entry(good), "ZroomBad0001",
                 "1:1garbage", "ZroomLiar001", craft::cluster::encode_room_entry(liar), "ZroomOther01",
                 craft::cluster::encode_room_entry(good)});
  auto a = node(redis, "node-a");
  auto pa = player(*a, "pa");
  auto mine = pa->create("relay").room_id();
  auto list = [&] { return sorted(ids(pa->list_rooms("relay", client::ListOptions{}))); };
  std::vector<std::string> last;
  ASSERT_TRUE(until(list, sorted({mine, "ZroomGood001"}), 3000ms, &last)) << join(last);
  // Registration reads everything twice (the second read 2.5 s later): 3 refused each time.
  for (int i = 0; i < 100 && a->metric("craft_cluster_directory_resyncs_total") < 2; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(a->metric("craft_cluster_directory_rejected_total"), 6);
  // A malformed "dir" message on the bus, and one whose entry claims a node other than its
  // sender: both refused, nothing listed.
  auto rejected = a->metric("craft_cluster_directory_rejected_total");
  redis.command({"PUBLISH", "craft:all", "1\tm\tdir\tnode-z\t0\t1:1x"});
  redis.command({"PUBLISH", "craft:all", "1\tm\tdir\tnode-z\t0\t1:11:1" +
                                             std::to_string(craft::cluster::encode_room_entry(liar).size() + 1) + ":c" +
                                             craft::cluster::encode_room_entry(liar)});
  for (int i = 0; i < 40 && a->metric("craft_cluster_directory_rejected_total") < rejected + 2; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(a->metric("craft_cluster_directory_rejected_total"), rejected + 2);
  // node-z's key goes (as when it lapses): its room goes, and its hash with it.
  redis.command({"DEL", "craft:node:node-z"});
  ASSERT_TRUE(until(list, {mine}, 5000ms, &last)) << join(last);
  for (int i = 0; i < 40 && redis.command({"EXISTS", "craft:rooms:node-z"}) != std::vector<std::string>{"0"}; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(redis.command({"EXISTS", "craft:rooms:node-z"}), std::vector<std::string>{"0"});
  // Another node deleting this node's hash (it thought it dead): the audit writes it again
  // within a heartbeat or two.
  redis.command({"DEL", "craft:rooms:node-a"});
  for (int i = 0; i < 60 && redis.command({"HLEN", "craft:rooms:node-a"}) != std::vector<std::string>{"2"}; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(redis.command({"HLEN", "craft:rooms:node-a"}), std::vector<std::string>{"2"});  // the room and "~"
}

TEST(ClusterDirectory, ABurstOfChangesToOneRoomIsWrittenOnce) {
  NEED_REDIS();
  RedisServer redis;
  // Long enough for the whole burst to fall in one interval on a busy machine.
  auto a = node(redis, "node-a", {"--cluster.directory-flush-ms", "3000"});
  ASSERT_TRUE(all_registered({a.get()}, 1));
  auto p = player(*a, "p0");
  auto written = a->metric("craft_cluster_directory_written_total");
  auto room = p->create("relay").room_id();
  std::vector<std::unique_ptr<client::Client>> others;
  for (int i = 1; i <= 4; ++i) {
    others.push_back(player(*a, "p" + std::to_string(i)));
    others.back()->join(room);
  }
  // Listed on its own node at once, whatever the flush interval.
  EXPECT_EQ(ids(p->list_rooms("relay", client::ListOptions{})), std::vector<std::string>{room});
  for (int i = 0; i < 100 && a->metric("craft_cluster_directory_written_total") == written; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(a->metric("craft_cluster_directory_written_total"), written + 1);
  EXPECT_GE(a->metric("craft_cluster_directory_coalesced_total"), 4);
  auto raw = redis.command({"HGET", "craft:rooms:node-a", room});
  ASSERT_EQ(raw.size(), 1u);
  auto stored = craft::cluster::decode_room_entry(raw[0], {});
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->entry.clients, 5u);
}

TEST(ClusterDirectoryConfig, AnEntryLimitThatDoesNotFitABusMessageStopsCraftdAtStart) {
  EXPECT_THROW(CraftdProcess({"--cluster.redis-url", "redis://127.0.0.1:6379", "--cluster.max-room-entry-bytes",
                              "65536"}),
               std::runtime_error);
}
