// A test client's view of an `arena` room (examples/arena/README.md "Wire format"): it decodes
// the replicated state with src/sync's decoder, keeps each snapshot's arrival time to compute
// the render tick the way the JS SDK does (sdk/js/src/state/replicated.ts renderTick), keeps
// the op 2 events, and sends op 1 inputs with the newest decoded tick acked on them.
// The input is encoded here from the README, not with the room's own encoder, so a change of
// the wire format shows up as a failing test.
#pragma once
#include "helpers.hpp"
#include "replication_helpers.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <numbers>

namespace craft::testing::arena {

struct Input {
  uint32_t seq = 0;
  int8_t dx = 0, dy = 0;
  uint8_t buttons = 0;
  uint8_t reserved = 0;
  float aim = 0;
  double render_tick = 0;
};

inline std::string encode(const Input& in) {
  std::string s(20, '\0');
  auto put = [&](size_t at, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
  };
  uint32_t aim;
  uint64_t tick;
  std::memcpy(&aim, &in.aim, 4);
  std::memcpy(&tick, &in.render_tick, 8);
  put(0, in.seq, 4);
  s[4] = static_cast<char>(in.dx);
  s[5] = static_cast<char>(in.dy);
  s[6] = static_cast<char>(in.buttons);
  s[7] = static_cast<char>(in.reserved);
  put(8, aim, 4);
  put(12, tick, 8);
  return s;
}

// One player as decoded (component "player", README.md "Replicated state").
struct PlayerView {
  uint32_t id = 0;
  double x = 0, y = 0, aim = 0;
  int hp = 0;
  bool alive = false;
  std::string name;
  bool bot = false;
  int kills = 0, deaths = 0;
  uint32_t last_input = 0;
};

inline PlayerView player_of(const sync::DecodedEntity& e) {
  PlayerView p;
  if (e.components.empty() || e.components[0].size() != 10) return p;
  const auto& f = e.components[0];
  p.id = f[0].wire[0];
  p.x = f[1].wire[0] / 16.0;
  p.y = f[1].wire[1] / 16.0;
  p.aim = -std::numbers::pi + f[2].wire[0] / 512.0;
  p.hp = int(f[3].wire[0]);
  p.alive = f[4].wire[0] != 0;
  p.name = f[5].text;
  p.bot = f[6].wire[0] != 0;
  p.kills = int(f[7].wire[0]);
  p.deaths = int(f[8].wire[0]);
  p.last_input = f[9].wire[0];
  return p;
}

class ArenaView {
 public:
  using Clock = std::chrono::steady_clock;
  ArenaView(client::Client& c, std::string room, uint32_t tick_rate) : c_(c), room_(std::move(room)), hz_(tick_rate) {}

  // Handles one event (or waits up to `wait` for one). Returns false when nothing came.
  bool pump(std::chrono::milliseconds wait = 20ms) {
    auto e = c_.next_event(wait);
    if (!e) return false;
    if (e->has_state_schema()) {
      decoder_ = decoder_for(e->state_schema());
    } else if (e->has_state_snapshot() && decoder_) {
      auto r = decoder_->decode(e->state_snapshot().data());
      if (r == sync::DecodeResult::ok) {
        ++decoded_;
        uint32_t tick = decoder_->newest_tick();
        const auto* frame = decoder_->frame(tick);
        if (frame) {
          std::map<uint32_t, PlayerView> players;
          for (const auto& [id, ent] : *frame) {
            auto p = player_of(ent);
            players[p.id] = p;
          }
          frames_[tick] = std::move(players);
          while (frames_.size() > 4096) frames_.erase(frames_.begin());  // 2+ minutes at 30 Hz, for player_at()
        }
        // The SDK's clock: the fastest of the last 8 arrivals sets the offset.
        double arrival = ms_now();
        samples_.push_back(arrival - tick * 1000.0 / hz_);
        if (samples_.size() > 8) samples_.pop_front();
        offset_ = *std::min_element(samples_.begin(), samples_.end());
      } else if (r != sync::DecodeResult::stale) {
        ++dropped_;
      }
    } else if (e->has_room_data() && e->room_data().op() == 2) {
      events.push_back(e->room_data().data());
    } else if (e->has_error()) {
      errors.push_back(e->error());
    }
    return true;
  }
  void pump_for(std::chrono::milliseconds d) {
    auto until = Clock::now() + d;
    while (Clock::now() < until) pump(10ms);
  }
  template <class F>
  bool pump_until(F&& done, std::chrono::milliseconds timeout) {
    auto until = Clock::now() + timeout;
    while (Clock::now() < until) {
      if (done()) return true;
      pump(10ms);
    }
    return done();
  }

