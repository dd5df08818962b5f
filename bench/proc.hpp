// Reading another process's memory and CPU from /proc, and our own clocks.
#pragma once
#include <cstdint>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

namespace craft::bench {

inline int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

inline int64_t wall_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// GET /metrics on the server's HTTP port: the whole answer, headers included ("" on failure).
std::string fetch_metrics(const std::string& host, uint16_t port);
// The value of an unlabelled sample `name` in a /metrics text; NaN if absent.
double metric_value(const std::string& text, const std::string& name);

// The server's own tick metrics, scraped from GET /metrics on its HTTP port.
struct TickMetrics {
  bool ok = false;
  std::vector<std::pair<double, uint64_t>> lateness_buckets;  // (upper bound s, cumulative count)
  uint64_t ticks = 0;
  uint64_t skipped = 0;
};
TickMetrics scrape_tick_metrics(const std::string& host, uint16_t port);
// p-quantile (upper bucket bound, microseconds) of the lateness recorded between two scrapes.
double lateness_quantile_us(const TickMetrics& before, const TickMetrics& after, double q);

struct ProcSample {
  bool ok = false;
  int64_t vm_rss = 0;    // bytes, VmRSS
  int64_t rss_anon = 0;  // bytes, RssAnon (heap and stacks; no file-backed pages)
  int64_t cpu_us = 0;    // utime + stime, all threads, microseconds
  int64_t threads = 0;
  int64_t fds = -1;      // open descriptors (-1 if /proc/PID/fd is not readable)
};

// pid <= 0 gives ok = false.
ProcSample sample_process(int pid, bool count_fds = false);

// Whole-machine CPU time from the first line of /proc/stat, in clock ticks (all cores).
struct MachineSample {
  bool ok = false;
  int64_t busy = 0;   // user + nice + system + irq + softirq (loopback TCP work lands in softirq)
  int64_t idle = 0;   // idle + iowait
  int64_t steal = 0;  // time the hypervisor gave to someone else
  int64_t total() const { return busy + idle + steal; }
};
MachineSample sample_machine();

// This process's own CPU (user + system) in microseconds, from getrusage.
int64_t self_cpu_us();

}  // namespace craft::bench
