// The public API a game's own server uses (include/craft): the listen error names what it
// could not have, run_until_signal stops gracefully, and an embedded Server with default
// config writes nothing to disk.
#include "helpers.hpp"

#include <craft/builtin_rooms.hpp>
#include <craft/close_codes.hpp>
#include <craft/server.hpp>
#include <craft/signals.hpp>

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

namespace craft::testing {
namespace {

ServerConfig loopback_config() {
  ServerConfig config;
  config.http_port = 0;
  config.tcp_port = 0;
  config.shards = 1;
  config.log_level = "warn";
  return config;
}

TEST(Package, ListenErrorNamesTheAddressAndPort) {
  Server first(loopback_config());
  first.start();
  auto config = loopback_config();
  config.http_port = first.http_port();
  Server second(config);
  try {
    second.start();
    FAIL() << "a second server listened on a taken port";
  } catch (const std::runtime_error& e) {
    std::string expected = "cannot listen on 127.0.0.1:" + std::to_string(first.http_port()) + ": ";
    EXPECT_EQ(std::string(e.what()).rfind(expected, 0), 0u) << e.what();
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
  }
  first.stop();
  first.wait();
}

// A port nothing listens on now (the kernel's pick); run_until_signal starts the server itself.
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(Package, RunUntilSignalStopsGracefullyOnSigterm) {
  // Blocked on this thread first, so the runner thread is born with SIGTERM blocked: the
  // signal sent to it waits for its sigwait.
  SignalWaiter block_here({SIGTERM});
  auto config = loopback_config();
  config.http_port = free_port();
  config.tcp_enabled = false;
  Server server(config);
  define_builtin_rooms(server);
  int result = 0;
  std::thread runner([&] { result = run_until_signal(server); });

  client::Options o;
  o.port = config.http_port;
  std::unique_ptr<client::Client> player;
  for (int i = 0; i < 100 && !player; ++i) {  // until the runner has started the server
    try {
      player = std::make_unique<client::Client>(o);
      player->connect();
    } catch (const std::exception&) {
      player.reset();
      std::this_thread::sleep_for(50ms);
    }
  }
  ASSERT_TRUE(player) << "the server never listened";
  player->hello("ann");
  auto joined = player->request([] {
    v1::Envelope e;
    e.mutable_room_join_or_create()->set_type("chat");  // a built-in room, from the public API
    return e;
  }());
  EXPECT_TRUE(joined.has_room_joined()) << joined.DebugString();

  pthread_kill(runner.native_handle(), SIGTERM);
  EXPECT_EQ(player->wait_closed(5000ms), close_code::going_away);
  runner.join();
  EXPECT_EQ(result, SIGTERM);
}

// craftd's loop is SignalWaiter's: a second SIGTERM during the graceful stop (an impatient
// Ctrl-C) must not end the process half-way with the signal's default action.
TEST(Package, CraftdExitsZeroOnTwoSigterms) {
  CraftdProcess craftd;
  auto player = hello(craftd, "ann");  // so the stop has a close handshake to do
  ASSERT_EQ(::kill(craftd.pid(), SIGTERM), 0);
  EXPECT_EQ(craftd.stop(), 0);  // sends the second SIGTERM, waits for the exit code
}

TEST(Package, DefaultConfigWritesNothingToDisk) {
  namespace fs = std::filesystem;
  auto dir = fs::temp_directory_path() / ("craft-package-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto previous = fs::current_path();
  fs::current_path(dir);
  {
    Server server(loopback_config());  // store defaults: SQLite, in memory
    server.start();
    // An account is created and kept: the store works, in memory.
    auto reply = http_request(server.http_port(), "POST", "/v1/auth/device",
                              R"({"deviceId":"package-device-1","create":true})");
    EXPECT_NE(reply.find("200 OK"), std::string::npos) << reply;
    EXPECT_NE(reply.find("\"token\""), std::string::npos) << reply;
    server.stop();
    server.wait();
  }
  fs::current_path(previous);
  EXPECT_TRUE(fs::is_empty(dir)) << "files appeared in " << dir << ", e.g. " << fs::directory_iterator(dir)->path();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace craft::testing
