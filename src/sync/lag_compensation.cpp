// Hit-shape history and rewound queries (include/craft/lag_compensation.hpp; the model and its
// trade-offs: docs/lag-compensation.md).
//
// Storage: one fixed ring of max_rewind_ticks + 2 samples per kept entity, in one flat vector
// (slot s owns samples [s * ring, (s + 1) * ring)), sample of tick k at k % ring. A sample
// counts only when its stored tick is the one asked for, so a ring never needs clearing when
// time moves on and an entity that skipped a tick simply does not exist at that tick. The
// ring holds the window [newest - max_rewind, newest] (max_rewind + 1 ticks) plus one spare,
// so the two samples around any fractional tick in the window are both kept.
//
// Geometry runs in double: positions near float's range squared would overflow float, and
// the queries' inputs come (through the room) from clients, so every input is checked for
// NaN and infinity before use and no arithmetic below can produce a NaN that is then trusted.
#include <craft/lag_compensation.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace craft::sync {
namespace {

struct D3 {
  double x, y, z;
};
D3 d3(Vec3 v) { return {v.x, v.y, v.z}; }
D3 operator-(D3 a, D3 b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
double dot(D3 a, D3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
double lerp(double a, double b, double t) { return a + (b - a) * t; }

bool finite(Vec3 v) { return std::isfinite(v.x) && std::isfinite(v.y) && std::isfinite(v.z); }
bool valid_size(float f) { return std::isfinite(f) && f >= 0; }
bool valid_shape(const HitShape& s) {
  switch (s.kind) {
    case HitShape::Kind::sphere: return valid_size(s.radius);
    case HitShape::Kind::box:
      return valid_size(s.half_extents.x) && valid_size(s.half_extents.y) && valid_size(s.half_extents.z);
  }
  return false;  // a value outside the enum
}

// Entry distance of the ray o + t d (d unit length), 0 <= t <= max_t, into a sphere; 0 when o
// is inside. (Ericson, "Real-Time Collision Detection", 5.3.2.)
std::optional<double> ray_sphere(D3 o, D3 d, double max_t, D3 c, double r) {
  D3 m = o - c;
  double b = dot(m, d);
  double cc = dot(m, m) - r * r;
  if (cc <= 0) return 0.0;
  if (b > 0) return std::nullopt;  // outside and pointing away
  double disc = b * b - cc;
  if (disc < 0) return std::nullopt;
  double t = -b - std::sqrt(disc);
  if (t < 0) t = 0;
  if (!(t <= max_t)) return std::nullopt;
  return t;
}

// The slab test (Ericson 5.3.3); an axis the ray is parallel to needs the origin inside that slab.
std::optional<double> ray_box(D3 o, D3 d, double max_t, D3 c, D3 h) {
  double tmin = 0, tmax = max_t;
  const double oo[3] = {o.x, o.y, o.z}, dd[3] = {d.x, d.y, d.z}, cc[3] = {c.x, c.y, c.z}, hh[3] = {h.x, h.y, h.z};
  for (int i = 0; i < 3; ++i) {
    double lo = cc[i] - hh[i], hi = cc[i] + hh[i];
    if (std::abs(dd[i]) < 1e-12) {
      if (oo[i] < lo || oo[i] > hi) return std::nullopt;
      continue;
    }
    double inv = 1.0 / dd[i];
    double t1 = (lo - oo[i]) * inv, t2 = (hi - oo[i]) * inv;
    if (t1 > t2) std::swap(t1, t2);
    tmin = std::max(tmin, t1);
    tmax = std::min(tmax, t2);
    if (!(tmin <= tmax)) return std::nullopt;
  }
  return tmin;
}

double clamp_axis(double v, double lo, double hi) { return std::min(std::max(v, lo), hi); }

bool sphere_box(D3 sc, double r, D3 bc, D3 h) {
  D3 nearest{clamp_axis(sc.x, bc.x - h.x, bc.x + h.x), clamp_axis(sc.y, bc.y - h.y, bc.y + h.y),
             clamp_axis(sc.z, bc.z - h.z, bc.z + h.z)};
  D3 v = sc - nearest;
  return dot(v, v) <= r * r;
}

bool shapes_touch(const HitShape& a, D3 pa, const HitShape& b, D3 pb) {
  using K = HitShape::Kind;
  if (a.kind == K::sphere && b.kind == K::sphere) {
    D3 v = pa - pb;
    double r = double{a.radius} + b.radius;
    return dot(v, v) <= r * r;
  }
  if (a.kind == K::sphere) return sphere_box(pa, a.radius, pb, d3(b.half_extents));
  if (b.kind == K::sphere) return sphere_box(pb, b.radius, pa, d3(a.half_extents));
  return std::abs(pa.x - pb.x) <= double{a.half_extents.x} + b.half_extents.x &&
         std::abs(pa.y - pb.y) <= double{a.half_extents.y} + b.half_extents.y &&
         std::abs(pa.z - pb.z) <= double{a.half_extents.z} + b.half_extents.z;
}

}  // namespace

uint32_t ticks_for(std::chrono::milliseconds rewind, uint32_t tick_rate_hz) {
  if (rewind.count() <= 0 || tick_rate_hz == 0) return 1;
  // Rounded up, so the window covers at least `rewind`.
  uint64_t ms = static_cast<uint64_t>(std::min<int64_t>(rewind.count(), int64_t{1} << 40));
  uint64_t ticks = (ms * tick_rate_hz + 999) / 1000;
  return static_cast<uint32_t>(std::clamp<uint64_t>(ticks, 1, std::numeric_limits<uint32_t>::max()));
}

HitHistory::HitHistory(HitHistoryOptions options) : options_(options) {
  if (options_.max_rewind_ticks < 1 || options_.max_rewind_ticks > HitHistoryOptions::max_rewind_ticks_limit) {
    throw std::invalid_argument("HitHistory: max_rewind_ticks must be 1.." +
                                std::to_string(HitHistoryOptions::max_rewind_ticks_limit));
  }
  if (options_.max_entities < 1 || options_.max_entities > HitHistoryOptions::max_entities_limit) {
    throw std::invalid_argument("HitHistory: max_entities must be 1.." +
                                std::to_string(HitHistoryOptions::max_entities_limit));
  }
  static_assert(sizeof(Sample) == 48, "the header's memory bound counts 48 bytes a sample");
  // Sized once for the limit, so the index never rehashes (nor grows) while a room runs.
  index_.reserve(options_.max_entities);
}

const HitHistory::Sample* HitHistory::sample(uint32_t slot, Tick tick) const {
  const Sample& s = samples_[size_t{slot} * ring() + tick % ring()];
  return s.valid && s.tick == tick ? &s : nullptr;
}

void HitHistory::free_slot(uint32_t slot) {
  slots_[slot].used = false;
  auto first = samples_.begin() + static_cast<ptrdiff_t>(size_t{slot} * ring());
  std::fill(first, first + ring(), Sample{});
  free_.push_back(slot);
}

std::optional<uint32_t> HitHistory::forget_one_stale(Tick newest) {
  // An entity none of whose samples is in the window (as it will be once `newest` is
  // recorded) can never be hit again: it was destroyed without remove(). Dropping it is what
  // keeps a forgetful room within its limit.
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    Slot& slot = slots_[s];
    if (slot.used && slot.newest + options_.max_rewind_ticks < newest) {
      index_.erase(key(slot.entity));
      free_slot(s);
      ++stats_.entities_forgotten;
      free_.pop_back();
      return s;
    }
  }
  return std::nullopt;
}

RecordResult HitHistory::record(Tick tick, ecs::Entity entity, Vec3 position, HitShape shape) {
  auto refuse = [this](RecordResult r) {
    ++stats_.records_refused;
    return r;
  };
  if (entity.index == ecs::Entity{}.index || !finite(position) || !valid_shape(shape) || tick > max_tick) {
    return refuse(RecordResult::invalid);
  }
  const uint32_t rewind = options_.max_rewind_ticks;
  if (newest_ && *newest_ > rewind && tick < *newest_ - rewind) return refuse(RecordResult::too_old);

  uint32_t slot;
  auto it = index_.find(key(entity));
  if (it != index_.end()) {
    slot = it->second;
  } else {
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else if (slots_.size() < options_.max_entities) {
      slot = static_cast<uint32_t>(slots_.size());
      slots_.push_back({});
      samples_.resize(samples_.size() + ring());
    } else {
      // The stale check must see this tick's window: move time first (a refused record still
      // tells what tick it is; no sample of any entity depends on newest_).
      // The window as this record would move it; newest_ itself only moves if it is kept.
      auto reused = forget_one_stale(newest_ && *newest_ > tick ? *newest_ : tick);
      if (!reused) return refuse(RecordResult::entity_limit);
      slot = *reused;
    }
    slots_[slot] = {entity, tick, true};
    index_.emplace(key(entity), slot);
  }
  if (!newest_ || tick > *newest_) newest_ = tick;
  Slot& s = slots_[slot];
  s.newest = std::max(s.newest, tick);
  samples_[size_t{slot} * ring() + tick % ring()] = {tick, position, shape, true};
  return RecordResult::recorded;
}

bool HitHistory::remove(ecs::Entity entity) {
  auto it = index_.find(key(entity));
  if (it == index_.end()) return false;
  free_slot(it->second);
  index_.erase(it);
  return true;
}

void HitHistory::clear() {
  slots_.clear();
  samples_.clear();
  free_.clear();
  index_.clear();
  newest_.reset();
}

std::optional<Tick> HitHistory::newest_tick() const { return newest_; }

QueryTime HitHistory::clamp(double at_tick) const {
  if (!newest_) return {0, true};
  const Tick newest = *newest_;
  const Tick oldest = newest > options_.max_rewind_ticks ? newest - options_.max_rewind_ticks : 0;
  const double lo = static_cast<double>(oldest), hi = static_cast<double>(newest);
  if (!std::isfinite(at_tick)) return {hi, true};
  if (at_tick < lo) return {lo, true};
  if (at_tick > hi) return {hi, true};
  return {at_tick, false};
}

QueryTime HitHistory::clamp_counted(double at_tick) {
  ++stats_.queries;
  QueryTime t = clamp(at_tick);
  if (t.clamped) ++stats_.queries_clamped;
  return t;
}

std::optional<HitHistory::Pose> HitHistory::pose_in_slot(uint32_t slot, double at_tick) const {
  // at_tick is finite and inside the window here (>= 0).
  const double floor = std::floor(at_tick);
  const Tick k = static_cast<Tick>(floor);
  const double frac = at_tick - floor;
  const Sample* a = sample(slot, k);
  if (!a) return std::nullopt;
  if (frac == 0) return Pose{a->position, a->shape};
  const Sample* b = sample(slot, k + 1);
  if (!b) return std::nullopt;  // not recorded at the next tick: destroyed (or not yet made)
  Pose p;
  p.position = {static_cast<float>(lerp(a->position.x, b->position.x, frac)),
                static_cast<float>(lerp(a->position.y, b->position.y, frac)),
                static_cast<float>(lerp(a->position.z, b->position.z, frac))};
  if (a->shape.kind == b->shape.kind) {
    // A crouch or a growing shape moves smoothly, as the client drew it.
    p.shape.kind = a->shape.kind;
    p.shape.radius = static_cast<float>(lerp(a->shape.radius, b->shape.radius, frac));
    p.shape.half_extents = {static_cast<float>(lerp(a->shape.half_extents.x, b->shape.half_extents.x, frac)),
                            static_cast<float>(lerp(a->shape.half_extents.y, b->shape.half_extents.y, frac)),
                            static_cast<float>(lerp(a->shape.half_extents.z, b->shape.half_extents.z, frac))};
  } else {
    p.shape = frac < 0.5 ? a->shape : b->shape;  // no halfway between a sphere and a box
  }
  return p;
}

std::optional<HitHistory::Pose> HitHistory::pose_at(ecs::Entity entity, double at_tick) const {
  auto it = index_.find(key(entity));
  if (it == index_.end()) return std::nullopt;
  QueryTime t = clamp(at_tick);
  if (t.clamped) return std::nullopt;
  return pose_in_slot(it->second, t.tick);
}

RaycastResult HitHistory::raycast(Vec3 origin, Vec3 direction, float max_distance, double at_tick,
                                  std::optional<ecs::Entity> ignore) {
  RaycastResult result;
  result.time = clamp_counted(at_tick);
  if (!newest_ || !finite(origin) || !finite(direction) || std::isnan(max_distance) || max_distance < 0) {
    return result;
  }
  D3 d = d3(direction);
  const double length = std::sqrt(dot(d, d));
  if (!(length > 0) || !std::isfinite(length)) return result;  // a zero direction points nowhere
  d = {d.x / length, d.y / length, d.z / length};
  const D3 o = d3(origin);
  double best = std::numeric_limits<double>::infinity();
  const double max_t = max_distance;  // +inf is allowed: the nearest hit is finite anyway
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (!slots_[s].used || (ignore && slots_[s].entity == *ignore)) continue;
    auto pose = pose_in_slot(s, result.time.tick);
    if (!pose) continue;
    const D3 c = d3(pose->position);
    std::optional<double> t = pose->shape.kind == HitShape::Kind::sphere
                                  ? ray_sphere(o, d, max_t, c, pose->shape.radius)
                                  : ray_box(o, d, max_t, c, d3(pose->shape.half_extents));
    if (!t || !(*t < best)) continue;
    const D3 at{o.x + d.x * *t, o.y + d.y * *t, o.z + d.z * *t};
    // A hit far out in double may not be a float any more: no hit rather than an infinite point.
    const Vec3 point{static_cast<float>(at.x), static_cast<float>(at.y), static_cast<float>(at.z)};
    if (!finite(point) || !std::isfinite(static_cast<float>(*t))) continue;
    best = *t;
    result.hit = RaycastHit{slots_[s].entity, static_cast<float>(*t), point};
  }
  return result;
}

OverlapResult HitHistory::overlap(HitShape shape, Vec3 position, double at_tick, std::optional<ecs::Entity> ignore) {
  OverlapResult result;
  result.time = clamp_counted(at_tick);
  if (!newest_ || !finite(position) || !valid_shape(shape)) return result;
  const D3 p = d3(position);
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (!slots_[s].used || (ignore && slots_[s].entity == *ignore)) continue;
    auto pose = pose_in_slot(s, result.time.tick);
    if (pose && shapes_touch(shape, p, pose->shape, d3(pose->position))) result.entities.push_back(slots_[s].entity);
  }
  return result;
}

size_t HitHistory::memory_bytes() const {
  // The index: its bucket array plus one node per entry (key, value, next pointer, hash).
  const size_t node = sizeof(std::pair<const uint64_t, uint32_t>) + 2 * sizeof(void*);
  return slots_.capacity() * sizeof(Slot) + samples_.capacity() * sizeof(Sample) +
         free_.capacity() * sizeof(uint32_t) + index_.bucket_count() * sizeof(void*) + index_.size() * node;
}

static_assert(sizeof(HitShape) == 20);

}  // namespace craft::sync
