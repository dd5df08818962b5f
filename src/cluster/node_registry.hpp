// The node registry (docs/cluster.md): every node of a cluster announces itself in Redis
// and learns which other nodes are alive.
//
// Keys and channels (all under the "craft:" prefix):
//   craft:node:<id>  string, one NodeRecord (node_record.hpp), SET ... PX cluster.node_ttl_ms
//                    every cluster.heartbeat_ms: the key expiring is the node's death.
//   craft:nodes      set of node ids that have registered; an id whose craft:node:<id> key is
//                    gone is dead, and whoever sees that first removes it (SREM).
//   craft:nodes      (also a pub/sub channel) "join <id>" when a node (re)registers and
//                    "leave <id>" when it stops cleanly, so the others refresh at once.
// A node learns of a join at once (the message) and of a death within node_ttl_ms +
// heartbeat_ms (the key expires; the next refresh finds it missing): 4 s with the defaults.
//
// Threads: the registry runs its own thread and io_context with two Redis links (commands,
// and the subscription); shards never wait on it. nodes(), connected() and the counters may be
// read from any thread.
#pragma once
#include "cluster/node_record.hpp"
#include "cluster/redis_link.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <string>
#include <thread>
#include <vector>

namespace craft::cluster {

struct NodeLoad {
  uint64_t rooms = 0;
  uint64_t connections = 0;
  bool draining = false;
};

struct RegistryOptions {
  RedisAddress redis;
  std::string node_id;
  std::string advertise;
  int64_t started_ms = 0;  // wall time, ms since the Unix epoch
  std::chrono::milliseconds heartbeat{1000};
  std::chrono::milliseconds node_ttl{3000};
  uint32_t max_pending_commands = 10'000;  // per Redis link
  uint32_t max_nodes = 1'000;              // ids read from craft:nodes per refresh; more are ignored
};

class NodeRegistry {
 public:
  // `load` is called on the registry's thread before each heartbeat; it must not block long.
  NodeRegistry(RegistryOptions options, std::function<NodeLoad()> load);
  ~NodeRegistry();  // stop()
  NodeRegistry(const NodeRegistry&) = delete;
  NodeRegistry& operator=(const NodeRegistry&) = delete;

  void start();
  // Leaves the cluster (DEL, SREM, "leave <id>") when Redis answers within 1 s, then joins the
  // thread. Idempotent.
  void stop();

  const std::string& node_id() const { return options_.node_id; }
  // The nodes seen alive at the last refresh (this one included once registered), by id.
  // Kept while Redis is unreachable: the last known view.
  std::vector<NodeRecord> nodes() const;
  bool connected() const { return connected_.load(std::memory_order_relaxed); }

  // STAND-IN for the lead's bus (CLUSTER-DESIGN.md), same signatures, so cbus builds and
  // tests before it lands; replaced by main's on merge.
  void send_to(const std::string& node_id, std::string_view kind, std::string payload);
  void broadcast(std::string_view kind, std::string payload);
  void on_message(std::string kind, std::function<void(const std::string& from, const std::string& payload)> fn);
  void on_node_dead(std::function<void(const std::string& id)> fn);
  bool is_alive(const std::string& node_id) const;
  const RedisCounters& counters() const { return counters_; }

 private:
  void beat();
  void arm_heartbeat();
  void refresh();
  void on_members(const Reply& reply);

  RegistryOptions options_;
  std::function<NodeLoad()> load_;
  RedisCounters counters_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::steady_timer heartbeat_timer_;
  asio::steady_timer stop_deadline_;
  // After io_: a link's context is freed before the io_context that drives it goes away.
  std::unique_ptr<RedisLink> commands_;
  std::unique_ptr<RedisLink> events_;
  std::unique_ptr<RedisLink> to_me_;
  std::unique_ptr<RedisLink> to_all_;
  std::unordered_map<std::string, std::function<void(const std::string&, const std::string&)>> handlers_;
  std::vector<std::function<void(const std::string&)>> dead_handlers_;
  void dispatch(const std::string& message);
  std::thread thread_;
  std::atomic<bool> connected_{false};
  bool refreshing_ = false;
  bool refresh_again_ = false;
  bool stopped_ = false;
  mutable std::mutex nodes_mutex_;
  std::vector<NodeRecord> nodes_;
};

// A fresh node id: 16 hex characters from the system's random source.
std::string generate_node_id();

}  // namespace craft::cluster
