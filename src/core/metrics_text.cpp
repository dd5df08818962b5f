// /metrics: the Prometheus text for the sum of every shard's counters (metrics/metrics.hpp).
// Here, not beside the counters, because it names error codes from the protocol.
#include "core/metrics_text.hpp"

#include "craft.pb.h"

#include <cstdio>

namespace craft {

std::string render_metrics(const std::vector<const ShardMetrics*>& shards) {
  PrometheusWriter w;
  auto sum = [&](auto member) {
    uint64_t n = 0;
    for (auto* s : shards) n += (s->*member).get();
    return n;
  };
  struct Simple {
    Counter ShardMetrics::*member;
    const char* name;
    const char* help;
    const char* type;
  };
  static const Simple simple[] = {
      {&ShardMetrics::connections_current, "craft_connections", "Open connections", "gauge"},
      {&ShardMetrics::connections_accepted, "craft_connections_accepted_total", "Accepted connections", "counter"},
      {&ShardMetrics::messages_in, "craft_messages_in_total", "Envelopes received", "counter"},
      {&ShardMetrics::bytes_in, "craft_bytes_in_total", "Bytes received", "counter"},
      {&ShardMetrics::frames_out, "craft_frames_out_total", "Frames queued for sending", "counter"},
      {&ShardMetrics::bytes_out, "craft_bytes_out_total", "Bytes written", "counter"},
      {&ShardMetrics::write_calls, "craft_write_calls_total", "Gathered write system calls", "counter"},
      {&ShardMetrics::read_calls, "craft_read_calls_total", "Socket reads that returned bytes", "counter"},
      {&ShardMetrics::batches, "craft_coalesced_batches_total",
       "server.coalesce_us: loop turns that took a window's gathered events at once", "counter"},
      {&ShardMetrics::rate_limited, "craft_rate_limited_total", "Messages dropped by limits.messages_per_second", "counter"},
      {&ShardMetrics::http_requests, "craft_http_requests_total", "HTTP requests (upgrades included)", "counter"},
      {&ShardMetrics::http_rejected, "craft_http_rejected_total", "HTTP requests answered 4xx (431 = limits.max_http_request_bytes)", "counter"},
      {&ShardMetrics::forwarded, "craft_forwarded_for_total",
       "Requests from a server.trusted_proxies peer whose client address came from X-Forwarded-For", "counter"},
      {&ShardMetrics::forwarded_rejected, "craft_forwarded_for_rejected_total",
       "Refused from a trusted proxy: X-Forwarded-For malformed or past limits.max_forwarded_hops (400), "
       "or a bad PROXY protocol header on the TCP port (close 1002)",
       "counter"},
      {&ShardMetrics::metrics_refused, "craft_metrics_refused_total",
       "GET /metrics from a client address outside server.metrics_allow (answered 404)", "counter"},
      {&ShardMetrics::proxy_protocol, "craft_proxy_protocol_total",
       "TCP connections from a server.trusted_proxies peer whose client address came from a PROXY protocol header",
       "counter"},
      {&ShardMetrics::rooms_current, "craft_rooms", "Live rooms", "gauge"},
      {&ShardMetrics::room_ticks, "craft_room_ticks_total", "Room ticks run", "counter"},
      {&ShardMetrics::ticks_skipped, "craft_room_ticks_skipped_total", "Room ticks skipped after falling behind", "counter"},
      {&ShardMetrics::room_errors, "craft_room_errors_total",
       "Rooms ended because their code threw (members got room_left \"room error\"; see the log)", "counter"},
      {&ShardMetrics::messages_held, "craft_messages_held_total",
       "Messages that waited for an earlier request of their connection (hello, join, create, API call)", "counter"},
      {&ShardMetrics::pending_refused, "craft_pending_queue_refused_total",
       "Messages refused with RATE_LIMITED because limits.pending_queue_bytes were waiting", "counter"},
      {&ShardMetrics::room_lists_truncated, "craft_room_lists_truncated_total",
       "room_list answers that left rooms out at rooms.max_list_results", "counter"},
      {&ShardMetrics::room_filters_refused, "craft_room_filters_refused_total",
       "Room filters refused with BAD_REQUEST (past rooms.max_filter_conditions, bad keys or numbers)", "counter"},
      {&ShardMetrics::metadata_refused, "craft_metadata_refused_total",
       "Room::set_metadata writes refused (past rooms.max_metadata or rooms.max_property_bytes, bad key or value)", "counter"},
      {&ShardMetrics::lobby_subscriptions, "craft_lobby_subscriptions", "Live lobby subscriptions", "gauge"},
      {&ShardMetrics::lobby_updates, "craft_lobby_updates_total", "lobby_update messages sent", "counter"},
      {&ShardMetrics::property_conflicts, "craft_property_conflicts_total",
       "properties_set refused with PROPERTY_CONFLICT (an expectation did not hold)", "counter"},
      {&ShardMetrics::matchmaker_matches, "craft_matchmaker_matches_total",
       "Matches the matchmaker formed (a room created, match_found sent)", "counter"},
      {&ShardMetrics::reservations_expired, "craft_reservations_expired_total",
       "Seat reservations that expired unused (matchmaker.reservation_ttl_ms)", "counter"},
      {&ShardMetrics::replication_snapshots, "craft_replication_snapshots_total",
       "state_snapshot messages encoded for members of replicated rooms", "counter"},
      {&ShardMetrics::replication_snapshot_bytes, "craft_replication_snapshot_bytes_total",
       "Bytes of state_snapshot data encoded (before the envelope and framing)", "counter"},
      {&ShardMetrics::replication_full_snapshots, "craft_replication_full_snapshots_total",
       "state_snapshot messages sent in full (no acked baseline in the client's window)", "counter"},
      {&ShardMetrics::replication_deferred, "craft_replication_deferred_total",
       "Entity changes left for a later snapshot by a client's byte budget (replication.client_bytes_per_second)",
       "counter"},
      {&ShardMetrics::replication_skipped, "craft_replication_skipped_total",
       "Snapshots not sent because the member's send queue held more than replication.max_queued_bytes", "counter"},
      {&ShardMetrics::replication_acks_ignored, "craft_replication_acks_ignored_total",
       "state_ack ticks ignored: never sent to that client, or older than its replication.baseline_window", "counter"},
      {&ShardMetrics::tls_handshakes, "craft_tls_handshakes_total", "TLS handshakes completed", "counter"},
      {&ShardMetrics::tls_handshake_failures, "craft_tls_handshake_failures_total",
       "TLS connections that ended before the handshake finished (not TLS, bad hello, peer gave up)", "counter"},
      {&ShardMetrics::sessions_held, "craft_sessions_held",
       "Resumable sessions whose connection was lost, held for session.resume_window_ms", "gauge"},
      {&ShardMetrics::sessions_resumed, "craft_sessions_resumed_total", "Sessions resumed on a new connection", "counter"},
      {&ShardMetrics::sessions_expired, "craft_sessions_expired_total",
       "Held sessions that ended unresumed (window over, or their replay buffer overflowed)", "counter"},
      {&ShardMetrics::replayed_messages, "craft_replayed_messages_total", "Sequenced messages replayed on resume", "counter"},
      {&ShardMetrics::replay_overflows, "craft_replay_overflows_total",
       "Unacked messages dropped from a full replay buffer (session.replay_buffer_bytes)", "counter"},
      {&ShardMetrics::server_pings, "craft_server_pings_total",
       "Pings the server sent to quiet connections (limits.server_ping_interval_ms)", "counter"},
      {&ShardMetrics::sessions_replaced, "craft_sessions_replaced_total",
       "Sessions ended by a newer hello of the same account (auth.session_policy = replace)", "counter"},
      {&ShardMetrics::sessions_refused, "craft_sessions_refused_total",
       "Hellos refused with SESSION_EXISTS (auth.session_policy = refuse)", "counter"},
  };
  for (auto& s : simple) {
    w.line(s.name, s.help, s.type);
    w.value(s.name, sum(s.member));
  }
  w.line("craft_connections_rejected_total", "Connections refused by a connection limit (close 1013; 503 for plain HTTP)", "counter");
  w.value("craft_connections_rejected_total{limit=\"max_connections\"}", sum(&ShardMetrics::rejected_max_connections));
  w.value("craft_connections_rejected_total{limit=\"max_connections_per_ip\"}", sum(&ShardMetrics::rejected_per_ip));
  w.value("craft_connections_rejected_total{limit=\"max_refusals_per_ip\"}", sum(&ShardMetrics::dropped_at_accept));

  w.line("craft_resume_failures_total", "Resume attempts refused, by reason", "counter");
  w.value("craft_resume_failures_total{reason=\"unknown\"}", sum(&ShardMetrics::resume_failed_unknown));
  w.value("craft_resume_failures_total{reason=\"format\"}", sum(&ShardMetrics::resume_failed_format));
  w.value("craft_resume_failures_total{reason=\"gap\"}", sum(&ShardMetrics::resume_failed_gap));

  w.line("craft_json_rejected_total",
         "Client JSON documents refused before parsing: not strict RFC 8259 JSON or nested deeper than "
         "limits.max_json_depth",
         "counter");
  w.value("craft_json_rejected_total{source=\"socket\"}", sum(&ShardMetrics::json_rejected));
  w.value("craft_json_rejected_total{source=\"http\"}", sum(&ShardMetrics::json_rejected_http));

  w.line("craft_closes_total", "Connections closed by the server, by close code", "counter");
  for (size_t i = 0; i <= counted_close_codes.size(); ++i) {
    uint64_t n = 0;
    for (auto* s : shards) n += s->closes[i].get();
    std::string code = i < counted_close_codes.size() ? std::to_string(counted_close_codes[i]) : "other";
    w.value("craft_closes_total{code=\"" + code + "\"}", n);
  }
  w.line("craft_errors_total", "Error envelopes sent, by error code", "counter");
  static_assert(v1::ErrorCode_ARRAYSIZE <= 64, "ShardMetrics::errors counts codes below 64");
  for (int code = 1; code < 64; ++code) {
    if (!v1::ErrorCode_IsValid(code)) continue;
    uint64_t n = 0;
    for (auto* s : shards) n += s->errors[static_cast<size_t>(code)].get();
    w.value("craft_errors_total{code=\"" + v1::ErrorCode_Name(code) + "\"}", n);
  }

  char buf[128];
  auto histogram = [&](LatencyHistogram ShardMetrics::*member, const std::string& name, const char* help) {
    std::array<uint64_t, LatencyHistogram::buckets> counts{};
    uint64_t sum_us = 0;
    for (auto* s : shards) {
      (s->*member).merge_into(counts);
      sum_us += (s->*member).sum_us();
    }
    w.line(name.c_str(), help, "histogram");
    uint64_t cumulative = 0;
    for (size_t i = 0; i + 1 < counts.size(); ++i) {
      cumulative += counts[i];
      // %g, not a fixed number of decimals: 1 us and 1.5 us must print as two bounds
      // (%.6f made both "0.000001"/"0.000002" collide with their neighbours).
      std::snprintf(buf, sizeof buf, "%s_bucket{le=\"%.10g\"}", name.c_str(), LatencyHistogram::bound_us(i) / 1e6);
      w.value(buf, cumulative);
    }
    cumulative += counts.back();
    w.value(name + "_bucket{le=\"+Inf\"}", cumulative);
    std::snprintf(buf, sizeof buf, "%s_sum %.6f\n", name.c_str(), double(sum_us) / 1e6);
    w.out += buf;
    w.value(name + "_count", cumulative);
    return counts;
  };
  auto lateness = histogram(&ShardMetrics::tick_lateness, "craft_tick_lateness_seconds",
                            "How late room ticks start versus their schedule");
  histogram(&ShardMetrics::session_rtt, "craft_session_rtt_seconds",
            "Round trip of server pings to quiet connections (WebSocket ping frame or ping envelope)");
  // In seconds, the base unit: promtool's lint refuses a _microseconds name.
  w.line("craft_tick_lateness_p99_seconds", "Upper bound of the 99th percentile bucket", "gauge");
  std::snprintf(buf, sizeof buf, "craft_tick_lateness_p99_seconds %.10g\n", double(LatencyHistogram::quantile_us(lateness, 0.99)) / 1e6);
  w.out += buf;
  return w.out;
}

}  // namespace craft
