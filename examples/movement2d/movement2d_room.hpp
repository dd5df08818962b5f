// A server-authoritative 2D movement room: clients send inputs (direction + sequence
// number), the room integrates positions at a fixed rate with a speed limit and world
// bounds, and sends every player's position with the last input it applied (replicated state,
// or JSON snapshots with {"state": "json"}).
// Wire format: examples/movement2d/README.md.
#pragma once
#include <craft/ecs.hpp>
#include <craft/replication.hpp>
#include <craft/room.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

namespace craft::examples {

struct MovementRules {
  float world_width = 800;
  float world_height = 600;
  // A player is a square this wide, centred on its position: positions are clamped so the
  // whole square stays inside the world, not just its centre.
  float player_size = 20;
  float speed = 200;             // units per second: the speed limit
  uint32_t tick_rate_hz = 30;
  uint32_t inputs_per_tick = 3;  // applied per player per tick at most
  uint32_t max_queued_inputs = 8;
};

struct Input {
  uint32_t seq = 0;
  int8_t dx = 0;
  int8_t dy = 0;
};

// Op 1 payload: uint32 little-endian seq, int8 dx, int8 dy. Nothing else is an input.
std::optional<Input> parse_input(std::string_view data);
std::string encode_input(const Input& input);

struct Position {
  float x = 0;
  float y = 0;
};

// One fixed step of one input: the pure heart of the simulation, shared with clients'
// prediction (the page does the same arithmetic).
Position step(Position p, const Input& input, float dt, const MovementRules& rules);
// p moved to the nearest position whose whole square (player_size) is inside the world.
Position inside(Position p, const MovementRules& rules);

class Movement2dRoom : public Room {
 public:
  static constexpr uint32_t op_input = 1;
  static constexpr uint32_t op_snapshot = 0;  // the SDK's state convention

  static constexpr size_t max_label_bytes = 32;  // options region and mode, in bytes of UTF-8
  explicit Movement2dRoom(MovementRules rules = {}) : rules_(rules) {}

  // Options (a JSON object, README.md): {"tickRate": 1-240} overrides the default rate;
  // {"state": "replicated"} (the default) sends replicated state (docs/protocol.md §4.20),
  // {"state": "json"} the JSON snapshot broadcast instead; anything else in the object is
  // ignored; a bad value refuses the room (BAD_REQUEST).
  void on_create(std::string_view options) override;
  JoinResult on_join(const Client& client, std::string_view options) override;
  std::string join_state(const Client& client) override;
  void on_leave(const Client& client) override;
  // A player whose connection dropped keeps its seat for the server's resume window
  // (docs/protocol.md §3.2) and stands still meanwhile; snapshots mark it "dropped" so pages
  // can grey it instead of showing a live player who does not answer.
  Duration on_drop(const Client& client, Duration hold) override;
  void on_resume(const Client& client) override;
  void on_message(const Client& from, const Message& message) override;
  void on_tick(Duration dt) override;

  // Queues an input after validating it; returns the error text when rejected.
  std::optional<std::string> accept_input(SessionId player, std::string_view data);
  // Applies up to inputs_per_tick queued inputs for every player.
  void simulate(float dt);
  std::string snapshot_json() const;
  const Position* position_of(SessionId player) const;
  uint64_t tick_count() const { return tick_; }
  bool replicated() const { return replicator_ != nullptr; }

 private:
  struct Player {
    SessionId id = 0;
    std::string name;
    uint32_t last_seq = 0;       // last accepted or dropped (queue full)
    uint32_t applied_seq = 0;    // last applied; after a drained queue, last_seq
    std::array<Input, 8> queue{};
    uint32_t queued = 0;
    bool dropped = false;        // connection lost, seat held: frozen until it resumes
  };
  Position spawn_point(SessionId id) const;

  // The replicated schema (README.md "Replicated state"): component "pos" (Position) and
  // "player" (id, seq, dropped, name of Player).
  void replicate_state();

  MovementRules rules_;
  ecs::Registry registry_;
  // Unless {"state": "json"}: reads registry_, so declared after it.
  std::unique_ptr<sync::Replicator> replicator_;
  std::unordered_map<SessionId, ecs::Entity> entities_;
  std::vector<SessionId> join_order_;
  uint64_t tick_ = 0;
};

}  // namespace craft::examples
