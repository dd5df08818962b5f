// A network simulator for tests: a TCP proxy on loopback that delays every chunk of bytes by
// `delay ± jitter` in each direction (order kept, as TCP would). Clients connect to port()
// instead of the server's. Seeded, so a run repeats. (The kernel here has no netem.)
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
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

 private:
  void run();

  uint16_t target_port_;
  std::chrono::milliseconds delay_, jitter_;
  uint32_t seed_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace craft::testing
