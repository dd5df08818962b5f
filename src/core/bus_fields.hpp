// Reading the payloads of bus messages (cluster::NodeRegistry::send_to / broadcast) that core
// sends between nodes: "1\t<field>\t...\t<last>", the leading 1 being the format's version.
// Another node's payload is input like any from the network: split without copying, the
// field count checked, numbers read with from_chars; the last field may hold anything
// (protobuf bytes), so it is whatever follows the last expected tab.
#pragma once
#include <array>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace craft::detail::bus {

// Exactly N fields after the version "1" (the last takes the rest), or nullopt.
template <size_t N>
std::optional<std::array<std::string_view, N>> fields(std::string_view payload) {
  if (payload.size() < 2 || payload[0] != '1' || payload[1] != '\t') return std::nullopt;
  payload.remove_prefix(2);
  std::array<std::string_view, N> out;
  for (size_t i = 0; i + 1 < N; ++i) {
    auto tab = payload.find('\t');
    if (tab == std::string_view::npos) return std::nullopt;
    out[i] = payload.substr(0, tab);
    payload.remove_prefix(tab + 1);
  }
  out[N - 1] = payload;
  return out;
}

inline std::optional<uint64_t> number(std::string_view s) {
  uint64_t v = 0;
  if (s.empty() || s.size() > 20) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// An account or token id as the store makes them: 1-128 printable ASCII characters.
inline bool plain_id(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace craft::detail::bus
