#include "matchmaker/query.hpp"

#include <charconv>
#include <cmath>
#include <system_error>

namespace craft::matchmaker {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

// A finite number, the whole of `s`, through from_chars (no exceptions, no locale).
bool parse_number(std::string_view s, double& out) {
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);  // from_chars refuses a leading '+'
  if (s.empty()) return false;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return false;
  out = v;
  return true;
}

bool fail(std::string& error, const char* what, std::size_t at) {
  error = std::string(what) + " at byte " + std::to_string(at);
  return false;
}

}  // namespace

bool parse_query(std::string_view text, const QueryLimits& limits, Query& out, std::string& error) {
  out.terms.clear();
  if (text.size() > limits.max_bytes) {
    error = "query longer than " + std::to_string(limits.max_bytes) + " bytes";
    return false;
  }
  Query q;
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    if (is_blank(text[i])) {
      ++i;
      continue;
    }
    const std::size_t start = i;
    Term t;
    if (text[i] == '+') {
      t.occur = Occur::must;
      ++i;
    } else if (text[i] == '-') {
      t.occur = Occur::must_not;
      ++i;
    }
    // A lone `*` term: anyone (adds nothing).
    if (i < n && text[i] == '*' && (i + 1 == n || is_blank(text[i + 1]))) {
      if (t.occur != Occur::should) return fail(error, "a prefixed '*'", start);
      ++i;
      continue;
    }
    const std::size_t key_start = i;
    while (i < n && is_key_char(text[i])) ++i;
    std::string_view key = text.substr(key_start, i - key_start);
    if (i >= n || text[i] != ':') {
      if (i < n && !is_blank(text[i])) return fail(error, "an unexpected character in a key", i);
      return fail(error, "a term without ':'", start);
    }
    ++i;  // ':'
    constexpr std::string_view prefix = "properties.";
    if (key.substr(0, prefix.size()) == prefix) key.remove_prefix(prefix.size());
    if (key.empty()) return fail(error, "an empty key", key_start);
    t.key = std::string(key);

    // Value: "quoted" (\" and \\ escapes) or a run of non-blank bytes.
    std::string value;
    bool quoted = false;
    if (i < n && text[i] == '"') {
      quoted = true;
      ++i;
      bool closed = false;
      while (i < n) {
        char c = text[i];
        if (c == '\\') {
          if (i + 1 >= n) break;
          char e = text[i + 1];
          if (e != '"' && e != '\\') return fail(error, "an unknown escape", i);
          value.push_back(e);
          i += 2;
          continue;
        }
        if (c == '"') {
          closed = true;
          ++i;
          break;
        }
        value.push_back(c);
        ++i;
      }
      if (!closed) return fail(error, "an unterminated quote", start);
      if (i < n && !is_blank(text[i])) return fail(error, "a character after a closing quote", i);
    } else {
      const std::size_t v0 = i;
      while (i < n && !is_blank(text[i])) ++i;
      value = std::string(text.substr(v0, i - v0));
      if (value.find('"') != std::string::npos) return fail(error, "a quote inside a value", v0);
    }

    std::string_view v = value;
    if (!quoted && v == "*") {
      t.op = Op::any;
    } else if (!quoted && !v.empty() && (v[0] == '>' || v[0] == '<')) {
      bool ge = v.size() > 1 && v[1] == '=';
      if (v[0] == '>') t.op = ge ? Op::ge : Op::gt;
      else t.op = ge ? Op::le : Op::lt;
      std::string_view num = v.substr(ge ? 2 : 1);
      if (!parse_number(num, t.number)) return fail(error, "a range without a finite number", start);
    } else if (v.empty()) {
      // key:  or key:"" : anyone for that key (Nakama's empty value); a must/must-not term
      // with no value would be meaningless.
      if (t.occur != Occur::should) return fail(error, "an empty value", start);
      continue;
    } else {
      t.op = Op::eq;
      t.numeric = parse_number(v, t.number);
      t.text = std::move(value);
    }
    if (q.terms.size() >= limits.max_terms) {
      error = "more than " + std::to_string(limits.max_terms) + " terms";
      return false;
    }
    q.terms.push_back(std::move(t));
  }
  out = std::move(q);
  return true;
}

std::string to_string(const Query& q) {
  std::string s;
  for (const Term& t : q.terms) {
    if (!s.empty()) s.push_back(' ');
    if (t.occur == Occur::must) s.push_back('+');
    if (t.occur == Occur::must_not) s.push_back('-');
    // A key that itself starts with "properties." keeps it behind the stripped prefix, and
    // so does one starting with '+' or '-' (reachable as "properties.-c"), which would
    // otherwise read as an occurrence prefix (found by the matchmaker_query fuzzer).
    if (t.key.rfind("properties.", 0) == 0 ||
        (!t.key.empty() && (t.key[0] == '+' || t.key[0] == '-')))
      s += "properties.";
    s += t.key;
    s.push_back(':');
    auto num = [&](double d) {
      char buf[64];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
      s.append(buf, ec == std::errc() ? static_cast<std::size_t>(end - buf) : 0);
    };
    switch (t.op) {
      case Op::any: s.push_back('*'); break;
      case Op::ge: s += ">="; num(t.number); break;
      case Op::gt: s += ">"; num(t.number); break;
      case Op::le: s += "<="; num(t.number); break;
      case Op::lt: s += "<"; num(t.number); break;
      case Op::eq:
        s.push_back('"');
        for (char c : t.text) {
          if (c == '"' || c == '\\') s.push_back('\\');
          s.push_back(c);
        }
        s.push_back('"');
        break;
    }
  }
  return s;
}

}  // namespace craft::matchmaker
