#include "protocol/json_values.hpp"

#include "protocol/json_check.hpp"

namespace craft::protocol {

namespace {

// End of the string whose opening quote is at s[i] (just past the closing quote). The text
// is valid JSON, so every backslash starts an escape and the string is closed.
size_t string_end(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return s.size();
}

unsigned hex4(std::string_view s, size_t i) {
  unsigned v = 0;
  for (size_t k = i; k < i + 4 && k < s.size(); ++k) {
    char c = s[k];
    v = v * 16 + static_cast<unsigned>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The decoded content of a valid JSON string literal s[begin, end) (quotes included).
std::string unescape(std::string_view s, size_t begin, size_t end) {
  std::string out;
  out.reserve(end - begin);
  for (size_t i = begin + 1; i + 1 < end; ++i) {
    char c = s[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    char e = s[++i];
    switch (e) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        unsigned cp = hex4(s, i + 1);
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < end && s[i + 1] == '\\' && s[i + 2] == 'u') {
          unsigned low = hex4(s, i + 3);
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          i += 6;
        }
        append_utf8(out, cp);
        break;
      }
      default: out += e; break;  // " \ /
    }
  }
  return out;
}

void append_quoted(std::string& out, std::string_view text) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t skip_space(std::string_view s, size_t i) {
  while (i < s.size() && is_space(s[i])) ++i;
  return i;
}

// End of the value starting at s[i] (not a string): a matched array/object or a scalar.
size_t value_end(std::string_view s, size_t i) {
  if (s[i] != '{' && s[i] != '[') {
    while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_space(s[i])) ++i;
    return i;
  }
  size_t depth = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == '"') {
      i = string_end(s, i);
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
    ++i;
  }
  return i;
}

// If the string literal at s[i, end) is a key naming a JSON value member, the position of
// its value (after the colon and blanks); else 0.
size_t member_value_at(std::string_view s, size_t i, size_t end) {
  size_t colon = skip_space(s, end);
  if (colon >= s.size() || s[colon] != ':') return 0;  // a string, not a key
  std::string_view raw = s.substr(i, end - i);
  bool named = raw == "\"value\"" || raw == "\"metadata\"";
  if (!named && raw.find('\\') != std::string_view::npos) {
    auto key = unescape(s, i, end);  // an escaped spelling of the same name
    named = key == "value" || key == "metadata";
  }
  return named ? skip_space(s, colon + 1) : 0;
}

}  // namespace

namespace {

// Copies `s`, handing the value of each member named "value" or "metadata" to `rewrite(at,
// replacement)`: it returns the offset just past that value after filling `replacement`, or 0
// to leave the value as it is. One scan for both directions of the conversion.
template <class Rewrite>
std::string rewrite_json_values(std::string_view s, size_t reserve, Rewrite rewrite) {
  std::string out;
  out.reserve(reserve);
  size_t copied = 0, i = 0;
  while (i < s.size()) {
    if (s[i] != '"') {
      ++i;
      continue;
    }
    size_t end = string_end(s, i);
    size_t at = member_value_at(s, i, end);
    i = end;
    if (at == 0 || at >= s.size()) continue;
    std::string replacement;
    size_t after = rewrite(at, replacement);
    if (after == 0) continue;
    out.append(s.substr(copied, at - copied));
    out.append(replacement);
    copied = i = after;
  }
  out.append(s.substr(copied));
  return out;
}

}  // namespace

bool names_api_call(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '"') continue;
    size_t end = string_end(s, i);
    size_t colon = skip_space(s, end);
    if (colon < s.size() && s[colon] == ':') {
      std::string_view raw = s.substr(i, end - i);
      std::string key = raw.find('\\') == std::string_view::npos ? std::string(raw.substr(1, raw.size() - 2))
                                                                  : unescape(s, i, end);
      if (key == "apiRequest" || key == "api_request" || key == "apiResponse" || key == "api_response") return true;
    }
    i = end - 1;
  }
  return false;
}

std::string quote_json_values(std::string_view s) {
  return rewrite_json_values(s, s.size() + 16, [&](size_t at, std::string& quoted) -> size_t {
    if (s[at] == '"' || s[at] == 'n') return 0;  // already a string, or null
    size_t after = value_end(s, at);
    append_quoted(quoted, s.substr(at, after - at));
    return after;
  });
}

std::string splice_json_values(std::string_view s, EmptyJsonValue empty) {
  return rewrite_json_values(s, s.size(), [&](size_t at, std::string& text) -> size_t {
    if (s[at] != '"') return 0;
    size_t after = string_end(s, at);
    text = unescape(s, at, after);
    if (text.empty()) {
      if (empty == EmptyJsonValue::string) return 0;
      text = "{}";
    }
    // Blanks around the document would be lost when it is read back as a bare value, so
    // such text stays a string (decode(encode(x)) == x; found by the envelope_json fuzzer).
    if (is_space(text.front()) || is_space(text.back())) return 0;
    if (!check_json(text, max_supported_json_depth)) return 0;  // not JSON text: left a string
    return after;
  });
}

}  // namespace craft::protocol
