#include "net/proxy_protocol.hpp"

#include <algorithm>
#include <cstring>

namespace craft::net {

namespace {

constexpr std::string_view v1_prefix = "PROXY ";
constexpr std::string_view v2_signature("\r\n\r\n\0\r\nQUIT\n", 12);

// Matches `data` against the start of `prefix`: need_more while it is a proper prefix.
ProxyHeader match_prefix(std::string_view data, std::string_view prefix) {
  size_t n = std::min(data.size(), prefix.size());
  if (data.substr(0, n) != prefix.substr(0, n)) return ProxyHeader::none;
  return n < prefix.size() ? ProxyHeader::need_more : ProxyHeader::client;
}

bool is_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  unsigned value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value <= 65535 && !(s.size() > 1 && s[0] == '0');
}

// "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n" or "PROXY UNKNOWN ...\r\n".
ProxyHeader parse_v1(std::string_view data, IpKey& client, size_t& length) {
  // The line ends at its first CR or LF, which must be a CRLF within the bound: a bare LF or
  // CR is refused at once rather than waiting out the handshake timeout.
  auto end = data.substr(0, max_proxy_v1_bytes).find_first_of("\r\n");
  if (end == std::string_view::npos) {
    return data.size() >= max_proxy_v1_bytes ? ProxyHeader::bad : ProxyHeader::need_more;
  }
  if (data[end] != '\r' || end + 2 > max_proxy_v1_bytes) return ProxyHeader::bad;
  if (end + 1 == data.size()) return ProxyHeader::need_more;
  if (data[end + 1] != '\n') return ProxyHeader::bad;
  length = end + 2;
  std::string_view line = data.substr(v1_prefix.size(), end - v1_prefix.size());
  if (line.starts_with("UNKNOWN")) return ProxyHeader::local;
  std::string_view parts[5];
  for (size_t i = 0; i < 5; ++i) {
    size_t space = line.find(' ');
    if ((space == std::string_view::npos) != (i == 4)) return ProxyHeader::bad;
    parts[i] = line.substr(0, space);
    if (space != std::string_view::npos) line.remove_prefix(space + 1);
  }
  bool v4 = parts[0] == "TCP4";
  if (!v4 && parts[0] != "TCP6") return ProxyHeader::bad;
  IpKey source{}, destination{};
  // The family must match: TCP4 takes dotted quads only, TCP6 IPv6 text only.
  for (auto address : {parts[1], parts[2]}) {
    if ((address.find(':') == std::string_view::npos) != v4) return ProxyHeader::bad;
  }
  if (!parse_address(parts[1], source) || !parse_address(parts[2], destination)) return ProxyHeader::bad;
  if (parts[1].front() == '[' || parts[2].front() == '[') return ProxyHeader::bad;
  if (!is_port(parts[3]) || !is_port(parts[4])) return ProxyHeader::bad;
  client = source;
  return ProxyHeader::client;
}

ProxyHeader parse_v2(std::string_view data, IpKey& client, size_t& length) {
  if (data.size() < 16) return ProxyHeader::need_more;
  auto byte = [&](size_t i) { return static_cast<uint8_t>(data[i]); };
  uint8_t version = byte(12) >> 4, command = byte(12) & 0x0f;
  size_t body = size_t{byte(14)} << 8 | byte(15);
  if (version != 2 || command > 1 || body > max_proxy_v2_bytes) return ProxyHeader::bad;
  if (data.size() < 16 + body) return ProxyHeader::need_more;
  length = 16 + body;
  if (command == 0) return ProxyHeader::local;  // the proxy's own connection (a health check)
  const uint8_t family = byte(13);
  const char* address = data.data() + 16;
  if (family == 0x11) {  // TCP over IPv4: source, destination, ports
    if (body < 12) return ProxyHeader::bad;
    client = ipv4_key(reinterpret_cast<const uint8_t*>(address));
    return ProxyHeader::client;
  }
  if (family == 0x21) {  // TCP over IPv6
    if (body < 36) return ProxyHeader::bad;
    std::memcpy(client.data(), address, 16);
    return ProxyHeader::client;
  }
  return ProxyHeader::local;  // UNSPEC, UDP, unix sockets: no client address we can use
}

}  // namespace

ProxyHeader parse_proxy_header(std::string_view data, IpKey& client, size_t& length) {
  length = 0;
  if (auto m = match_prefix(data, v1_prefix); m != ProxyHeader::none) {
    return m == ProxyHeader::need_more ? m : parse_v1(data, client, length);
  }
  if (auto m = match_prefix(data, v2_signature); m != ProxyHeader::none) {
    return m == ProxyHeader::need_more ? m : parse_v2(data, client, length);
  }
  return ProxyHeader::none;
}

}  // namespace craft::net
