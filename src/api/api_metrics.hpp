// The API's counters (ApiStats) as Prometheus text, appended to /metrics.
#pragma once
#include "api/api_service.hpp"

#include <string>

namespace craft::api {

std::string render_metrics(const ApiStats& stats);

}  // namespace craft::api
