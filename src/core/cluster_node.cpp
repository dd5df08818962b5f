// ServerCore's side of clustering (docs/cluster.md): the node registry started with the
// server when cluster.redis_url is set, its metrics and GET /cluster/nodes. With clustering
// off none of this runs: no thread, no Redis connection, no metric lines.
#include "cluster/node_registry.hpp"
#include "presence/redis_room_directory.hpp"
#include "cluster/redis_url.hpp"
#include "core/bus_fields.hpp"
#include "core/cluster_parties.hpp"
#include "core/server_core.hpp"
#include "presence/cluster_ticket_pool.hpp"
#include "net/http_request.hpp"

#include <craft/json.hpp>

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <stdexcept>

namespace craft::detail {

namespace {
// A bus message's own fields around a payload (bus_message.hpp: version, type, kind <= 32,
// node id <= 64, request id), rounded up; and what one entry needs on top inside a "dir"
// payload (its header and the record's length prefix) together with that.
constexpr uint32_t bus_header_bytes = 160;
constexpr uint32_t bus_overhead_bytes = 256;
}  // namespace

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
  if (c.max_room_entry_bytes + bus_overhead_bytes > c.max_message_bytes) {
    throw std::invalid_argument("cluster.max_room_entry_bytes (" + std::to_string(c.max_room_entry_bytes) +
                                ") must leave " + std::to_string(bus_overhead_bytes) +
                                " bytes free in cluster.max_message_bytes (" + std::to_string(c.max_message_bytes) + ")");
  }
  if (c.node_ttl_ms + c.heartbeat_ms > 5'000) {
    spdlog::warn("cluster.node_ttl_ms + cluster.heartbeat_ms = {} ms: a dead node stays listed longer than 5 s",
                 c.node_ttl_ms + c.heartbeat_ms);
  }
}

void ServerCore::make_cluster_directory() {
  const auto& c = config_.cluster;
  if (c.redis_url.empty()) return;
  cluster_node_id_ = c.node_id.empty() ? cluster::generate_node_id() : c.node_id;
  cluster::DirectoryOptions o;
  o.node_id = cluster_node_id_;
  o.incarnation = clock_.wall_time_us();
  o.flush = std::chrono::milliseconds(c.directory_flush_ms);
  o.audit = std::chrono::milliseconds(c.heartbeat_ms);
  o.node_ttl = std::chrono::milliseconds(c.node_ttl_ms);
  o.limits.max_bytes = c.max_room_entry_bytes;
  o.limits.max_metadata = config_.rooms.max_metadata;
  o.max_message_bytes = c.max_message_bytes - bus_header_bytes;  // the payload: checked to fit one entry
  o.max_rooms_per_node = config_.rooms.max_rooms;
  o.wall_us = [this] { return static_cast<uint64_t>(clock_.wall_time_us()); };
  auto directory = std::make_unique<cluster::RedisRoomDirectory>(std::move(o));
  cluster_directory_ = directory.get();
  world_.set_directory(std::move(directory));
}

