#include "core/metrics.hpp"

#include "api/api_service.hpp"

#include "craft.pb.h"

#include <bit>
#include <cstdio>

namespace craft {

void LatencyHistogram::record_us(uint64_t us) {
  size_t i = 0;
  if (us > 0) {
    auto k = static_cast<size_t>(std::bit_width(us));  // 2^(k-1) <= us < 2^k
    i = double(us) < 1.5 * double(uint64_t{1} << (k - 1)) ? 2 * (k - 1) + 1 : 2 * k;
  }
  counts_[std::min(i, buckets - 1)].add();
  sum_us_.add(us);
}

uint64_t LatencyHistogram::count() const {
  uint64_t n = 0;
  for (auto& c : counts_) n += c.get();
  return n;
}

void LatencyHistogram::merge_into(std::array<uint64_t, buckets>& out) const {
  for (size_t i = 0; i < buckets; ++i) out[i] += counts_[i].get();
}

static uint64_t quantile_of(const std::array<uint64_t, LatencyHistogram::buckets>& b, double q) {
  uint64_t total = 0;
  for (auto c : b) total += c;
  if (total == 0) return 0;
  auto rank = static_cast<uint64_t>(q * static_cast<double>(total - 1)) + 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    seen += b[i];
    if (seen >= rank) return static_cast<uint64_t>(LatencyHistogram::bound_us(i));
  }
  return static_cast<uint64_t>(LatencyHistogram::bound_us(b.size() - 1));
}

uint64_t LatencyHistogram::quantile_us(double q) const {
  std::array<uint64_t, buckets> b{};
  merge_into(b);
  return quantile_of(b, q);
}

void ShardMetrics::count_close(uint16_t code) {
  for (size_t i = 0; i < counted_close_codes.size(); ++i) {
    if (counted_close_codes[i] == code) {
      closes[i].add();
      return;
    }
  }
  closes.back().add();
}

namespace {
struct Writer {
  std::string out;
  void line(const char* name, const char* help, const char* type) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
  }
  void value(const std::string& name_and_labels, uint64_t v) {
    out += name_and_labels;
    out += ' ';
    out += std::to_string(v);
    out += '\n';
  }
};
}  // namespace

std::string render_api_metrics(const api::ApiStats& stats) {
  Writer w;
  struct Simple {
    const std::atomic<uint64_t>& value;
    const char* name;
    const char* help;
    const char* type;
  };
  const Simple simple[] = {
      {stats.calls, "craft_api_calls_total", "API calls (HTTP and socket)", "counter"},
      {stats.errors, "craft_api_errors_total", "API calls answered with an error", "counter"},
      {stats.rate_limited, "craft_api_rate_limited_total",
       "Auth calls refused by auth.ip_attempts_per_minute / account_attempts_per_minute", "counter"},
      {stats.queue_full, "craft_api_queue_full_total", "API calls refused because store.max_queue were waiting",
       "counter"},
      {stats.queued, "craft_api_queued", "API calls waiting for a store worker", "gauge"},
      {stats.rate_limit_keys, "craft_api_rate_limit_keys", "Addresses and ids tracked by the auth limiters (auth.rate_limit_keys each)",
       "gauge"},
      {stats.revocations_purged, "craft_api_revocations_purged_total",
       "Expired entries dropped from the token revocation list", "counter"},
      {stats.json_values_rejected, "craft_api_json_values_rejected_total",
       "Storage values and metadata refused at write time: not a strict JSON object, deeper than "
       "limits.max_json_depth or larger than store.max_value_bytes",
       "counter"},
  };
  for (auto& s : simple) {
    w.line(s.name, s.help, s.type);
    w.value(s.name, s.value.load(std::memory_order_relaxed));
  }
  return w.out;
}

std::string render_metrics(const std::vector<const ShardMetrics*>& shards) {
  Writer w;
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
      {&ShardMetrics::rate_limited, "craft_rate_limited_total", "Messages dropped by limits.messages_per_second", "counter"},
      {&ShardMetrics::http_requests, "craft_http_requests_total", "HTTP requests (upgrades included)", "counter"},
      {&ShardMetrics::http_rejected, "craft_http_rejected_total", "HTTP requests answered 4xx (431 = limits.max_http_request_bytes)", "counter"},
      {&ShardMetrics::forwarded, "craft_forwarded_for_total",
       "Requests from a server.trusted_proxies peer whose client address came from X-Forwarded-For", "counter"},
      {&ShardMetrics::forwarded_rejected, "craft_forwarded_for_rejected_total",
       "Refused from a trusted proxy: X-Forwarded-For malformed or past limits.max_forwarded_hops (400), "
       "or a bad PROXY protocol header on the TCP port (close 1002)",
       "counter"},
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
      {&ShardMetrics::tls_handshakes, "craft_tls_handshakes_total", "TLS handshakes completed", "counter"},
      {&ShardMetrics::tls_handshake_failures, "craft_tls_handshake_failures_total",
       "TLS connections that ended before the handshake finished (not TLS, bad hello, peer gave up)", "counter"},
  };
  for (auto& s : simple) {
    w.line(s.name, s.help, s.type);
    w.value(s.name, sum(s.member));
  }
  w.line("craft_connections_rejected_total", "Connections refused by a connection limit (close 1013; 503 for plain HTTP)", "counter");
  w.value("craft_connections_rejected_total{limit=\"max_connections\"}", sum(&ShardMetrics::rejected_max_connections));
  w.value("craft_connections_rejected_total{limit=\"max_connections_per_ip\"}", sum(&ShardMetrics::rejected_per_ip));

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
  for (int code = 1; code < 32; ++code) {
    if (!v1::ErrorCode_IsValid(code)) continue;
    uint64_t n = 0;
    for (auto* s : shards) n += s->errors[static_cast<size_t>(code)].get();
    w.value("craft_errors_total{code=\"" + v1::ErrorCode_Name(code) + "\"}", n);
  }

  std::array<uint64_t, LatencyHistogram::buckets> lateness{};
  uint64_t lateness_sum_us = 0;
  for (auto* s : shards) {
    s->tick_lateness.merge_into(lateness);
    lateness_sum_us += s->tick_lateness.sum_us();
  }
  w.line("craft_tick_lateness_seconds", "How late room ticks start versus their schedule", "histogram");
  uint64_t cumulative = 0;
  char buf[96];
  for (size_t i = 0; i + 1 < lateness.size(); ++i) {
    cumulative += lateness[i];
    // %g, not a fixed number of decimals: 1 us and 1.5 us must print as two bounds
    // (%.6f made both "0.000001"/"0.000002" collide with their neighbours).
    std::snprintf(buf, sizeof buf, "craft_tick_lateness_seconds_bucket{le=\"%.10g\"}",
                  LatencyHistogram::bound_us(i) / 1e6);
    w.value(buf, cumulative);
  }
  cumulative += lateness.back();
  w.value("craft_tick_lateness_seconds_bucket{le=\"+Inf\"}", cumulative);
  std::snprintf(buf, sizeof buf, "craft_tick_lateness_seconds_sum %.6f\n", double(lateness_sum_us) / 1e6);
  w.out += buf;
  w.value("craft_tick_lateness_seconds_count", cumulative);
  // In seconds, the base unit: promtool's lint refuses a _microseconds name.
  w.line("craft_tick_lateness_p99_seconds", "Upper bound of the 99th percentile bucket", "gauge");
  std::snprintf(buf, sizeof buf, "craft_tick_lateness_p99_seconds %.10g\n", double(quantile_of(lateness, 0.99)) / 1e6);
  w.out += buf;
  return w.out;
}

}  // namespace craft
