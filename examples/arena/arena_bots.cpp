// The arena's bots: wander between random points, aim at the nearest player they can see
// (no wall in between, within bot_view), fire with some inaccuracy. Every choice comes from
// the room's seeded generator and the room's fixed player order, so a seed replays a match.
#include "arena/arena_room.hpp"

#include <cmath>

namespace craft::examples::arena {

namespace {
constexpr float bot_view = 700;          // how far a bot sees a target
constexpr float bot_spread = 0.06f;      // radians either side of a perfect aim
constexpr uint32_t bot_fire_slowdown = 2;  // bots fire at half a human's rate
constexpr uint32_t bot_stuck_ticks = 45;   // no progress for this long: a new goal
int8_t toward(float delta) { return delta > 4 ? 1 : delta < -4 ? -1 : 0; }
}  // namespace

void ArenaRoom::think_bot(ecs::Entity e, Player& p, Seat& seat, float dt) {
  Point at{p.pos.x, p.pos.y};
  // Walk towards the goal; a new goal when there or stuck against a wall.
  float before = std::hypot(seat.goal.x - at.x, seat.goal.y - at.y);
  if (before < 8 || seat.stuck_ticks > bot_stuck_ticks) {
    std::uniform_real_distribution<float> x(50, world_width - 50), y(50, world_height - 50);
    seat.goal = collide({x(rng_), y(rng_)});
    seat.stuck_ticks = 0;
  }
  int8_t dx = toward(seat.goal.x - at.x), dy = toward(seat.goal.y - at.y);
  Point next = step(at, dx, dy, dt);
  float after = std::hypot(seat.goal.x - next.x, seat.goal.y - next.y);
  seat.stuck_ticks = after + 0.5f < before ? 0 : seat.stuck_ticks + 1;
  p.pos = {next.x, next.y};

  // The nearest living player in sight.
  const Player* target = nullptr;
  float nearest = bot_view;
  for (auto other : players_) {
    if (other == e) continue;
    const auto* q = registry_.get<Player>(other);
    if (!q->alive) continue;
    float d = std::hypot(q->pos.x - next.x, q->pos.y - next.y);
    if (d < nearest && clear_line(next, {q->pos.x, q->pos.y})) nearest = d, target = q;
  }
  if (!target) {
    if (dx || dy) p.aim = normalize_angle(std::atan2(float(dy), float(dx)));
    return;
  }
  std::uniform_real_distribution<float> spread(-bot_spread, bot_spread);
  p.aim = normalize_angle(std::atan2(target->pos.y - next.y, target->pos.x - next.x) + spread(rng_));
  if (playing_ && tick_ >= seat.next_fire_tick) {
    seat.next_fire_tick = tick_ + bot_fire_slowdown * fire_interval_ticks_;
    // A bot sees the present: the newest recorded tick.
    shots_.push_back({e, next, p.aim, double(tick_ - 1), 0});
  }
}

}  // namespace craft::examples::arena