void ServerCore::start_cluster() {
  const auto& c = config_.cluster;
  if (c.redis_url.empty()) return;
  std::string why;
  cluster::RegistryOptions o;
  o.redis = *cluster::parse_redis_url(c.redis_url, why);  // checked in the constructor
  o.node_id = cluster_node_id_;
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
  cluster_advertise_ = o.advertise;
  cluster_ = std::make_unique<cluster::NodeRegistry>(std::move(o), [this] {
    cluster::NodeLoad load;
    for (uint32_t i = 0; i < shards_.size(); ++i) load.rooms += rooms_by_shard_[i].count.load(std::memory_order_relaxed);
    load.draining = draining();
    std::lock_guard lock(limits_mutex_);
    load.connections = total_connections_;
    return load;
  });
  // Cluster parts register their bus handlers and hooks here, before start(), so no message
  // or registration is missed.
  // Session ids name a party's members on every node (core/cluster_parties.hpp), so each node
  // counts from its own random 20-bit prefix: ids stay below 2^52 (exact as JavaScript numbers),
  // and two nodes share a prefix with odds 1 in 2^20 per pair.
  uint32_t prefix = 0;
  while (prefix == 0) prefix = randombytes_uniform(1u << 20);
  next_session_id_.store((uint64_t{prefix} << 32) | 1, std::memory_order_relaxed);
  // A party's ticket is queued and cancelled on the party's home, for a leader on any node.
  auto matchmaker = [this](const v1::Presence& who, const v1::Envelope& e) {
    if (e.has_matchmaker_remove()) return tickets_->remove(who.session_id(), e.matchmaker_remove().ticket(), e.cid());
    if (draining()) {
      // The party ends with this node: a ticket queued now would be lost with it.
      v1::Envelope error;
      error.set_cid(e.cid());
      error.mutable_error()->set_code(v1::SERVER_SHUTTING_DOWN);
      error.mutable_error()->set_message("the party's node is draining: no new tickets for it");
      deliver_anywhere(who.session_id(), std::move(error));
      return;
    }
    queue_party_ticket(who, e.matchmaker_add(), e.cid(), clock_.now());
  };
  auto parties = make_cluster_parties(
      *this, *cluster_, [this](const std::string& t) { tickets_->cancel(t, "party changed"); }, std::move(matchmaker));
  cluster_parties_ = parties.get();
  parties_ = std::move(parties);
  for (auto kind : {"user.ban", "user.logout"}) {
    bool ban = std::string_view(kind) == "user.ban";
    cluster_->on_message(kind, [this, ban](const std::string& from, const std::string& payload) {
      if (from == cluster_->node_id()) return;  // ended here already, before it was sent
      auto f = bus::fields<1>(payload);
      if (!f || !bus::plain_id((*f)[0])) {
        revocations_refused_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      revocations_received_.fetch_add(1, std::memory_order_relaxed);
      auto id = std::string((*f)[0]);
      end_sessions(ban ? api::ban_revocation(std::move(id)) : api::logout_revocation(std::move(id)));
    });
  }
  cluster_directory_->attach(*cluster_);
  serve_seat_requests();
  serve_seat_releases();
  //
  // Tickets of every node in one pool (presence/cluster_ticket_pool.hpp). Shards are not
  // running yet (start() starts them after this), so no session has seen the local pool.
  matcher_counters_ = std::make_unique<presence::ClusterMatcherCounters>();
  presence::ClusterPoolOptions po;
  po.node_id = cluster_node_id_;
  po.lease_ttl = std::chrono::milliseconds(c.matcher_lease_ms);
  po.max_record_bytes = c.max_ticket_record_bytes;
  po.draining = [this] { return draining(); };
  tickets_ = presence::make_cluster_ticket_pool(
      config_.matchmaker, std::move(po), *cluster_, clock_,
      // A party ticket's leader and members may be connected to other nodes than its home.
      [this](SessionId id, v1::Envelope e) { return deliver_anywhere(id, std::move(e)); },
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

void ServerCore::publish_revocation(const api::Revocation& r) {
  if (!cluster_) return;
  const auto& id = r.account_id.empty() ? r.token_id : r.account_id;
  if (!bus::plain_id(id)) return;
  revocations_sent_.fetch_add(1, std::memory_order_relaxed);
  cluster_->broadcast(r.account_id.empty() ? "user.logout" : "user.ban", "1\t" + id);
}

void ServerCore::stop_cluster() {
  if (!cluster_) return;
  if (cluster_parties_) cluster_parties_->detach();
  cluster_directory_->leave();
  cluster_->stop();
  cluster_directory_->detach();
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
  w.line("craft_cluster_bus_unheard_total",
         "Node-to-node requests failed at once because nobody was subscribed to the node's channel (its process "
         "died before its key expired); also counted in craft_cluster_bus_timed_out_total",
         "counter");
  w.value("craft_cluster_bus_unheard_total", b.unheard.load(std::memory_order_relaxed));
  w.line("craft_cluster_bus_pending_requests", "Node-to-node requests awaiting their answer", "gauge");
  w.value("craft_cluster_bus_pending_requests", b.pending.load(std::memory_order_relaxed));
  w.line("craft_cluster_revocations_sent_total", "Bans and logouts made here, sent to every node (user.ban, user.logout)",
         "counter");
  w.value("craft_cluster_revocations_sent_total", revocations_sent_.load(std::memory_order_relaxed));
  w.line("craft_cluster_revocations_received_total", "Bans and logouts from other nodes applied to sessions here",
         "counter");
  w.value("craft_cluster_revocations_received_total", revocations_received_.load(std::memory_order_relaxed));
  w.line("craft_cluster_revocations_refused_total", "user.ban / user.logout payloads that did not parse", "counter");
  w.value("craft_cluster_revocations_refused_total", revocations_refused_.load(std::memory_order_relaxed));
  if (cluster_parties_) {
    const auto& p = cluster_parties_->counters();
    w.line("craft_cluster_party_messages_sent_total", "Party messages sent to other nodes (party.*)", "counter");
    w.value("craft_cluster_party_messages_sent_total", p.sent.load(std::memory_order_relaxed));
    w.line("craft_cluster_party_messages_received_total", "Party messages received from the bus (party.*)", "counter");
    w.value("craft_cluster_party_messages_received_total", p.received.load(std::memory_order_relaxed));
    w.line("craft_cluster_party_messages_refused_total",
           "Party messages from the bus that did not parse or were not a party request", "counter");
    w.value("craft_cluster_party_messages_refused_total", p.refused.load(std::memory_order_relaxed));
  }
  const auto& d = cluster_directory_->counters();
  auto put = [&](const char* name, const char* help, const char* type, const std::atomic<uint64_t>& v) {
    w.line(name, help, type);
    w.value(name, v.load(std::memory_order_relaxed));
  };
  put("craft_cluster_directory_local_rooms", "Rooms of this node in the shared directory", "gauge", d.local_rooms);
  put("craft_cluster_directory_remote_rooms", "Rooms of other nodes this node's directory mirror lists", "gauge",
      d.remote_rooms);
  put("craft_cluster_directory_changes_total", "Listing changes (publish, remove) by this node's rooms", "counter",
      d.changes);
  put("craft_cluster_directory_coalesced_total",
      "Listing changes folded into a write already waiting for cluster.directory_flush_ms", "counter", d.coalesced);
  put("craft_cluster_directory_flushes_total", "Batches of room changes written to Redis and sent to the nodes",
      "counter", d.flushes);
  put("craft_cluster_directory_written_total", "Room entries written to (HSET) or deleted from (HDEL) Redis",
      "counter", d.written);
  put("craft_cluster_directory_received_total", "Room entries and removals taken from other nodes", "counter",
      d.received);
  put("craft_cluster_directory_rejected_total",
      "Room entries or directory messages from Redis or other nodes refused: malformed, too big, or not the sender's",
      "counter", d.rejected);
  put("craft_cluster_directory_oversized_total",
      "This node's room entries past cluster.max_room_entry_bytes, listed on this node only", "counter",
      d.oversized);
  put("craft_cluster_directory_republishes_total",
      "Whole re-writes of this node's rooms to Redis (after a (re)registration or a failed audit)", "counter",
      d.republishes);
  put("craft_cluster_directory_resyncs_total", "Whole reads of the other nodes' rooms from Redis", "counter",
      d.resyncs);
  put("craft_cluster_directory_dead_node_rooms_total",
      "Rooms dropped from the directory because their node died, left or restarted", "counter", d.dead_node_rooms);
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
    w.line("craft_cluster_matcher_unreachable_total",
           "Tickets left out of a match at the claim: their node had no subscription to receive it (dead, or "
           "reconnecting to Redis)", "counter");
    w.value("craft_cluster_matcher_unreachable_total", v(m.unreachable));
  }
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
            ",\"connections\":" + std::to_string(n.connections) + ",\"draining\":" + (n.draining ? "true" : "false") +
            "}";
  }
  body += "]}\n";
  return http::response(200, "OK", "application/json", body);
}

}  // namespace craft::detail
