// craft-mm-bench: the matchmaker core (src/matchmaker) on a synthetic pool, no server.
// docs/benchmarks.md ("Matchmaker") has the command and the numbers.
//
// Every simulated interval the pool is topped up to --pool tickets (until --tickets have
// arrived), then Matcher::run(now) is timed in thread CPU time (the machine is shared and
// noisy: wall time would measure the neighbours). With --arrivals N at most N tickets arrive
// per interval (the steady pool: tickets wait several intervals; use more --regions so they
// do); without it the whole pool is fresh every interval (the worst case for run()).
// Timed apart: the add() calls of the interval's arrivals, run(), and the caller dropping the
// returned matches (the matched Tickets are freed there). "matches hash" is a hash of every
// match's ticket ids in order: equal hashes = the same matches ticket for ticket.
// Tickets: --regions x --modes x skill (normal, mean 1500, sd 400), parties of 1-4, queries
//   +region:R +mode:M +skill:>=s-200 +skill:<=s+200 map:X
// with mode-dependent counts (duel 2, team 4 in parties, battle 4-8).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "matchmaker/matcher.hpp"

using namespace craft::matchmaker;

namespace {

double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t i = static_cast<std::size_t>(std::ceil(p / 100.0 * v.size()));
  return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
}

struct Opts {
  std::size_t tickets = 100'000, pool = 10'000;
  uint32_t interval_ms = 1'000, widen_after_ms = 10'000, regions = 4, modes = 3, seed = 1;
  std::size_t drain_intervals = 60;
  std::size_t arrivals = 0;  // per interval; 0: top the pool up to --pool
};

