#include "api/http_api.hpp"

#include "protocol/json_check.hpp"
#include "protocol/json_values.hpp"

#include <google/protobuf/util/json_util.h>

#include <array>

namespace craft::api {

namespace {

struct Route {
  std::string_view method;
  std::string_view path;
  std::string_view call;  // the ApiRequest field
};

constexpr std::array routes = {
    Route{"POST", "/v1/auth/device", "auth_device"},
    Route{"POST", "/v1/auth/email", "auth_email"},
    Route{"POST", "/v1/auth/custom", "auth_custom"},
    Route{"POST", "/v1/auth/refresh", "auth_refresh"},
    Route{"POST", "/v1/auth/logout", "auth_logout"},
    Route{"GET", "/v1/account", "account_get"},
    Route{"POST", "/v1/account", "account_get"},
    Route{"POST", "/v1/account/update", "account_update"},
    Route{"POST", "/v1/account/link", "account_link"},
    Route{"POST", "/v1/account/unlink", "account_unlink"},
    Route{"POST", "/v1/storage/write", "storage_write"},
    Route{"POST", "/v1/storage/read", "storage_read"},
    Route{"POST", "/v1/storage/delete", "storage_delete"},
    Route{"POST", "/v1/storage/list", "storage_list"},
    Route{"POST", "/v1/leaderboard/create", "leaderboard_create"},
    Route{"POST", "/v1/leaderboard/write", "leaderboard_write"},
    Route{"POST", "/v1/leaderboard/list", "leaderboard_list"},
    Route{"POST", "/v1/admin/ban", "account_ban"},
};

// Browser games are often served from another origin than the API.
constexpr std::string_view cors =
    "Access-Control-Allow-Origin: *\r\n"
    "Access-Control-Allow-Headers: Authorization, Content-Type\r\n"
    "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n";

std::pair<int, std::string_view> status_of(v1::ErrorCode code) {
  switch (code) {
    case v1::UNAUTHORIZED:
    case v1::TOKEN_EXPIRED:
    case v1::TOKEN_REVOKED:
    case v1::INVALID_CREDENTIALS: return {401, "Unauthorized"};
    case v1::ACCOUNT_BANNED:
    case v1::PERMISSION_DENIED: return {403, "Forbidden"};
    case v1::NOT_FOUND: return {404, "Not Found"};
    case v1::ALREADY_EXISTS:
    case v1::VERSION_CONFLICT: return {409, "Conflict"};
    case v1::MESSAGE_TOO_LARGE: return {413, "Content Too Large"};
    case v1::RATE_LIMITED: return {429, "Too Many Requests"};
    case v1::INTERNAL: return {500, "Internal Server Error"};
    case v1::UNAVAILABLE:
    case v1::SERVER_SHUTTING_DOWN: return {503, "Service Unavailable"};
    default: return {400, "Bad Request"};
  }
}

std::string json_response(int status, std::string_view reason, std::string_view body) {
  return http::response(status, reason, "application/json", body, false, cors);
}

std::string success_response(const v1::ApiResponse& response) {
  const auto* oneof = v1::ApiResponse::descriptor()->FindOneofByName("result");
  const auto* field = response.GetReflection()->GetOneofFieldDescriptor(response, oneof);
  if (!field) return error_response({v1::INTERNAL, "empty result"});
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string body;
  if (!google::protobuf::util::MessageToJsonString(response.GetReflection()->GetMessage(response, field), &body,
                                                   options)
           .ok())
    return error_response({v1::INTERNAL, "cannot encode the result"});
  // JSON values are stored as text: spliced in verbatim, so they read back exactly.
  return json_response(200, "OK", protocol::splice_json_values(body));
}

// The JSON parser's message quotes the input, which may be any bytes: keep it printable ASCII.
std::string printable(std::string_view text, size_t max = 200) {
  std::string out;
  for (char ch : text.substr(0, max)) out += ch >= 0x20 && ch < 0x7f ? ch : '?';
  return out;
}

std::string bearer_of(const http::Request& request) {
  auto value = request.header("authorization");
  if (value.size() > 7 && http::iequals(value.substr(0, 7), "bearer ")) return std::string(value.substr(7));
  return {};
}

}  // namespace

bool is_api_path(std::string_view path) { return path.starts_with("/v1/") || path == "/v1"; }

std::string error_response(const CallError& error) {
  v1::Error e;
  e.set_code(error.code);
  e.set_message(error.message);
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(e, &json).ok()) {
    // Never half a body: a message that cannot be encoded (not UTF-8) becomes INTERNAL.
    return json_response(500, "Internal Server Error",
                         R"({"error":{"code":"INTERNAL","message":"the server could not encode its reply"}})");
  }
  auto [status, reason] = status_of(error.code);
  return json_response(status, reason, "{\"error\":" + json + "}");
}

