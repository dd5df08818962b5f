// Issue 13's Done-when: "a hit on a moving target at 150 ms RTT registers as the shooter saw
// it", through a real craftd and the `arena` room (examples/arena/README.md). The shooter is
// behind the network simulator (75 ms ± 10 ms each way, tests/integration/netsim.hpp), decodes
// the replicated state, renders the target 100 ms behind the newest snapshot the way the JS SDK
// does (render tick from the fastest recent arrival; linear interpolation between the two
// frames around it), aims exactly at where IT SEES the target and fires with that render tick.
// The target is a second player strafing up and down at full speed (220 units/s, radius 16).
//
// Asserted: (nearly) every compensated shot hits. Controls, in the same run: shots aimed the
// same way but claiming the present tick (no compensation) miss; and the compensated shots,
// tested against where the target really was at the tick the server handled them (its own
// decoded state), would have missed too.
#include "arena_helpers.hpp"
#include "netsim.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace craft::testing {
namespace {

using arena::ArenaView;
using arena::Input;
using arena::json_int;
using Clock = std::chrono::steady_clock;

constexpr double hz = 30;
constexpr double lane_x = 400;   // the target strafes on x = 400, y from 420 to 780: no wall near
constexpr double top = 420, bottom = 780;

std::unique_ptr<client::Client> hello_via(uint16_t port, const std::string& name) {
  client::Options o;
  o.port = port;
  auto c = std::make_unique<client::Client>(o);
  c->connect();
  c->hello(name);
  return c;
}

// Half a step (220 / 30 / 2 = 3.7 units) or nearer counts as there.
int8_t toward(double delta) { return delta > 4 ? 1 : delta < -4 ? -1 : 0; }

// Whether the ray from (ox, oy) along `aim` passes within 16 units of (x, y), ahead of it.
bool ray_hits(double ox, double oy, double aim, double x, double y) {
  double dx = std::cos(aim), dy = std::sin(aim);
  double along = (x - ox) * dx + (y - oy) * dy;
  if (along < 0 || along > 1000) return false;
  double across = std::abs((x - ox) * dy - (y - oy) * dx);
  return across <= 16;
}

double number_after(const std::string& json, const std::string& key) {
  auto at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return NAN;
  return std::strtod(json.c_str() + at + key.size() + 3, nullptr);
}

struct Shot {
  uint32_t seq = 0;
  bool compensated = true;
  double aim = 0;
  double render_tick = 0;
};

}  // namespace

