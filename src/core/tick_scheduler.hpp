// Fixed-timestep scheduling for a room's game loop, netcode style: the caller passes the
// time in and learns how many ticks are due and how late the first one started.
#pragma once
#include <craft/clock.hpp>

#include <algorithm>
#include <cstdint>

namespace craft {

class TickScheduler {
 public:
  static constexpr uint32_t max_rate_hz = 240;
  // A loop that fell further behind than this skips ticks instead of running a burst.
  static constexpr uint32_t max_catch_up = 5;

  // `aligned`: ticks fall on a grid, multiples of the period since the clock's epoch, the
  // first within a period after the start, so rooms of one rate on a shard tick in the same
  // loop turn (one wake-up for all, on server.coalesce_us's window edges). Otherwise the
  // first tick is one period after the start, and rooms started apart tick apart, which
  // spreads a shard's tick work over the period instead of running it in one burst.
  TickScheduler(uint32_t rate_hz, TimePoint start, bool aligned = false) : aligned_(aligned) {
    set_rate(rate_hz, start);
  }

  // 1-240 Hz; the next tick is the next grid point (aligned) or one new period after `now`.
  void set_rate(uint32_t rate_hz, TimePoint now) {
    rate_hz_ = std::clamp<uint32_t>(rate_hz, 1, max_rate_hz);
    period_ = Duration{1'000'000'000 / rate_hz_};
    next_ = aligned_ ? TimePoint{(now.time_since_epoch() / period_ + 1) * period_} : now + period_;
  }

  uint32_t rate_hz() const { return rate_hz_; }
  Duration period() const { return period_; }
  TimePoint next_tick() const { return next_; }
  uint64_t skipped() const { return skipped_; }

  struct Due {
    uint32_t ticks = 0;    // ticks to run now, each with dt = period()
    Duration lateness{0};  // how long after its scheduled time the first due tick starts
  };

  Due update(TimePoint now) {
    Due due;
    if (now < next_) return due;
    due.lateness = now - next_;
    auto behind = static_cast<uint64_t>((now - next_) / period_) + 1;
    due.ticks = static_cast<uint32_t>(std::min<uint64_t>(behind, max_catch_up));
    skipped_ += behind - due.ticks;
    next_ += period_ * static_cast<int64_t>(behind);
    return due;
  }

 private:
  uint32_t rate_hz_ = 20;
  Duration period_{50'000'000};
  TimePoint next_{};
  uint64_t skipped_ = 0;
  bool aligned_ = false;
};

}  // namespace craft
