// The ticket query grammar (src/matchmaker/query.hpp, docs/matchmaking.md): what parses to
// what, and hostile inputs that must come back as an error text, never a crash or a throw.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "matchmaker/query.hpp"

using namespace craft::matchmaker;

namespace {

Query parse_ok(std::string_view text, QueryLimits limits = {}) {
  Query q;
  std::string error;
  EXPECT_TRUE(parse_query(text, limits, q, error)) << text << ": " << error;
  return q;
}

std::string parse_err(std::string_view text, QueryLimits limits = {}) {
  Query q;
  q.terms.push_back(Term{});
  std::string error;
  EXPECT_FALSE(parse_query(text, limits, q, error)) << text;
  EXPECT_TRUE(q.terms.empty()) << "a failed parse leaves the query empty";
  EXPECT_FALSE(error.empty());
  return error;
}

}  // namespace

TEST(MatchmakerQuery, TheIssueExample) {
  Query q = parse_ok("+region:eu -mode:ranked skill:>=1200 skill:<=1800 +map:\"dust 2\"");
  ASSERT_EQ(q.terms.size(), 5u);
  EXPECT_EQ(q.terms[0].occur, Occur::must);
  EXPECT_EQ(q.terms[0].op, Op::eq);
  EXPECT_EQ(q.terms[0].key, "region");
  EXPECT_EQ(q.terms[0].text, "eu");
  EXPECT_FALSE(q.terms[0].numeric);
  EXPECT_EQ(q.terms[1].occur, Occur::must_not);
  EXPECT_EQ(q.terms[1].text, "ranked");
  EXPECT_EQ(q.terms[2].occur, Occur::should);
  EXPECT_EQ(q.terms[2].op, Op::ge);
  EXPECT_EQ(q.terms[2].number, 1200);
  EXPECT_EQ(q.terms[3].op, Op::le);
  EXPECT_EQ(q.terms[3].number, 1800);
  EXPECT_EQ(q.terms[4].key, "map");
  EXPECT_EQ(q.terms[4].text, "dust 2");
}

TEST(MatchmakerQuery, OperatorsPrefixAndNumbers) {
  Query q = parse_ok("a:>1 b:<2.5 c:>=-3 d:<=1e3 +properties.level:5 e:* f:\"x\\\"y\\\\z\"");
  ASSERT_EQ(q.terms.size(), 7u);
  EXPECT_EQ(q.terms[0].op, Op::gt);
  EXPECT_EQ(q.terms[1].op, Op::lt);
  EXPECT_EQ(q.terms[1].number, 2.5);
  EXPECT_EQ(q.terms[2].number, -3);
  EXPECT_EQ(q.terms[3].number, 1000);
  EXPECT_EQ(q.terms[4].key, "level") << "the Nakama-style properties. prefix is dropped";
  EXPECT_TRUE(q.terms[4].numeric);
  EXPECT_EQ(q.terms[4].number, 5);
  EXPECT_EQ(q.terms[5].op, Op::any);
  EXPECT_EQ(q.terms[6].text, "x\"y\\z");
}

TEST(MatchmakerQuery, AnyoneForms) {
  EXPECT_TRUE(parse_ok("").terms.empty());
  EXPECT_TRUE(parse_ok("*").terms.empty());
  EXPECT_TRUE(parse_ok("  \t\n *  ").terms.empty());
  EXPECT_TRUE(parse_ok("region:\"\"").terms.empty()) << "an empty should value matches anyone";
  EXPECT_TRUE(parse_ok("region:").terms.empty());
  // Quoted: a literal, not an operator.
  Query q = parse_ok("a:\">=5\" b:\"*\"");
  EXPECT_EQ(q.terms[0].op, Op::eq);
  EXPECT_EQ(q.terms[0].text, ">=5");
  EXPECT_EQ(q.terms[1].op, Op::eq);
}

TEST(MatchmakerQuery, Errors) {
  parse_err("region");
  parse_err(":eu");
  parse_err("+region:\"eu");
  parse_err("+region:\"eu\"x");
  parse_err("region:e\"u");
  parse_err("skill:>=");
  parse_err("skill:>abc");
  parse_err("skill:>=nan");
  parse_err("skill:<inf");
  parse_err("skill:>1e999");
  parse_err("+region:");
  parse_err("-region:\"\"");
  parse_err("+*");
  parse_err("re gion:eu");
  parse_err("reg!on:eu");
  parse_err("a:\"\\n\"");
  parse_err("properties.:x");
  EXPECT_NE(parse_err("a:1 b:\"x").find("byte 4"), std::string::npos);
}

TEST(MatchmakerQuery, LimitsAreCheckedFirst) {
  std::string big(1025, 'a');
  EXPECT_NE(parse_err(big).find("1024 bytes"), std::string::npos);
  QueryLimits two{1024, 2};
  parse_ok("a:1 b:2", two);
  EXPECT_NE(parse_err("a:1 b:2 c:3", two).find("more than 2 terms"), std::string::npos);
  // A long query of blanks and anyone-terms is fine: only real terms count.
  parse_ok(std::string(1000, ' ') + "* a:", two);
}

TEST(MatchmakerQuery, ToStringRoundTrips) {
  for (const char* text : {"+region:eu -mode:ranked skill:>=1200 skill:<=1800 +map:\"dust 2\"",
                           "a:* b:\"q\\\"\" +c:-0.25 d:<1e-300 +properties.properties.x:1",
                           "properties.-c:a +properties.-d:b"}) {
    Query q = parse_ok(text);
    Query again = parse_ok(to_string(q));
    EXPECT_EQ(q, again) << text << " -> " << to_string(q);
  }
}

// Random bytes from the grammar's alphabet: parse never crashes, a success round-trips, and
// the term count never passes the bound.
TEST(MatchmakerQuery, RandomInputsNeverCrashAndRoundTrip) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const std::string alphabet = "+-:*\"\\<>=. \tabkeyproperties.0123456789eE";
  QueryLimits limits{64, 4};
  int ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 70, ' ');
    for (char& c : s) c = rng() % 16 == 0 ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()];
    Query q;
    std::string error;
    if (!parse_query(s, limits, q, error)) {
      ASSERT_FALSE(error.empty());
      continue;
    }
    ++ok;
    ASSERT_LE(q.terms.size(), limits.max_terms);
    Query again;
    ASSERT_TRUE(parse_query(to_string(q), QueryLimits{1 << 20, 4}, again, error)) << s << ": " << error;
    ASSERT_EQ(q, again) << s;
  }
  EXPECT_GT(ok, 100) << "the generator should hit valid queries too";
}