  uint32_t newest_tick() const { return frames_.empty() ? 0 : frames_.rbegin()->first; }
  const std::map<uint32_t, PlayerView>* newest() const { return frames_.empty() ? nullptr : &frames_.rbegin()->second; }
  std::optional<PlayerView> player(uint32_t id) const {
    if (auto* f = newest(); f && f->count(id)) return f->at(id);
    return std::nullopt;
  }
  // The player as of a tick decoded, if that tick was decoded.
  std::optional<PlayerView> player_at(uint32_t id, uint32_t tick) const {
    auto it = frames_.find(tick);
    if (it == frames_.end() || !it->second.count(id)) return std::nullopt;
    return it->second.at(id);
  }

  // The JS SDK's renderTick(): (now - offset - delay) * hz / 1000, here never past the newest.
  double render_tick(double delay_ms = 100) const {
    if (frames_.empty()) return 0;
    double t = (ms_now() - offset_ - delay_ms) * hz_ / 1000.0;
    return std::min(t, double(newest_tick()));
  }
  // The SDK's interpolated(): the player between the two decoded frames around `tick`
  // (position linear; nothing extrapolated).
  std::optional<PlayerView> interpolated(uint32_t id, double tick) const {
    auto hi = frames_.lower_bound(static_cast<uint32_t>(std::ceil(tick)));
    if (hi == frames_.end() || hi == frames_.begin()) return std::nullopt;
    auto lo = std::prev(hi);
    if (hi->first == tick) lo = hi;
    if (!lo->second.count(id) || !hi->second.count(id)) return std::nullopt;
    PlayerView a = lo->second.at(id), b = hi->second.at(id);
    double t = hi->first == lo->first ? 0 : (tick - lo->first) / double(hi->first - lo->first);
    a.x += (b.x - a.x) * t;
    a.y += (b.y - a.y) * t;
    return a;
  }

  void send(Input in) {
    v1::Envelope env;
    auto* rd = env.mutable_room_data();
    rd->set_room_id(room_);
    rd->set_op(1);
    rd->set_data(encode(in));
    if (decoder_) rd->set_state_ack(decoder_->newest_tick());
    c_.send_envelope(env);
  }
  void send_raw(uint32_t op, std::string data) {
    v1::Envelope env;
    auto* rd = env.mutable_room_data();
    rd->set_room_id(room_);
    rd->set_op(op);
    rd->set_data(std::move(data));
    c_.send_envelope(env);
  }

  bool has_schema() const { return decoder_ != nullptr; }
  const sync::SnapshotDecoder* decoder() const { return decoder_.get(); }
  int decoded() const { return decoded_; }
  int dropped() const { return dropped_; }
  std::vector<std::string> events;
  std::vector<v1::Error> errors;

 private:
  static double ms_now() {
    return std::chrono::duration<double, std::milli>(Clock::now().time_since_epoch()).count();
  }
  client::Client& c_;
  std::string room_;
  uint32_t hz_;
  std::unique_ptr<sync::SnapshotDecoder> decoder_;
  std::map<uint32_t, std::map<uint32_t, PlayerView>> frames_;  // tick -> player id -> player
  std::deque<double> samples_;
  double offset_ = 0;
  int decoded_ = 0, dropped_ = 0;
};

// The integer after "key": in a flat JSON text (the tests' own reading of events and join_state).
inline std::optional<int64_t> json_int(std::string_view json, std::string_view key) {
  std::string k = "\"" + std::string(key) + "\":";
  auto at = json.find(k);
  if (at == std::string_view::npos) return std::nullopt;
  at += k.size();
  int64_t v = 0;
  bool neg = at < json.size() && json[at] == '-';
  if (neg) ++at;
  size_t start = at;
  while (at < json.size() && json[at] >= '0' && json[at] <= '9') v = v * 10 + (json[at++] - '0');
  if (at == start) return std::nullopt;
  return neg ? -v : v;
}

}  // namespace craft::testing::arena
