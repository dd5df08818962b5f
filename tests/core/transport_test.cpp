// The transport on its own: a Shard and Connections on real loopback sockets, with a small
// ShardHandler of the test's own instead of the server's core. It includes nothing above
// src/net, so it shows the layer works through its interface alone (docs/architecture.md,
// "Layers"): plain HTTP goes to the handler (with the body it asked for, refusals in its
// format, answers from another thread), messages to the connection's hooks, and the sweep,
// shutdown and release hooks fire.
#include "net/connection.hpp"
#include "net/handler.hpp"
#include "net/http_request.hpp"
#include "net/shard.hpp"

#include <craft/clock.hpp>

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

namespace {
using namespace craft;
using asio::ip::tcp;

struct TestHandler final : ShardHandler {
  std::mutex mutex;
  std::string body_seen;
  HttpRespond later;  // /slow: answered by the test thread
  std::atomic<int> sweeps{0}, shutdowns{0}, released{0};

  bool http_wants_body(const http::Request& r) override { return r.path() == "/echo" || r.path() == "/slow"; }
  std::string http_refusal(const http::Request& r, int status, std::string_view why) override {
    if (r.path() != "/echo") return {};
    return http::response(status, "Refused", "text/x-test", "handler says: " + std::string(why));
  }
  std::string http_request(Shard&, const http::Request& r, std::string_view body, const IpKey&,
                           HttpRespond respond) override {
    std::lock_guard lock(mutex);
    body_seen = std::string(body);
    if (r.path() == "/echo") return http::response(200, "OK", "text/plain", body);
    if (r.path() == "/slow") {
      later = std::move(respond);
      return {};
    }
    return http::response(404, "Not Found", "text/plain", "nothing here\n");
  }
  void on_sweep(Shard&, TimePoint) override { ++sweeps; }
  void on_shutdown(Shard&) override { ++shutdowns; }
  void on_connection_released(const IpKey&) override { ++released; }
};

// Answers every TCP message with the same bytes, framed.
class Echo final : public Connection {
 public:
  using Connection::Connection;

 private:
  void on_message(std::string_view payload, bool) override {
    std::string framed(4, '\0');
    auto n = static_cast<uint32_t>(payload.size());
    framed[0] = char(n >> 24), framed[1] = char(n >> 16), framed[2] = char(n >> 8), framed[3] = char(n);
    framed += payload;
    send(std::make_shared<const std::string>(std::move(framed)));
  }
};

struct Transport : ::testing::Test {
  SteadyClock clock;
  TransportLimits limits{.max_message_size = 1024, .send_queue_bytes = 64 * 1024, .idle_timeout_ms = 1000,
                         .max_http_request_bytes = 4096, .max_http_body_bytes = 256, .flush_interval_us = 0};
  TestHandler handler;
  Shard shard{0, clock, limits, handler};
  tcp::acceptor acceptor{shard.context(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  asio::io_context client_context;

  void SetUp() override { shard.start(); }
  void TearDown() override {
    shard.post([this] {
      std::error_code ec;
      acceptor.close(ec);
      shard.begin_shutdown(1001);
    });
    shard.release();
    shard.join();
  }

  // A client socket whose server side is a new Echo connection on the shard.
  tcp::socket connect(Connection::Transport transport) {
    std::promise<void> accepted;
    acceptor.async_accept(shard.context(), [&, transport](std::error_code ec, tcp::socket s) {
      ASSERT_FALSE(ec);
      std::make_shared<Echo>(shard, std::move(s), transport, IpKey{})->start();
      accepted.set_value();
    });
    tcp::socket client(client_context);
    client.connect(acceptor.local_endpoint());
    accepted.get_future().wait();
    return client;
  }

  // Sends `request` and reads until the server closes.
  std::string exchange(const std::string& request, std::function<void()> meanwhile = {}) {
    auto client = connect(Connection::Transport::http);
    asio::write(client, asio::buffer(request));
    if (meanwhile) meanwhile();
    std::string reply;
    std::error_code ec;
    asio::read(client, asio::dynamic_buffer(reply), ec);
    return reply;
  }
};

TEST_F(Transport, PlainHttpGoesToTheHandler) {
  auto reply = exchange("GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 404 Not Found\r\n")) << reply;
  EXPECT_NE(reply.find("nothing here"), std::string::npos);
  EXPECT_EQ(shard.metrics().http_rejected.get(), 1u);  // a 4xx from the handler is counted
}

TEST_F(Transport, ReadsTheBodyTheHandlerAsksFor) {
  auto reply = exchange("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200 OK\r\n")) << reply;
  EXPECT_TRUE(reply.ends_with("\r\n\r\nhello")) << reply;
  std::lock_guard lock(handler.mutex);
  EXPECT_EQ(handler.body_seen, "hello");
}

TEST_F(Transport, RefusalsAreInTheHandlersFormat) {
  auto chunked = exchange("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_TRUE(chunked.starts_with("HTTP/1.1 400 Refused\r\n")) << chunked;
  EXPECT_NE(chunked.find("handler says: send the body with Content-Length"), std::string::npos);
  auto large = exchange("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 257\r\n\r\n");
  EXPECT_TRUE(large.starts_with("HTTP/1.1 413 Refused\r\n")) << large;
  EXPECT_NE(large.find("limits.max_http_body_bytes (256)"), std::string::npos);
  // A path the handler leaves to the transport gets plain text.
  auto plain = exchange("POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_TRUE(plain.starts_with("HTTP/1.1 400 Bad Request\r\n")) << plain;
  EXPECT_NE(plain.find("text/plain"), std::string::npos);
}

TEST_F(Transport, AnAnswerMayComeLaterFromAnotherThread) {
  auto reply = exchange("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", [&] {
    HttpRespond respond;
    for (int i = 0; i < 500 && !respond; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::lock_guard lock(handler.mutex);
      respond = std::move(handler.later);
    }
    ASSERT_TRUE(respond);
    std::thread([respond] { respond(http::response(201, "Created", "text/plain", "later\n")); }).join();
  });
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 201 Created\r\n")) << reply;
  EXPECT_TRUE(reply.ends_with("later\n"));
}

TEST_F(Transport, MessagesReachTheConnectionAndSocketsAreReleased) {
  {
    auto client = connect(Connection::Transport::tcp);
    const std::string message("\0\0\0\5hello", 9);
    asio::write(client, asio::buffer(message));
    std::string reply(9, '\0');
    asio::read(client, asio::buffer(reply));
    EXPECT_EQ(reply, message);
  }  // the client closes; the server sees EOF
  for (int i = 0; i < 500 && handler.released.load() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(handler.released.load(), 1);
  EXPECT_EQ(shard.metrics().bytes_in.get(), 9u);
  EXPECT_GE(handler.sweeps.load(), 1);  // the first sweep runs when the shard starts
}

TEST_F(Transport, ShutdownClosesConnectionsThenCallsTheHandler) {
  auto client = connect(Connection::Transport::tcp);
  std::promise<size_t> open;
  shard.post([&] {
    shard.begin_shutdown(1001);
    open.set_value(shard.connection_count());
  });
  open.get_future().wait();
  EXPECT_EQ(handler.shutdowns.load(), 1);
  // The connection closed its sending side: the client reads EOF.
  std::string rest;
  std::error_code ec;
  asio::read(client, asio::dynamic_buffer(rest), ec);
  EXPECT_EQ(ec, asio::error::eof);
}

}  // namespace
