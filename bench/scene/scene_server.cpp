// craft-scene-server: craft's side of the issue-13 scene (docs/benchmarks.md "State sync scene
// (issue 13)"), started, measured and stopped by bench/scene/run-scene.mjs. Bench-only: the
// room type "scene" lives here, not in craftd's defaults.
//
//   craft-scene-server [craftd's flags, e.g. --listen 127.0.0.1 --http-port 0 --tcp-port 0]
//
// stdout: "listening <http port>" once listening; then one JSON line per "stats" line on stdin:
//   {"pid","ticks","rooms","clients","entities"} (cumulative room ticks summed over rooms, and
//   the rooms, players and entities alive now). EOF on stdin, SIGINT or SIGTERM stop the server.
//
// The scene is the one of bench/peers/colyseus/scene.mjs, step for step: rooms of `players`
// players plus `bots` server-side bots in 800 x 600; every 50 ms tick each entity's heading
// (one byte, 256 steps a turn) turns by its turn (bots: a uniform integer in [-10, 10] drawn
// here; players: the last turn their client sent), it moves 100 px/s x 50 ms = 5 px along the
// heading and bounces off the walls (heading mirrored). State goes out at 20 Hz through
// craft's Replicator (craft/replication.hpp): one component "body" {x, y, heading}.
#include <craft/config_loader.hpp>
#include <craft/ecs.hpp>
#include <craft/replication.hpp>
#include <craft/room.hpp>
#include <craft/room_options.hpp>
#include <craft/server.hpp>
#include <craft/signals.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <numbers>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <unordered_map>

namespace {

constexpr float arena_w = 800, arena_h = 600;
constexpr float speed = 100;        // px/s
constexpr uint32_t tick_hz = 20;    // simulation and snapshots
constexpr float dt = 1.0f / tick_hz;
constexpr int turn_max = 10;        // steps of 1/256 turn per tick
// 1/64 px: the quantum of Colyseus' hand-quantized "q16" typing, so both servers' positions are
// equally exact; far below a pixel, so interpolating renderers (even zoomed 4x) see no steps.
// 800 x 64 = 51,200 and 600 x 64 = 38,400 steps: 16 bits an axis.
constexpr double position_quantum = 1.0 / 64;

// Totals over every room, for the harness's "stats" line (rooms run on the server's shards).
std::atomic<uint64_t> total_ticks{0};
std::atomic<int64_t> live_rooms{0}, live_clients{0}, live_entities{0};
std::atomic<uint64_t> room_serial{0};

struct Body {
  float x = 0, y = 0;
  uint8_t heading = 0;  // 256 steps a turn, as Colyseus' uint8
};
struct Mover {
  int turn = 0;      // this tick's turn, in [-turn_max, turn_max]
  bool bot = true;   // bots draw their turn on the server; players' come from their inputs
};

// bench/peers/colyseus/scene.mjs step(): turn, move, bounce.
void step(Body& b, int turn) {
  int h = (b.heading + turn + 256) & 255;
  const float d = speed * dt;
  const double a = h * (2 * std::numbers::pi / 256);
  float x = b.x + static_cast<float>(std::cos(a)) * d;
  float y = b.y + static_cast<float>(std::sin(a)) * d;
  if (x < 0 || x > arena_w) {
    h = (128 - h + 256) & 255;
    x = x < 0 ? -x : 2 * arena_w - x;
  }
  if (y < 0 || y > arena_h) {
    h = (256 - h) & 255;
    y = y < 0 ? -y : 2 * arena_h - y;
  }
  b.x = x, b.y = y, b.heading = static_cast<uint8_t>(h);
}

class SceneRoom : public craft::Room {
 public:
  static constexpr uint32_t op_input = 1;  // payload: one byte, the turn as int8

  void on_create(std::string_view text) override {
    craft::RoomOptions options(text);
    auto bots = options.whole_number("bots", 0, 1000);
    auto radius = options.number("radius", 0, 2000);
    auto players = options.whole_number("players", 1, 100);
    (void)options.text("typing", 16);  // Colyseus' typing option: craft's typing is fixed (above)
    if (!options.ok()) return reject_create("scene: " + options.error());
    radius_ = static_cast<float>(radius.value_or(0));
    set_tick_rate(tick_hz);
    set_max_clients(static_cast<uint32_t>(players.value_or(10)));
    // Seeded per room, not from a clock: a run's bots differ between rooms, not between runs.
    rng_.seed(static_cast<uint32_t>(0x5cE4e + room_serial.fetch_add(1)));
    sync_.replicate<Body>("body", craft::sync::Fields<Body>{}
                                      .number("x", &Body::x, 0, arena_w, position_quantum)
                                      .number("y", &Body::y, 0, arena_h, position_quantum)
                                      .integer("heading", &Body::heading, 0, 255));
    sync_.position_from<Body>([](const Body& b) { return craft::sync::Vec3{b.x, b.y, 0}; });
    for (int64_t i = 0; i < bots.value_or(0); ++i) spawn(true);
    set_replicator(&sync_);
    ++live_rooms;
  }

