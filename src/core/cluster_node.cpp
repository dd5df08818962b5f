// ServerCore's side of clustering (docs/cluster.md): the node registry started with the
// server when cluster.redis_url is set, its metrics and GET /cluster/nodes. With clustering
// off none of this runs: no thread, no Redis connection, no metric lines.
#include "cluster/node_registry.hpp"
#include "cluster/redis_url.hpp"
#include "core/server_core.hpp"
#include "net/http_request.hpp"

#include <craft/json.hpp>

#include <spdlog/spdlog.h>

#include <stdexcept>

namespace craft::detail {

void ServerCore::check_cluster_config() const {
  const auto& c = config_.cluster;
  if (c.redis_url.empty()) return;
  if (std::string why; !cluster::parse_redis_url(c.redis_url, why)) throw std::invalid_argument("cluster.redis_url: " + why);
  if (c.node_ttl_ms <= c.heartbeat_ms) {
    throw std::invalid_argument("cluster.node_ttl_ms (" + std::to_string(c.node_ttl_ms) +
                                ") must be above cluster.heartbeat_ms (" + std::to_string(c.heartbeat_ms) + ")");
  }
  if (!c.node_id.empty() && !cluster::valid_node_id(c.node_id)) {
    throw std::invalid_argument("cluster.node_id: 1-64 of letters, digits, '.', '_' and '-'");
  }
  if (c.node_ttl_ms + c.heartbeat_ms > 5'000) {
    spdlog::warn("cluster.node_ttl_ms + cluster.heartbeat_ms = {} ms: a dead node stays listed longer than 5 s",
                 c.node_ttl_ms + c.heartbeat_ms);
  }
}

void ServerCore::start_cluster() {
  const auto& c = config_.cluster;
  if (c.redis_url.empty()) return;
  std::string why;
  cluster::RegistryOptions o;
  o.redis = *cluster::parse_redis_url(c.redis_url, why);  // checked in the constructor
  o.node_id = c.node_id.empty() ? cluster::generate_node_id() : c.node_id;
  if (!c.advertise.empty()) {
    o.advertise = c.advertise;
  } else {
    bool v6 = config_.listen_address.find(':') != std::string::npos;
    std::string host = v6 ? "[" + config_.listen_address + "]" : config_.listen_address;
    o.advertise = std::string(tls_ ? "wss://" : "ws://") + host + ":" + std::to_string(http_port_) + "/ws";
  }
  o.started_ms = clock_.wall_time_us() / 1000;
  o.heartbeat = std::chrono::milliseconds(c.heartbeat_ms);
  o.node_ttl = std::chrono::milliseconds(c.node_ttl_ms);
  o.max_pending_commands = c.max_pending_commands;
  o.max_message_bytes = c.max_message_bytes;
  o.max_pending_requests = c.max_pending_requests;
  cluster_ = std::make_unique<cluster::NodeRegistry>(std::move(o), [this] {
    cluster::NodeLoad load;
    for (uint32_t i = 0; i < shards_.size(); ++i) load.rooms += rooms_by_shard_[i].count.load(std::memory_order_relaxed);
    std::lock_guard lock(limits_mutex_);
    load.connections = total_connections_;
    return load;
  });
  // Cluster parts register their bus handlers and hooks here, before start(), so no message
  // or registration is missed.
  serve_seat_requests();
  cluster_->start();
}

void ServerCore::stop_cluster() {
  if (cluster_) cluster_->stop();
}

std::string ServerCore::cluster_metrics() const {
  if (!cluster_) return {};
  const auto& k = cluster_->counters();
  PrometheusWriter w;
  w.line("craft_cluster_nodes", "Nodes of the cluster seen alive in Redis at the last refresh, this one included",
         "gauge");
  w.value("craft_cluster_nodes", cluster_->nodes().size());
  w.line("craft_cluster_redis_connected", "1 while the node's Redis command connection is up", "gauge");
  w.value("craft_cluster_redis_connected", cluster_->connected() ? 1 : 0);
  w.line("craft_cluster_redis_commands_total", "Commands sent to Redis", "counter");
  w.value("craft_cluster_redis_commands_total", k.commands.load(std::memory_order_relaxed));
  w.line("craft_cluster_redis_refused_total",
         "Redis commands refused: not connected, or over cluster.max_pending_commands", "counter");
  w.value("craft_cluster_redis_refused_total", k.refused.load(std::memory_order_relaxed));
  w.line("craft_cluster_redis_pending", "Redis commands sent and not yet answered", "gauge");
  w.value("craft_cluster_redis_pending", k.pending.load(std::memory_order_relaxed));
  w.line("craft_cluster_redis_reconnects_total", "Redis connections made again after one was lost", "counter");
  w.value("craft_cluster_redis_reconnects_total", k.reconnects.load(std::memory_order_relaxed));
  const auto& b = cluster_->bus_counters();
  w.line("craft_cluster_bus_sent_total", "Node-to-node messages, requests and responses published", "counter");
  w.value("craft_cluster_bus_sent_total", b.sent.load(std::memory_order_relaxed));
  w.line("craft_cluster_bus_received_total", "Well-formed node-to-node messages received", "counter");
  w.value("craft_cluster_bus_received_total", b.received.load(std::memory_order_relaxed));
  w.line("craft_cluster_bus_dropped_total",
         "Node-to-node messages dropped: malformed, over cluster.max_message_bytes, unhandled, or late answers",
         "counter");
  w.value("craft_cluster_bus_dropped_total", b.dropped.load(std::memory_order_relaxed));
  w.line("craft_cluster_bus_timed_out_total",
         "Node-to-node requests that got no answer in time, or failed at once (node not alive, Redis down, "
         "over cluster.max_pending_requests)",
         "counter");
  w.value("craft_cluster_bus_timed_out_total", b.timed_out.load(std::memory_order_relaxed));
  w.line("craft_cluster_bus_pending_requests", "Node-to-node requests awaiting their answer", "gauge");
  w.value("craft_cluster_bus_pending_requests", b.pending.load(std::memory_order_relaxed));
  return w.out + routing_metrics();
}

std::string ServerCore::cluster_nodes_response() const {
  if (!cluster_) return http::response(404, "Not Found", "text/plain", "clustering is off (cluster.redis_url)\n");
  std::string body = "{\"self\":";
  json::append_string(body, cluster_->node_id());
  body += ",\"redis_connected\":";
  body += cluster_->connected() ? "true" : "false";
  body += ",\"nodes\":[";
  bool first = true;
  for (const auto& n : cluster_->nodes()) {
    if (!first) body += ',';
    first = false;
    body += "{\"id\":";
    json::append_string(body, n.id);
    body += ",\"advertise\":";
    json::append_string(body, n.advertise);
    body += ",\"started_ms\":" + std::to_string(n.started_ms) + ",\"rooms\":" + std::to_string(n.rooms) +
            ",\"connections\":" + std::to_string(n.connections) + "}";
  }
  body += "]}\n";
  return http::response(200, "OK", "application/json", body);
}

}  // namespace craft::detail
