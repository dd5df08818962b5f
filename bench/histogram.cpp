#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>

namespace craft::bench {

size_t Histogram::index_of(uint64_t v) {
  if (v < 2 * sub_count) return static_cast<size_t>(v);
  int e = std::bit_width(v) - (sub_bits + 1);  // >= 1
  if (e > max_exponent) return bucket_count - 1;
  uint64_t m = v >> e;  // in [128, 256)
  return 2 * sub_count + size_t(e - 1) * sub_count + size_t(m - sub_count);
}

uint64_t Histogram::lower_bound_of(size_t index) {
  if (index < 2 * sub_count) return index;
  size_t rest = index - 2 * sub_count;
  int e = int(rest / sub_count) + 1;
  uint64_t m = sub_count + rest % sub_count;
  return m << e;
}

uint64_t Histogram::upper_bound_of(size_t index) {
  if (index < 2 * sub_count) return index + 1;
  size_t rest = index - 2 * sub_count;
  int e = int(rest / sub_count) + 1;
  uint64_t m = sub_count + rest % sub_count;
  return (m + 1) << e;
}

void Histogram::record(uint64_t v) {
  ++buckets_[index_of(v)];
  ++count_;
  sum_ += v;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
}

void Histogram::merge(const Histogram& other) {
  for (size_t i = 0; i < bucket_count; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::reset() { *this = Histogram(); }

uint64_t Histogram::quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  auto rank = static_cast<uint64_t>(std::ceil(q * double(count_)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < bucket_count; ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      uint64_t lo = lower_bound_of(i), hi = upper_bound_of(i);
      uint64_t mid = lo + (hi - lo - 1) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

std::string Histogram::serialize() const {
  std::string out = std::to_string(count_) + ' ' + std::to_string(sum_) + ' ' + std::to_string(min()) + ' ' +
                    std::to_string(max_);
  for (size_t i = 0; i < bucket_count; ++i) {
    if (!buckets_[i]) continue;
    out += ' ';
    out += std::to_string(i);
    out += ':';
    out += std::to_string(buckets_[i]);
  }
  return out;
}

namespace {
bool next_number(std::string_view& s, uint64_t& out, char stop) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc()) return false;
  s.remove_prefix(static_cast<size_t>(p - s.data()));
  if (stop != ' ') {
    if (s.empty() || s.front() != stop) return false;
    s.remove_prefix(1);
  }
  return true;
}
}  // namespace

bool Histogram::deserialize(std::string_view s) {
  reset();
  uint64_t count = 0, sum = 0, mn = 0, mx = 0;
  if (!next_number(s, count, ' ') || !next_number(s, sum, ' ') || !next_number(s, mn, ' ') ||
      !next_number(s, mx, ' '))
    return false;
  count_ = count;
  sum_ = sum;
  min_ = count ? mn : UINT64_MAX;
  max_ = mx;
  while (true) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    if (s.empty()) break;
    uint64_t index = 0, n = 0;
    if (!next_number(s, index, ':') || !next_number(s, n, ' ') || index >= bucket_count) return false;
    buckets_[index] = n;
  }
  return true;
}

}  // namespace craft::bench
