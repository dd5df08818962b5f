// THROWAWAY — DELETE WHEN MAIN HAS sync-core's src/sync (git merge main, then git rm this).
// A minimal craft::sync::Replicator so the room wiring (sync-host) links and its tests run
// before the real one lands: full snapshots only (baseline_ago 0, docs/protocol.md §4.20.3),
// every entity to every client, acks checked against a window of sent ticks. No interest,
// no budget, no deltas.
#include <craft/replication.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <unordered_map>

namespace craft::sync {

namespace {
uint32_t bitwidth(uint64_t n) {
  uint32_t b = 0;
  while (n) ++b, n >>= 1;
  return b;
}
struct Bits {
  std::string& out;
  uint64_t acc = 0;
  uint32_t n = 0;
  void u(uint64_t v, uint32_t bits) {
    for (uint32_t i = 0; i < bits; ++i) {
      acc |= ((v >> i) & 1) << n;
      if (++n == 8) out.push_back(static_cast<char>(acc)), acc = 0, n = 0;
    }
  }
  void v(uint64_t value, uint32_t k) {
    do {
      u(value & ((1u << k) - 1), k);
      value >>= k;
      u(value ? 1 : 0, 1);
    } while (value);
  }
  void finish() {
    if (n) out.push_back(static_cast<char>(acc)), acc = 0, n = 0;
  }
};
}  // namespace

uint32_t value_bits(const FieldSpec& s) {
  switch (s.type) {
    case FieldType::boolean: return 1;
    case FieldType::enumeration:
      if (s.count == 0) throw std::invalid_argument("enumeration with count 0");
      return bitwidth(s.count - 1);
    case FieldType::text: return 8;
    case FieldType::integer:
      if (s.min > s.max) throw std::invalid_argument("min > max");
      return bitwidth(uint64_t(s.max - s.min));
    default: {
      if (s.min > s.max || !(s.precision > 0) || !std::isfinite(s.precision)) throw std::invalid_argument("bad range");
      double steps = std::round((s.max - s.min) / s.precision);
      if (steps > 4294967295.0) throw std::invalid_argument("too many steps");
      return bitwidth(uint64_t(steps));
    }
  }
}

struct Replicator::Impl {
  ecs::Registry& world;
  ReplicatorOptions options;
  std::vector<detail::ComponentAccess> components;
  std::map<uint64_t, uint32_t> ids;  // entity (index << 32 | generation) -> net id
  uint32_t next_id = 1;
  std::string frame;  // the last capture, encoded once for everyone
  std::unordered_map<SessionId, std::vector<uint32_t>> sent;  // client -> ticks sent
  ReplicatorStats stats;
  std::function<bool(const ecs::Registry&, ecs::Entity, Vec3&)> position;
  explicit Impl(ecs::Registry& w, ReplicatorOptions o) : world(w), options(o) {}
};

Replicator::Replicator(ecs::Registry& world, ReplicatorOptions options)
    : impl_(std::make_unique<Impl>(world, options)) {}
Replicator::~Replicator() = default;

void Replicator::add_component(detail::ComponentAccess c) {
  if (impl_->components.size() >= 32 || c.name.empty()) throw std::invalid_argument("replicate: bad component");
  for (auto& f : c.fields) value_bits(f.spec);
  impl_->components.push_back(std::move(c));
}
void Replicator::set_position_source(std::function<bool(const ecs::Registry&, ecs::Entity, Vec3&)> source) {
  impl_->position = std::move(source);
}
void Replicator::set_interest(SessionId, Vec3, float) {}
void Replicator::set_interest(SessionId, ecs::Entity, float) {}
void Replicator::clear_interest(SessionId) {}
void Replicator::set_group(ecs::Entity, uint32_t) {}
void Replicator::join_group(SessionId, uint32_t) {}
void Replicator::leave_group(SessionId, uint32_t) {}
void Replicator::set_priority(ecs::Entity, float) {}
void Replicator::set_budget(SessionId, uint32_t) {}
uint32_t Replicator::net_id(ecs::Entity e) const {
  auto it = impl_->ids.find((uint64_t(e.index) << 32) | e.generation);
  return it == impl_->ids.end() ? 0 : it->second;
}

void Replicator::capture(uint32_t tick) {
  auto& m = *impl_;
  std::map<uint32_t, std::pair<uint32_t, ecs::Entity>> present;  // id -> mask, entity
  std::vector<ecs::Entity> owners;
  for (size_t c = 0; c < m.components.size(); ++c) {
    owners.clear();
    m.components[c].owners(m.world, owners);
    for (auto e : owners) {
      auto key = (uint64_t(e.index) << 32) | e.generation;
      auto [it, fresh] = m.ids.try_emplace(key, m.next_id);
      if (fresh) ++m.next_id;
      auto& p = present[it->second];
      p.first |= 1u << c;
      p.second = e;
    }
  }
  m.frame.clear();
  Bits b{m.frame};
  b.u(tick, 32);
  b.v(0, 7);
  b.v(0, 7);
  b.v(present.size(), 7);
  uint32_t previous = 0;
  for (auto& [id, p] : present) {
    Vec3 where;
    if (m.position) m.position(m.world, p.second, where);
    b.v(id - previous - 1, 3);
    previous = id;
    b.u(p.first, uint32_t(m.components.size()));
    for (size_t c = 0; c < m.components.size(); ++c) {
      if (!(p.first & (1u << c))) continue;
      const void* data = m.components[c].get(m.world, p.second);
      for (auto& f : m.components[c].fields) {
        if (f.spec.type == FieldType::text) {
          auto t = f.read_text(data).substr(0, f.spec.count);
          b.v(t.size(), 7);
          for (unsigned char ch : t) b.u(ch, 8);
          continue;
        }
        double axes[3] = {0, 0, 0};
        f.read_number(data, axes);
        int n = f.spec.type == FieldType::vec2 ? 2 : f.spec.type == FieldType::vec3 ? 3 : 1;
        uint32_t bits = value_bits(f.spec);
        for (int a = 0; a < n; ++a) {
          double v = std::clamp(axes[a], f.spec.min, f.spec.max);
          double q = f.spec.type == FieldType::integer || f.spec.type == FieldType::enumeration ||
                             f.spec.type == FieldType::boolean
                         ? v - f.spec.min
                         : std::round((v - f.spec.min) / f.spec.precision);
          b.u(uint64_t(q), bits);
        }
      }
    }
  }
  b.v(0, 7);
  b.finish();
  for (auto& [client, ticks] : m.sent) {
    ticks.push_back(tick);
    uint32_t window = m.options.baseline_window ? m.options.baseline_window : 32;
    if (ticks.size() > window) ticks.erase(ticks.begin());
  }
}
void Replicator::add_client(SessionId c) { impl_->sent[c]; }
void Replicator::remove_client(SessionId c) { impl_->sent.erase(c); }
void Replicator::ack(SessionId c, uint32_t tick) {
  auto it = impl_->sent.find(c);
  if (it == impl_->sent.end() || std::find(it->second.begin(), it->second.end(), tick) == it->second.end())
    ++impl_->stats.acks_ignored;
}
void Replicator::encode(SessionId, std::string& out) {
  out += impl_->frame;
  ++impl_->stats.snapshots;
  ++impl_->stats.full_snapshots;
  impl_->stats.bytes += impl_->frame.size();
}
const std::vector<detail::ComponentAccess>& Replicator::components() const { return impl_->components; }
const ReplicatorOptions& Replicator::options() const { return impl_->options; }
void Replicator::configure(uint32_t, uint32_t window, uint32_t bytes) {
  if (!impl_->options.baseline_window) impl_->options.baseline_window = window;
  if (!impl_->options.bytes_per_second) impl_->options.bytes_per_second = bytes;
}
ReplicatorStats Replicator::stats() const { return impl_->stats; }

}  // namespace craft::sync
