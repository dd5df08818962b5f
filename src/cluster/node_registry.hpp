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
//   craft:to:<id>    pub/sub channel: messages and requests for node <id> (bus_message.hpp)
//   craft:all        pub/sub channel: messages for every node
// A node learns of a join at once (the message) and of a death within node_ttl_ms +
// heartbeat_ms (the key expires; the next refresh finds it missing): 4 s with the defaults.
//
// The bus: the registry also carries what other cluster parts (directory, tickets, bans) need
// from Redis: commands on its command link, node-to-node messages and requests, and hooks for
// (re)registration and node deaths. Delivery is at most once: a node that is not subscribed
// (dead, or Redis down) misses a message; from one sender to one receiver messages keep their
// order (one command link publishes, one subscription receives).
//
// Threads: the registry runs its own thread and io_context with two Redis links (commands,
// and the subscription); shards never wait on it. Every public member may be called from any
// thread; every callback and handler runs on the cluster thread (post to a shard from there).
#pragma once
#include "cluster/bus_message.hpp"
#include "cluster/node_record.hpp"
#include "cluster/redis_link.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <thread>
#include <vector>

namespace craft::cluster {

struct NodeLoad {
  uint64_t rooms = 0;
  uint64_t connections = 0;
  bool draining = false;  // Server::drain() has begun (the record's 7th field)
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
  uint32_t max_message_bytes = 65'536;     // cluster.max_message_bytes: a bus message, whole
  uint32_t max_pending_requests = 10'000;  // cluster.max_pending_requests: requests awaiting answers
};

// Bus counters for /metrics; read from any thread.
struct BusCounters {
  std::atomic<uint64_t> sent{0};       // messages, requests and responses published
  std::atomic<uint64_t> received{0};   // well-formed messages taken off the subscription
  std::atomic<uint64_t> dropped{0};    // malformed, oversized, or of a kind nobody handles
  std::atomic<uint64_t> timed_out{0};  // requests answered by their timeout (or refused)
  std::atomic<uint64_t> unheard{0};    // of those, failed at once: nobody subscribed to the node's channel
  std::atomic<uint64_t> pending{0};    // requests awaiting their answer
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
  const RedisCounters& counters() const { return counters_; }
  const BusCounters& bus_counters() const { return bus_; }
  bool is_alive(const std::string& node_id) const;
  std::optional<NodeRecord> node(const std::string& node_id) const;

  // --- the bus (docs/cluster.md "Node-to-node messages") ---
  using MessageHandler = std::function<void(const std::string& from, const std::string& payload)>;
  using Respond = std::function<void(std::string payload)>;
  using RequestHandler = std::function<void(const std::string& from, const std::string& payload, Respond respond)>;

  // A Redis command on the command link; `done` (may be empty) gets the reply on the cluster
  // thread: type error when Redis is unreachable or over max_pending_commands.
  void command(std::vector<std::string> args, RedisLink::Callback done = {});
  void post(std::function<void()> fn);
  // Run `fn` on the cluster thread after `delay` (never if the registry stops first).
  void post_after(std::chrono::milliseconds delay, std::function<void()> fn);
  // `kind`: 1-32 of [a-z0-9_.]; the whole message at most max_message_bytes, else it is not
  // sent (counted as dropped). send_to this node's own id goes through Redis like any other.
  void send_to(const std::string& node_id, std::string_view kind, std::string payload);
  void broadcast(std::string_view kind, std::string payload);  // every node, this one too
  // `done` gets the responder's payload, or nullopt after `timeout`, at once when the node is
  // not alive in the last view, Redis is down, or max_pending_requests are waiting, and as soon
  // as Redis says nobody is subscribed to the node's channel (its process died). Always once.
  void request(const std::string& node_id, std::string_view kind, std::string payload,
               std::chrono::milliseconds timeout, std::function<void(std::optional<std::string>)> done);
  // After stop() nothing more is sent, answered or called back.
  // Handlers, one per kind (a later one replaces it). Register before start() so no message
  // is missed; `respond` may be called once, later, from any thread (later calls do nothing).
  void on_message(std::string kind, MessageHandler handler);
  void on_request(std::string kind, RequestHandler handler);
  // After each (re)registration in Redis (first connect, and every reconnect: Redis may have
  // restarted empty): re-publish what this node owns. Registered while registered: runs once now.
  void on_registered(std::function<void()> hook);
  // A node left the live view (its key lapsed, or it left cleanly); never this node.
  void on_node_dead(std::function<void(const std::string& node_id)> hook);

 private:
  struct PendingRequest {
    PendingRequest(asio::io_context& io, std::string n, std::string k,
                   std::function<void(std::optional<std::string>)> d)
        : timer(io), node(std::move(n)), kind(std::move(k)), done(std::move(d)) {}
    asio::steady_timer timer;
    std::string node, kind;  // a response must come from the node asked, for the kind asked
    std::function<void(std::optional<std::string>)> done;
  };
  void publish(const std::string& channel, const BusMessage& m, RedisLink::Callback done = {});
  void on_bus(const std::string& channel, const std::string& text);
  void registered();
  void nodes_changed(std::vector<NodeRecord> alive);
  void fail_request(PendingRequest& p);
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
  std::thread thread_;
  std::atomic<bool> connected_{false};
  bool refreshing_ = false;
  bool refresh_again_ = false;
  bool stopped_ = false;
  mutable std::mutex nodes_mutex_;
  std::vector<NodeRecord> nodes_;

  BusCounters bus_;
  std::mutex handlers_mutex_;  // handlers may be registered from any thread, at any time
  std::unordered_map<std::string, MessageHandler> message_handlers_;
  std::unordered_map<std::string, RequestHandler> request_handlers_;
  std::vector<std::function<void()>> registered_hooks_;
  std::vector<std::function<void(const std::string&)>> dead_hooks_;
  bool is_registered_ = false;  // cluster thread
  uint64_t next_request_ = 1;   // cluster thread
  std::unordered_map<uint64_t, std::unique_ptr<PendingRequest>> pending_;  // cluster thread
};

// A fresh node id: 16 hex characters from the system's random source.
std::string generate_node_id();

}  // namespace craft::cluster
