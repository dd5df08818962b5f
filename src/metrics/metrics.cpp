#include "metrics/metrics.hpp"

#include <bit>
#include <cstdio>

namespace craft {

void LatencyHistogram::record_us(uint64_t us) {
  size_t i = 0;
  if (us > 0) {
    auto k = static_cast<size_t>(std::bit_width(us));  // 2^(k-1) <= us < 2^k
    i = double(us) < 1.5 * double(uint64_t{1} << (k - 1)) ? 2 * (k - 1) + 1 : 2 * k;
  }
  counts_[std::min(i, buckets - 1)].add();
  sum_us_.add(us);
}

uint64_t LatencyHistogram::count() const {
  uint64_t n = 0;
  for (auto& c : counts_) n += c.get();
  return n;
}

void LatencyHistogram::merge_into(std::array<uint64_t, buckets>& out) const {
  for (size_t i = 0; i < buckets; ++i) out[i] += counts_[i].get();
}

uint64_t LatencyHistogram::quantile_us(const std::array<uint64_t, buckets>& b, double q) {
  uint64_t total = 0;
  for (auto c : b) total += c;
  if (total == 0) return 0;
  auto rank = static_cast<uint64_t>(q * static_cast<double>(total - 1)) + 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    seen += b[i];
    if (seen >= rank) return static_cast<uint64_t>(LatencyHistogram::bound_us(i));
  }
  return static_cast<uint64_t>(LatencyHistogram::bound_us(b.size() - 1));
}

uint64_t LatencyHistogram::quantile_us(double q) const {
  std::array<uint64_t, buckets> b{};
  merge_into(b);
  return quantile_us(b, q);
}

void ShardMetrics::count_close(uint16_t code) {
  for (size_t i = 0; i < counted_close_codes.size(); ++i) {
    if (counted_close_codes[i] == code) {
      closes[i].add();
      return;
    }
  }
  closes.back().add();
}

void PrometheusWriter::line(const char* name, const char* help, const char* type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void PrometheusWriter::value(const std::string& name_and_labels, uint64_t v) {
  out += name_and_labels;
  out += ' ';
  out += std::to_string(v);
  out += '\n';
}

}  // namespace craft
