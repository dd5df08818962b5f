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
  EXPECT_NE(server.http_get("/healthz").find("200 OK"), std::string::npos);
  EXPECT_NE(server.http_get("/nope").find("404"), std::string::npos);
  auto metrics = server.http_get("/metrics");
  EXPECT_NE(metrics.find("craft_connections "), std::string::npos);
  EXPECT_NE(server.http_get("/" + std::string(9000, 'a')).find("431"), std::string::npos);
  EXPECT_NE(server.http_get("/ws").find("400"), std::string::npos);  // GET /ws without an upgrade
}

TEST(Lifecycle, ClientCloseIsAnsweredAndOthersSeeTheLeave) {
  CraftdProcess server;
  auto a = hello(server, "a");
  auto room = a->create("relay").room_id();
  auto b = hello(server, "b");
  b->join(room);
  b->close();
  auto left = a->wait_for([](const v1::Envelope& e) { return e.has_presence() && e.presence().leaves_size(); },
                          3000ms);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->presence().leaves(0).name(), "b");
}