TEST(ArenaLagCompensation, AHitOnAMovingTargetAt150msRttRegistersAsTheShooterSawIt) {
  CraftdProcess server;
  NetSimProxy net(server.http_port(), 75ms, 10ms, 150);
  // The target, directly connected (it only has to move), creates the room: it spawns at
  // (100, 600); the shooter, 150 ms away, at the lane's other end (1500, 600).
  auto t = hello(server, "target");
  auto tj = t->create("arena", R"({"bots":0,"tickRate":30,"roundSeconds":900})");
  auto s = hello_via(net.port(), "shooter");
  auto sj = s->join(tj.room_id());
  const uint32_t tid = uint32_t(*json_int(tj.state(), "you")), sid = uint32_t(*json_int(sj.state(), "you"));
  ArenaView tv(*t, tj.room_id(), 30), sv(*s, sj.room_id(), 30);

  uint32_t tseq = 0, sseq = 0;
  bool strafing = false;
  int8_t dir = 1;
  bool was_alive = true;
  auto next_target_input = Clock::now(), next_shooter_input = Clock::now(), next_shot = Clock::now() + 1s;
  std::map<uint32_t, Shot> shots;  // by input seq
  const int compensated_shots = 20;
  int fired_compensated = 0, fired_plain = 0;
  // A starved machine (the full suite runs two tests at once, Chromium among them) gives fewer
  // clear shots: up to 95 s for 20 (ctest ends an integration test at 120 s; it normally takes
  // about 30), and at least 8 are needed for the ratios below to mean much.
  auto deadline = Clock::now() + 95s;

  while (fired_compensated < compensated_shots && Clock::now() < deadline) {
    // (The C++ client reads nothing within a timeout under 2 ms.)
    while (sv.pump(3ms)) {
    }
    while (tv.pump(2ms)) {
    }
    auto now = Clock::now();

    // The target: back to the lane after a (re)spawn, then up and down it, one input a tick.
    if (now >= next_target_input) {
      next_target_input += std::chrono::microseconds(int64_t(1e6 / hz));
      if (auto me = tv.player(tid)) {
        if (!me->alive) strafing = false;
        Input in{.seq = ++tseq};
        if (me->alive && !was_alive) strafing = false;
        was_alive = me->alive;
        if (!strafing) {
          in.dx = toward(lane_x - me->x);
          in.dy = toward(600 - me->y);
          strafing = in.dx == 0 && in.dy == 0;
        } else {
          if (me->y >= bottom) dir = -1;
          if (me->y <= top) dir = 1;
          in.dx = toward(lane_x - me->x);
          in.dy = dir;
        }
        tv.send(in);
      }
    }

    // The shooter: walk left to x <= 1100, then stand and shoot.
    if (now < next_shooter_input) continue;
    next_shooter_input = now + 33ms;
    auto me = sv.player(sid);
    if (!me) continue;
    if (me->x > 1100) {
      sv.send({.seq = ++sseq, .dx = -1, .render_tick = sv.render_tick()});
      continue;
    }
    if (now < next_shot) continue;
    // What the shooter draws: the target at the render tick, moving steadily along the lane.
    double rt = sv.render_tick();
    auto seen = sv.interpolated(tid, rt), before = sv.interpolated(tid, rt - 2);
    if (!seen || !before || !seen->alive || !before->alive) continue;
    bool on_lane = std::abs(seen->x - lane_x) < 6 && seen->y > top + 40 && seen->y < bottom - 40;
    bool moving = std::abs(seen->y - before->y) > 2 * 220 / hz * 0.8;
    if (!on_lane || !moving) continue;
    Shot shot;
    shot.seq = ++sseq;
    shot.aim = std::atan2(seen->y - me->y, seen->x - me->x);
    // Every third shot claims the present (no compensation): the server clamps a future tick
    // to its newest, so "now + one way" is the present wherever the estimate lands.
    shot.compensated = (fired_compensated + fired_plain) % 3 != 2;
    shot.render_tick = shot.compensated ? rt : rt + (100 + 75) * hz / 1000;
    sv.send({.seq = shot.seq, .buttons = 1, .aim = float(shot.aim), .render_tick = shot.render_tick});
    shots[shot.seq] = shot;
    (shot.compensated ? fired_compensated : fired_plain)++;
    next_shot = now + 400ms;  // above the fire interval (267 ms) even with jitter
  }
  ASSERT_GE(fired_compensated, 8) << "the shooter got too few clear shots";
  // The last shots' events.
  auto settle = Clock::now() + 1500ms;
  while (Clock::now() < settle) {
    sv.pump(5ms);
    tv.pump(2ms);
  }

  int hits = 0, plain_hits = 0, present_would_hit = 0, counted = 0, counted_plain = 0, events = 0;
  double rewind_min = 1e9, rewind_max = 0, rewind_sum = 0;
  std::vector<double> rewinds;
  for (const auto& e : sv.events) {
    if (e.find(R"("t":"shot")") == std::string::npos || json_int(e, "shooter") != int64_t(sid)) continue;
    ++events;
    auto it = shots.find(uint32_t(*json_int(e, "seq")));
    ASSERT_NE(it, shots.end()) << e;
    const Shot& shot = it->second;
    uint32_t tick = uint32_t(*json_int(e, "tick"));
    double at = number_after(e, "at");
    bool hit = json_int(e, "target") == int64_t(tid);
    // Where the target really was when the server handled the shot (its own decoded state):
    // the newest tick recorded before the shot's tick (the tick's own state shows the shot's
    // effect, e.g. the target dead).
    auto truth = tv.player_at(tid, tick - 1);
    if (!truth || !truth->alive) continue;  // killed by an earlier shot: nothing to hit
    auto from = e.find("\"from\":[");
    double fx = std::strtod(e.c_str() + from + 8, nullptr);
    double fy = std::strtod(e.c_str() + e.find(',', from + 8) + 1, nullptr);
    if (shot.compensated) {
      ++counted;
      hits += hit;
      present_would_hit += ray_hits(fx, fy, shot.aim, truth->x, truth->y);
      double rewind_ms = (tick - at) * 1000 / hz;
      rewind_min = std::min(rewind_min, rewind_ms), rewind_max = std::max(rewind_max, rewind_ms);
      rewind_sum += rewind_ms;
      rewinds.push_back(rewind_ms);
    } else {
      ++counted_plain;
      plain_hits += hit;
    }
  }
  std::printf("compensated: %d/%d hit (present positions would hit %d); uncompensated: %d/%d hit; "
              "rewind %.0f-%.0f ms, mean %.0f ms; shot events %d\n",
              hits, counted, present_would_hit, plain_hits, counted_plain, rewind_min, rewind_max,
              counted ? rewind_sum / counted : 0.0, events);
  // Bounds that hold on a starved machine too (ASan under load: a shot can reach the server
  // inside the previous one's fire interval, or land just after the target turned at a lane end).
  EXPECT_GE(counted, fired_compensated * 3 / 4) << "shot events missing";
  EXPECT_GE(hits * 10, counted * 9) << "compensated shots must hit as the shooter saw the target";
  EXPECT_LE(present_would_hit * 4, counted) << "the control: the target was elsewhere at the shot's arrival";
  EXPECT_GE(counted_plain, 3);
  EXPECT_LE(plain_hits * 10, counted_plain) << "uncompensated shots at a moving target must miss";
  // The rewinds are the round trip plus the interpolation delay: 150 + 100 ms, give or take
  // jitter, the tick the shot waited for and the shooter's clock estimate; under the 350 ms cap.
  // The median, not the extremes: a starved test process misjudges the odd shot's clock.
  ASSERT_FALSE(rewinds.empty());
  std::nth_element(rewinds.begin(), rewinds.begin() + rewinds.size() / 2, rewinds.end());
  double median = rewinds[rewinds.size() / 2];
  EXPECT_GT(median, 150);
  EXPECT_LT(median, 350);
  // Every hit was told to the shooter, and four hits kill.
  int hit_events = 0, kills = 0;
  for (const auto& e : sv.events) {
    if (e.find(R"("t":"hit")") != std::string::npos && json_int(e, "shooter") == int64_t(sid)) ++hit_events;
    if (e.find(R"("t":"kill")") != std::string::npos && json_int(e, "killer") == int64_t(sid)) ++kills;
  }
  EXPECT_GE(hit_events, hits + plain_hits);
  EXPECT_GE(kills, hits / 4 - 1);
}

}  // namespace craft::testing
