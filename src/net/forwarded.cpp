#include "net/forwarded.hpp"

#include "net/http_request.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace craft::net {

namespace {

// "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" is 45 bytes; with brackets 47.
constexpr size_t max_address_text = 47;

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_v4(const IpKey& ip) {
  static constexpr uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(ip.data(), prefix, 12) == 0;
}

bool prefix_equal(const IpKey& a, const IpKey& b, unsigned bits) {
  unsigned whole = bits / 8;
  if (std::memcmp(a.data(), b.data(), whole) != 0) return false;
  unsigned rest = bits % 8;
  if (rest == 0) return true;
  auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

void mask_to(IpKey& ip, unsigned bits) {
  for (unsigned i = 0; i < 16; ++i) {
    unsigned keep = bits > i * 8 ? std::min(8u, bits - i * 8) : 0;
    ip[i] &= static_cast<uint8_t>(keep == 0 ? 0 : 0xff << (8 - keep));
  }
}

}  // namespace

IpKey ipv4_key(const uint8_t* bytes) {
  IpKey key{};
  key[10] = key[11] = 0xff;
  std::memcpy(key.data() + 12, bytes, 4);
  return key;
}

bool parse_address(std::string_view text, IpKey& out) {
  if (text.size() > max_address_text || text.empty()) return false;
  bool bracketed = text.front() == '[';
  if (bracketed) {
    if (text.size() < 3 || text.back() != ']') return false;
    text = text.substr(1, text.size() - 2);
  }
  char buffer[max_address_text + 1];
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  if (std::memchr(buffer, '\0', text.size())) return false;  // an embedded NUL would cut the text short
  uint8_t bytes[16];
  if (!bracketed && ::inet_pton(AF_INET, buffer, bytes) == 1) {
    out = ipv4_key(bytes);
    return true;
  }
  if (::inet_pton(AF_INET6, buffer, bytes) != 1) return false;
  std::memcpy(out.data(), bytes, 16);  // IPv4-mapped stays mapped: the same key as plain IPv4
  return true;
}

std::string format_address(const IpKey& ip) {
  char buffer[INET6_ADDRSTRLEN] = {};
  if (is_v4(ip)) ::inet_ntop(AF_INET, ip.data() + 12, buffer, sizeof buffer);
  else ::inet_ntop(AF_INET6, ip.data(), buffer, sizeof buffer);
  return buffer;
}

bool AddressRanges::parse(std::string_view list, std::string& error) {
  ranges_.clear();
  size_t at = 0;
  while (at < list.size()) {
    size_t end = list.find_first_of(", \t", at);
    if (end == std::string_view::npos) end = list.size();
    std::string_view entry = list.substr(at, end - at);
    at = end + 1;
    if (entry.empty()) continue;
    std::string_view address = entry;
    int bits = -1;
    if (auto slash = entry.find('/'); slash != std::string_view::npos) {
      address = entry.substr(0, slash);
      std::string_view digits = entry.substr(slash + 1);
      if (digits.empty() || digits.size() > 3 ||
          !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        error = "bad prefix length in '" + std::string(entry) + "'";
        return false;
      }
      bits = 0;
      for (char c : digits) bits = bits * 10 + (c - '0');
    }
    Range range{};
    if (!parse_address(address, range.base) || (address.front() == '[' && bits >= 0)) {
      error = "'" + std::string(entry) + "' is not an IPv4 or IPv6 address or CIDR range";
      return false;
    }
    range.v4 = address.find(':') == std::string_view::npos;
    int width = range.v4 ? 32 : 128;
    if (bits > width) {
      error = "prefix length above /" + std::to_string(width) + " in '" + std::string(entry) + "'";
      return false;
    }
    if (bits < 0) bits = width;
    range.bits = static_cast<uint8_t>(range.v4 ? 96 + bits : bits);
    mask_to(range.base, range.bits);
    ranges_.push_back(range);
  }
  return true;
}

bool AddressRanges::contains(const IpKey& ip) const {
  for (const auto& r : ranges_) {
    if (prefix_equal(ip, r.base, r.bits)) return true;
  }
  return false;
}

ForwardedResult client_from_forwarded_for(const http::Request& request, const AddressRanges& trusted,
                                          uint32_t max_hops, IpKey& client) {
  bool seen = false;
  uint32_t read = 0;
  // Headers last to first, and each list right to left: the order the hops were added.
  for (auto h = request.headers.rbegin(); h != request.headers.rend(); ++h) {
    if (!http::iequals(h->first, "x-forwarded-for")) continue;
    seen = true;
    std::string_view list = h->second;
    for (;;) {
      size_t comma = list.rfind(',');
      std::string_view entry = trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
      if (++read > max_hops) return ForwardedResult::too_many;
      IpKey ip;
      if (!parse_address(entry, ip)) return ForwardedResult::bad;
      client = ip;
      if (!trusted.contains(ip)) return ForwardedResult::client;
      if (comma == std::string_view::npos) break;
      list = list.substr(0, comma);
    }
  }
  // Every entry was a trusted proxy: the leftmost is as far as anyone can vouch for.
  return seen ? ForwardedResult::client : ForwardedResult::absent;
}

}  // namespace craft::net
