#include "arena/arena_room.hpp"

#include <craft/json.hpp>
#include <craft/room_options.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>

namespace craft::examples::arena {

using namespace std::chrono_literals;

namespace {
// At most `max` bytes of UTF-8, cut before a continuation byte (what the replicated text
// field does too, so events and state spell a name the same way).
std::string cut_name(std::string_view name, size_t max) {
  if (name.size() <= max) return std::string(name);
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(name[n]) & 0xC0) == 0x80) --n;
  return std::string(name.substr(0, n));
}
void append_number(std::string& out, double v) {
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%.2f", v);
  out.append(buf, n > 0 ? size_t(n) : 0);
}
}  // namespace

void ArenaRoom::on_create(std::string_view text) {
  // Options come from a client: bounded and typed by RoomOptions, a bad value refuses the room.
  RoomOptions o(text);
  auto bots = o.whole_number("bots", 0, Rules::max_players - 1);
  auto round_seconds = o.whole_number("roundSeconds", 10, 900);
  auto tick_rate = o.whole_number("tickRate", 10, 60);
  auto seed = o.whole_number("seed", 0, 4'294'967'295);
  if (!o.ok()) return reject_create("arena: " + o.error());
  if (bots) options_.bots = static_cast<uint32_t>(*bots);
  if (round_seconds) options_.round_seconds = static_cast<uint32_t>(*round_seconds);
  if (tick_rate) options_.tick_rate = static_cast<uint32_t>(*tick_rate);
  if (seed) options_.seed = static_cast<uint32_t>(*seed);
  const uint32_t hz = options_.tick_rate;
  fire_interval_ticks_ = sync::ticks_for(std::chrono::milliseconds(Rules::fire_interval_ms), hz);
  respawn_ticks_ = sync::ticks_for(std::chrono::milliseconds(Rules::respawn_ms), hz);
  intermission_ticks_ = sync::ticks_for(std::chrono::milliseconds(Rules::intermission_ms), hz);
  history_ = std::make_unique<sync::HitHistory>(sync::HitHistoryOptions{
      .max_rewind_ticks = sync::ticks_for(std::chrono::milliseconds(Rules::max_rewind_ms), hz),
      .max_entities = 2 * Rules::max_players});
  rng_.seed(options_.seed);
  set_tick_rate(hz);
  set_max_clients(Rules::max_players);
  replicate_state();
  round_ends_at_ = uint64_t(options_.round_seconds) * hz;
  fill_bots();
}

void ArenaRoom::replicate_state() {
  replicator_ = std::make_unique<sync::Replicator>(registry_);
  replicator_->replicate<Player>(
      "player", sync::Fields<Player>{}
                    .integer("id", &Player::id, 0, 4'294'967'295)
                    // 1/16 unit: 15 bits an axis, far below a pixel; y shares x's range (0-1600).
                    .vec2("pos", &Player::pos, 0, world_width, 1.0 / 16)
                    // 1/512 rad (0.11 degrees): 12 bits.
                    .number("aim", &Player::aim, -std::numbers::pi, std::numbers::pi, 1.0 / 512)
                    .integer("hp", &Player::hp, 0, Rules::max_hp)
                    .boolean("alive", &Player::alive)
                    .text("name", &Player::name, Rules::name_bytes)
                    .boolean("bot", &Player::bot)
                    .integer("kills", &Player::kills, 0, 9999)
                    .integer("deaths", &Player::deaths, 0, 9999)
                    .integer("last_input", &Player::last_input, 0, 4'294'967'295));
  replicator_->position_from<Player>([](const Player& p) { return sync::Vec3{p.pos.x, p.pos.y, 0}; });
  set_replicator(replicator_.get());
}

uint32_t ArenaRoom::bot_count() const { return static_cast<uint32_t>(players_.size() - humans_.size()); }

ecs::Entity ArenaRoom::add_player(std::string name, bool bot, std::optional<SessionId> session) {
  auto e = registry_.create();
  Player p;
  p.id = next_id_++;
  p.name = name.empty() ? (bot ? "bot-" : "player-") + std::to_string(p.id) : cut_name(name, Rules::name_bytes);
  p.bot = bot;
  registry_.add<Player>(e, std::move(p));
  Seat seat;
  seat.session = session;
  registry_.add<Seat>(e, seat);
  players_.push_back(e);
  respawn(e);
  return e;
}

void ArenaRoom::remove_player(ecs::Entity e) {
  history_->remove(e);
  registry_.destroy(e);
  players_.erase(std::remove(players_.begin(), players_.end(), e), players_.end());
}

void ArenaRoom::fill_bots() {
  // Bots fill up to the option, within the 32 seats; the newest bot leaves first.
  uint32_t want = std::min<uint32_t>(options_.bots, Rules::max_players - static_cast<uint32_t>(humans_.size()));
  while (bot_count() < want) add_player("bot-" + std::to_string(next_id_), true, std::nullopt);
  for (auto it = players_.rbegin(); bot_count() > want && it != players_.rend();) {
    auto e = *it;
    if (registry_.get<Player>(e)->bot) {
      remove_player(e);
      it = players_.rbegin();
    } else {
      ++it;
    }
  }
  // Listings show how many seats bots hold (clients counts the humans).
  set_metadata("bots", double(bot_count()));
}

Point ArenaRoom::pick_spawn() const {
  // The spawn point farthest from every living player (the first one wins a tie). When even
  // that one is taken (more than 8 players), a place on a ring around a spawn point, so
  // nobody appears inside somebody else.
  auto nearest_living = [&](Point s) {
    float nearest = 1e9f;
    for (auto e : players_) {
      const auto* p = registry_.get<Player>(e);
      if (p->alive) nearest = std::min(nearest, std::hypot(p->pos.x - s.x, p->pos.y - s.y));
    }
    return nearest;
  };
  Point best = spawn_points[0];
  float best_d = -1;
  for (const auto& s : spawn_points) {
    if (float d = nearest_living(s); d > best_d) best_d = d, best = s;
  }
  if (best_d >= 4 * player_radius) return best;
  for (float ring : {48.f, 96.f}) {
    for (const auto& s : spawn_points) {
      for (int k = 0; k < 8; ++k) {
        float a = k * std::numbers::pi_v<float> / 4;
        Point c = collide({s.x + ring * std::cos(a), s.y + ring * std::sin(a)});
        if (float d = nearest_living(c); d > best_d) best_d = d, best = c;
      }
    }
  }
  return best;
}

void ArenaRoom::respawn(ecs::Entity e) {
  auto* p = registry_.get<Player>(e);
  auto* seat = registry_.get<Seat>(e);
  p->alive = false;  // not a candidate against itself
  Point s = pick_spawn();
  p->pos = {s.x, s.y};
  p->hp = Rules::max_hp;
  p->alive = true;
  // Face the middle of the map.
  p->aim = normalize_angle(std::atan2(world_height / 2 - s.y, world_width / 2 - s.x));
  seat->respawn_tick = 0;
  seat->goal = s;
  seat->next_shot_plan = tick_ + 1;
  // The history restarts here: no rewound shot interpolates across the teleport.
  history_->remove(e);
}

JoinResult ArenaRoom::on_join(const Client& client, std::string_view) {
  if (humans_.size() >= Rules::max_players) return JoinResult::reject("the arena is full");
  if (players_.size() >= Rules::max_players) {
    // A human takes a bot's seat.
    for (auto it = players_.rbegin(); it != players_.rend(); ++it) {
      if (registry_.get<Player>(*it)->bot) {
        remove_player(*it);
        break;
      }
    }
  }
  auto e = add_player(client.name, false, client.id);
  humans_[client.id] = e;
  set_metadata("bots", double(bot_count()));
  replicator_->set_interest(client.id, e, Rules::interest_radius);
  return JoinResult::accept();
}

void ArenaRoom::on_leave(const Client& client) {
  auto it = humans_.find(client.id);
  if (it == humans_.end()) return;
  remove_player(it->second);
  humans_.erase(it);
  fill_bots();
}

Duration ArenaRoom::on_drop(const Client& client, Duration hold) {
  // Its seat is kept for the resume window; it stands still meanwhile (inputs queued are
  // acknowledged, not played out while nobody steers).
  if (auto it = humans_.find(client.id); it != humans_.end()) {
    auto* seat = registry_.get<Seat>(it->second);
    seat->queued = 0;
    registry_.get<Player>(it->second)->last_input = seat->last_seq;
  }
  return hold;
}

std::string ArenaRoom::round_json() const {
  return "{\"phase\":\"" + std::string(playing_ ? "playing" : "over") + "\",\"endsAtTick\":" +
         std::to_string(round_ends_at_) + ",\"round\":" + std::to_string(round_) + "}";
}

std::string ArenaRoom::join_state(const Client& client) {
  std::string out = "{\"you\":";
  auto it = humans_.find(client.id);
  out += std::to_string(it == humans_.end() ? 0 : registry_.get<Player>(it->second)->id);
  out += ",\"world\":{\"w\":1600,\"h\":1200},\"walls\":[";
  for (size_t i = 0; i < walls.size(); ++i) {
    if (i) out += ',';
    out += '[' + std::to_string(int(walls[i].x)) + ',' + std::to_string(int(walls[i].y)) + ',' +
           std::to_string(int(walls[i].w)) + ',' + std::to_string(int(walls[i].h)) + ']';
  }
  out += "],\"tickRate\":" + std::to_string(options_.tick_rate) + ",\"tick\":" + std::to_string(tick_) +
         ",\"radius\":16,\"speed\":220,\"range\":" + std::to_string(int(Rules::range)) +
         ",\"fireIntervalTicks\":" + std::to_string(fire_interval_ticks_) + ",\"round\":" + round_json() + "}";
  return out;
}

void ArenaRoom::on_message(const Client& from, const Message& message) {
  if (message.op != op_input) {
    ++rejected_inputs_;
    return reply_error(MessageError::bad_request, "arena takes op 1 (input) only");
  }
  auto it = humans_.find(from.id);
  if (it == humans_.end()) return;
  const char* why = nullptr;
  auto input = parse_input(message.data, &why);
  if (!input) {
    ++rejected_inputs_;
    return reply_error(MessageError::bad_request, why ? why : "bad input");
  }
  auto* seat = registry_.get<Seat>(it->second);
  if (input->seq <= seat->last_seq) {
    ++rejected_inputs_;
    return reply_error(MessageError::bad_request, "input seq must increase");
  }
  seat->last_seq = input->seq;
  // Past the queue's cap the input is dropped but acknowledged once the queue drains, or the
  // page would keep predicting it (movement2d does the same).
  if (seat->queued < seat->queue.size()) seat->queue[seat->queued++] = *input;
}

void ArenaRoom::apply_inputs(float dt) {
  for (auto e : players_) {
    auto* p = registry_.get<Player>(e);
    auto* seat = registry_.get<Seat>(e);
    if (!seat->session) continue;
    // One step a tick on average: inputs that arrive bunched by jitter catch up (up to
    // inputs_per_tick in one tick), but a client sending faster than the tick rate does not
    // move faster than the speed limit.
    seat->step_credit = std::min(seat->step_credit + 1, Rules::inputs_per_tick);
    uint32_t n = std::min(seat->queued, seat->step_credit);
    seat->step_credit -= n;
    for (uint32_t i = 0; i < n; ++i) {
      const Input& in = seat->queue[i];
      p->last_input = in.seq;
      if (!p->alive) continue;  // a dead player's inputs are acknowledged, not played
      Point at = step({p->pos.x, p->pos.y}, in.dx, in.dy, dt);
      p->pos = {at.x, at.y};
      p->aim = normalize_angle(in.aim);
      if ((in.buttons & button_fire) && playing_ && tick_ >= seat->next_fire_tick) {
        seat->next_fire_tick = tick_ + fire_interval_ticks_;
        shots_.push_back({e, at, p->aim, in.render_tick, in.seq});
      }
    }
    std::move(seat->queue.begin() + n, seat->queue.begin() + seat->queued, seat->queue.begin());
    seat->queued -= n;
    if (seat->queued == 0) p->last_input = seat->last_seq;  // dropped inputs included
  }
}

void ArenaRoom::send_near(Point where, const std::string& event) {
  // Only to the players who see that place (their area of interest): 32 players' shots
  // would otherwise reach everyone.
  std::vector<SessionId> to;
  for (const auto& [session, e] : humans_) {
    const auto* p = registry_.get<Player>(e);
    if (std::hypot(p->pos.x - where.x, p->pos.y - where.y) <= Rules::interest_radius) to.push_back(session);
  }
  std::sort(to.begin(), to.end());
  if (!to.empty()) send(to, op_event, event);
}

void ArenaRoom::resolve(const Shot& shot) {
  auto* shooter = registry_.get<Player>(shot.shooter);
  if (!shooter || !shooter->alive) return;  // killed earlier this tick
  float wall = wall_distance(shot.origin, shot.aim, Rules::range);
  sync::Vec3 origin{shot.origin.x, shot.origin.y, 0};
  sync::Vec3 direction{std::cos(shot.aim), std::sin(shot.aim), 0};
  auto result = history_->raycast(origin, direction, wall, shot.render_tick, shot.shooter);
  float reach = result.hit ? result.hit->distance : wall;
  uint32_t target_id = 0;
  Player* target = result.hit ? registry_.get<Player>(result.hit->entity) : nullptr;
  if (target && target->alive) target_id = target->id;
  // The shot, for tracers: from, to, what it hit and the tick it was tested at.
  std::string ev = "{\"t\":\"shot\",\"shooter\":" + std::to_string(shooter->id) + ",\"seq\":" +
                   std::to_string(shot.seq) + ",\"tick\":" + std::to_string(tick_) + ",\"at\":";
  append_number(ev, result.time.tick);
  ev += ",\"from\":[";
  append_number(ev, shot.origin.x);
  ev += ',';
  append_number(ev, shot.origin.y);
  ev += "],\"to\":[";
  append_number(ev, shot.origin.x + direction.x * reach);
  ev += ',';
  append_number(ev, shot.origin.y + direction.y * reach);
  ev += "],\"target\":" + std::to_string(target_id) + "}";
  send_near(shot.origin, ev);
  if (!target_id) return;

  auto victim = result.hit->entity;
  target->hp = std::max(0, target->hp - Rules::damage);
  std::string hit = "{\"t\":\"hit\",\"shooter\":" + std::to_string(shooter->id) + ",\"target\":" +
                    std::to_string(target->id) + ",\"tick\":" + std::to_string(tick_) + ",\"hp\":" +
                    std::to_string(target->hp) + "}";
  std::vector<SessionId> to;
  if (auto s = registry_.get<Seat>(shot.shooter)->session) to.push_back(*s);
  if (auto s = registry_.get<Seat>(victim)->session) to.push_back(*s);
  std::sort(to.begin(), to.end());
  if (!to.empty()) send(to, op_event, hit);
  if (target->hp > 0) return;

  target->alive = false;
  target->deaths = std::min(target->deaths + 1, 9999);
  shooter->kills = std::min(shooter->kills + 1, 9999);
  registry_.get<Seat>(victim)->respawn_tick = tick_ + respawn_ticks_;
  // Dead: a later shot rewound to when it was alive must not kill it again.
  history_->remove(victim);
  std::string kill = "{\"t\":\"kill\",\"killer\":" + std::to_string(shooter->id) + ",\"victim\":" +
                     std::to_string(target->id) + ",\"killerName\":";
  json::append_string(kill, shooter->name);
  kill += ",\"victimName\":";
  json::append_string(kill, target->name);
  kill += ",\"tick\":" + std::to_string(tick_) + "}";
  broadcast(op_event, kill);
}

void ArenaRoom::end_round() {
  playing_ = false;
  round_ends_at_ = tick_ + intermission_ticks_;
  std::vector<const Player*> order;
  for (auto e : players_) order.push_back(registry_.get<Player>(e));
  std::stable_sort(order.begin(), order.end(), [](const Player* a, const Player* b) {
    return a->kills != b->kills ? a->kills > b->kills : a->deaths < b->deaths;
  });
  std::string ev = "{\"t\":\"round\",\"phase\":\"over\",\"round\":" + std::to_string(round_) +
                   ",\"nextAtTick\":" + std::to_string(round_ends_at_) + ",\"scores\":[";
  for (size_t i = 0; i < order.size(); ++i) {
    if (i) ev += ',';
    ev += "{\"id\":" + std::to_string(order[i]->id) + ",\"name\":";
    json::append_string(ev, order[i]->name);
    ev += ",\"kills\":" + std::to_string(order[i]->kills) + ",\"deaths\":" + std::to_string(order[i]->deaths) +
          ",\"bot\":" + (order[i]->bot ? "true" : "false") + "}";
  }
  ev += "]}";
  broadcast(op_event, ev);
  // The round's kills of every player with an account; guests have no leaderboard record.
  for (const auto& c : clients()) {
    auto it = humans_.find(c.id);
    if (it == humans_.end() || c.account_id.empty()) continue;
    leaderboard_write(leaderboard, c, registry_.get<Player>(it->second)->kills);
  }
}

void ArenaRoom::start_round() {
  ++round_;
  playing_ = true;
  round_ends_at_ = tick_ + uint64_t(options_.round_seconds) * options_.tick_rate;
  history_->clear();
  for (auto e : players_) {
    auto* p = registry_.get<Player>(e);
    p->kills = p->deaths = 0;
    p->alive = false;
  }
  for (auto e : players_) respawn(e);
  broadcast(op_event, "{\"t\":\"round\",\"phase\":\"playing\",\"round\":" + std::to_string(round_) +
                          ",\"endsAtTick\":" + std::to_string(round_ends_at_) + "}");
}

void ArenaRoom::on_tick(Duration dt) {
  // Tick numbers match the snapshots': the room host counts on_tick calls from 1.
  ++tick_;
  // Bots play for humans only: a room everyone left (it lingers rooms.empty_dispose_ms) costs
  // next to nothing, so create-and-leave cannot keep hundreds of 31-bot rooms busy. The round
  // clock stands still meanwhile.
  if (humans_.empty()) {
    ++round_ends_at_;
    return;
  }
  const float seconds = std::chrono::duration<float>(dt).count();
  apply_inputs(seconds);
  for (auto e : players_) {
    auto* p = registry_.get<Player>(e);
    auto* seat = registry_.get<Seat>(e);
    if (!seat->session && p->alive) think_bot(e, *p, *seat, seconds);
  }
  // Shots are tested after everyone moved, against the history up to the previous tick:
  // what any client can have seen.
  for (const auto& shot : shots_) resolve(shot);
  shots_.clear();
  for (auto e : players_) {
    auto* p = registry_.get<Player>(e);
    auto* seat = registry_.get<Seat>(e);
    if (!p->alive && seat->respawn_tick && tick_ >= seat->respawn_tick) respawn(e);
    if (p->alive) history_->record(tick_, e, {p->pos.x, p->pos.y, 0}, sync::HitShape::sphere(player_radius));
  }
  if (tick_ >= round_ends_at_) playing_ ? end_round() : start_round();
}

}  // namespace craft::examples::arena
