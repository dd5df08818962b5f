// craft-lagcomp-bench: lag compensation (craft::sync::HitHistory, docs/lag-compensation.md)
// alone, no server. For rooms of N hittable entities random-walking in 800 x 600 (circles of
// radius 16, z = 0), every tick: record() all N, then 32 raycasts (one per shooter, from a
// random entity in a random direction, range 1000, at a random fractional render tick up to
// the window back) and 4 overlaps (radius 64). Times are thread CPU time
// (CLOCK_THREAD_CPUTIME_ID: the machine is shared, wall time would measure the neighbours).
//   craft-lagcomp-bench [ticks]        (default 2000 ticks per room size)
#include <craft/lag_compensation.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <vector>

using namespace craft::sync;

namespace {

double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  const long ticks = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 2000;
  if (ticks < 20) {
    std::fprintf(stderr, "usage: craft-lagcomp-bench [ticks >= 20]\n");
    return 2;
  }
  constexpr int shots_per_tick = 32, overlaps_per_tick = 4;
  const HitHistoryOptions base{.max_rewind_ticks = 10};
  std::printf("max_rewind_ticks %u, %ld ticks per size, %d raycasts + %d overlaps per tick\n", base.max_rewind_ticks,
              ticks, shots_per_tick, overlaps_per_tick);
  std::printf("%9s %14s %14s %14s %14s %12s %8s %11s\n", "entities", "record ns/ent", "raycast ns", "overlap ns",
              "tick total us", "memory KiB", "hits %", "in overlap");
  for (uint32_t n : {32u, 100u, 1000u, 4096u}) {
    HitHistoryOptions options = base;
    options.max_entities = n;
    HitHistory history(options);
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> step(-4, 4), angle(0, 6.2831853f), unit(0, 1);
    std::vector<Vec3> pos(n);
    for (auto& p : pos) p = {unit(rng) * 800, unit(rng) * 600, 0};
    double record_ns = 0, raycast_ns = 0, overlap_ns = 0;
    long records = 0, raycasts = 0, overlaps = 0, hits = 0, found = 0;
    for (long t = 0; t < ticks; ++t) {
      for (auto& p : pos) p = {std::clamp(p.x + step(rng), 0.f, 800.f), std::clamp(p.y + step(rng), 0.f, 600.f), 0};
      double t0 = thread_cpu_ns();
      for (uint32_t i = 0; i < n; ++i) {
        (void)history.record(static_cast<Tick>(t), craft::ecs::Entity{i, 0}, pos[i], HitShape::sphere(16));
      }
      double t1 = thread_cpu_ns();
      record_ns += t1 - t0;
      records += n;
      if (t < 10) continue;  // fill the window first
      // The inputs are drawn before the clock starts, so only the queries are timed.
      struct Shot {
        uint32_t shooter;
        Vec3 direction;
        double at;
      };
      Shot shots[shots_per_tick];
      for (auto& s : shots) {
        float a = angle(rng);
        s = {static_cast<uint32_t>(rng() % n), {std::cos(a), std::sin(a), 0},
             static_cast<double>(t) - unit(rng) * options.max_rewind_ticks};
      }
      t0 = thread_cpu_ns();
      for (const auto& s : shots) {
        auto r = history.raycast(pos[s.shooter], s.direction, 1000, s.at, craft::ecs::Entity{s.shooter, 0});
        hits += r.hit ? 1 : 0;
      }
      t1 = thread_cpu_ns();
      raycast_ns += t1 - t0;
      raycasts += shots_per_tick;
      t0 = thread_cpu_ns();
      for (int k = 0; k < overlaps_per_tick; ++k) {
        auto o = history.overlap(HitShape::sphere(64), pos[static_cast<size_t>(k) % n], static_cast<double>(t) - 3.5);
        found += static_cast<long>(o.entities.size());
      }
      t1 = thread_cpu_ns();
      overlap_ns += t1 - t0;
      overlaps += overlaps_per_tick;
    }
    const double tick_us = (record_ns + raycast_ns + overlap_ns) / static_cast<double>(ticks) / 1e3;
    std::printf("%9u %14.1f %14.1f %14.1f %14.1f %12.1f %8.1f %11.1f\n", n, record_ns / static_cast<double>(records),
                raycast_ns / static_cast<double>(raycasts), overlap_ns / static_cast<double>(overlaps), tick_us,
                static_cast<double>(history.memory_bytes()) / 1024, 100.0 * static_cast<double>(hits) / static_cast<double>(raycasts),
                static_cast<double>(found) / static_cast<double>(overlaps));
  }
  return 0;
}
