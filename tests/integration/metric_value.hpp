// The value of an unlabelled sample in Prometheus text (Server::metrics_text() or /metrics),
// -1 if the metric is absent: what the integration tests read their counters with.
#pragma once
#include <string>

namespace craft::testing {

inline long metric_value(const std::string& text, const std::string& name) {
  auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stol(text.substr(at + name.size() + 2));
}

}  // namespace craft::testing
