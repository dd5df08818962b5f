// RoomHost's side of replicated state (docs/protocol.md §4.20): a room's sync::Replicator
// (craft/replication.hpp, implemented in src/sync) meets the room's members here. Every call
// into the replicator goes through the room guard: it runs room code (position_from
// functions, the component readers) and throws std::invalid_argument on misuse, and either
// ends only this room.
#include "core/room_host.hpp"

#include "core/server_core.hpp"
#include "core/session.hpp"
#include "net/shard.hpp"

#include <algorithm>

namespace craft::detail {

void RoomHost::set_replicator(sync::Replicator* replicator) {
  // Called by room code, inside one of its guarded callbacks: a throw here ends the room.
  if (replicator == replicator_) return;
  if (replicator_) {
    for (auto& c : clients_) replicator_->remove_client(c.id);
  }
  replicator_ = replicator;
  replicator_configured_ = false;
  schema_.reset();
  schema_frames_ = {};
  if (!replicator_) return;
  replication_counted_ = replicator_->stats();
  // Attached after members joined (not in on_create): they are told now.
  for (size_t i = 0; i < members_.size(); ++i) add_replicated(i);
}

void RoomHost::configure_replicator() {
  if (replicator_configured_) return;
  const auto& config = core_of(shard_).config().replication;
  // The tick rate as it is at the first join or snapshot, so a set_tick_rate later in
  // on_create counts; the schema then tells clients the same rate.
  replicator_->configure(std::max<uint32_t>(tick_rate_hz_, 1), config.baseline_window, config.client_bytes_per_second);
  replicator_configured_ = true;
}

const protocol::FramedMessage& RoomHost::schema_frames() {
  if (!schema_) {
    configure_replicator();
    const auto& config = core_of(shard_).config().replication;
    const auto& options = replicator_->options();
    schema_.emplace();
    auto* s = schema_->mutable_state_schema();
    s->set_room_id(id_);
    s->set_tick_rate_hz(std::max<uint32_t>(tick_rate_hz_, 1));
    s->set_send_interval_ticks(std::max<uint32_t>(options.send_interval_ticks, 1));
    s->set_baseline_window(options.baseline_window ? options.baseline_window : config.baseline_window);
    for (const auto& component : replicator_->components()) {
      auto* c = s->add_components();
      c->set_name(component.name);
      for (const auto& field : component.fields) {
        auto* f = c->add_fields();
        f->set_name(field.spec.name);
        f->set_type(static_cast<v1::StateFieldType>(field.spec.type));
        f->set_min(field.spec.min);
        f->set_max(field.spec.max);
        f->set_precision(field.spec.precision);
        f->set_count(field.spec.count);
      }
    }
  }
  return schema_frames_;
}

void RoomHost::add_replicated(size_t index) {
  replicator_->add_client(clients_[index].id);
  schema_frames();
  auto format = members_[index].format;
  auto& frame = schema_frames_.by_format[static_cast<size_t>(format)];
  if (!frame) frame = protocol::frame(*schema_, format);
  // After room_joined, which went to the session's shard before this (the same queue, in
  // order). Sent like any room message: kept for replay, so a resumed client has it too.
  deliver_to(index, frame);
}

void RoomHost::state_ack(SessionId from, uint32_t tick) {
  if (!replicator_ || disposed_ || !find_client(from)) return;
  auto self = shared_from_this();  // a failing replicator disposes the room
  guarded_call("the replicator (ack)", [&] {
    replicator_->ack(from, tick);
    count_replication();
  });
}

void RoomHost::replicate(uint32_t tick) {
  if (!replicator_ || disposed_ || failed_) return;
  auto self = shared_from_this();
  const uint32_t max_queued = core_of(shard_).config().replication.max_queued_bytes;
  guarded_call("the replicator (snapshot)", [&] {
    // Configured first: the options (send_interval_ticks) may be the server's defaults.
    configure_replicator();
    if (tick % std::max<uint32_t>(replicator_->options().send_interval_ticks, 1) != 0) return;
    replicator_->capture(tick);
    v1::Envelope e;
    auto* snapshot = e.mutable_state_snapshot();
    for (size_t i = 0; i < members_.size(); ++i) {
      auto& m = members_[i];
      // Dropped (held for resume): nothing, so no stale snapshot waits in its replay buffer;
      // after the resume it gets deltas against its last ack again (or a full snapshot).
      if (m.held_until) continue;
      // A backed-up reader on this shard is skipped before encoding; one on another shard
      // is checked there (Session::send_state), after encoding: to the replicator that is
      // a lost snapshot, which the delta model tolerates.
      if (m.shard == shard_.index() && m.session->queued_bytes() > max_queued) {
        shard_.metrics().replication_skipped.add();
        continue;
      }
      snapshot_data_.clear();
      replicator_->encode(clients_[i].id, snapshot_data_);
      if (snapshot_data_.empty()) continue;  // nothing for this client at this tick
      snapshot->set_data(snapshot_data_);
      // 2 bytes instead of the id's 14 in every snapshot, for clients that asked (hello).
      if (m.room_handles) {
        snapshot->clear_room_id();
        snapshot->set_room_handle(handle_);
      } else {
        snapshot->set_room_id(id_);
        snapshot->set_room_handle(0);
      }
      auto frame = protocol::frame(e, m.format);
      if (m.shard == shard_.index()) {
        m.session->send_state(frame, max_queued);
      } else {
        m.session->shard().post([session = m.session, frame = std::move(frame), max_queued] {
          session->send_state(frame, max_queued);
        });
      }
    }
    count_replication();
  });
}

void RoomHost::count_replication() {
  auto now = replicator_->stats();
  auto& last = replication_counted_;
  auto& metrics = shard_.metrics();
  // Differences of cumulative counts; a counter that went backwards (it should not) adds 0.
  auto add = [](Counter& c, uint64_t now_value, uint64_t before) {
    if (now_value > before) c.add(now_value - before);
  };
  add(metrics.replication_snapshots, now.snapshots, last.snapshots);
  add(metrics.replication_full_snapshots, now.full_snapshots, last.full_snapshots);
  add(metrics.replication_snapshot_bytes, now.bytes, last.bytes);
  add(metrics.replication_deferred, now.deferred, last.deferred);
  add(metrics.replication_acks_ignored, now.acks_ignored, last.acks_ignored);
  last = now;
}

}  // namespace craft::detail
