#include "api/api_metrics.hpp"

#include "metrics/metrics.hpp"

namespace craft::api {

std::string render_metrics(const api::ApiStats& stats) {
  PrometheusWriter w;
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

}  // namespace craft::api
