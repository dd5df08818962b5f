// The PROXY protocol (HAProxy's, v1 text and v2 binary; nginx's stream module sends v1 with
// `proxy_protocol on`): a header a TCP proxy writes before the client's bytes, naming the
// client. craftd reads it on the TCP port from server.trusted_proxies peers only
// (docs/deploy.md). A craft TCP stream starts with a 4-byte length that no header starts
// with, so a trusted peer may also speak craft directly. Pure function on bytes: bounded
// (v1: 107 bytes, v2: 16 + max_proxy_v2_bytes), linear, no exceptions.
#pragma once
#include "net/forwarded.hpp"

#include <cstddef>
#include <string_view>

namespace craft::net {

inline constexpr size_t max_proxy_v1_bytes = 107;  // the spec's bound, CRLF included
inline constexpr size_t max_proxy_v2_bytes = 512;  // address block + TLVs we accept

enum class ProxyHeader : uint8_t {
  need_more,  // a header's prefix so far: wait for more bytes
  none,       // not a PROXY header: the stream itself starts at byte 0
  local,      // a header without a client (v1 UNKNOWN, v2 LOCAL or a non-TCP family)
  client,     // `client` is the address the proxy's client connected from
  bad,        // starts like a header but is not a valid one (or is too long)
};

// `length`: the header's bytes (for local and client), which the stream continues after.
ProxyHeader parse_proxy_header(std::string_view data, IpKey& client, size_t& length);

}  // namespace craft::net
