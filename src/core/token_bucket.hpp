// Per-session message rate limit. Time is passed in, so tests need no sleeping.
#pragma once
#include <craft/clock.hpp>

#include <algorithm>

namespace craft {

class TokenBucket {
 public:
  TokenBucket(double rate_per_second, double capacity, TimePoint now)
      : rate_per_ns_(rate_per_second / 1e9), capacity_(capacity), tokens_(capacity), last_(now) {}

  // Takes one token if there is one.
  bool take(TimePoint now) {
    refill(now);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }
  // Full again, as for a new connection (a resume is one).
  void fill(TimePoint now) {
    tokens_ = capacity_;
    last_ = now;
  }
  double tokens(TimePoint now) {
    refill(now);
    return tokens_;
  }

 private:
  void refill(TimePoint now) {
    if (now <= last_) return;  // a clock that stepped back never adds tokens
    double elapsed = static_cast<double>((now - last_).count());
    tokens_ = std::min(capacity_, tokens_ + elapsed * rate_per_ns_);
    last_ = now;
  }

  double rate_per_ns_;
  double capacity_;
  double tokens_;
  TimePoint last_;
};

}  // namespace craft
