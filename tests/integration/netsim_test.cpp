// The protocol over a simulated network: 25 ms ± 10 ms each way (tests/integration/netsim.hpp).
#include "helpers.hpp"
#include "netsim.hpp"

#include <craft/close_codes.hpp>
#include <craft/server.hpp>

using namespace craft;
using namespace craft::testing;

namespace {
std::unique_ptr<client::Client> hello_via(uint16_t port, const std::string& name, Transport transport = Transport::websocket) {
  client::Options o;
  o.port = port;
  o.transport = transport;
  auto c = std::make_unique<client::Client>(o);
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
    // Same machine and clock, so the true offset is 0. Each way took at least 15 ms, so the
    // server stamped its time at least 15 ms after the ping left and 15 ms before the pong
    // came back: the estimate is off by at most rtt / 2 - 15 ms, however slow the machine
    // (1 ms of slack for the proxy's steady clock against the wall clock).
    int64_t offset_us = pong.server_time_us() - (pong.client_time_us() + rtt_us / 2);
    EXPECT_LE(std::abs(offset_us), (rtt_us + 1) / 2 - 14'000) << "offset " << offset_us << ", rtt " << rtt_us;
  }
}

// The server's clock is a ManualClock, so the test says when time passes instead of sleeping.
TEST(NetSim, IdleTimeoutCountsFromWhatTheServerReceived) {
  ManualClock clock;
  ServerConfig config;
  config.http_port = 0;
  config.tcp_port = 0;
  config.shards = 1;  // one sweep judges every connection
  config.store.backend = "none";
  config.limits.idle_timeout_ms = 400;
  Server server(config, &clock);
  server.start();
  {
    // `marker` never sends after hello: its 4001 shows a sweep ran at the clock's new time,
    // and a ping from `c` sent after that is handled after the whole sweep (one shard).
    auto marker = hello_via(server.http_port(), "marker");
    NetSimProxy net(server.http_port(), 40ms, 0ms, 5);
    auto c = hello_via(net.port(), "slow-line");
    clock.advance(300ms);
    c->ping();  // arrives 40 ms later in real time, at 300 ms on the server's clock
    clock.advance(300ms);  // 600 ms since hello, 300 ms since the ping
    EXPECT_EQ(marker->wait_closed(10s), close_code::idle_timeout);
    EXPECT_NO_THROW(c->ping()) << "closed although it sent a ping 300 ms ago";  // at 600 ms
    clock.advance(401ms);  // past the timeout, counted from the last ping
    EXPECT_EQ(c->wait_closed(10s), close_code::idle_timeout);
  }
  server.stop();
  server.wait();
}
