// The ticket pool of a cluster (issue 14; docs/cluster.md, "Matchmaking across nodes"):
// tickets of every node in one Redis hash, one matcher at a time under a Redis lease.
//
// Each node keeps its own tickets (their owners are its sessions) and writes them to Redis;
// the node holding the lease `craft:matcher` mirrors the whole pool into a
// craft::matchmaker::Matcher, runs it every matchmaker.interval_ms, claims each match's
// tickets atomically (a Lua script that checks the lease and that every ticket is still
// queued, then deletes them), and hands the match to the caller (on_match), which creates
// the room here and sends every player match_found through deliver_match(): on this node
// through Deliver, on the owner's node over the bus ("mm.deliver").
#pragma once
#include "presence/ticket_pool.hpp"

#include <craft/clock.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace craft::cluster {
class NodeRegistry;
}

namespace craft::presence {

struct ClusterPoolOptions {
  std::string node_id;                          // this node's id (NodeRegistry::node_id())
  std::chrono::milliseconds lease_ttl{3'000};   // cluster.matcher_lease_ms
  uint32_t max_record_bytes = 262'144;          // cluster.max_ticket_record_bytes
  // True once the node drains (it takes no joins): it gives the matcher lease up. Any thread.
  std::function<bool()> draining;
};

// craft_cluster_matcher_* (docs/cluster.md, "Observing it"); any thread.
struct ClusterMatcherCounters {
  std::atomic<uint64_t> holder{0};            // gauge: 1 while this node holds the lease
  std::atomic<uint64_t> leases{0};            // times this node took the lease
  std::atomic<uint64_t> mirrored{0};          // gauge: tickets in the holder's mirror
  std::atomic<uint64_t> pool{0};              // gauge: tickets in Redis at this node's last look
  std::atomic<uint64_t> runs{0};              // matcher runs on this node
  std::atomic<uint64_t> matches{0};           // matches claimed by this node
  std::atomic<uint64_t> claims_failed{0};     // matches given up: a ticket left the pool meanwhile, or the lease
  std::atomic<uint64_t> bad_records{0};       // ticket records in Redis that did not parse (skipped)
  std::atomic<uint64_t> sent{0};              // match envelopes sent to other nodes
  std::atomic<uint64_t> dropped{0};           // match envelopes not delivered: ticket cancelled, unknown, or bad message
  std::atomic<uint64_t> dead_node_cleanups{0};// dead nodes whose tickets this node removed from Redis
  std::atomic<uint64_t> unreachable{0};       // tickets left out of a claimed match: their node had no subscription
};

// Registers its bus handlers and hooks on `registry`: call before registry.start().
// `on_match(tickets)`: a claimed match, on the cluster thread; the caller creates the room
// (post to a shard) and sends each player's envelope through deliver_match().
std::unique_ptr<TicketPool> make_cluster_ticket_pool(
    const MatchmakerConfig& config, ClusterPoolOptions options, cluster::NodeRegistry& registry, const Clock& clock,
    Deliver deliver, std::function<void(const std::string& party_id, const std::string& ticket)> party_ticket_gone,
    std::function<void(std::vector<Ticket>)> on_match, ClusterMatcherCounters& counters);

}  // namespace craft::presence