bool parse_args(int argc, char** argv, Opts& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](auto& out) {
      if (i + 1 >= argc) return false;
      out = static_cast<std::remove_reference_t<decltype(out)>>(std::strtoull(argv[++i], nullptr, 10));
      return true;
    };
    bool ok = a == "--tickets"          ? val(o.tickets)
              : a == "--pool"           ? val(o.pool)
              : a == "--interval-ms"    ? val(o.interval_ms)
              : a == "--widen-after-ms" ? val(o.widen_after_ms)
              : a == "--regions"        ? val(o.regions)
              : a == "--modes"          ? val(o.modes)
              : a == "--seed"           ? val(o.seed)
              : a == "--drain"          ? val(o.drain_intervals)
              : a == "--arrivals"       ? val(o.arrivals)
                                        : false;
    if (!ok) {
      std::fprintf(stderr,
                   "usage: craft-mm-bench [--tickets N] [--pool N] [--interval-ms MS] [--widen-after-ms MS]\n"
                   "                      [--regions N] [--modes N(<=3)] [--seed N] [--drain INTERVALS]\n"
                   "                      [--arrivals N-per-interval]\n");
      return false;
    }
  }
  o.modes = std::clamp<uint32_t>(o.modes, 1, 3);
  o.regions = std::max<uint32_t>(o.regions, 1);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Opts opt;
  if (!parse_args(argc, argv, opt)) return 2;
  MatcherOptions mo;
  mo.max_pool_size = std::max<std::size_t>(opt.pool, 1);
  mo.widen_after = std::chrono::milliseconds(opt.widen_after_ms);
  Matcher m(mo);
  std::mt19937 rng(opt.seed);
  std::normal_distribution<double> skill_dist(1500, 400);
  const char* modes[] = {"duel", "team", "battle"};
  const char* maps[] = {"dust 2", "nuke", "inferno"};

  std::unordered_map<uint64_t, std::pair<craft::TimePoint, double>> info;  // created, skill
  std::vector<double> cpu_ms_full, cpu_ms_all, wait_intervals, spread, match_players;
  std::size_t arrived = 0, matched_tickets = 0, matches = 0, players_matched = 0, pair_checks = 0;
  double cpu_total = 0;
  uint64_t next_id = 1, next_player = 1;
  craft::TimePoint now{};
  const auto interval = std::chrono::milliseconds(opt.interval_ms);
  std::size_t idle = 0;
  std::vector<double> add_ms_full;   // CPU of the add() calls that topped up a full pool
  std::vector<double> drop_ms_full;  // CPU of dropping the returned matches, full-pool runs
  std::vector<double> sum_ms_full;   // add() + run() + drop, full-pool intervals
  std::vector<double> fresh_full;    // tickets that arrived this interval, full-pool runs
  uint64_t hash = 1469598103934665603ull;  // FNV-1a over every match's ticket ids, in order
  auto mix = [&](uint64_t x) {
    for (int i = 0; i < 8; ++i) hash = (hash ^ ((x >> (8 * i)) & 0xff)) * 1099511628211ull;
  };
  std::vector<Ticket> batch;
  for (std::size_t iv = 0;; ++iv) {
    batch.clear();
    while (m.size() + batch.size() < opt.pool && arrived < opt.tickets &&
           (opt.arrivals == 0 || batch.size() < opt.arrivals)) {
      Ticket t;
      t.id = next_id++;
      const uint32_t r = rng() % 10;
      const uint32_t party = r < 7 ? 1 : r < 9 ? 2 : 3 + rng() % 2;
      for (uint32_t i = 0; i < party; ++i) t.members.push_back(next_player++);
      const std::string region = "r" + std::to_string(rng() % opt.regions);
      const uint32_t mode = rng() % opt.modes;
      const double skill = std::round(std::clamp(skill_dist(rng), 0.0, 3000.0));
      t.string_properties["region"] = region;
      t.string_properties["mode"] = modes[mode];
      t.string_properties["map"] = maps[rng() % 3];
      t.numeric_properties["skill"] = skill;
      std::string q = "+region:" + region + " +mode:" + modes[mode] + " +skill:>=" +
                      std::to_string(int(skill) - 200) + " +skill:<=" + std::to_string(int(skill) + 200) +
                      " map:\"" + maps[rng() % 3] + "\"";
      std::string error;
      if (!parse_query(q, QueryLimits{}, t.query, error)) {
        std::fprintf(stderr, "bad query %s: %s\n", q.c_str(), error.c_str());
        return 1;
      }
      if (mode == 0) t.min_count = t.max_count = 2;
      if (mode == 1) t.min_count = t.max_count = 4;
      if (mode == 2) {
        t.min_count = 4;
        t.max_count = 8;
      }
      if (party > t.max_count) t.members.resize(t.max_count);
      t.created = now;
      info.emplace(t.id, std::make_pair(now, skill));
      batch.push_back(std::move(t));
      ++arrived;
    }
    // add() is timed apart from run(): the index run() reuses is maintained here.
    const double a0 = thread_cpu_ms();
    for (Ticket& t : batch)
      if (m.add(std::move(t)) != AddResult::ok) return 1;
    const double a1 = thread_cpu_ms() - a0;
    const std::size_t before = m.size();
    const double c0 = thread_cpu_ms();
    auto out = m.run(now);
    const double c1 = thread_cpu_ms() - c0;
    cpu_total += c1;
    cpu_ms_all.push_back(c1);
    const bool full = before >= opt.pool;
    if (full) {
      cpu_ms_full.push_back(c1);
      add_ms_full.push_back(a1);
      fresh_full.push_back(double(batch.size()));
    }
    pair_checks += m.last_run().pair_checks;
    if (std::getenv("MM_BENCH_TRACE"))
      std::fprintf(stderr, "run %zu pool %zu cpu %.2f ms anchors %zu scanned %zu checks %zu nodes %zu gave_up %zu matches %zu\n", iv,
                   before, c1, m.last_run().anchors, m.last_run().scanned, m.last_run().pair_checks, m.last_run().search_nodes,
                   m.last_run().search_gave_up, out.size());
    for (const Match& match : out) {
      mix(match.tickets.size());
      for (uint64_t id : match.tickets) mix(id);
      ++matches;
      players_matched += match.players;
      match_players.push_back(match.players);
      double lo = 1e9, hi = -1e9;
      for (uint64_t id : match.tickets) {
        auto& [created, skill] = info.at(id);
        wait_intervals.push_back(double((now - created) / interval));
        lo = std::min(lo, skill);
        hi = std::max(hi, skill);
        info.erase(id);
        ++matched_tickets;
      }
      spread.push_back(hi - lo);
    }
    // The caller's share: the matches (and the matched Tickets in them) are freed here.
    const double d0 = thread_cpu_ms();
    out = {};
    const double d1 = thread_cpu_ms() - d0;
    if (full) {
      drop_ms_full.push_back(d1);
      sum_ms_full.push_back(a1 + c1 + d1);
    }
    now += interval;
    if (arrived >= opt.tickets) {
      if (out.empty()) ++idle;
      if (idle >= opt.drain_intervals || m.size() == 0) break;
    }
  }
  std::printf("craft-mm-bench: tickets=%zu pool=%zu arrivals=%zu regions=%u modes=%u interval_ms=%u widen_after_ms=%u seed=%u\n",
              opt.tickets, opt.pool, opt.arrivals, opt.regions, opt.modes, opt.interval_ms, opt.widen_after_ms, opt.seed);
  std::printf("intervals run            %zu (%zu with a full pool of %zu before the run)\n", cpu_ms_all.size(),
              cpu_ms_full.size(), opt.pool);
  std::printf("cpu ms / run, full pool  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", pct(cpu_ms_full, 50),
              pct(cpu_ms_full, 90), pct(cpu_ms_full, 99), pct(cpu_ms_full, 100));
  std::printf("cpu ms / add() batch     p50 %.2f  max %.2f  (the arrivals before each full-pool run: p50 %.0f tickets)\n",
              pct(add_ms_full, 50), pct(add_ms_full, 100), pct(fresh_full, 50));
  std::printf("cpu ms / drop of matches p50 %.2f  max %.2f  (the caller freeing a full-pool run's matches)\n",
              pct(drop_ms_full, 50), pct(drop_ms_full, 100));
  std::printf("cpu ms / interval, full  p50 %.2f  max %.2f  (add() + run() + drop)\n", pct(sum_ms_full, 50),
              pct(sum_ms_full, 100));
  std::printf("cpu ms / run, all runs   p50 %.2f  max %.2f  total %.1f\n", pct(cpu_ms_all, 50), pct(cpu_ms_all, 100),
              cpu_total);
  std::printf("matches                  %zu (%zu tickets, %zu players; %.1f%% of tickets)\n", matches,
              matched_tickets, players_matched, 100.0 * matched_tickets / std::max<std::size_t>(arrived, 1));
  std::printf("matches per cpu second   %.0f\n", matches / std::max(cpu_total / 1e3, 1e-9));
  std::printf("pair checks              %zu (%.1f per matched ticket)\n", pair_checks,
              double(pair_checks) / std::max<std::size_t>(matched_tickets, 1));
  std::printf("time to match, intervals p50 %.0f  p90 %.0f  p99 %.0f  max %.0f  (x %u ms)\n", pct(wait_intervals, 50),
              pct(wait_intervals, 90), pct(wait_intervals, 99), pct(wait_intervals, 100), opt.interval_ms);
  std::printf("skill spread per match   p50 %.0f  p90 %.0f  p99 %.0f  max %.0f\n", pct(spread, 50), pct(spread, 90),
              pct(spread, 99), pct(spread, 100));
  std::printf("players per match        p50 %.0f  max %.0f\n", pct(match_players, 50), pct(match_players, 100));
  std::printf("left unmatched           %zu\n", m.size());
  std::printf("matches hash             %016llx\n", static_cast<unsigned long long>(hash));
  return 0;
}
