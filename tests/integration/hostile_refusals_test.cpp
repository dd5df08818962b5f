// One address cannot fill limits.max_connections with connections that are over its own
// per-address limit: only limits.max_refusals_per_ip of them wait to be told 1013/503 (after
// a request head or a TLS handshake that may never come); the rest are closed at accept.
#include "helpers.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace craft::testing {
namespace {

// A TCP connection from 127.0.0.1 that sends nothing.
int silent_connection(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

// True if the peer closed the connection within `timeout`.
bool closed_by_peer(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char byte;
  return read(fd, &byte, 1) <= 0;
}

TEST(HostileRefusals, SilentConnectionsOverThePerIpLimitCannotFillMaxConnections) {
  CraftdProcess server({"--limits.max-connections", "8", "--limits.max-connections-per-ip", "2",
                        "--limits.max-refusals-per-ip", "2", "--limits.handshake-timeout-ms", "20000"});
  auto a = hello(server, "a");
  auto b = hello(server, "b");
  std::vector<int> silent;
  for (int i = 0; i < 10; ++i) silent.push_back(silent_connection(server.http_port()));
  int closed = 0;
  for (int fd : silent) {
    ASSERT_GE(fd, 0);
    if (closed_by_peer(fd, 1000ms)) ++closed;
  }
  // 2 wait to be told why (their request head never comes), 8 were closed at accept.
  EXPECT_EQ(closed, 8);
  // Without the bound these 12 connections would exceed max_connections (8): another
  // address would get 503. It is served.
  auto health = http_request(server.http_port(), "GET", "/healthz", "", "", "127.0.0.3");
  EXPECT_TRUE(health.starts_with("HTTP/1.1 200")) << health;
  EXPECT_EQ(server.metric("craft_connections_rejected_total{limit=\"max_refusals_per_ip\"}"), 8);
  // A refusal still waiting is told why (503) when it does speak; the players are unharmed.
  int waiting = -1;
  for (int fd : silent) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 0) == 0) waiting = fd;  // still open, nothing to read
  }
  ASSERT_GE(waiting, 0);
  std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(write(waiting, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string answer;
  char buf[512];
  for (pollfd p{waiting, POLLIN, 0}; poll(&p, 1, 3000) > 0;) {
    auto n = read(waiting, buf, sizeof buf);
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 503")) << answer;
  EXPECT_NO_THROW(a->ping());
  EXPECT_NO_THROW(b->ping());
  for (int fd : silent) close(fd);
}

// Behind a trusted proxy the bound applies once the request head names the client: the
// proxy (here 127.0.0.1 itself) is not limited, the address it forwards is.
TEST(HostileRefusals, AForwardedClientOverItsRefusalsIsDroppedWithoutAnAnswer) {
  CraftdProcess server({"--limits.max-connections", "8", "--limits.max-connections-per-ip", "2",
                        "--limits.max-refusals-per-ip", "2", "--server.trusted-proxies", "127.0.0.1"});
  const std::string upgrade =
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
      "X-Forwarded-For: 10.9.9.9\r\n\r\n";
  std::vector<int> sockets;
  for (int i = 0; i < 10; ++i) {
    int fd = silent_connection(server.http_port());
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, upgrade.data(), upgrade.size()), static_cast<ssize_t>(upgrade.size()));
    sockets.push_back(fd);
  }
  // 2 players and 2 refusals (told 1013 after the 101) are answered; 6 get EOF and no byte.
  int unanswered = 0;
  for (int fd : sockets) {
    pollfd p{fd, POLLIN, 0};
    ASSERT_GT(poll(&p, 1, 3000), 0);
    char buf[256];
    if (read(fd, buf, sizeof buf) == 0) ++unanswered;
  }
  EXPECT_EQ(unanswered, 6);
  // 4 slots of 8 are held: another address is served.
  auto health = http_request(server.http_port(), "GET", "/healthz", "", "", "127.0.0.3");
  EXPECT_TRUE(health.starts_with("HTTP/1.1 200")) << health;
  EXPECT_EQ(server.metric("craft_connections_rejected_total{limit=\"max_refusals_per_ip\"}"), 6);
  for (int fd : sockets) close(fd);
}

}  // namespace
}  // namespace craft::testing
