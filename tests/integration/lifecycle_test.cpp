#include "helpers.hpp"

#include <craft/close_codes.hpp>

using namespace craft;
using namespace craft::testing;

TEST(Lifecycle, SigtermClosesClientsWith1001AndExitsZero) {
  CraftdProcess server;
  auto a = hello(server, "a");
  a->join_or_create("relay");
  auto tcp = hello(server, "t", Transport::tcp);
  EXPECT_EQ(server.stop(), 0);
  EXPECT_EQ(a->wait_closed(3000ms), close_code::going_away);
  EXPECT_EQ(tcp->wait_closed(3000ms), close_code::going_away);
}

TEST(Lifecycle, HttpEndpoints) {
  CraftdProcess server;
  // The status line itself, not a "404" anywhere in the answer (docs/protocol.md 1.1).
  auto status_of = [](const std::string& response) { return response.substr(0, response.find("\r\n")); };
  auto healthz = server.http_get("/healthz");
  EXPECT_EQ(status_of(healthz), "HTTP/1.1 200 OK");
  EXPECT_TRUE(healthz.ends_with("\r\n\r\nok\n")) << healthz;
  EXPECT_EQ(status_of(server.http_get("/nope")), "HTTP/1.1 404 Not Found");
  auto metrics = server.http_get("/metrics");
  EXPECT_EQ(status_of(metrics), "HTTP/1.1 200 OK");
  EXPECT_NE(metrics.find("craft_connections "), std::string::npos);
  EXPECT_EQ(status_of(server.http_get("/" + std::string(9000, 'a'))), "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_EQ(status_of(server.http_get("/ws")), "HTTP/1.1 400 Bad Request");  // GET /ws without an upgrade
}

TEST(Lifecycle, ClientCloseIsAnsweredAndOthersSeeTheLeave) {
  CraftdProcess server;
  auto a = hello(server, "a");
  auto room = a->create("relay").room_id();
  auto b = hello(server, "b");
  b->join(room);
  b->close();  // sends a close frame with 1000 and reads until the server's close frame
  // docs/protocol.md §1.2, §4.12: the answer is a close frame with code 1000 (the client's
  // code echoed, as RFC 6455 §5.5.1 suggests), empty reason, and no disconnect envelope.
  EXPECT_EQ(b->close_code(), close_code::normal) << "no close frame came back, or another code";
  EXPECT_EQ(b->close_reason(), "");
  while (auto e = b->next_event(0ms)) EXPECT_FALSE(e->has_disconnect()) << "a disconnect envelope before the close";
  auto left = a->wait_for([](const v1::Envelope& e) { return e.has_presence() && e.presence().leaves_size(); },
                          3000ms);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->presence().leaves(0).name(), "b");
}

// Whatever code the client closes with (1001: a browser tab going away; 4321: an
// application's own), the documented answer is a close frame with 1000.
TEST(Lifecycle, ClientCloseWithAnyCodeIsAnsweredWith1000) {
  CraftdProcess server;
  for (uint16_t code : {uint16_t{1001}, uint16_t{4321}}) {
    auto c = hello(server, "closer");
    c->close(code);
    EXPECT_EQ(c->close_code(), close_code::normal) << "client code " << code;
    while (auto e = c->next_event(0ms)) EXPECT_FALSE(e->has_disconnect()) << "client code " << code;
  }
  EXPECT_EQ(server.metric("craft_closes_total{code=\"1000\"}"), 2);
}
