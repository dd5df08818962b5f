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
  bool eof = false;      // `from` has ended
  bool shut = false;     // `to` has been told (FIN)
};

struct Connection {
  int client = -1, server = -1;
  Pipe up, down;  // client -> server, server -> client
  bool blackholed = false;
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

// Closing with a zero linger time sends RST instead of FIN and drops unsent bytes.
void close_with_reset(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
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

void NetSimProxy::cut(Cut how) { command(how == Cut::reset ? Command::cut_reset : Command::cut_close); }

void NetSimProxy::blackhole() { command(Command::blackhole); }

void NetSimProxy::command(Command c) {
  std::unique_lock lock(mutex_);
  done_.wait(lock, [&] { return pending_ == Command::none; });
  pending_ = c;
  done_.wait(lock, [&] { return pending_ == Command::none; });
}

void NetSimProxy::run() {
  std::mt19937 rng(seed_);
  std::uniform_int_distribution<int> spread(-static_cast<int>(jitter_.count()), static_cast<int>(jitter_.count()));
  std::vector<std::unique_ptr<Connection>> conns;
  auto release = [](Connection& c, bool reset) {
    if (reset) {
      close_with_reset(c.client);
      close_with_reset(c.server);
    } else {
      ::close(c.client);
      ::close(c.server);
    }
    c.client = c.server = -1;
  };
  while (!stop_) {
    Command c = Command::none;
    {
      std::lock_guard lock(mutex_);
      c = pending_;
    }
    if (c != Command::none) {
      for (auto& conn : conns) {
        if (c == Command::blackhole) {
          conn->blackholed = true;
          conn->up.queue.clear();
          conn->down.queue.clear();
          continue;
        }
        // What was in flight is lost, except a random prefix of the oldest chunk each way.
        for (Pipe* p : {&conn->up, &conn->down}) {
          if (p->queue.empty() || conn->blackholed || p->shut) continue;
          auto& bytes = p->queue.front().bytes;
          size_t prefix = std::uniform_int_distribution<size_t>(0, bytes.size())(rng);
          if (prefix > 0) (void)::send(p->to, bytes.data(), prefix, MSG_NOSIGNAL);
        }
        release(*conn, c == Command::cut_reset);
      }
      if (c != Command::blackhole) conns.clear();
      {
        std::lock_guard lock(mutex_);
        pending_ = Command::none;
      }
      done_.notify_all();
    }

    std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
    for (auto& conn : conns) {
      fds.push_back({conn->up.eof ? -1 : conn->client, POLLIN, 0});
      fds.push_back({conn->down.eof ? -1 : conn->server, POLLIN, 0});
    }
    ::poll(fds.data(), fds.size(), 1);
    // Connections added below were not polled this turn: fds has entries only for the older ones.
    const size_t polled = conns.size();
    if (fds[0].revents & POLLIN) {
      int client = ::accept(listen_fd_, nullptr, nullptr);
      int server = client >= 0 ? connect_loopback(target_port_) : -1;
      if (client >= 0 && server >= 0) {
        int one = 1;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto conn = std::make_unique<Connection>();
        conn->client = client;
        conn->server = server;
        conn->up.from = conn->down.to = client;
        conn->up.to = conn->down.from = server;
        conns.push_back(std::move(conn));
        ++accepted_;
      } else if (client >= 0) {
        ::close(client);  // the server is gone: the client sees EOF rather than a hang
      }
    }
    auto now = Clock::now();
    for (size_t i = 0; i < conns.size(); ++i) {
      auto& conn = *conns[i];
      Pipe* pipes[2] = {&conn.up, &conn.down};
      for (int d = 0; d < 2; ++d) {
        auto& p = *pipes[d];
        if (i < polled && (fds[1 + 2 * i + d].revents & (POLLIN | POLLHUP | POLLERR))) {
          char buf[65536];
          auto n = ::read(p.from, buf, sizeof buf);
          if (n <= 0) {
            p.eof = true;
          } else if (!conn.blackholed) {
            // Jittered, but never before the previous chunk: a stream keeps its order.
            auto due = std::max(now + delay_ + std::chrono::milliseconds(spread(rng)), p.last_due);
            p.last_due = due;
            p.queue.push_back({due, std::string(buf, static_cast<size_t>(n))});
          }  // blackholed: read and dropped, so the sender's kernel sees nothing wrong
        }
        if (conn.blackholed) continue;  // and nothing goes out, not even a FIN
        while (!p.queue.empty() && p.queue.front().due <= now) {
          auto& bytes = p.queue.front().bytes;
          if (::send(p.to, bytes.data(), bytes.size(), MSG_NOSIGNAL) < 0) p.eof = true;
          p.queue.pop_front();
        }
        if (p.eof && p.queue.empty() && !p.shut) {
          ::shutdown(p.to, SHUT_WR);
          p.shut = true;
        }
      }
    }
    // Both ways finished: the connection is over.
    std::erase_if(conns, [&](const std::unique_ptr<Connection>& conn) {
      if (!(conn->up.shut && conn->down.shut)) return false;
      release(*conn, false);
      return true;
    });
  }
  for (auto& conn : conns) release(*conn, false);
}

}  // namespace craft::testing
