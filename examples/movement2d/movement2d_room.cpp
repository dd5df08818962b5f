#include "movement2d/movement2d_room.hpp"

#include "example_rooms.hpp"
#include "arena/arena_room.hpp"

#include <craft/json.hpp>
#include <craft/room_options.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace craft::examples {

std::optional<Input> parse_input(std::string_view data) {
  if (data.size() != 6) return std::nullopt;
  Input in;
  auto* p = reinterpret_cast<const uint8_t*>(data.data());
  in.seq = uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
  in.dx = static_cast<int8_t>(p[4]);
  in.dy = static_cast<int8_t>(p[5]);
  if (in.dx < -1 || in.dx > 1 || in.dy < -1 || in.dy > 1) return std::nullopt;
  return in;
}

std::string encode_input(const Input& input) {
  std::string s(6, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>((input.seq >> (8 * i)) & 0xff);
  s[4] = static_cast<char>(input.dx);
  s[5] = static_cast<char>(input.dy);
  return s;
}

Position step(Position p, const Input& input, float dt, const MovementRules& rules) {
  float dx = input.dx, dy = input.dy;
  float length = std::sqrt(dx * dx + dy * dy);
  if (length > 0) {
    // Normalized so a diagonal is no faster than a straight line.
    p.x += dx / length * rules.speed * dt;
    p.y += dy / length * rules.speed * dt;
  }
  return inside(p, rules);
}

Position inside(Position p, const MovementRules& rules) {
  const float half = rules.player_size / 2;
  p.x = std::clamp(p.x, half, std::max(half, rules.world_width - half));
  p.y = std::clamp(p.y, half, std::max(half, rules.world_height - half));
  return p;
}

void Movement2dRoom::on_create(std::string_view text) {
  // Options come from a client: parsed by RoomOptions (bounded, no regex, nothing throws),
  // and a bad value refuses the room (BAD_REQUEST to the creator) instead of being guessed at.
  RoomOptions options(text);
  auto tick_rate = options.whole_number("tickRate", 1, 240);
  // The arena page's region and mode (a match's room gets the matched tickets' properties
  // as its options): listing metadata, so the live room list says which arena this is.
  auto region = options.text("region", max_label_bytes);
  auto mode = options.text("mode", max_label_bytes);
  auto state = options.text("state", 16);
  if (!options.ok()) return reject_create("movement2d: " + options.error());
  if (state && *state != "json" && *state != "replicated")
    return reject_create("movement2d: option state must be \"json\" or \"replicated\"");
  if (tick_rate) rules_.tick_rate_hz = static_cast<uint32_t>(*tick_rate);
  if (region) set_metadata("region", *region);
  if (mode) set_metadata("mode", *mode);
  set_tick_rate(rules_.tick_rate_hz);
  // Replicated state is the default since the pages decode it (view.js); "json" keeps the
  // JSON snapshot broadcast for clients that read it (bench/movement2d-bytes.mjs compares both,
  // craft-bench's tick scenario times it).
  if (!state || *state == "replicated") replicate_state();
}

void Movement2dRoom::replicate_state() {
  replicator_ = std::make_unique<sync::Replicator>(registry_);
  // 0.01 units: a square is 20 wide, so the picture and the prediction's replay (which starts
  // from the server's position) are exact to well under a pixel; 17 bits an axis, sent only
  // for an axis that changed.
  replicator_->replicate<Position>(
      "pos", sync::Fields<Position>{}
                 .number("x", &Position::x, 0, rules_.world_width, 0.01)
                 .number("y", &Position::y, 0, rules_.world_height, 0.01));
  // seq: the last input applied, for reconciliation; id: the player's session id (which
  // square is yours), sent once; name and dropped change rarely.
  replicator_->replicate<Player>("player", sync::Fields<Player>{}
                                               .integer("id", &Player::id, 0, 4'294'967'295)
                                               .integer("seq", &Player::applied_seq, 0, 4'294'967'295)
                                               .boolean("dropped", &Player::dropped)
                                               .text("name", &Player::name, 32));
  set_replicator(replicator_.get());
}

Position Movement2dRoom::spawn_point(SessionId id) const {
  // Deterministic, spread out, inside the world.
  uint64_t h = id * 0x9E3779B97F4A7C15ull;
  float x = 50 + static_cast<float>(h % 700);
  float y = 50 + static_cast<float>((h >> 20) % 500);
  return inside({x, y}, rules_);
}

JoinResult Movement2dRoom::on_join(const Client& client, std::string_view) {
  auto e = registry_.create();
  registry_.add<Position>(e, spawn_point(client.id));
  registry_.add<Player>(e, Player{client.id, client.name});
  entities_[client.id] = e;
  join_order_.push_back(client.id);
  return JoinResult::accept();
}

void Movement2dRoom::on_leave(const Client& client) {
  auto it = entities_.find(client.id);
  if (it == entities_.end()) return;
  registry_.destroy(it->second);
  entities_.erase(it);
  join_order_.erase(std::remove(join_order_.begin(), join_order_.end(), client.id), join_order_.end());
}

Duration Movement2dRoom::on_drop(const Client& client, Duration hold) {
  auto it = entities_.find(client.id);
  if (it == entities_.end()) return hold;
  auto* p = registry_.get<Player>(it->second);
  p->dropped = true;
  // Inputs already queued are discarded, not played out while nobody steers; acknowledging
  // them (applied_seq) keeps the resumed page from predicting them forever.
  p->queued = 0;
  p->applied_seq = p->last_seq;
  return hold;
}

void Movement2dRoom::on_resume(const Client& client) {
  auto it = entities_.find(client.id);
  if (it != entities_.end()) registry_.get<Player>(it->second)->dropped = false;
}

std::optional<std::string> Movement2dRoom::accept_input(SessionId player, std::string_view data) {
  auto it = entities_.find(player);
  if (it == entities_.end()) return "not a player";
  auto input = parse_input(data);
  if (!input) return "an input is 6 bytes: uint32 LE seq, int8 dx, int8 dy with dx, dy in {-1, 0, 1}";
  auto* p = registry_.get<Player>(it->second);
  if (input->seq <= p->last_seq) return "input seq must increase";
  if (p->queued >= std::min<uint32_t>(rules_.max_queued_inputs, static_cast<uint32_t>(p->queue.size()))) {
    // Dropped, but processed: its seq is acknowledged once the queue drains, or the page
    // would keep predicting it forever (Gambetta's reconciliation acks every input handled).
    p->last_seq = input->seq;
    return "too many inputs queued";
  }
  p->queue[p->queued++] = *input;
  p->last_seq = input->seq;
  return std::nullopt;
}

void Movement2dRoom::on_message(const Client& from, const Message& message) {
  if (message.op != op_input) {
    reply_error(MessageError::bad_request, "movement2d takes op 1 (input) only");
    return;
  }
  if (auto error = accept_input(from.id, message.data)) reply_error(MessageError::bad_request, *error);
}

void Movement2dRoom::simulate(float dt) {
  registry_.each<Position, Player>([&](ecs::Entity, Position& pos, Player& player) {
    uint32_t n = std::min(player.queued, rules_.inputs_per_tick);
    for (uint32_t i = 0; i < n; ++i) {
      pos = step(pos, player.queue[i], dt, rules_);
      player.applied_seq = player.queue[i].seq;
    }
    std::move(player.queue.begin() + n, player.queue.begin() + player.queued, player.queue.begin());
    player.queued -= n;
    if (player.queued == 0) player.applied_seq = player.last_seq;  // dropped inputs included
  });
  ++tick_;
}

void Movement2dRoom::on_tick(Duration dt) {
  simulate(std::chrono::duration<float>(dt).count());
  // Replicated: craft sends the snapshots after this tick (Room::set_replicator).
  if (!replicator_ && !join_order_.empty()) broadcast(op_snapshot, snapshot_json());
}


namespace {
// Like printf's %.2f, at a fraction of its cost: snapshots go out every tick.
void append_fixed2(std::string& out, double v) {
  char buf[32];
  auto end = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 2).ptr;
  out.append(buf, end);
}
}  // namespace

std::string Movement2dRoom::snapshot_json() const {
  std::string out = "{\"t\":" + std::to_string(wall_time_us() / 1000) + ",\"tick\":" + std::to_string(tick_) +
                    ",\"players\":[";
  bool first = true;
  for (auto id : join_order_) {
    auto e = entities_.at(id);
    const auto* pos = registry_.get<Position>(e);
    const auto* player = registry_.get<Player>(e);
    if (!first) out += ',';
    first = false;
    out += "{\"id\":\"" + std::to_string(id) + "\",\"name\":";
    json::append_string(out, player->name);
    out += ",\"x\":";
    append_fixed2(out, pos->x);
    out += ",\"y\":";
    append_fixed2(out, pos->y);
    out += ",\"seq\":" + std::to_string(player->applied_seq);
    if (player->dropped) out += ",\"dropped\":true";
    out += '}';
  }
  out += "]}";
  return out;
}

std::string Movement2dRoom::join_state(const Client&) {
  // "state" tells the page where the next snapshots come from: room.replicated or op 0 JSON.
  char head[192];
  std::snprintf(head, sizeof head,
                "{\"world\":{\"w\":%g,\"h\":%g},\"size\":%g,\"speed\":%g,\"tickRate\":%u,\"state\":\"%s\",\"snapshot\":",
                rules_.world_width, rules_.world_height, rules_.player_size, rules_.speed, rules_.tick_rate_hz,
                replicator_ ? "replicated" : "json");
  return head + snapshot_json() + "}";
}

const Position* Movement2dRoom::position_of(SessionId player) const {
  auto it = entities_.find(player);
  if (it == entities_.end()) return nullptr;
  return registry_.get<Position>(it->second);
}

void define_example_rooms(Server& server) {
  // join_or_create("movement2d", {"region": "eu", "mode": "duel"}) lands in a room of that
  // region and mode (or creates one with them as metadata), like a match does.
  server.define_room<Movement2dRoom>("movement2d", RoomTypeOptions{.filter_by = {"region", "mode"}});
  server.define_room<arena::ArenaRoom>("arena");
}

}  // namespace craft::examples
