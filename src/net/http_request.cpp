#include "net/http_request.hpp"

#include <cctype>

namespace craft::http {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

static std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = trim(list.substr(0, comma));
    if (iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view Request::header(std::string_view name) const {
  for (auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return {};
}

std::string_view Request::path() const { return target.substr(0, target.find('?')); }

bool Request::wants_websocket() const {
  return has_token(header("connection"), "upgrade") && iequals(trim(header("upgrade")), "websocket");
}

ParseResult parse_request(std::string_view data, Request& out, size_t& head_length) {
  auto end = data.find("\r\n\r\n");
  // A bare LF anywhere in the head is refused at once: a head of bare-LF lines would otherwise
  // wait for a CRLF CRLF that never comes until the handshake timeout (bounded by
  // limits.max_http_request_bytes, so the scan is too).
  const auto scan = end == std::string_view::npos ? data.size() : end + 4;
  for (size_t i = 0; i < scan; ++i) {
    if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r')) return ParseResult::bad;
  }
  if (end == std::string_view::npos) return ParseResult::incomplete;
  head_length = end + 4;
  auto head = data.substr(0, end + 2);
  auto line_end = head.find("\r\n");
  auto line = head.substr(0, line_end);
  // Lines end only in CRLF: a bare CR or LF is refused, never read as a line end by one
  // parser and as data by another (a hidden header a proxy in front would see).
  if (line.find_first_of("\r\n") != std::string_view::npos) return ParseResult::bad;
  auto sp1 = line.find(' ');
  auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return ParseResult::bad;
  out.method = line.substr(0, sp1);
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  out.version = line.substr(sp2 + 1);
  if (out.target.empty() || out.target.front() != '/' || !out.version.starts_with("HTTP/1."))
    return ParseResult::bad;
  head.remove_prefix(line_end + 2);
  out.headers.clear();
  while (!head.empty()) {
    auto eol = head.find("\r\n");
    auto h = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    if (h.find_first_of("\r\n") != std::string_view::npos) return ParseResult::bad;
    auto colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return ParseResult::bad;
    // RFC 9110 §5.1, §5.5: a field name is a token (so "Content-Length : 9" is refused, not
    // ignored), and a value holds no control characters but HTAB (no NUL).
    for (unsigned char c : h.substr(0, colon)) {
      if (c <= ' ' || c >= 0x7f || std::string_view("\"(),/:;<=>?@[\\]{}").find(static_cast<char>(c)) != std::string_view::npos)
        return ParseResult::bad;
    }
    for (unsigned char c : h.substr(colon + 1)) {
      if ((c < ' ' && c != '\t') || c == 0x7f) return ParseResult::bad;
    }
    out.headers.emplace_back(h.substr(0, colon), trim(h.substr(colon + 1)));
  }
  return ParseResult::complete;
}

std::string response(int status, std::string_view reason, std::string_view content_type,
                     std::string_view body, bool keep_alive, std::string_view extra_headers) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  if (!content_type.empty()) r += "Content-Type: " + std::string(content_type) + "\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  r += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  r += extra_headers;
  r += "Cache-Control: no-store\r\n\r\n";
  r += body;
  return r;
}

namespace {
// 1-18 decimal digits (below 10^18: no overflow); -1 otherwise.
long long parse_length(std::string_view v) {
  if (v.empty() || v.size() > 18) return -1;
  long long n = 0;
  for (char ch : v) {
    if (ch < '0' || ch > '9') return -1;
    n = n * 10 + (ch - '0');
  }
  return n;
}
}  // namespace

bool body_framing_is_bad(const Request& request) {
  long long length = -2;  // none seen yet
  bool transfer_encoding = false;
  for (auto& [name, value] : request.headers) {
    if (iequals(name, "transfer-encoding")) transfer_encoding = true;
    if (!iequals(name, "content-length")) continue;
    long long n = parse_length(value);
    if (n < 0 || (length != -2 && n != length)) return true;
    length = n;
  }
  return length != -2 && transfer_encoding;
}

long long content_length(const Request& request) {
  if (body_framing_is_bad(request) || !request.header("transfer-encoding").empty()) return -1;
  auto v = request.header("content-length");
  return v.empty() ? 0 : parse_length(v);
}

}  // namespace craft::http
