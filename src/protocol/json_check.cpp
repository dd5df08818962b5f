#include "protocol/json_check.hpp"

#include <algorithm>

namespace craft::protocol {

namespace {

using Byte = unsigned char;

struct Scan {
  size_t pos;           // just past what was scanned, or the offending byte
  const char* error;    // null when fine
};

bool is_hex(Byte c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

unsigned hex4(const Byte* p) {
  unsigned v = 0;
  for (int k = 0; k < 4; ++k) {
    Byte c = p[k];
    v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}

// A \uXXXX escape at p[i] (p[i] == '\\', p[i+1] == 'u'); false unless four hex digits follow.
bool u_escape(const Byte* p, size_t n, size_t i, unsigned& code) {
  if (n - i < 6 || p[i + 1] != 'u') return false;
  for (size_t k = 2; k < 6; ++k)
    if (!is_hex(p[i + k])) return false;
  code = hex4(p + i + 2);
  return true;
}

// One UTF-8 sequence starting at p[i] (a byte >= 0x80): its length, or 0 if it is not valid.
size_t utf8_sequence(const Byte* p, size_t n, size_t i) {
  Byte c = p[i];
  size_t len;
  Byte lo = 0x80, hi = 0xBF;  // the bounds of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;       // no overlong forms
    if (c == 0xED) hi = 0x9F;       // no UTF-16 surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;       // no overlong forms
    if (c == 0xF4) hi = 0x8F;       // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (n - i < len) return 0;
  if (p[i + 1] < lo || p[i + 1] > hi) return 0;
  for (size_t k = 2; k < len; ++k)
    if (p[i + k] < 0x80 || p[i + k] > 0xBF) return 0;
  return len;
}

// A string whose opening quote is at p[i].
Scan scan_string(const Byte* p, size_t n, size_t i) {
  ++i;
  while (i < n) {
    Byte c = p[i];
    if (c == '"') return {i + 1, nullptr};
    if (c < 0x20) return {i, "raw control character in a string (escape it)"};
    if (c == '\\') {
      if (i + 1 >= n) return {i, "unterminated string"};
      Byte e = p[i + 1];
      if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
        i += 2;
        continue;
      }
      unsigned code = 0;
      if (e != 'u') return {i, "invalid escape in a string"};
      if (!u_escape(p, n, i, code)) return {i, "\\u needs four hex digits"};
      if (code >= 0xDC00 && code <= 0xDFFF) return {i, "lone low surrogate escape"};
      if (code >= 0xD800 && code <= 0xDBFF) {
        unsigned low = 0;
        if (!u_escape(p, n, i + 6, low) || p[i + 6] != '\\' || low < 0xDC00 || low > 0xDFFF)
          return {i, "high surrogate escape without a low one"};
        i += 12;
        continue;
      }
      i += 6;
      continue;
    }
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = utf8_sequence(p, n, i);
    if (len == 0) return {i, "invalid UTF-8"};
    i += len;
  }
  return {i, "unterminated string"};
}

bool is_digit(Byte c) { return c >= '0' && c <= '9'; }

// A number starting at p[i] ('-' or a digit): RFC 8259's grammar, nothing looser.
Scan scan_number(const Byte* p, size_t n, size_t i) {
  if (p[i] == '-') ++i;
  if (i >= n || !is_digit(p[i])) return {i, "expected a digit"};
  if (p[i] == '0') {
    ++i;
  } else {
    while (i < n && is_digit(p[i])) ++i;
  }
  if (i < n && p[i] == '.') {
    ++i;
    if (i >= n || !is_digit(p[i])) return {i, "expected a digit after '.'"};
    while (i < n && is_digit(p[i])) ++i;
  }
  if (i < n && (p[i] == 'e' || p[i] == 'E')) {
    ++i;
    if (i < n && (p[i] == '+' || p[i] == '-')) ++i;
    if (i >= n || !is_digit(p[i])) return {i, "expected a digit in the exponent"};
    while (i < n && is_digit(p[i])) ++i;
  }
  return {i, nullptr};
}

Scan scan_literal(const Byte* p, size_t n, size_t i) {
  for (std::string_view word : {std::string_view("true"), std::string_view("false"), std::string_view("null")}) {
    if (p[i] == static_cast<Byte>(word[0])) {
      if (n - i >= word.size() && std::equal(word.begin(), word.end(), p + i)) return {i + word.size(), nullptr};
      return {i, "invalid literal"};
    }
  }
  return {i, "expected a value"};
}

enum class Want : uint8_t { value, value_or_close, key_or_close, key, colon, comma_or_close, done };

}  // namespace

JsonCheck check_json(std::string_view text, uint32_t max_depth) noexcept {
  const auto* p = reinterpret_cast<const Byte*>(text.data());
  const size_t n = text.size();
  const uint32_t limit = std::min(max_depth, max_supported_json_depth);
  // One bit per open container: set for an object, clear for an array.
  uint64_t objects[max_supported_json_depth / 64] = {};
  uint32_t depth = 0;
  auto in_object = [&] { return (objects[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1; };
  auto fail = [](size_t at, const char* why) {
    JsonCheck r;
    r.ok = false;
    r.offset = at;
    r.error = why;
    return r;
  };
  Want want = Want::value;
  char top = 0;
  size_t i = 0;
  for (;;) {
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) ++i;
    if (i == n) {
      if (want == Want::done) {
        JsonCheck r;
        r.top = top;
        return r;
      }
      return fail(i, depth > 0 ? "unterminated array or object" : "expected a value");
    }
    const Byte c = p[i];
    bool closing = false;
    switch (want) {
      case Want::done: return fail(i, "more after the value");
      case Want::colon:
        if (c != ':') return fail(i, "expected ':'");
        ++i;
        want = Want::value;
        continue;
      case Want::comma_or_close:
        if (c == ',') {
          ++i;
          want = in_object() ? Want::key : Want::value;
          continue;
        }
        if (c != (in_object() ? '}' : ']')) return fail(i, in_object() ? "expected ',' or '}'" : "expected ',' or ']'");
        closing = true;
        break;
      case Want::key_or_close:
        if (c == '}') {
          closing = true;
          break;
        }
        [[fallthrough]];
      case Want::key: {
        if (c != '"') return fail(i, "expected a string key");
        Scan s = scan_string(p, n, i);
        if (s.error) return fail(s.pos, s.error);
        i = s.pos;
        want = Want::colon;
        continue;
      }
      case Want::value_or_close:
        if (c == ']') {
          closing = true;
          break;
        }
        [[fallthrough]];
      case Want::value: {
        if (depth == 0) top = static_cast<char>(c);
        if (c == '{' || c == '[') {
          if (depth >= limit) return fail(i, "nested deeper than the depth limit");
          uint64_t bit = uint64_t{1} << (depth % 64);
          if (c == '{') objects[depth / 64] |= bit; else objects[depth / 64] &= ~bit;
          ++depth;
          ++i;
          want = c == '{' ? Want::key_or_close : Want::value_or_close;
          continue;
        }
        Scan s = c == '"'                        ? scan_string(p, n, i)
                 : c == '-' || is_digit(c)       ? scan_number(p, n, i)
                                                 : scan_literal(p, n, i);
        if (s.error) return fail(s.pos, s.error);
        i = s.pos;
        want = depth > 0 ? Want::comma_or_close : Want::done;
        continue;
      }
    }
    if (closing) {
      ++i;
      --depth;
      want = depth > 0 ? Want::comma_or_close : Want::done;
    }
  }
}

}  // namespace craft::protocol
