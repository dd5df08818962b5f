// A network simulator for tests: a TCP proxy on loopback that delays every chunk of bytes by
// `delay ± jitter` in each direction (order kept, as TCP would, nothing lost). Clients connect
// to port() instead of the server's. Seeded, so a run repeats. (The kernel here has no netem.)
// It can also break the connections it carries, as a network does:
// - cut(): both sides lose the connection at once (reset, or a plain close), with what was
//   in flight lost — after a seeded-random prefix of it got through, so a frame may be cut in two;
// - blackhole(): nothing goes through any more, either way, and nothing is closed — a
//   half-open connection (unplugged cable, phone asleep): the peers see silence, no FIN.
// Both act on the connections open at the call; later connections go through normally.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace craft::testing {

class NetSimProxy {
 public:
  NetSimProxy(uint16_t target_port, std::chrono::milliseconds delay, std::chrono::milliseconds jitter,
              uint32_t seed = 1);
  ~NetSimProxy();
  NetSimProxy(const NetSimProxy&) = delete;
  NetSimProxy& operator=(const NetSimProxy&) = delete;
  uint16_t port() const { return port_; }

  enum class Cut {
    reset,  // RST to both sides: the peers read ECONNRESET
    close,  // FIN to both sides: the peers read EOF (no close handshake, no goodbye)
  };
  // Returns once done: the peers' next reads see the loss.
  void cut(Cut how = Cut::reset);
  void blackhole();
  // Connections accepted so far (each cut or blackholed one included).
  int accepted() const { return accepted_; }

 private:
  enum class Command { none, cut_reset, cut_close, blackhole };
  void run();
  void command(Command c);

  uint16_t target_port_;
  std::chrono::milliseconds delay_, jitter_;
  uint32_t seed_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::mutex mutex_;
  std::condition_variable done_;
  Command pending_ = Command::none;  // under mutex_; the proxy thread sets it back to none
  std::thread thread_;
};

}  // namespace craft::testing
