// The HTTP request-head parser (src/net/http_request.*): what it accepts and what it refuses.
#include "net/http_request.hpp"

#include <gtest/gtest.h>

using namespace craft::http;

namespace {

ParseResult parse(std::string_view text) {
  Request r;
  size_t head = 0;
  return parse_request(text, r, head);
}

}  // namespace

TEST(HttpRequestParse, AcceptsAnUpgradeRequestAndReadsItsHeaders) {
  std::string_view text =
      "GET /ws?x=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\nrest";
  Request r;
  size_t head = 0;
  ASSERT_EQ(parse_request(text, r, head), ParseResult::complete);
  EXPECT_EQ(head, text.size() - 4);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path(), "/ws");
  EXPECT_EQ(r.header("HOST"), "a");
  EXPECT_TRUE(r.wants_websocket());
}

// Found by tests/fuzz/http_request_fuzz.cpp: a bare LF inside a header line was kept in the
// value, so "X: a\nContent-Length: 9" hid a header that a proxy reading LF as a line end sees.
TEST(HttpRequestParse, RefusesABareLineFeedOrCarriageReturnInAHeaderLine) {
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nX: a\nContent-Length: 9\r\n\r\n"), ParseResult::bad);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), ParseResult::bad);
}

TEST(HttpRequestParse, RefusesABareLineFeedOrCarriageReturnInTheRequestLine) {
  EXPECT_EQ(parse("GET /a\nb HTTP/1.1\r\nHost: a\r\n\r\n"), ParseResult::bad);
  EXPECT_EQ(parse("GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n"), ParseResult::bad);
}

TEST(HttpRequestParse, IsIncompleteUntilTheBlankLine) {
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n"), ParseResult::incomplete);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), ParseResult::complete);
}

// Found by the review of issue 9: these were ignored or kept instead of refused.
TEST(HttpRequestParse, RefusesAFieldNameThatIsNotAToken) {
  EXPECT_EQ(parse("POST /v1/x HTTP/1.1\r\nContent-Length : 50\r\n\r\n"), ParseResult::bad);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nX Y: a\r\n\r\n"), ParseResult::bad);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nContent-Length: 0\r\nX-Ok_1.2~: a\r\n\r\n"), ParseResult::complete);
}

TEST(HttpRequestParse, RefusesControlCharactersInAFieldValueButTab) {
  EXPECT_EQ(parse(std::string_view("GET / HTTP/1.1\r\nHost: x\0y\r\n\r\n", 29)), ParseResult::bad);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: x\x7fy\r\n\r\n"), ParseResult::bad);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: x\ty\r\n\r\n"), ParseResult::complete);
}

TEST(HttpRequestParse, RefusesAHeadOfBareLineFeedsAtOnce) {
  EXPECT_EQ(parse("GET /healthz HTTP/1.1\nHost: x\n\n"), ParseResult::bad);
  EXPECT_EQ(parse("GET /healthz HTTP/1.1\nHo"), ParseResult::bad) << "before the head is complete";
  EXPECT_EQ(parse("GET /healthz HTTP/1.1\r\nHo"), ParseResult::incomplete);
}
