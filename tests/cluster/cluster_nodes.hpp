// What the cluster tests share: a real redis-server (redis_server.hpp) and craftd nodes on
// loopback, and the waits their assertions need. Header-only: each test binary includes it.
#pragma once
#include "../integration/craftd_process.hpp"
#include "redis_server.hpp"

#include <craft/client.hpp>

#include <dirent.h>
#include <signal.h>

#include <charconv>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#define NEED_REDIS()                                                                        \
  if (!::craft::testing::RedisServer::installed()) GTEST_SKIP() << "redis-server is not installed (scripts/setup)"

namespace craft::testing::cluster {

using namespace std::chrono_literals;

// A node with quick deaths and a quick matcher: dead to the others within 0.9 s, the matcher
// lease taken over within 1 s, tickets widened after 0.1 s.
inline std::unique_ptr<CraftdProcess> quick_node(const RedisServer& redis, const std::string& id,
                                                 std::vector<std::string> extra = {}) {
  std::vector<std::string> flags{"--cluster.redis-url",      redis.url(), "--cluster.node-id",       id,
                                 "--store.backend",          "none",      "--cluster.heartbeat-ms",  "300",
                                 "--cluster.node-ttl-ms",    "600",       "--matchmaker.interval-ms", "100",
                                 "--cluster.matcher-lease-ms", "1000",    "--matchmaker.widen-after-ms", "100"};
  flags.insert(flags.end(), extra.begin(), extra.end());
  return std::make_unique<CraftdProcess>(std::move(flags));
}

// Polls `f` every 25 ms until it holds or `limit` passes; then one last look.
template <typename F>
bool eventually(F&& f, std::chrono::milliseconds limit = 8000ms) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(25ms);
  }
  return f();
}

// Whether every node counts `n` nodes alive now (craft_cluster_nodes).
inline bool all_see(const std::vector<CraftdProcess*>& nodes, long n) {
  for (auto* p : nodes) {
    if (p->metric("craft_cluster_nodes") != n) return false;
  }
  return true;
}

// Waits until every node counts `n` nodes alive.
inline bool all_alive(const std::vector<const CraftdProcess*>& nodes, long n) {
  return eventually([&] {
    for (auto* p : nodes) {
      if (p->metric("craft_cluster_nodes") != n) return false;
    }
    return true;
  });
}

// The node holding the matcher lease (craft_cluster_matcher_holder), or -1.
inline int holder(const std::vector<CraftdProcess*>& nodes) {
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i] && nodes[i]->running() && nodes[i]->metric("craft_cluster_matcher_holder") == 1)
      return static_cast<int>(i);
  }
  return -1;
}

// Whether `c`'s node lists room `id` (the shared directory) within 5 s.
inline bool lists(client::Client& c, const std::string& type, const std::string& id) {
  return eventually([&] {
    for (const auto& r : c.list_rooms(type)) {
      if (r.room_id() == id) return true;
    }
    return false;
  }, 5000ms);
}

// The URL a node advertises by default (what its redirects name).
inline std::string url_of(const CraftdProcess& p) { return "ws://127.0.0.1:" + std::to_string(p.http_port()) + "/ws"; }

// SIGSTOPs `pid` and returns once every one of its threads is stopped ('T' in
// /proc/<pid>/task/*/stat): kill() only queues the stop, and on a loaded machine a thread may
// finish what it was doing (answer a request, say) after kill() has returned.
inline bool hang(pid_t pid) {
  if (::kill(pid, SIGSTOP) != 0) return false;
  auto all_stopped = [pid] {
    auto dir = "/proc/" + std::to_string(pid) + "/task";
    DIR* d = ::opendir(dir.c_str());
    if (!d) return false;
    bool stopped = true;
    while (auto* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream stat(dir + "/" + e->d_name + "/stat");
      std::string line;
      std::getline(stat, line);
      auto close = line.rfind(')');  // the state follows "(comm)", and comm may hold spaces
      if (close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'T') stopped = false;
    }
    ::closedir(d);
    return stopped;
  };
  return eventually(all_stopped, 5000ms);
}

// Tickets in the shared pool (HLEN craft:tickets), -1 when Redis does not answer.
inline long hlen(const RedisServer& redis) {
  auto r = redis.command({"HLEN", "craft:tickets"});
  long n = -1;
  if (!r.empty()) std::from_chars(r[0].data(), r[0].data() + r[0].size(), n);
  return n;
}

}  // namespace craft::testing::cluster
