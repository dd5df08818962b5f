// The HTTP face of ApiService: POST /v1/... with a JSON body becomes one ApiRequest call;
// the answer is the result message as JSON, or {"error":{"code","message"}} with a status
// that matches the code. docs/http-api.md lists the routes.
#pragma once
#include "api/api_service.hpp"
#include "metrics/metrics.hpp"
#include "net/http_request.hpp"

#include <functional>
#include <string>
#include <string_view>

namespace craft::api {

// True for paths this module answers (under /v1/).
bool is_api_path(std::string_view path);

// Answers `request` (whose body is `body`). `service` is null when store.backend = none.
// `respond` gets the whole HTTP response; it may run on a worker thread. Runs on the shard:
// only cheap checks happen here (bearer signature, the linear JSON check, counted in
// `json_rejected`); the body is parsed on an API worker.
void handle_http(ApiService* service, const http::Request& request, std::string_view body, std::string ip,
                 Counter& json_rejected, std::function<void(std::string)> respond);

// The HTTP response for an error, e.g. a body over limits.max_http_body_bytes.
std::string error_response(const CallError& error);

}  // namespace craft::api
