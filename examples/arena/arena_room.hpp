// The `arena` room: a top-down shooter for up to 32 players and bots on replicated state
// (craft/replication.hpp), with lag-compensated hitscan (craft/lag_compensation.hpp): a shot
// is tested against the other players as the shooter saw them, at the render tick its input
// carries. Rounds end with each logged-in player's kills written to the "arena_kills"
// leaderboard. Wire format and rules: examples/arena/README.md.
#pragma once
#include "arena/arena_rules.hpp"

#include <craft/ecs.hpp>
#include <craft/lag_compensation.hpp>
#include <craft/replication.hpp>
#include <craft/room.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace craft::examples::arena {

struct Options {
  uint32_t bots = 7;             // 0-31: bots kept in the room (fewer when humans fill it)
  uint32_t round_seconds = 180;  // 10-900
  uint32_t tick_rate = 30;       // 10-60 Hz
  uint32_t seed = 1;             // the bots' random choices (0 - 2^32-1)
};

// What the room does with a shot; tunables of the game, not of the network.
struct Rules {
  static constexpr uint32_t max_players = 32;  // humans + bots
  static constexpr int max_hp = 100;
  static constexpr int damage = 25;            // four hits kill
  // A shot reaches as far as a player sees (its area of interest): nobody is hit by what its
  // shooter cannot be sent. About a screen and a half.
  static constexpr float interest_radius = 1000;
  static constexpr float range = interest_radius;
  static constexpr uint32_t fire_interval_ms = 250;
  static constexpr uint32_t respawn_ms = 2000;
  static constexpr uint32_t intermission_ms = 5000;  // round over -> next round
  // The oldest render tick a shot may claim: 150 ms RTT + 100 ms interpolation + a tick, with
  // room for jitter. Older claims are tested at the oldest kept tick (docs/lag-compensation.md).
  static constexpr uint32_t max_rewind_ms = 350;
  static constexpr uint32_t inputs_per_tick = 3;
  static constexpr uint32_t max_queued_inputs = 8;
  static constexpr uint32_t name_bytes = 16;
};

class ArenaRoom : public Room {
 public:
  static constexpr uint32_t op_input = 1;
  static constexpr uint32_t op_event = 2;
  static constexpr const char* leaderboard = "arena_kills";

  void on_create(std::string_view options) override;
  JoinResult on_join(const Client& client, std::string_view options) override;
  std::string join_state(const Client& client) override;
  void on_leave(const Client& client) override;
  Duration on_drop(const Client& client, Duration hold) override;
  void on_message(const Client& from, const Message& message) override;
  void on_tick(Duration dt) override;

  // The replicated component, one per player (human or bot); README.md "Replicated state".
  struct Player {
    uint32_t id = 0;          // the room's player id: join_state "you", events' ids
    sync::Vec2 pos;
    float aim = 0;            // radians, (-pi, pi]
    int32_t hp = Rules::max_hp;
    bool alive = true;
    std::string name;
    bool bot = false;
    int32_t kills = 0;
    int32_t deaths = 0;
    uint32_t last_input = 0;  // the seq of the last input applied (prediction's reconciliation)
  };

 private:
  // A player's server-only part (not replicated): its inputs, timers and, for a bot, its plan.
  struct Seat {
    std::optional<SessionId> session;  // a human's; none for a bot
    std::array<Input, Rules::max_queued_inputs> queue{};
    uint32_t queued = 0;
    uint32_t last_seq = 0;             // the last accepted (or dropped: queue full)
    uint32_t step_credit = 0;          // steps it may take now: +1 a tick, at most inputs_per_tick
    uint64_t next_fire_tick = 0;
    uint64_t respawn_tick = 0;         // dead: when it comes back
    Point goal;                        // bot: where it walks
    uint32_t stuck_ticks = 0;          // bot: ticks without progress towards goal
    uint64_t next_shot_plan = 0;       // bot: no shot before this tick (reaction time)
  };
  struct Shot {
    ecs::Entity shooter;
    Point origin;
    float aim = 0;
    double render_tick = 0;
    uint32_t seq = 0;
  };

  void replicate_state();
  ecs::Entity add_player(std::string name, bool bot, std::optional<SessionId> session);
  void remove_player(ecs::Entity e);
  void fill_bots();
  Point pick_spawn() const;
  void respawn(ecs::Entity e);
  void apply_inputs(float dt);
  void think_bot(ecs::Entity e, Player& p, Seat& seat, float dt);  // arena_bots.cpp
  uint32_t bot_count() const;
  void resolve(const Shot& shot);
  void end_round();
  void start_round();
  std::string round_json() const;
  void send_near(Point where, const std::string& event);

  Options options_;
  uint32_t fire_interval_ticks_ = 1, respawn_ticks_ = 1, intermission_ticks_ = 1;
  ecs::Registry registry_;
  std::unique_ptr<sync::Replicator> replicator_;  // reads registry_: declared after it
  std::unique_ptr<sync::HitHistory> history_;
  std::unordered_map<SessionId, ecs::Entity> humans_;
  std::vector<ecs::Entity> players_;  // humans and bots in join order: every loop runs in it (determinism)
  uint32_t next_id_ = 1;
  uint64_t tick_ = 0;
  uint32_t round_ = 1;
  bool playing_ = true;
  uint64_t round_ends_at_ = 0;   // playing: the tick the round ends; over: the next round starts
  std::mt19937 rng_;
  std::vector<Shot> shots_;      // this tick's, resolved after everyone moved
  uint64_t rejected_inputs_ = 0;

 public:
  // For tests and the page's README: counters of what the room refused.
  uint64_t rejected_inputs() const { return rejected_inputs_; }
};

}  // namespace craft::examples::arena
