// Counters each shard owns and only its own thread writes; /metrics sums them. A single
// writer means increments need no locked instruction, only relaxed atomic loads/stores.
// A leaf: every layer counts here, none is included. The Prometheus text is rendered by
// the layers that know the names (core/metrics_text.cpp, api/api_metrics.cpp).
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace craft {

class Counter {
 public:
  void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void sub(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Microsecond buckets, two per power of two: upper bounds 1, 1.5, 2, 3, 4, 6, 8, 12, ...
// (bucket i counts values below bound(i); the last is +Inf), so a quantile is known to
// within 50%: enough to tell 700 us from 1 ms.
class LatencyHistogram {
 public:
  static constexpr size_t buckets = 48;
  // Upper bound of bucket i in microseconds (2^(i/2), times 1.5 for odd i).
  static double bound_us(size_t i) { return double(uint64_t{1} << (i / 2)) * (i % 2 ? 1.5 : 1.0); }
  void record_us(uint64_t us);
  uint64_t count() const;
  uint64_t sum_us() const { return sum_us_.get(); }
  // Upper bound of the bucket holding quantile q, in microseconds.
  uint64_t quantile_us(double q) const;
  void merge_into(std::array<uint64_t, buckets>& out) const;
  // Upper bound of the bucket holding quantile q of merged counts, in microseconds.
  static uint64_t quantile_us(const std::array<uint64_t, buckets>& counts, double q);

 private:
  std::array<Counter, buckets> counts_;
  Counter sum_us_;  // for the exposition's _sum
};

// Close codes we count, each with a slot.
inline constexpr std::array<uint16_t, 15> counted_close_codes = {
    1000, 1001, 1002, 1007, 1008, 1009, 1011, 1013, 4000, 4001, 4002, 4003, 4004, 4005, 4006};

struct ShardMetrics {
  Counter connections_current;
  Counter connections_accepted;
  Counter rejected_max_connections;
  Counter rejected_per_ip;
  Counter dropped_at_accept;  // past limits.max_refusals_per_ip
  Counter messages_in;
  Counter bytes_in;
  Counter frames_out;     // frames queued for a socket
  Counter bytes_out;
  Counter write_calls;    // gathered write syscalls
  Counter read_calls;     // reads that returned bytes
  Counter batches;        // server.coalesce_us: windows that gathered events (Shard::run_loop)
  Counter rate_limited;
  Counter http_requests;
  Counter http_rejected;  // 4xx answers, incl. 431 for limits.max_http_request_bytes
  Counter forwarded;           // requests from a trusted proxy whose client came from X-Forwarded-For
  Counter metrics_refused;  // GET /metrics from outside server.metrics_allow (404)
  Counter forwarded_rejected;  // ... answered 400: malformed, or past limits.max_forwarded_hops; bad PROXY headers
  Counter proxy_protocol;      // TCP connections whose client came from a PROXY protocol header
  // Client JSON refused by the strict check (protocol/json_check.hpp) before any parser:
  Counter json_rejected;       // text-frame envelopes (bad JSON or deeper than limits.max_json_depth)
  Counter json_rejected_http;  // HTTP API bodies (the same check)
  Counter rooms_current;
  Counter room_ticks;
  Counter ticks_skipped;
  Counter room_errors;        // rooms ended because their code threw (RoomHost::fail)
  Counter messages_held;      // envelopes that waited for an earlier request (Session::hold)
  Counter pending_refused;    // refused at limits.pending_queue_bytes
  Counter room_lists_truncated;  // room_list answers cut at rooms.max_list_results
  // Listings, lobby, properties (core/session_lobby.cpp).
  Counter room_filters_refused;  // filters past rooms.max_filter_conditions or otherwise bad
  Counter metadata_refused;      // Room::set_metadata refused (rooms.max_metadata, max_property_bytes, bad key/value)
  Counter lobby_subscriptions;   // gauge: live lobby subscriptions
  Counter lobby_updates;         // lobby_update messages sent (the first page included)
  Counter matchmaker_matches;    // matches formed, counted on the match room's shard
  Counter reservations_expired;  // seat reservations that lapsed unused
  Counter property_conflicts;    // properties_set refused with PROPERTY_CONFLICT
  // Replicated state (core/room_host.cpp, docs/protocol.md §4.20), from rooms' Replicators.
  Counter replication_snapshots;       // state_snapshot messages encoded
  Counter replication_snapshot_bytes;  // their data bytes
  Counter replication_full_snapshots;  // of those, without a baseline
  Counter replication_deferred;        // entity changes a byte budget left for a later snapshot
  Counter replication_skipped;         // snapshots not sent: the member's queue held replication.max_queued_bytes
  Counter replication_acks_ignored;    // acks for ticks never sent or out of the window
  Counter tls_handshakes;          // TLS handshakes completed (tls.cert_file set)
  Counter tls_handshake_failures;  // TLS connections that ended before the handshake finished
  // Resumable sessions (core/session_resume.cpp).
  Counter sessions_held;         // gauge: held for resume, no connection
  Counter sessions_resumed;
  Counter resume_failed_unknown;  // RESUME_FAILED: unknown/used/ended token
  Counter resume_failed_format;   // RESUME_FAILED: another transport or frame type
  Counter resume_failed_gap;      // REPLAY_GAP
  Counter sessions_expired;      // held sessions whose window ended
  Counter replayed_messages;
  Counter replay_overflows;      // messages dropped from a full replay buffer
  Counter server_pings;
  Counter sessions_replaced;     // auth.session_policy = replace
  Counter sessions_refused;      // auth.session_policy = refuse
  LatencyHistogram session_rtt;  // server ping -> answer
  std::array<Counter, counted_close_codes.size() + 1> closes;  // last slot: other codes
  std::array<Counter, 64> errors;                              // by ErrorCode value (< 64)
  LatencyHistogram tick_lateness;

  void count_close(uint16_t code);
  void count_error(int code) { errors[static_cast<size_t>(code) & 63].add(); }
};

// Builds Prometheus text exposition, one metric family at a time.
struct PrometheusWriter {
  std::string out;
  void line(const char* name, const char* help, const char* type);
  void value(const std::string& name_and_labels, uint64_t v);
};

}  // namespace craft
