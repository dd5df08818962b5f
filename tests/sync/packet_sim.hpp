// A datagram-level network simulator for tests: loss, latency, jitter (and so reordering),
// seeded, with time in milliseconds passed in. One PacketSim is one direction of one link.
#pragma once
#include <algorithm>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace craft::testing {

template <class Payload>
class PacketSim {
 public:
  struct Options {
    double loss = 0.10;           // probability a packet is dropped
    uint32_t latency_ms = 30;     // one-way base delay
    uint32_t jitter_ms = 100;     // plus a uniform 0..jitter_ms, drawn per packet
  };
  PacketSim(uint64_t seed, Options options) : rng_(seed), options_(options) {}
  void set_options(Options options) { options_ = options; }

  void send(uint64_t now_ms, Payload payload) {
    ++sent_;
    if (std::uniform_real_distribution<double>(0, 1)(rng_) < options_.loss) {
      ++lost_;
      return;
    }
    uint64_t at = now_ms + options_.latency_ms + std::uniform_int_distribution<uint32_t>(0, options_.jitter_ms)(rng_);
    flight_.push_back({at, serial_++, std::move(payload)});
  }

  // Every packet due by now_ms, in arrival order (a later-sent packet may come first).
  std::vector<Payload> receive(uint64_t now_ms) {
    std::vector<Packet> due;
    for (auto it = flight_.begin(); it != flight_.end();) {
      if (it->at <= now_ms) {
        due.push_back(std::move(*it));
        it = flight_.erase(it);
      } else {
        ++it;
      }
    }
    std::sort(due.begin(), due.end(), [](const Packet& a, const Packet& b) {
      return a.at != b.at ? a.at < b.at : a.serial < b.serial;
    });
    std::vector<Payload> out;
    for (auto& p : due) {
      if (p.serial < newest_delivered_) ++reordered_;
      newest_delivered_ = std::max(newest_delivered_, p.serial);
      out.push_back(std::move(p.payload));
    }
    return out;
  }

  size_t in_flight() const { return flight_.size(); }
  uint64_t sent() const { return sent_; }
  uint64_t lost() const { return lost_; }
  uint64_t reordered() const { return reordered_; }

 private:
  struct Packet {
    uint64_t at;
    uint64_t serial;
    Payload payload;
  };
  std::mt19937_64 rng_;
  Options options_;
  std::vector<Packet> flight_;
  uint64_t serial_ = 0, newest_delivered_ = 0;
  uint64_t sent_ = 0, lost_ = 0, reordered_ = 0;
};

}  // namespace craft::testing
