// Lag compensation (include/craft/lag_compensation.hpp) driven by hostile bytes: a program of
// records, removes, raycasts and overlaps whose floats, ticks and entities are raw bits (NaN,
// infinities, subnormals, huge values), against a small history so the limits are reached.
// Besides "no crash, no UB" (ASan/UBSan): the entity limit and the memory bound hold, every
// answer's tick lies in the window (or is flagged clamped), a hit is finite, within range and
// never the ignored entity, an overlap lists each entity once and never the ignored one.
#include "fuzz_check.hpp"

#include <craft/lag_compensation.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

using namespace craft::sync;

namespace {

struct Reader {
  const uint8_t* data;
  size_t size;
  template <class T>
  T take() {
    T v{};
    size_t n = std::min(sizeof(T), size);
    std::memcpy(&v, data, n);
    data += n;
    size -= n;
    return v;
  }
  bool done() const { return size == 0; }
};

Vec3 vec(Reader& r) {
  uint8_t mode = r.take<uint8_t>();
  if (mode & 1) return {r.take<float>(), r.take<float>(), r.take<float>()};  // raw bits
  // Small integers: positions near each other, so hits and overlaps really happen.
  return {static_cast<float>(r.take<int8_t>()) / 4, static_cast<float>(r.take<int8_t>()) / 4,
          static_cast<float>(r.take<int8_t>() % 4) / 4};
}

HitShape shape(Reader& r) {
  uint8_t mode = r.take<uint8_t>();
  HitShape s;
  s.kind = static_cast<HitShape::Kind>(mode % 3);  // 2 is out of the enum: refused
  if (mode & 4) {
    s.radius = r.take<float>();
    s.half_extents = {r.take<float>(), r.take<float>(), r.take<float>()};
  } else {
    s.radius = static_cast<float>(r.take<uint8_t>() % 16) / 4;
    float h = static_cast<float>(r.take<uint8_t>() % 16) / 4;
    s.half_extents = {h, h, h};
  }
  return s;
}

double tick(Reader& r, Tick base) {
  uint8_t mode = r.take<uint8_t>();
  if (mode & 1) return r.take<double>();  // raw bits
  return static_cast<double>(base) - static_cast<double>(r.take<uint8_t>() % 24) / 2;
}

void check_time(const HitHistory& h, QueryTime t) {
  FUZZ_CHECK(std::isfinite(t.tick));
  if (auto newest = h.newest_tick()) {
    const Tick rewind = h.options().max_rewind_ticks;
    const double lo = static_cast<double>(*newest > rewind ? *newest - rewind : 0);
    FUZZ_CHECK(t.tick >= lo && t.tick <= static_cast<double>(*newest));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r{data, size};
  const HitHistoryOptions options{.max_rewind_ticks = 1u + r.take<uint8_t>() % 16, .max_entities = 1u + r.take<uint8_t>() % 8};
  HitHistory h(options);
  Tick now = r.take<uint8_t>() & 1 ? r.take<Tick>() : 100;  // near 0, in the middle, or near 2^64
  const size_t sample_bound = size_t{options.max_entities} * (options.max_rewind_ticks + 2) * 48;
  for (int step = 0; step < 256 && !r.done(); ++step) {
    const uint8_t op = r.take<uint8_t>();
    const craft::ecs::Entity e{static_cast<uint32_t>(op >> 4), r.take<uint8_t>() % 2u};
    switch (op % 5) {
      case 0:
        if (now < UINT64_MAX) ++now;
        [[fallthrough]];
      case 1: {
        Tick at = now - std::min<Tick>(now, r.take<uint8_t>() % 20);
        (void)h.record(at, e, vec(r), shape(r));
        break;
      }
      case 2:
        (void)h.remove(e);
        break;
      case 3: {
        Vec3 origin = vec(r), direction = vec(r);
        float range = r.take<uint8_t>() & 1 ? r.take<float>() : 50.f;
        auto result = h.raycast(origin, direction, range, tick(r, now), e);
        check_time(h, result.time);
        if (result.hit) {
          FUZZ_CHECK(!(result.hit->entity == e));
          FUZZ_CHECK(std::isfinite(result.hit->distance) && result.hit->distance >= 0);
          FUZZ_CHECK(result.hit->distance <= range);
          FUZZ_CHECK(std::isfinite(result.hit->point.x) && std::isfinite(result.hit->point.y) &&
                     std::isfinite(result.hit->point.z));
        }
        break;
      }
      case 4: {
        auto result = h.overlap(shape(r), vec(r), tick(r, now), e);
        check_time(h, result.time);
        FUZZ_CHECK(result.entities.size() <= h.entity_count());
        for (size_t i = 0; i < result.entities.size(); ++i) {
          FUZZ_CHECK(!(result.entities[i] == e));
          for (size_t j = i + 1; j < result.entities.size(); ++j) FUZZ_CHECK(!(result.entities[i] == result.entities[j]));
        }
        break;
      }
    }
    FUZZ_CHECK(h.entity_count() <= options.max_entities);
    FUZZ_CHECK(h.memory_bytes() <= 2 * sample_bound + 64 * 1024);
  }
  return 0;
}
