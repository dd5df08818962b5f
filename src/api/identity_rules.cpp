#include "api/identity_rules.hpp"

#include "net/ws_codec.hpp"

#include <cstdint>

namespace craft::api {
namespace {

// The next code point of valid UTF-8 (checked before any call), advancing `i`.
char32_t next_code_point(std::string_view s, std::size_t& i) {
  auto b = static_cast<unsigned char>(s[i]);
  int extra = b < 0x80 ? 0 : b < 0xE0 ? 1 : b < 0xF0 ? 2 : 3;
  char32_t cp = extra == 0 ? b : extra == 1 ? (b & 0x1F) : extra == 2 ? (b & 0x0F) : (b & 0x07);
  ++i;
  for (int k = 0; k < extra && i < s.size(); ++k, ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[i]) & 0x3F);
  return cp;
}

bool is_control(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

bool is_blank(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000 || cp == 0xFEFF;
}

}  // namespace

std::optional<std::string> identity_problem(std::string_view what, std::string_view value, std::size_t min_bytes,
                                            std::size_t max_bytes) {
  const std::string name(what);
  if (value.size() < min_bytes || value.size() > max_bytes)
    return name + " must be " + std::to_string(min_bytes) + "-" + std::to_string(max_bytes) + " bytes";
  if (!ws::is_valid_utf8(value)) return name + " must be UTF-8";
  if (value.empty()) return std::nullopt;
  std::size_t after_first = 0;
  const char32_t first = next_code_point(value, after_first);
  char32_t last = first;
  for (std::size_t i = 0; i < value.size();) {
    last = next_code_point(value, i);
    if (is_control(last)) return name + " must not contain control characters";
  }
  if (is_blank(first) || is_blank(last)) return name + " must not start or end with a blank";
  return std::nullopt;
}

std::optional<std::string> email_problem(std::string_view email) {
  if (auto problem = identity_problem("email", email, kMinEmailBytes, kMaxEmailBytes)) return problem;
  for (std::size_t i = 0; i < email.size();) {
    if (is_blank(next_code_point(email, i))) return std::string("email must not contain blanks");
  }
  auto at = email.find('@');
  if (at == 0 || at == std::string_view::npos || at + 1 == email.size() || email.find('@', at + 1) != std::string_view::npos)
    return std::string("email must look like name@host (one '@')");
  return std::nullopt;
}

std::string fold_ascii_case(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace craft::api
