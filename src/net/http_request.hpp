// Just enough HTTP/1.1 for a WebSocket upgrade, a few GET endpoints and the JSON API.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace craft::http {

struct Request {
  std::string_view method;
  std::string_view target;  // path plus query
  std::string_view version;
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  // Case-insensitive header lookup; empty if absent.
  std::string_view header(std::string_view name) const;
  std::string_view path() const;  // target without the query
  // Connection: upgrade + Upgrade: websocket (token lists allowed).
  bool wants_websocket() const;
};

enum class ParseResult { complete, incomplete, bad };

// Parses a request head from `data`. On complete, `head_length` is the bytes used including
// the blank line; the views point into `data`.
ParseResult parse_request(std::string_view data, Request& out, size_t& head_length);

bool iequals(std::string_view a, std::string_view b);
// True when a comma-separated header value contains `token` (case-insensitive).
bool has_token(std::string_view list, std::string_view token);

// `extra_headers`: whole header lines, each ending in \r\n.
std::string response(int status, std::string_view reason, std::string_view content_type,
                     std::string_view body, bool keep_alive = false, std::string_view extra_headers = {});
// The body's length from Content-Length: 0 if absent, -1 if chunked or if body_framing_is_bad().
long long content_length(const Request& request);
// True when the body's length is ambiguous, which a proxy in front of us might read
// differently (request smuggling): a Content-Length that is not 1-18 plain digits, two
// Content-Length headers with different values, or Transfer-Encoding with Content-Length.
bool body_framing_is_bad(const Request& request);

}  // namespace craft::http
