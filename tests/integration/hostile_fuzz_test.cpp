// Inputs the fuzzers (tests/fuzz) found, replayed against a real craftd.
#include "helpers.hpp"

namespace craft::testing {

// tests/fuzz/http_request_fuzz.cpp: a bare LF inside a header line was kept as part of the
// value, so a header a proxy in front (reading LF as a line end) sees was hidden from craftd.
TEST(HostileFuzz, BareLineFeedInsideAHeaderLineIsAnswered400) {
  CraftdProcess server;
  auto response = http_request(server.http_port(), "GET", "/healthz", "", "X-A: a\nContent-Length: 9\r\n");
  EXPECT_TRUE(response.starts_with("HTTP/1.1 400 Bad Request\r\n")) << response;
  auto bare_cr = http_request(server.http_port(), "GET", "/healthz", "", "X-A: a\rb\r\n");
  EXPECT_TRUE(bare_cr.starts_with("HTTP/1.1 400 Bad Request\r\n")) << bare_cr;
  // The same request without the stray byte is served.
  auto fine = http_request(server.http_port(), "GET", "/healthz", "", "X-A: a\r\n");
  EXPECT_TRUE(fine.starts_with("HTTP/1.1 200 ")) << fine;
}

}  // namespace craft::testing
