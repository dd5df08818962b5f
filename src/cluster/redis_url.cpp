#include "cluster/redis_url.hpp"

#include <charconv>

namespace craft::cluster {

namespace {

bool parse_uint(std::string_view s, uint32_t max, uint32_t& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size() && out <= max;
}

}  // namespace

std::optional<RedisAddress> parse_redis_url(const std::string& url, std::string& why) {
  constexpr std::string_view scheme = "redis://";
  std::string_view rest = url;
  if (rest.substr(0, scheme.size()) != scheme) {
    why = "expected redis://[:password@]host[:port][/db], got '" + url + "'";
    return std::nullopt;
  }
  rest.remove_prefix(scheme.size());
  RedisAddress a;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    auto db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty() && !parse_uint(db, 1'000'000, a.database)) {
      why = "the database after '/' must be a number, got '" + std::string(db) + "'";
      return std::nullopt;
    }
  }
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    auto user_info = rest.substr(0, at);
    rest = rest.substr(at + 1);
    // Redis 6 ACL users (user:password) are not supported yet: only the default user.
    if (user_info.empty() || user_info[0] != ':') {
      why = "only a password is supported before '@' (redis://:password@host)";
      return std::nullopt;
    }
    a.password = std::string(user_info.substr(1));
  }
  std::string_view host = rest;
  std::string_view port;
  bool has_port = false;
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) {
      why = "an IPv6 address needs its closing ']'";
      return std::nullopt;
    }
    host = rest.substr(1, close - 1);
    auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        why = "expected ':' after ']'";
        return std::nullopt;
      }
      port = after.substr(1);
      has_port = true;
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    has_port = true;
  }
  if (host.empty()) {
    why = "no host in '" + url + "'";
    return std::nullopt;
  }
  a.host = std::string(host);
  if (has_port) {
    uint32_t p = 0;
    if (!parse_uint(port, 65535, p) || p == 0) {
      why = "the port must be 1-65535, got '" + std::string(port) + "'";
      return std::nullopt;
    }
    a.port = static_cast<uint16_t>(p);
  }
  return a;
}

}  // namespace craft::cluster
