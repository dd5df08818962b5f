// Who is really on the other end when craftd sits behind a reverse proxy (nginx, a load
// balancer): server.trusted_proxies names the proxies, and only a connection whose TCP peer
// is one of them has its client address taken from X-Forwarded-For. Pure functions on
// bytes: no sockets, no exceptions on request data, linear in the header's length.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace craft::http {
struct Request;
}

namespace craft::net {

// An address as the connection limits key it: IPv6 in 16 bytes; IPv4 as IPv4-mapped IPv6
// (::ffff:a.b.c.d), so an accepted IPv4 peer, a forwarded "a.b.c.d" and "::ffff:a.b.c.d" match.
using IpKey = std::array<uint8_t, 16>;
// The key of the IPv4 address in `bytes` (network order).
IpKey ipv4_key(const uint8_t* bytes);

// Parses one literal address ("192.0.2.7", "2001:db8::1", "[2001:db8::1]") with inet_pton
// on a bounded copy: false for anything else (ports, zone ids, host names, > 47 bytes).
bool parse_address(std::string_view text, IpKey& out);
// "192.0.2.7" or "2001:db8::1", for logs and error messages.
std::string format_address(const IpKey& ip);

// A set of addresses and CIDR ranges, IPv4 and IPv6: server.trusted_proxies, server.metrics_allow.
class AddressRanges {
 public:
  // `list`: entries separated by commas and/or spaces, e.g. "127.0.0.1, ::1, 10.0.0.0/8".
  // Empty = nobody is trusted. False (and `error` says which entry) for a bad entry.
  // Configuration, read once at start; not for request data.
  bool parse(std::string_view list, std::string& error);
  bool contains(const IpKey& ip) const;
  bool empty() const { return ranges_.empty(); }

 private:
  struct Range {
    IpKey base;        // masked to `bits`
    uint8_t bits;      // prefix length in the 128-bit key (IPv4 /n is 96 + n)
    bool v4;
  };
  std::vector<Range> ranges_;
};

enum class ForwardedResult : uint8_t {
  absent,    // no X-Forwarded-For header: the peer itself is the client
  client,    // `client` is the first untrusted address, walking right to left
  bad,       // an entry that had to be read is not a literal address (or is empty)
  too_many,  // more than `max_hops` entries read, all of them trusted proxies
};

// The client behind a trusted proxy, from every X-Forwarded-For header of `request` (several
// headers count as one list, in order). Walks right to left: the rightmost entry was written
// by our peer, each trusted entry vouches for the one to its left, and the first untrusted
// entry is the client. Entries further left were written by the client and are never read.
// When every entry read is trusted, the leftmost one is the client. Reads at most `max_hops`
// entries. Call only when the TCP peer is in `trusted`: from anyone else the header is a lie.
ForwardedResult client_from_forwarded_for(const http::Request& request, const AddressRanges& trusted,
                                          uint32_t max_hops, IpKey& client);

}  // namespace craft::net
