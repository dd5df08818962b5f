// Starts a real craftd on ephemeral loopback ports for one test and stops it with SIGTERM.
#pragma once
#include <string>
#include <vector>

#include <sys/types.h>

namespace craft::testing {

// One HTTP/1.1 request to 127.0.0.1:port; the whole response. `headers`: lines ending \r\n.
// `source_address`: a local address to connect from (e.g. "127.0.0.2"), else any.
std::string http_request(uint16_t port, const std::string& method, const std::string& path,
                         const std::string& body = "", const std::string& headers = "",
                         const std::string& source_address = "");

class CraftdProcess {
 public:
  // Extra flags, e.g. {"--limits.max-message-size", "1024"}.
  explicit CraftdProcess(std::vector<std::string> flags = {});
  ~CraftdProcess();
  CraftdProcess(const CraftdProcess&) = delete;
  CraftdProcess& operator=(const CraftdProcess&) = delete;

  uint16_t http_port() const { return http_port_; }
  uint16_t tcp_port() const { return tcp_port_; }
  pid_t pid() const { return pid_; }
  bool running() const;
  // SIGTERM, then waits up to `timeout_ms`; returns the exit code (-1 if it had to be killed).
  int stop(int timeout_ms = 10000);
  // GET a path on the HTTP port; returns the whole response.
  std::string http_get(const std::string& path) const;
  // The value of one unlabelled or labelled metric line, e.g. "craft_closes_total{code=\"4001\"}".
  // Read from 127.0.0.2, outside the per-address quota of the test's own connections.
  long metric(const std::string& name_and_labels) const;

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  uint16_t http_port_ = 0;
  uint16_t tcp_port_ = 0;
};

}  // namespace craft::testing
