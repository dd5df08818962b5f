// Lag compensation: test a hitscan or an overlap against the world "as the shooter saw it".
//
// The model is Valve's Source engine lag compensation (Yahn Bernier, "Latency Compensating
// Methods in Client/Server In-game Protocol Design and Optimization", and the Valve Developer
// Wiki page "Lag Compensation"), the same idea as Photon Fusion's lag-compensated hitboxes:
// the server keeps a short history of every hittable entity's hit shape, one sample per
// server tick. A client renders remote entities in the past (its interpolation buffer draws
// the server's state of `render_tick = newest tick received - interpolation delay`), so when
// it fires it sends that render tick with the shot; the server tests the shot against the
// shapes as they were at that tick (interpolated linearly between the two recorded ticks
// around it, as the client's interpolation drew them), not as they are now.
//
//   craft::sync::HitHistory history({.max_rewind_ticks = craft::sync::ticks_for(350ms, 30)});
//   // every tick, after moving things:
//   for (auto [e, pos] : players) history.record(tick, e, pos, craft::sync::HitShape::sphere(0.5f));
//   // on a shot that says "I saw the world at render tick 1234.4":
//   auto shot = history.raycast(muzzle, aim, 100.f, 1234.4, shooter);
//   if (shot.hit) damage(shot.hit->entity);
//
// The fairness trade-off (the victim can be hit "around a corner", bounded by the maximum
// rewind) and how to pick the rewind are in docs/lag-compensation.md.
//
// Units: positions and distances in the game's world units (whatever the room uses); time in
// server ticks (the room's tick counter), fractional ticks as double. 2D games pass z = 0 and
// use spheres as circles (a box's half_extents.z may be 0).
// Threads: a HitHistory belongs to one room, so to one thread; no locking inside.
// Errors: nothing throws after construction (the constructor throws std::invalid_argument on
// options out of range). Queries are safe on any input: a NaN, infinite or zero direction, a
// NaN origin, a negative or NaN distance, a NaN or infinite tick give "no hit", never UB.
// Memory: bounded by max_entities * (max_rewind_ticks + 2) samples, allocated as entities
// appear and reused after remove(); it never grows with the number of ticks recorded.
// Cost: record() is O(1) (a hash lookup); a query is O(entities), a linear scan (rooms hold up
// to a few hundred hittable entities; a broadphase can come later without changing the API).
#pragma once
#include <craft/ecs.hpp>
#include <craft/replication.hpp>  // Vec3

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

namespace craft::sync {

// Points and vectors are craft::sync::Vec3 (include/craft/replication.hpp), in world units;
// 2D games leave z = 0.

// What a shot can hit: a sphere (a circle in 2D) or an axis-aligned box, centred on the
// entity's recorded position. Sizes are >= 0 world units.
struct HitShape {
  enum class Kind : uint8_t { sphere, box };
  Kind kind = Kind::sphere;
  float radius = 0;   // sphere
  Vec3 half_extents;  // box: half its size along x, y, z

  static HitShape sphere(float radius) { return {Kind::sphere, radius, {}}; }
  static HitShape box(Vec3 half_extents) { return {Kind::box, 0, half_extents}; }
};

using Tick = uint64_t;

struct HitHistoryOptions {
  // How far back a query may look, in ticks: a shot claiming an older render tick is tested at
  // now - max_rewind_ticks instead (and says so, `clamped`). This bounds what a victim can
  // suffer ("shot after reaching cover") and what a client lying about its render tick can
  // gain. It must cover the worst round trip the game still favours the shooter at, plus the
  // client's interpolation delay, plus one tick (the shot waits for the next tick): a client
  // lagging more is clamped and must lead its target. Default 10: 333 ms at 30 Hz, enough for
  // a 200 ms RTT with a 100 ms interpolation delay (use ticks_for() to derive it from ms).
  uint32_t max_rewind_ticks = 10;
  // Hittable entities kept at once (a room limit, not a network one: room code decides what
  // it records). record() of one more new entity is refused (RecordResult::entity_limit)
  // unless an entity that has not been recorded for the whole window can be forgotten.
  uint32_t max_entities = 1024;

