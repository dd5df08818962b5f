// Whole-string number parsing for text read back from Redis or other nodes (hostile input):
// from_chars, no exceptions, no locale, and nothing left over.
#pragma once
#include <charconv>
#include <string_view>

namespace craft::cluster {

template <typename T>
bool parse_number(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

}  // namespace craft::cluster
