#include "netsim.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace craft::testing {

namespace {
using Clock = std::chrono::steady_clock;

struct Chunk {
  Clock::time_point due;
  std::string bytes;
};

// One direction of one connection: bytes read from `from` wait in `queue` until due.
struct Pipe {
  int from = -1, to = -1;
  std::deque<Chunk> queue;
  Clock::time_point last_due{};
  bool eof = false;
};

int connect_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}
}  // namespace

NetSimProxy::NetSimProxy(uint16_t target_port, std::chrono::milliseconds delay, std::chrono::milliseconds jitter,
                         uint32_t seed)
    : target_port_(target_port), delay_(delay), jitter_(jitter), seed_(seed) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 64) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("netsim: cannot listen");
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { run(); });
}

NetSimProxy::~NetSimProxy() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

void NetSimProxy::run() {
  std::mt19937 rng(seed_);
  std::uniform_int_distribution<int> spread(-static_cast<int>(jitter_.count()), static_cast<int>(jitter_.count()));
  std::vector<std::unique_ptr<Pipe>> pipes;
  while (!stop_) {
    std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
    for (auto& p : pipes) fds.push_back({p->eof ? -1 : p->from, POLLIN, 0});
    ::poll(fds.data(), fds.size(), 1);
    // Pipes added below were not polled this turn: fds has an entry only for the older ones
    // (reading fds[i + 1] for a new pipe read past the array).
    const size_t polled = fds.size() - 1;
    if (fds[0].revents & POLLIN) {
      int client = ::accept(listen_fd_, nullptr, nullptr);
      int server = client >= 0 ? connect_loopback(target_port_) : -1;
      if (client >= 0 && server >= 0) {
        int one = 1;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pipes.push_back(std::make_unique<Pipe>(Pipe{client, server, {}, {}, false}));
        pipes.push_back(std::make_unique<Pipe>(Pipe{server, client, {}, {}, false}));
      } else if (client >= 0) {
        ::close(client);  // the server is gone: the client sees EOF rather than a hang
      }
    }
    auto now = Clock::now();
    for (size_t i = 0; i < pipes.size(); ++i) {
      auto& p = *pipes[i];
      if (i < polled && (fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) {
        char buf[65536];
        auto n = ::read(p.from, buf, sizeof buf);
        if (n <= 0) {
          p.eof = true;
        } else {
          // Jittered, but never before the previous chunk: a stream keeps its order.
          auto due = std::max(now + delay_ + std::chrono::milliseconds(spread(rng)), p.last_due);
          p.last_due = due;
          p.queue.push_back({due, std::string(buf, static_cast<size_t>(n))});
        }
      }
      while (!p.queue.empty() && p.queue.front().due <= now) {
        auto& bytes = p.queue.front().bytes;
        if (::send(p.to, bytes.data(), bytes.size(), MSG_NOSIGNAL) < 0) p.eof = true;
        p.queue.pop_front();
      }
      if (p.eof && p.queue.empty() && p.to >= 0) {
        ::shutdown(p.to, SHUT_WR);
        p.to = -1;
      }
    }
  }
  for (auto& p : pipes) {
    if (p->from >= 0) ::close(p->from);
  }
}

}  // namespace craft::testing