void handle_http(ApiService* service, const http::Request& request, std::string_view body, std::string ip,
                 Counter& json_rejected, std::function<void(std::string)> respond) {
  const auto path = request.path();
  if (request.method == "OPTIONS") return respond(http::response(204, "No Content", "", "", false, cors));
  const Route* route = nullptr;
  bool path_known = false;
  for (const auto& r : routes) {
    if (r.path != path) continue;
    path_known = true;
    if (r.method == request.method) route = &r;
  }
  if (!route && path_known)
    return respond(http::response(405, "Method Not Allowed", "application/json",
                                  R"({"error":{"code":"BAD_REQUEST","message":"method not allowed"}})", false, cors));
  if (!route) return respond(error_response({v1::NOT_FOUND, "no API call at " + printable(path)}));
  if (!service) return respond(error_response({v1::NOT_FOUND, "the API is off (store.backend = none)"}));

  CallContext context;
  context.bearer = bearer_of(request);
  context.ip = std::move(ip);
  // One linear pass (bounded by limits.max_http_body_bytes) bounds what protobuf's JSON
  // parser, quadratic in the nesting depth, may ever see.
  const uint32_t max_depth = service->config().limits.max_json_depth + protocol::json_wrapping_depth;
  if (!body.empty()) {
    if (auto checked = protocol::check_json(body, max_depth); !checked) {
      json_rejected.add();
      return respond(error_response({v1::BAD_REQUEST, std::string("bad JSON body: ") + checked.error + " at byte " +
                                                          std::to_string(checked.offset) +
                                                          " (strict JSON, nested at most " +
                                                          std::to_string(max_depth) + " deep)"}));
    }
  }
  // Nothing costly before authentication: a call that needs a session is refused on its
  // bearer's signature (HMAC, no database) before the body is parsed.
  if (auto refused = service->precheck_http(route->call, context)) return respond(error_response(*refused));
  // The parse itself runs on an API worker, not on this shard.
  auto build = [call_name = std::string(route->call),
                body = body.empty() ? std::string("{}") : std::string(body)]() -> std::variant<v1::ApiRequest, CallError> {
    v1::ApiRequest call;
    const auto* field = v1::ApiRequest::descriptor()->FindFieldByName(call_name);
    auto* message = call.GetReflection()->MutableMessage(&call, field);
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;  // a misspelt field is an error, not a silent default
    // JSON values become the strings of JSON text the messages hold (protocol/json_values.hpp).
    auto parsed = google::protobuf::util::JsonStringToMessage(protocol::quote_json_values(body), message, options);
    if (!parsed.ok()) return CallError{v1::BAD_REQUEST, "bad JSON body: " + printable(std::string(parsed.message()))};
    return call;
  };
  service->call(std::move(build), std::move(context), [respond = std::move(respond)](CallResult result) {
    if (auto* e = std::get_if<CallError>(&result)) return respond(error_response(*e));
    respond(success_response(std::get<v1::ApiResponse>(result)));
  });
}

}  // namespace craft::api