  // Range accepted by the constructor (1 ..= these). A sample is 48 bytes, so the samples
  // take at most max_entities * (max_rewind_ticks + 2) * 48 bytes: 576 KiB with the defaults,
  // allocated only as entities appear.
  static constexpr uint32_t max_rewind_ticks_limit = 1024;
  static constexpr uint32_t max_entities_limit = 16384;
};

// The number of whole ticks that covers `rewind` at `tick_rate_hz` (rounded up; at least 1).
// ticks_for(200ms, 30) == 6, ticks_for(200ms, 20) == 4, ticks_for(200ms, 64) == 13.
uint32_t ticks_for(std::chrono::milliseconds rewind, uint32_t tick_rate_hz);

enum class RecordResult : uint8_t {
  recorded,
  too_old,         // tick is older than newest_tick() - max_rewind_ticks: no query can reach it
  entity_limit,    // a new entity while max_entities are kept (and none could be forgotten)
  invalid,         // a non-finite position, a negative or non-finite size, a null entity, a tick > max_tick
};

// The tick a query was answered at: the asked tick clamped to
// [newest_tick() - max_rewind_ticks, newest_tick()]; `clamped` says whether it was moved
// (a NaN or infinite asked tick is answered at newest_tick(), clamped).
struct QueryTime {
  double tick = 0;
  bool clamped = false;
};

struct RaycastHit {
  ecs::Entity entity;
  float distance = 0;  // from the origin along the ray (0 when the origin is inside the shape)
  Vec3 point;          // where the ray entered the shape
};

struct RaycastResult {
  std::optional<RaycastHit> hit;  // the nearest hit, if any
  QueryTime time;
};

struct OverlapResult {
  std::vector<ecs::Entity> entities;  // every entity whose shape touches the query shape
  QueryTime time;
};

// Counters a host exports as metrics.
struct HitHistoryStats {
  uint64_t queries = 0;
  uint64_t queries_clamped = 0;       // the asked tick was out of the window (or not finite)
  uint64_t records_refused = 0;       // any RecordResult other than recorded
  uint64_t entities_forgotten = 0;    // stale entities dropped to make room for new ones
};

class HitHistory {
 public:
  explicit HitHistory(HitHistoryOptions options = {});

  // Stores the entity's shape at `tick` (call it every tick for every hittable entity, after
  // the tick's movement). An entity exists at a tick only if it was recorded at that tick:
  // it cannot be hit at times before its first record, after remove(), or across a tick it
  // was not recorded at. Recording a tick newer than newest_tick() moves the window; the same
  // (tick, entity) twice keeps the last. Ticks may repeat or go back within the window.
  // Ticks above max_tick are refused (invalid): up to it a double holds a tick and its
  // fraction to 1/4096 of a tick (2^40 ticks: 145 years at 240 Hz).
  RecordResult record(Tick tick, ecs::Entity entity, Vec3 position, HitShape shape);
  static constexpr Tick max_tick = Tick{1} << 40;

  // Forgets the entity's history at once (call it when the entity is destroyed or dies:
  // a dead entity is not hit again by a rewound shot). Returns whether it was kept.
  bool remove(ecs::Entity entity);

  // Forgets everything (a new round). newest_tick() goes back to "none".
  void clear();

  // The newest tick recorded (nullopt before the first record or after clear()).
  std::optional<Tick> newest_tick() const;

  // Clamps a render tick to the window (see QueryTime). Without any record: {0, true}.
  QueryTime clamp(double at_tick) const;

  // The nearest shape the ray origin + t * direction, 0 <= t <= max_distance, enters, as the
  // entities were at `at_tick` (clamped). `direction` need not be unit length (it is
  // normalised; a zero one hits nothing). `ignore` is the shooter, never hit by its own shot.
  RaycastResult raycast(Vec3 origin, Vec3 direction, float max_distance, double at_tick,
                        std::optional<ecs::Entity> ignore = std::nullopt);

  // Every entity whose shape touches `shape` centred at `position`, as they were at `at_tick`
  // (clamped); in no promised order. A melee swing, an explosion, a pickup radius.
  OverlapResult overlap(HitShape shape, Vec3 position, double at_tick,
                        std::optional<ecs::Entity> ignore = std::nullopt);

  // The entity's shape and position at `at_tick` (not clamped): interpolated between the
  // recorded ticks around it; nullopt when it did not exist then or the tick is out of the
  // window. What the queries test, for debugging and tests.
  struct Pose {
    Vec3 position;
    HitShape shape;
  };
  std::optional<Pose> pose_at(ecs::Entity entity, double at_tick) const;

  size_t entity_count() const { return index_.size(); }
  // Bytes held by the sample storage and the entity index (what the memory bound covers).
  size_t memory_bytes() const;
  const HitHistoryStats& stats() const { return stats_; }
  const HitHistoryOptions& options() const { return options_; }

 private:
  struct Sample {
    Tick tick = 0;
    Vec3 position;
    HitShape shape;
    bool valid = false;
  };
  struct Slot {
    ecs::Entity entity;
    Tick newest = 0;  // the newest tick this entity was recorded at
    bool used = false;
  };
  static uint64_t key(ecs::Entity e) { return (uint64_t{e.index} << 32) | e.generation; }
  uint32_t ring() const { return options_.max_rewind_ticks + 2; }
  const Sample* sample(uint32_t slot, Tick tick) const;
  std::optional<Pose> pose_in_slot(uint32_t slot, double at_tick) const;
  std::optional<uint32_t> forget_one_stale(Tick newest);
  void free_slot(uint32_t slot);
  QueryTime clamp_counted(double at_tick);

  HitHistoryOptions options_;
  std::optional<Tick> newest_;
  std::vector<Slot> slots_;
  std::vector<Sample> samples_;  // slots_.size() * ring(), slot s's ring at [s * ring(), +ring())
  std::vector<uint32_t> free_;   // slots to reuse
  std::unordered_map<uint64_t, uint32_t> index_;  // entity -> slot
  HitHistoryStats stats_;
};

}  // namespace craft::sync
