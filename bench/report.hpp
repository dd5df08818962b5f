// Results: what a generator process sends its parent (one text line per item over a pipe),
// what the parent adds from /proc, and the table and JSON line it prints.
//
// Child -> parent lines:
//   progress READY FAILED DROPPED SENT DELIVERED P99_NS PHASE CONNECTED   once a second
//   ready READY FAILED SETUP_NS                                         setup finished
//   note TEXT                                                           a warning to show
//   result key=value ...  /  reason COUNT TEXT  /  hist NAME HISTOGRAM  /  end
// Parent -> child:  go T0_NS T1_NS   (CLOCK_MONOTONIC; measure sends in [T0, T1))
#pragma once
#include <cmath>
#include "histogram.hpp"
#include "options.hpp"

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace craft::bench {

struct PipeWriter {
  int fd = -1;
  void line(const std::string& text);  // appends '\n'; blocks until written
};

// held: the server's memory at one point of the run, read by the generator itself.
struct HeldSample {
  std::string label;       // start, connected-K, held-K, replay-N (no spaces)
  uint64_t held = 0;       // sessions cut so far without a goodbye
  uint64_t live = 0;       // our connections open at that point
  int64_t vm_rss = 0, rss_anon = 0;
  double gauge = NAN;      // craft_sessions_held from the server's /metrics; NaN if absent
  double expired = NAN;    // craft_sessions_expired_total, likewise
  double replay_kib = 0;   // room_data KiB sent into each held session's room while it was held
};

struct GeneratorResult {
  uint64_t ready = 0, failed = 0, dropped = 0;
  int64_t setup_ns = 0;
  uint64_t sent = 0;                 // sends stamped inside the window
  uint64_t expected = 0;             // deliveries those sends should cause
  uint64_t delivered_window = 0;     // deliveries received inside the window
  uint64_t delivered_of_window = 0;  // deliveries of window sends, received by the end of the drain
  uint64_t errors = 0, rate_limited = 0, skipped = 0, backlogged = 0, pings = 0;
  uint64_t acks_sent = 0, acks_piggybacked = 0, unresumable = 0;  // resumable sessions
  uint64_t held = 0, feeders = 0;                                  // held
  uint64_t resumed = 0, resume_fresh = 0, resume_failed = 0;        // held: the check at the end
  uint64_t replayed = 0, replay_expected = 0;
  uint64_t redirects = 0;            // room_redirect answers followed (--cross-node)
  int64_t gen_cpu_us = 0;
  std::vector<HeldSample> samples;
  std::map<std::string, uint64_t> reasons;
  Histogram latency, rtt;
  Histogram join;  // room_join / room_join_or_create -> room_joined

  void merge(const GeneratorResult& other);
};

void write_result(PipeWriter& out, const GeneratorResult& r);
// Feeds one line of a result block; returns false for a line that is not part of one.
bool read_result_line(const std::string& line, GeneratorResult& r);

struct RunReport {
  Options options;
  std::string time;             // UTC, ISO 8601
  GeneratorResult totals;
  uint32_t processes = 1;
  double setup_s = 0;           // slowest process: first connect to last client ready
  double window_s = 0;          // measured seconds
  bool server_known = false;
  int64_t rss_before = 0, rss_after = 0, anon_before = 0, anon_after = 0, rss_end = 0;
  int64_t server_cpu_us = 0;    // over the window
  int64_t server_threads = 0, server_fds = -1;
  double machine_busy_pct = -1;   // all cores, over the window; -1 = unknown
  double machine_steal_pct = -1;
  bool children_ok = true;
  // tick: the server's own tick metrics over the window
  bool tick_known = false;
  double tick_lateness_p50_us = NAN, tick_lateness_p99_us = NAN, tick_lateness_max_us = NAN;
  uint64_t ticks = 0, ticks_skipped = 0;
};

void print_table(std::FILE* out, const RunReport& r);
std::string json_line(const RunReport& r);

}  // namespace craft::bench
