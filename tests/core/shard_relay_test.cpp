// Cross-shard posts (Shard::post from another shard's thread are relayed in one batch per
// loop turn) and lazily queued frames (Connection::send_lazily), on real shard threads and
// loopback sockets.
#include "net/connection.hpp"
#include "null_handler.hpp"
#include "net/shard.hpp"

#include <craft/clock.hpp>

#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace {
using namespace craft;
using asio::ip::tcp;

using craft::testing::NullHandler;

struct Shards : ::testing::Test {
  SteadyClock clock;
  TransportLimits limits{.max_message_size = 1024, .send_queue_bytes = 64 * 1024, .idle_timeout_ms = 10'000,
                         .max_http_request_bytes = 4096, .max_http_body_bytes = 256, .flush_interval_us = 0};
  NullHandler handler;
  Shard a{0, clock, limits, handler};
  Shard b{1, clock, limits, handler};

  void SetUp() override {
    a.start();
    b.start();
  }
  void TearDown() override {
    a.release();
    b.release();
    a.join();
    b.join();
  }
};

TEST_F(Shards, PostsFromAnotherShardRunThereInOrder) {
  constexpr int n = 1000;
  std::vector<int> seen;  // touched on b's thread only
  bool all_on_b = true;
  std::promise<void> done;
  a.post([&] {
    EXPECT_EQ(Shard::running(), &a);
    for (int i = 0; i < n; ++i) {
      b.post([&, i] {
        all_on_b = all_on_b && Shard::running() == &b;
        seen.push_back(i);
      });
    }
    // And back: b's answer to a is relayed the same way.
    b.post([&] { a.post([&] { done.set_value(); }); });
  });
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ASSERT_EQ(seen.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ASSERT_EQ(seen[static_cast<size_t>(i)], i);
  EXPECT_TRUE(all_on_b);
}

TEST_F(Shards, OffShardThreadsPostDirectly) {
  EXPECT_EQ(Shard::running(), nullptr);
  std::promise<Shard*> ran_on;
  b.post([&] { ran_on.set_value(Shard::running()); });
  auto f = ran_on.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(f.get(), &b);
}

// Each TCP message "lazy:X" queues X lazily; "now:Y" sends Y at once. Frames are raw bytes.
class Lazy final : public Connection {
 public:
  using Connection::Connection;

 private:
  void on_message(std::string_view payload, bool) override {
    auto bytes = std::make_shared<const std::string>(payload.substr(payload.find(':') + 1));
    if (payload.starts_with("lazy:")) send_lazily(bytes);
    else send(bytes);
  }
};

std::string framed(std::string_view payload) {
  std::string out(4, '\0');
  auto n = static_cast<uint32_t>(payload.size());
  out[0] = char(n >> 24), out[1] = char(n >> 16), out[2] = char(n >> 8), out[3] = char(n);
  return out + std::string(payload);
}

struct LazySend : Shards {
  asio::io_context client_context;
  tcp::acceptor acceptor{a.context(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};

  tcp::socket connect() {
    std::promise<void> accepted;
    acceptor.async_accept(a.context(), [&](std::error_code ec, tcp::socket s) {
      ASSERT_FALSE(ec);
      std::make_shared<Lazy>(a, std::move(s), Connection::Transport::tcp, IpKey{})->start();
      accepted.set_value();
    });
    tcp::socket client(client_context);
    client.connect(acceptor.local_endpoint());
    accepted.get_future().wait();
    return client;
  }
  void TearDown() override {
    a.post([this] {
      std::error_code ec;
      acceptor.close(ec);
      a.begin_shutdown(1001);
    });
    Shards::TearDown();
  }
};

TEST_F(LazySend, ALazyFrameRidesOnTheNextWrite) {
  auto client = connect();
  asio::write(client, asio::buffer(framed("lazy:ack") + framed("now:snapshot")));
  std::string got(11, '\0');
  asio::read(client, asio::buffer(got));
  EXPECT_EQ(got, "acksnapshot");  // in the order queued
}

TEST_F(LazySend, ALazyFrameAloneLeavesAtTheNextSweep) {
  auto client = connect();
  auto sent = std::chrono::steady_clock::now();
  asio::write(client, asio::buffer(framed("lazy:ack")));
  std::string got(3, '\0');
  asio::read(client, asio::buffer(got));  // the shard sweeps every 250 ms
  EXPECT_EQ(got, "ack");
  EXPECT_LT(std::chrono::steady_clock::now() - sent, std::chrono::seconds(2));
}

}  // namespace
