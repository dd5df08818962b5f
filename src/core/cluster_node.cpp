// ServerCore's side of clustering (docs/cluster.md): the node registry started with the
// server when cluster.redis_url is set, its metrics and GET /cluster/nodes. With clustering
// off none of this runs: no thread, no Redis connection, no metric lines.
#include "cluster/node_registry.hpp"
#include "cluster/redis_url.hpp"
#include "core/server_core.hpp"
#include "presence/cluster_ticket_pool.hpp"
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
  if (c.matcher_lease_ms <= config_.matchmaker.interval_ms) {
    throw std::invalid_argument("cluster.matcher_lease_ms (" + std::to_string(c.matcher_lease_ms) +
                                ") must be above matchmaker.interval_ms (" +
                                std::to_string(config_.matchmaker.interval_ms) + "): the holder renews it every interval");
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
  cluster_node_id_ = o.node_id;
  cluster_advertise_ = o.advertise;
  cluster_ = std::make_unique<cluster::NodeRegistry>(std::move(o), [this] {
    cluster::NodeLoad load;
    for (uint32_t i = 0; i < shards_.size(); ++i) load.rooms += rooms_by_shard_[i].count.load(std::memory_order_relaxed);
    std::lock_guard lock(limits_mutex_);
    load.connections = total_connections_;
    return load;
  });
  // Cluster parts register their bus handlers and hooks here, before start(), so no message
  // or registration is missed.
  //
  // Tickets of every node in one pool (presence/cluster_ticket_pool.hpp). Shards are not
  // running yet (start() starts them after this), so no session has seen the local pool.
  matcher_counters_ = std::make_unique<presence::ClusterMatcherCounters>();
  presence::ClusterPoolOptions po;
  po.node_id = cluster_node_id_;
  po.lease_ttl = std::chrono::milliseconds(c.matcher_lease_ms);
  po.max_record_bytes = c.max_ticket_record_bytes;
  tickets_ = presence::make_cluster_ticket_pool(
      config_.matchmaker, std::move(po), *cluster_, clock_,
      [this](SessionId id, v1::Envelope e) { return post_to_session(id, std::move(e)); },
      [this](const std::string& p, const std::string& t) { parties_->ticket_gone(p, t); },
      [this](std::vector<presence::Ticket> match) {
        // Claimed on the cluster thread; the room is made where the local matcher makes it.
        shards_.front()->post([this, m = std::move(match)]() mutable {
          if (!stopping()) start_match(std::move(m));
        });
      },
      *matcher_counters_);
  if (match_filter_) tickets_->set_match_filter(match_filter_);
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
  if (matcher_counters_) {
    const auto& m = *matcher_counters_;
    auto v = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    w.line("craft_cluster_matcher_holder", "1 while this node holds the matcher lease (craft:matcher)", "gauge");
    w.value("craft_cluster_matcher_holder", v(m.holder));
    w.line("craft_cluster_matcher_leases_total", "Times this node took the matcher lease", "counter");
    w.value("craft_cluster_matcher_leases_total", v(m.leases));
    w.line("craft_cluster_matcher_pool", "Tickets queued on every node, as this node last read it (HLEN)", "gauge");
    w.value("craft_cluster_matcher_pool", v(m.pool));
    w.line("craft_cluster_matcher_mirrored", "Tickets in the lease holder's copy of the pool (0 elsewhere)", "gauge");
    w.value("craft_cluster_matcher_mirrored", v(m.mirrored));
    w.line("craft_cluster_matcher_runs_total", "Matcher runs on this node (while holding the lease)", "counter");
    w.value("craft_cluster_matcher_runs_total", v(m.runs));
    w.line("craft_cluster_matcher_matches_total", "Matches this node claimed in Redis", "counter");
    w.value("craft_cluster_matcher_matches_total", v(m.matches));
    w.line("craft_cluster_matcher_claims_failed_total",
           "Matches given up at the claim: a ticket had left the pool, the lease was lost, or Redis failed", "counter");
    w.value("craft_cluster_matcher_claims_failed_total", v(m.claims_failed));
    w.line("craft_cluster_matcher_bad_records_total",
           "Ticket records in Redis skipped: over cluster.max_ticket_record_bytes or not parsing", "counter");
    w.value("craft_cluster_matcher_bad_records_total", v(m.bad_records));
    w.line("craft_cluster_matcher_sent_total", "match_found / room failed envelopes sent to other nodes", "counter");
    w.value("craft_cluster_matcher_sent_total", v(m.sent));
    w.line("craft_cluster_matcher_dropped_total",
           "Match envelopes not delivered: the ticket was cancelled or unknown here, or the message was bad", "counter");
    w.value("craft_cluster_matcher_dropped_total", v(m.dropped));
    w.line("craft_cluster_matcher_dead_node_cleanups_total",
           "Dead nodes whose tickets this node removed from the pool", "counter");
    w.value("craft_cluster_matcher_dead_node_cleanups_total", v(m.dead_node_cleanups));
  }
  return w.out;
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
