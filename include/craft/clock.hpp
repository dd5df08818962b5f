// Time is passed in, never read from a hidden clock: the server reads one Clock and hands
// the time to rooms, rate limiters and tick schedulers, so tests drive them with ManualClock.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>

namespace craft {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  // Wall time in microseconds since the Unix epoch, for timestamps sent to clients.
  virtual int64_t wall_time_us() const = 0;
};

class SteadyClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
  int64_t wall_time_us() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that only moves when told to. Safe to read from several threads.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint{}) : now_(start.time_since_epoch().count()) {}
  TimePoint now() const override { return TimePoint{Duration{now_.load()}}; }
  int64_t wall_time_us() const override { return now_.load() / 1000; }
  void advance(Duration d) { now_ += d.count(); }
  void set(TimePoint t) { now_ = t.time_since_epoch().count(); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace craft
