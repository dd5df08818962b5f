// The ticket query parser (src/matchmaker/query.*) on hostile bytes. Input: one byte of the
// term bound, then the query text. Besides "no crash, no UB" (ASan/UBSan): a refused query
// says why and leaves nothing behind; an accepted one keeps the byte and term bounds,
// prints to a text that parses back to the same query, and a ticket carrying it can be
// checked against itself without trouble.
#include "fuzz_check.hpp"
#include "matchmaker/matcher.hpp"
#include "matchmaker/query.hpp"

#include <cstdint>
#include <string>
#include <string_view>

using namespace craft::matchmaker;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  QueryLimits limits{1024, static_cast<std::size_t>(data[0] % 40)};
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  Query q;
  std::string error;
  if (!parse_query(text, limits, q, error)) {
    FUZZ_CHECK(!error.empty());
    FUZZ_CHECK(q.terms.empty());
    return 0;
  }
  FUZZ_CHECK(text.size() <= limits.max_bytes);
  FUZZ_CHECK(q.terms.size() <= limits.max_terms);
  const std::string printed = to_string(q);
  Query again;
  FUZZ_CHECK(parse_query(printed, QueryLimits{1 << 20, 40}, again, error));
  FUZZ_CHECK(again == q);
  Ticket t;
  t.id = 1;
  t.members = {1};
  t.query = q;
  for (const Term& term : q.terms) {
    if (term.op == Op::eq && !term.numeric) t.string_properties[term.key] = term.text;
    else t.numeric_properties[term.key] = term.number;
  }
  MatcherOptions o;
  (void)accepts(t, t, craft::TimePoint{}, o);
  return 0;
}
