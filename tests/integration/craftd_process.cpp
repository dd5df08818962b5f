#include "craftd_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <regex>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace craft::testing {

CraftdProcess::CraftdProcess(std::vector<std::string> flags) {
  std::vector<std::string> args = {CRAFTD_PATH, "--http-port", "0", "--tcp-port", "0", "--shards", "2"};
  args.insert(args.end(), flags.begin(), flags.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2];
  if (pipe(out) != 0) throw std::runtime_error("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  if (posix_spawn(&pid_, CRAFTD_PATH, &actions, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error("cannot start craftd");
  }
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  stdout_fd_ = out[0];

  std::string seen;
  std::regex ready(R"(listening on http://127\.0\.0\.1:(\d+).*tcp 127\.0\.0\.1:(\d+))");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{stdout_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[512];
    auto n = read(stdout_fd_, buf, sizeof buf);
    if (n <= 0) break;
    seen.append(buf, static_cast<size_t>(n));
    std::smatch m;
    if (std::regex_search(seen, m, ready)) {
      http_port_ = static_cast<uint16_t>(std::stoi(m[1]));
      tcp_port_ = static_cast<uint16_t>(std::stoi(m[2]));
      return;
    }
  }
  stop(1000);
  throw std::runtime_error("craftd did not report its ports; output: " + seen);
}

CraftdProcess::~CraftdProcess() {
  if (pid_ > 0) stop(5000);
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

bool CraftdProcess::running() const {
  if (pid_ <= 0) return false;
  return waitpid(pid_, nullptr, WNOHANG) == 0;
}

int CraftdProcess::stop(int timeout_ms) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

std::string http_request(uint16_t port, const std::string& method, const std::string& path, const std::string& body,
                         const std::string& headers, const std::string& source_address) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (!source_address.empty()) {
    sockaddr_in source{};
    source.sin_family = AF_INET;
    inet_pton(AF_INET, source_address.c_str(), &source.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0) {
      close(fd);
      throw std::runtime_error("bind to " + source_address + " failed");
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    throw std::runtime_error("connect to craftd failed");
  }
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers;
  if (method != "GET") request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n" + body;
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    throw std::runtime_error("write to craftd failed");
  }
  std::string response;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) break;
    auto n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return response;
}

std::string CraftdProcess::http_get(const std::string& path) const { return http_request(http_port_, "GET", path); }

long CraftdProcess::metric(const std::string& name_and_labels) const {
  // From another loopback address: plain HTTP counts against limits.max_connections_per_ip
  // too, and a test that fills its address's quota must still be able to read the metrics.
  auto text = http_request(http_port_, "GET", "/metrics", "", "", "127.0.0.2");
  auto needle = "\n" + name_and_labels + " ";
  auto pos = text.find(needle);
  if (pos == std::string::npos) throw std::runtime_error("no metric " + name_and_labels);
  return std::stol(text.substr(pos + needle.size()));
}

}  // namespace craft::testing
