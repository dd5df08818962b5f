// A log-linear latency histogram in the spirit of HdrHistogram: values in nanoseconds,
// exact below 256 ns, then 128 sub-buckets per power of two (relative error < 0.8%).
// Fixed size (35 KB), no allocation per sample, mergeable across generator processes.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace craft::bench {

class Histogram {
 public:
  static constexpr int sub_bits = 7;
  static constexpr uint32_t sub_count = 1u << sub_bits;  // 128
  static constexpr int max_exponent = 33;                // values up to ~2^41 ns (~36 min)
  static constexpr size_t bucket_count = 2 * sub_count + max_exponent * sub_count;

  void record(uint64_t value_ns);
  void merge(const Histogram& other);
  void reset();

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  double mean() const { return count_ ? double(sum_) / double(count_) : 0.0; }
  // Value at quantile q in [0, 1] (midpoint of its bucket, clamped to [min, max]).
  uint64_t quantile(double q) const;

  // Compact text form: "count sum min max idx:n idx:n ..." (non-empty buckets only).
  std::string serialize() const;
  bool deserialize(std::string_view text);

  static size_t index_of(uint64_t v);
  static uint64_t lower_bound_of(size_t index);
  static uint64_t upper_bound_of(size_t index);  // exclusive

 private:
  std::array<uint64_t, bucket_count> buckets_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace craft::bench
