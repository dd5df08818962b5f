// The protocol over a simulated network: 25 ms ± 10 ms each way (tests/integration/netsim.hpp).
#include "helpers.hpp"
#include "netsim.hpp"

#include <craft/close_codes.hpp>

#include <thread>

using namespace craft;
using namespace craft::testing;

namespace {
std::unique_ptr<Client> hello_via(uint16_t port, const std::string& name, Transport transport = Transport::websocket) {
  client::Options o;
  o.port = port;
  o.transport = transport;
  auto c = std::make_unique<Client>(o);
  c->connect();
  c->hello(name);
  return c;
}
int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

TEST(NetSim, RelayUnderLatencyAndJitterKeepsEveryMessageInOrder) {
  CraftdProcess server;
  NetSimProxy ws_net(server.http_port(), 25ms, 10ms, 7);
  NetSimProxy tcp_net(server.tcp_port(), 25ms, 10ms, 8);
  auto a = hello_via(ws_net.port(), "far-ws");
  auto b = hello_via(tcp_net.port(), "far-tcp", Transport::tcp);
  auto room = a->create("relay").room_id();
  b->join(room);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) a->send(room, 1, std::to_string(i));
  for (int i = 0; i < 100; ++i) {
    auto got = next_room_data(*b);
    ASSERT_TRUE(got) << "message " << i;
    ASSERT_EQ(got->data(), std::to_string(i));
  }
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms) << "two simulated hops of at least 15 ms";
}

TEST(NetSim, PingMeasuresTheSimulatedRoundTripAndAZeroClockOffset) {
  CraftdProcess server;
  NetSimProxy net(server.http_port(), 25ms, 10ms, 3);
  auto c = hello_via(net.port(), "pinger");
  for (int i = 0; i < 5; ++i) {
    auto pong = c->ping();
    int64_t rtt_us = now_us() - pong.client_time_us();
    EXPECT_GE(rtt_us, 30'000) << "at least 2 x (25 - 10) ms";
    EXPECT_LE(rtt_us, 200'000);
    // Same machine, so the true offset is 0; the estimate is off by at most the asymmetry.
    int64_t offset_us = pong.server_time_us() - (pong.client_time_us() + rtt_us / 2);
    EXPECT_LE(std::abs(offset_us), 25'000) << "offset " << offset_us;
  }
}

TEST(NetSim, IdleTimeoutCountsFromWhatTheServerReceived) {
  CraftdProcess server({"--limits.idle-timeout-ms", "400"});
  NetSimProxy net(server.http_port(), 40ms, 0ms, 5);
  auto c = hello_via(net.port(), "slow-line");
  // Pings every 150 ms arrive 40 ms late but still every 150 ms: never idle.
  for (int i = 0; i < 6; ++i) {
    c->ping();
    std::this_thread::sleep_for(150ms);
  }
  EXPECT_FALSE(c->is_closed());
  EXPECT_EQ(c->wait_closed(2000ms), close_code::idle_timeout);
}
