// Prometheus text for the sum over shards of their counters.
#pragma once
#include "metrics/metrics.hpp"

#include <string>
#include <vector>

namespace craft {

std::string render_metrics(const std::vector<const ShardMetrics*>& shards);

}  // namespace craft
