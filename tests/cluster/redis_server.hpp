// A real redis-server (Debian's) on a free loopback port for one test, without persistence:
// restart() brings it back empty, as a Redis without a data file comes back after a crash.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <sys/types.h>

namespace craft::testing {

class RedisServer {
 public:
  RedisServer();  // starts it; available() false when redis-server is not installed
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  static bool installed();
  uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  void kill9();
  void signal(int sig);  // SIGSTOP: a Redis that hangs with its connections open; SIGCONT
  void start();  // on the same port
  // One command over a fresh connection (hiredis, blocking); the reply's strings / integer as
  // text, array elements one per entry. Empty on error.
  std::vector<std::string> command(const std::vector<std::string>& args) const;
  // A field of INFO, e.g. "total_connections_received"; -1 if absent.
  long info(const std::string& field) const;

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace craft::testing
