// The ticket query grammar (docs/matchmaking.md): Nakama-like terms over the OTHER ticket's
// properties, e.g.  +region:eu -mode:ranked skill:>=1200 skill:<=1800 +map:"dust 2"
//
//   Query q; std::string error;
//   if (!parse_query(text, QueryLimits{config.max_query_bytes, config.max_ticket_properties}, q, error))
//     -> reject the ticket with `error` (BAD_REQUEST)
//
// Client data: the parser is linear, no recursion, no regex, no exceptions, numbers through
// std::from_chars; the input length is checked before anything else.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace craft::matchmaker {

// `+` must hold, `-` must not hold, no prefix: counts toward the group's preference score.
enum class Occur : uint8_t { should, must, must_not };
// key:*  key:value  key:>=n  key:>n  key:<=n  key:<n
enum class Op : uint8_t { any, eq, ge, gt, le, lt };

struct Term {
  Occur occur = Occur::should;
  Op op = Op::eq;
  std::string key;      // without the optional "properties." prefix
  std::string text;     // eq: the value as written (unquoted)
  double number = 0;    // ranges: the bound; eq: the value when `numeric`
  bool numeric = false; // eq: text is a finite number (matches a numeric property too)
};

struct Query {
  std::vector<Term> terms;  // empty = anyone
  bool operator==(const Query&) const = default;
};
inline bool operator==(const Term& a, const Term& b) {
  return a.occur == b.occur && a.op == b.op && a.key == b.key && a.text == b.text &&
         a.number == b.number && a.numeric == b.numeric;
}

struct QueryLimits {
  std::size_t max_bytes = 1024;  // matchmaker.max_query_bytes
  std::size_t max_terms = 32;    // the term count bound (matchmaker.max_ticket_properties)
};

// Parses `text` into `out`. On failure returns false, leaves `out` empty and sets `error` to a
// short English reason naming the byte offset.
bool parse_query(std::string_view text, const QueryLimits& limits, Query& out, std::string& error);

// The canonical text of a query (parse_query(to_string(q)) == q); for logs and tests.
std::string to_string(const Query& q);

}  // namespace craft::matchmaker
