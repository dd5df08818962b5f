// Token buckets per key (an IP address, an email, a device id), safe from several threads.
// Memory is bounded: past max_keys, buckets that have refilled (their key behaves as new
// anyway) are dropped; if none has, the oldest half goes.
#pragma once
#include <craft/clock.hpp>

#include <algorithm>
#include <mutex>
#include <string>
#include <unordered_map>

namespace craft::api {

class RateLimiter {
 public:
  // `per_minute` attempts, all of which may come at once (the bucket holds a minute's worth).
  RateLimiter(double per_minute, size_t max_keys = 100'000)
      : capacity_(std::max(1.0, per_minute)), per_ns_(per_minute / 60e9), max_keys_(max_keys) {}

  // Takes one attempt for `key` at `now`; false when the key has none left.
  bool allow(const std::string& key, TimePoint now) {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = buckets_.try_emplace(key, Bucket{capacity_, now});
    Bucket& b = it->second;
    if (!inserted) {
      b.tokens = level(b, now);
      b.updated = now;
    }
    bool ok = b.tokens >= 1.0;
    if (ok) b.tokens -= 1.0;
    if (buckets_.size() > max_keys_) prune(now);
    return ok;
  }

  size_t keys() const {
    std::lock_guard lock(mutex_);
    return buckets_.size();
  }

 private:
  struct Bucket {
    double tokens;
    TimePoint updated;
  };
  double level(const Bucket& b, TimePoint now) const {
    double refill = static_cast<double>(std::max<int64_t>(0, (now - b.updated).count())) * per_ns_;
    return std::min(capacity_, b.tokens + refill);
  }
  void prune(TimePoint now) {
    std::erase_if(buckets_, [&](const auto& kv) { return level(kv.second, now) >= capacity_; });
    if (buckets_.size() <= max_keys_) return;
    auto oldest = now;
    for (auto& [key, b] : buckets_) oldest = std::min(oldest, b.updated);
    auto cut = oldest + (now - oldest) / 2;
    std::erase_if(buckets_, [&](const auto& kv) { return kv.second.updated <= cut; });
  }

  const double capacity_;
  const double per_ns_;
  const size_t max_keys_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace craft::api
