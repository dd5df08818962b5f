// The Replicator's public calls (include/craft/replication.hpp). Its insides:
// replicator_impl.hpp; captures: replicator_capture.cpp; encoding: replicator_encode.cpp.
#include <cmath>
#include <stdexcept>
#include <utility>

#include "sync/bits.hpp"
#include "sync/quantize.hpp"
#include "sync/replicator_impl.hpp"

namespace craft::sync {

void Replicator::Impl::resolve(uint32_t default_window, uint32_t default_bps) {
  options = requested;
  if (options.send_interval_ticks == 0) options.send_interval_ticks = 1;
  if (options.baseline_window == 0) options.baseline_window = default_window ? default_window : 32;
  if (options.bytes_per_second == 0) options.bytes_per_second = default_bps;
  // The window goes to clients in state_schema; the C++ decoder holds at most 1024 frames.
  if (options.baseline_window > max_baseline_window)
    throw std::invalid_argument("craft::sync: baseline_window above 1024");
}

size_t Replicator::Impl::memory() const {
  size_t b = sizeof(*this);
  for (size_t i = 0; i < history.size(); ++i) b += history[i].bytes();
  for (const auto& [id, c] : clients) {
    b += sizeof(c) + 64 + c.groups.capacity() * 4 + c.accumulated.capacity() * 8 + c.frames.capacity() * sizeof(Frame);
    for (size_t i = 0; i < c.frames.size(); ++i) b += c.frames[i].entries.capacity() * sizeof(FrameEntry);
  }
  b += by_index.capacity() * sizeof(ByIndex) + entity_groups.size() * 32 + entity_weights.size() * 32;
  b += grid.capacity() * 16 + grouped.capacity() * 8;
  for (const auto& eb : entity_bits) b += sizeof(eb) + eb.create.capacity() + eb.update.capacity();
  b += prev_index.capacity() * sizeof(size_t);
  for (const auto& sh : shared)
    b += sizeof(sh) + (sh.base_entries.capacity() + sh.frame.capacity()) * sizeof(FrameEntry) + sh.bytes.capacity() +
         sh.groups.capacity() * 4;
  b += touched.capacity() * 4 + capture_order.capacity() * 8 + owners.capacity() * sizeof(ecs::Entity);
  return b;
}

Replicator::Replicator(ecs::Registry& world, ReplicatorOptions options)
    : impl_(std::make_unique<Impl>(world, options)) {}
Replicator::~Replicator() = default;

void Replicator::add_component(detail::ComponentAccess c) {
  if (!impl_->history.empty())
    throw std::invalid_argument("craft::sync: replicate() after the first capture");
  if (impl_->components.size() >= max_components)
    throw std::invalid_argument("craft::sync: at most 32 replicated components");
  if (c.name.empty()) throw std::invalid_argument("craft::sync: a replicated component needs a name");
  for (const auto& other : impl_->components)
    if (other.name == c.name || (c.type && other.type == c.type))
      throw std::invalid_argument("craft::sync: component '" + c.name + "' replicated twice");
  uint32_t slots = 0;
  std::vector<FieldPlan> plans;
  for (const auto& f : c.fields) {
    const bool text = f.spec.type == FieldType::text;
    // value_bits() and max_wire_value() throw for a spec that cannot be sent.
    plans.push_back({text ? 1 : axes_of(f.spec.type), value_bits(f.spec), max_wire_value(f.spec), text,
                     delta_coded(f.spec.type)});
    if (f.spec.type == FieldType::text && f.spec.count > 0xffffffffu / 8)
      throw std::invalid_argument("craft::sync: text '" + f.spec.name + "' too long");
    slots += f.spec.type == FieldType::text ? 1 : axes_of(f.spec.type);
  }
  if (c.fields.size() > 64) throw std::invalid_argument("craft::sync: at most 64 fields per component");
  impl_->slots.push_back(slots);
  impl_->plans.push_back(std::move(plans));
  impl_->first_delta.push_back(impl_->delta_fields);
  for (const auto& f : c.fields) impl_->delta_fields += delta_coded(f.spec.type) ? 1 : 0;
  impl_->components.push_back(std::move(c));
}

void Replicator::set_position_source(std::function<bool(const ecs::Registry&, ecs::Entity, Vec3&)> source) {
  impl_->position_source = std::move(source);
}

void Replicator::set_interest(SessionId client, Vec3 center, float radius) {
  auto& c = impl_->clients[client];
  impl_->areas_changed |= c.area != AreaKind::point || c.radius != radius;
  c.area = AreaKind::point, c.center = center, c.radius = std::isfinite(radius) && radius > 0 ? radius : 0;
}
void Replicator::set_interest(SessionId client, ecs::Entity center, float radius) {
  auto& c = impl_->clients[client];
  impl_->areas_changed |= c.area != AreaKind::entity || c.radius != radius;
  c.area = AreaKind::entity, c.center_entity = center, c.radius = std::isfinite(radius) && radius > 0 ? radius : 0;
}
void Replicator::clear_interest(SessionId client) {
  if (auto it = impl_->clients.find(client); it != impl_->clients.end()) {
    impl_->areas_changed |= it->second.area != AreaKind::none;
    it->second.area = AreaKind::none;
  }
}
void Replicator::set_group(ecs::Entity entity, uint32_t group) {
  if (group == 0) impl_->entity_groups.erase(key_of(entity));
  else if (impl_->world.alive(entity)) impl_->entity_groups[key_of(entity)] = group;
}
void Replicator::join_group(SessionId client, uint32_t group) {
  if (group == 0) return;
  auto& g = impl_->clients[client].groups;
  auto it = std::lower_bound(g.begin(), g.end(), group);
  if (it == g.end() || *it != group) g.insert(it, group);
}
void Replicator::leave_group(SessionId client, uint32_t group) {
  auto cit = impl_->clients.find(client);
  if (cit == impl_->clients.end()) return;
  auto& g = cit->second.groups;
  auto it = std::lower_bound(g.begin(), g.end(), group);
  if (it != g.end() && *it == group) g.erase(it);
}
void Replicator::set_priority(ecs::Entity entity, float weight) {
  if (!std::isfinite(weight) || weight < 0) weight = 0;
  if (impl_->world.alive(entity)) impl_->entity_weights[key_of(entity)] = weight;
}
void Replicator::set_budget(SessionId client, uint32_t bytes_per_second) {
  impl_->clients[client].bytes_per_second = bytes_per_second;
}

uint32_t Replicator::net_id(ecs::Entity entity) const {
  return impl_->id_of(entity);
}

void Replicator::capture(uint32_t tick) { impl_->capture(tick); }
void Replicator::add_client(SessionId client) { impl_->clients.try_emplace(client); }
void Replicator::remove_client(SessionId client) {
  impl_->areas_changed |= impl_->clients.erase(client) > 0;
}
void Replicator::ack(SessionId client, uint32_t tick) { impl_->ack(client, tick); }
void Replicator::encode(SessionId client, std::string& out) { impl_->encode(client, out); }

const std::vector<detail::ComponentAccess>& Replicator::components() const { return impl_->components; }
const ReplicatorOptions& Replicator::options() const { return impl_->options; }
void Replicator::configure(uint32_t tick_rate_hz, uint32_t default_baseline_window, uint32_t default_bytes_per_second) {
  impl_->tick_rate = tick_rate_hz ? tick_rate_hz : 1;
  impl_->resolve(default_baseline_window, default_bytes_per_second);
}
ReplicatorStats Replicator::stats() const { return impl_->stats; }
size_t Replicator::memory_bytes() const { return impl_->memory(); }

}  // namespace craft::sync