  craft::JoinResult on_join(const craft::Client& client, std::string_view) override {
    auto e = spawn(false);
    players_[client.id] = e;
    // Interest: the entities within radius of the player's own entity (a quarter of the arena
    // in the bots-aoi scene); without a radius a player sees every entity.
    if (radius_ > 0) sync_.set_interest(client.id, e, radius_);
    ++live_clients;
    return craft::JoinResult::accept();
  }

  void on_leave(const craft::Client& client) override {
    auto it = players_.find(client.id);
    if (it == players_.end()) return;
    world_.destroy(it->second);
    players_.erase(it);
    --live_clients;
    --live_entities;
  }

  void on_message(const craft::Client& from, const craft::Message& message) override {
    // Hostile input: exactly one byte, clamped (as Colyseus' room clamps its turn).
    if (message.op != op_input || message.data.size() != 1)
      return reply_error(craft::MessageError::bad_request, "scene takes op 1: one byte, the turn (int8)");
    auto it = players_.find(from.id);
    if (it == players_.end()) return;
    int turn = static_cast<int8_t>(message.data[0]);
    world_.get<Mover>(it->second)->turn = std::clamp(turn, -turn_max, turn_max);
  }

  void on_tick(craft::Duration) override {
    // A fixed 50 ms step, as Colyseus' setTimestep(tick, 50) scene does.
    std::uniform_int_distribution<int> turn(-turn_max, turn_max);
    world_.each<Body, Mover>([&](craft::ecs::Entity, Body& b, Mover& m) {
      if (m.bot) m.turn = turn(rng_);
      step(b, m.turn);
    });
    ++total_ticks;
  }

  void on_dispose() override {
    live_entities -= static_cast<int64_t>(players_.size()) + bots_;
    live_clients -= static_cast<int64_t>(players_.size());
    --live_rooms;
  }

 private:
  craft::ecs::Entity spawn(bool bot) {
    std::uniform_real_distribution<float> ux(0, arena_w), uy(0, arena_h);
    std::uniform_int_distribution<int> uh(0, 255);
    auto e = world_.create();
    world_.add<Body>(e, Body{ux(rng_), uy(rng_), static_cast<uint8_t>(uh(rng_))});
    world_.add<Mover>(e, Mover{0, bot});
    if (bot) ++bots_;
    ++live_entities;
    return e;
  }

  craft::ecs::Registry world_;
  craft::sync::Replicator sync_{world_};  // reads world_, so declared after it
  std::unordered_map<craft::SessionId, craft::ecs::Entity> players_;
  std::mt19937 rng_;
  float radius_ = 0;
  int64_t bots_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  craft::LoadOptions options;
  options.program = "craft-scene-server";
  auto loaded = craft::load_config(argc, argv, options);
  if (loaded.exit_now) {
    (loaded.exit_code == 0 ? std::cout : std::cerr) << loaded.output;
    return loaded.exit_code;
  }
  try {
    craft::SignalWaiter signals({SIGINT, SIGTERM});  // before any thread starts
    craft::Server server(loaded.config);
    server.define_room<SceneRoom>("scene");
    server.start();
    std::printf("listening %u\n", static_cast<unsigned>(server.http_port()));
    std::fflush(stdout);
    // The harness's control channel: "stats" answers the totals; EOF stops the server.
    std::thread([] {
      std::string line;
      while (std::getline(std::cin, line)) {
        if (line == "stats") {
          std::printf("{\"pid\":%d,\"ticks\":%llu,\"rooms\":%lld,\"clients\":%lld,\"entities\":%lld}\n",
                      static_cast<int>(getpid()), static_cast<unsigned long long>(total_ticks.load()),
                      static_cast<long long>(live_rooms.load()), static_cast<long long>(live_clients.load()),
                      static_cast<long long>(live_entities.load()));
          std::fflush(stdout);
        }
      }
      kill(getpid(), SIGTERM);
    }).detach();
    signals.wait();
    server.stop();
    server.wait();
  } catch (const std::exception& e) {
    std::cerr << "craft-scene-server: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
