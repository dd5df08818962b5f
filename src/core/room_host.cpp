#include "core/room_host.hpp"

#include "core/server_core.hpp"
#include "core/session.hpp"
#include "net/shard.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

namespace craft::detail {

namespace {
// What a player whose create or join met a failing room is told (the log has the details).
constexpr std::string_view room_error_message = "room error: the room's code failed and the room was closed";

void fill_presence(v1::Presence* p, const Client& c) {
  p->set_session_id(c.id);
  p->set_name(c.name);
  p->set_account_id(c.account_id);
}
}  // namespace

using protocol::WireFormat;

namespace {
// Room handles (docs/protocol.md §4.20): numbered across the process, so a session's rooms
// never share one whatever shard they run on; 0 is skipped if the count ever wraps (after
// 2^32 rooms, when the first ones are long gone).
uint32_t next_room_handle() {
  static std::atomic<uint32_t> next{1};
  uint32_t h = next.fetch_add(1, std::memory_order_relaxed);
  return h ? h : next.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

RoomHost::RoomHost(Shard& shard, std::string id, std::string type, std::unique_ptr<Room> room,
                   bool is_private, std::string create_options)
    : shard_(shard),
      id_(std::move(id)),
      handle_(next_room_handle()),
      type_(std::move(type)),
      room_(std::move(room)),
      create_options_(std::move(create_options)),
      is_private_(is_private),
      max_clients_(core_of(shard).config().rooms.max_clients),
      tick_rate_hz_(core_of(shard).config().rooms.tick_rate_hz),
      // Aligned ticks only where the shard batches its wake-ups anyway (server.coalesce_us):
      // there a tick off the window grid would wait for the next window edge.
      scheduler_(tick_rate_hz_ == 0 ? 1 : tick_rate_hz_, shard.now(), shard.limits().coalesce_us > 0),
      timer_(shard.context()) {
  room_->host_ = this;
  listing.type = type_;
  listing.max_clients = max_clients_;
  listing.is_private = is_private_;
}

RoomHost::~RoomHost() {
  if (room_) room_->host_ = nullptr;
}

template <class F>
bool RoomHost::guarded(const char* callback, F&& call) {
  if (failed_) return false;
  try {
    call();
  } catch (const std::exception& e) {
    fail(callback, e.what());
  } catch (...) {
    fail(callback, "an exception that is not a std::exception");
  }
  // False also when game code called back into the room and a nested call failed.
  return !failed_;
}

bool RoomHost::guarded_call(const char* callback, const std::function<void()>& call) {
  return guarded(callback, call);
}

bool RoomHost::ask_room(const Client& by, SessionId player, std::span<const PropertyChange> writes, bool& accepted) {
  return guarded("on_properties_set", [&] { accepted = room_->on_properties_set(by, player, writes); });
}

void RoomHost::fail(const char* callback, std::string_view what) {
  if (failed_) return;
  failed_ = true;
  shard_.metrics().room_errors.add();
  spdlog::error("room {} (type '{}') threw in {}: {}; the room is closed", id_, type_, callback, what);
  // Its state is unknown now, so none of its code runs again (not even on_leave/on_dispose);
  // members get room_left "room error", the server and other rooms carry on.
  dispose(room_error_reason);
}

void RoomHost::open() {
  if (created_) return;
  created_ = true;
  auto self = shared_from_this();  // a failing on_create disposes the room
  core_of(shard_).add_room(shard_.index(), this);
  shard_.metrics().rooms_current.add();
  empty_since_ = shard_.now();
  if (tick_rate_hz_ > 0) scheduler_.set_rate(tick_rate_hz_, shard_.now());
  in_create_ = true;
  guarded("on_create", [&] { room_->on_create(create_options_); });
  in_create_ = false;
  create_options_ = std::string();
  if (create_rejection_) return dispose("the room refused its options");
  arm_timer();
}

void RoomHost::reject_create(std::string_view reason) {
  if (in_create_ && !create_rejection_) create_rejection_ = std::string(reason);
}

TimePoint RoomHost::now() const { return shard_.now(); }

int64_t RoomHost::wall_time_us() const { return core_of(shard_).clock().wall_time_us(); }

void RoomHost::fail_join(JoinRequest& request, int code, std::string message, bool retryable) {
  auto session = std::move(request.session);
  session->shard().dispatch([session, cid = request.cid, code, message = std::move(message), retryable,
                             mode = request.mode, type = type_, options = std::move(request.options)]() mutable {
    session->on_join_failed(cid, code, std::move(message), retryable, mode, std::move(type), std::move(options));
  });
}

void RoomHost::join(JoinRequest request) {
  open();
  if (failed_) return fail_join(request, v1::INTERNAL, std::string(room_error_message), false);
  if (create_rejection_) return fail_join(request, v1::BAD_REQUEST, *create_rejection_, false);
  if (disposed_) return fail_join(request, v1::ROOM_NOT_FOUND, "room " + id_ + " was disposed", true);
  if (find_member(request.client.id)) return fail_join(request, v1::ALREADY_IN_ROOM, "already in room " + id_, false);
  if (!reservations_.empty()) expire_reservations(shard_.now());
  if (!request.reservation.empty()) {
    // Someone else's token is refused without using it up: only its session may spend it.
    auto it = reservations_.find(request.reservation);
    if (it == reservations_.end() || !seat_fits(it->second.holder, request.client)) {
      return fail_join(request, v1::RESERVATION_INVALID,
                       "the seat reservation is unknown, used, expired or not yours", false);
    }
    reservations_.erase(it);  // once: spent even if room code refuses the join below
  } else if (reservation_only_ && !(reservations_.empty() && core_of(shard_).config().matchmaker.late_joins)) {
    // A match room is for its matched players: knowing (or guessing) its id is not a seat.
    // With matchmaker.late_joins, once every reservation is used or expired it takes joins
    // like any private room.
    return fail_join(request, v1::RESERVATION_INVALID,
                     "room " + id_ + " is a match room: joining it takes a seat reservation", false);
  }
  if (locked_) return fail_join(request, v1::ROOM_LOCKED, "room " + id_ + " is locked", true);
  // Reserved seats count against max_clients; a spent reservation's seat was counted already.
  if (members_.size() + reservations_.size() >= max_clients_ && request.reservation.empty())
    return fail_join(request, v1::ROOM_FULL, "room " + id_ + " is full", true);
  JoinResult verdict;
  if (!guarded("on_join", [&] { verdict = room_->on_join(request.client, request.options); }))
    return fail_join(request, v1::INTERNAL, std::string(room_error_message), false);
  if (disposed_) return fail_join(request, v1::ROOM_NOT_FOUND, "room " + id_ + " was disposed", true);
  if (!verdict.accepted) return fail_join(request, v1::JOIN_REJECTED, verdict.reason, false);

  auto session = request.session;
  clients_.push_back(request.client);
  members_.push_back({session, session->shard().index(), session->format(), std::nullopt, session->room_handles()});
  empty_since_.reset();
  membership_changed();
  // Before anyone hears of the join, so a failing join_state ends the room without a
  // presence event for a member who never arrives.
  std::string state;
  if (!guarded("join_state", [&] { state = room_->join_state(request.client); }))
    return fail_join(request, v1::INTERNAL, std::string(room_error_message), false);
  if (disposed_) return fail_join(request, v1::ROOM_NOT_FOUND, "room " + id_ + " was disposed", true);

  v1::Envelope presence;
  auto* event = presence.mutable_presence();
  event->set_room_id(id_);
  fill_presence(event->add_joins(), request.client);
  deliver(protocol::frame_all(presence, formats_), request.client.id);

  v1::Envelope joined;
  joined.set_cid(request.cid);
  auto* j = joined.mutable_room_joined();
  j->set_room_id(id_);
  // Only to a session that asked (hello.room_handles): other clients' bytes stay as §7 shows them.
  if (session->room_handles()) j->set_room_handle(handle_);
  j->set_type(type_);
  fill_presence(j->mutable_you(), request.client);
  for (auto& c : clients_) fill_presence(j->add_members(), c);
  j->set_state(std::move(state));
  fill_properties(j);
  auto frame = protocol::frame(joined, members_.back().format);
  session->shard().dispatch([session, self = shared_from_this(), frame] {
    session->on_join_succeeded(self, frame);
  });
  // Replicated state: state_schema right behind room_joined (docs/protocol.md §4.20).
  if (replicator_) guarded_call("the replicator (join)", [&] { add_replicated(members_.size() - 1); });
}

void RoomHost::leave(SessionId who, std::string_view reason, bool notify) {
  auto it = std::find_if(clients_.begin(), clients_.end(), [&](const Client& c) { return c.id == who; });
  if (it == clients_.end()) return;
  auto index = static_cast<size_t>(it - clients_.begin());
  Client client = std::move(*it);
  auto member = std::move(members_[index]);
  if (member.held_until) --dropped_members_;
  clients_.erase(it);
  members_.erase(members_.begin() + static_cast<std::ptrdiff_t>(index));
  player_properties_.erase(who);  // members see it go through the presence leave
  membership_changed();
  if (clients_.empty()) empty_since_ = shard_.now();
  if (notify) {
    member.session->shard().dispatch([session = member.session, room_id = id_, why = std::string(reason)] {
      session->on_removed(room_id, why);
    });
  }
  // Before on_leave, which may detach the replicator (the room's code owns it).
  if (replicator_) guarded("the replicator (leave)", [&] { replicator_->remove_client(who); });
  guarded("on_leave", [&] { room_->on_leave(client); });
  if (disposed_) return;
  v1::Envelope presence;
  auto* event = presence.mutable_presence();
  event->set_room_id(id_);
  fill_presence(event->add_leaves(), client);
  deliver(protocol::frame_all(presence, formats_), 0);
}

void RoomHost::drop(SessionId who) {
  auto* member = find_member(who);
  if (!member || member->held_until || disposed_) return;
  auto self = shared_from_this();  // room code may dispose the room
  const Client client = *find_client(who);
  const Duration window = std::chrono::milliseconds(core_of(shard_).config().session.resume_window_ms);
  Duration hold = window;
  if (!guarded("on_drop", [&] { hold = room_->on_drop(client, window); })) return;
  if (disposed_) return;
  member = find_member(who);
  if (!member) return;  // room code kicked it
  if (hold <= Duration::zero()) return leave(who, "disconnected", true);
  // A hold shorter than the session's window is this room's to enforce. A longer or equal one
  // is the session's (its window is stretched to match): the seat then lasts exactly as long
  // as the session is resumable, never a sweep less on another shard.
  member->held_until = hold < window ? shard_.now() + hold : TimePoint::max();
  ++dropped_members_;
  if (hold > window) {
    member->session->shard().dispatch([session = member->session, until = shard_.now() + hold] {
      session->hold_at_least(until);
    });
  }
  v1::Envelope presence;
  auto* event = presence.mutable_presence();
  event->set_room_id(id_);
  fill_presence(event->add_dropped(), client);
  deliver(protocol::frame_all(presence, formats_), who);
}

void RoomHost::resume(SessionId who) {
  auto* member = find_member(who);
  if (!member || !member->held_until || disposed_) return;
  member->held_until.reset();
  --dropped_members_;
  auto self = shared_from_this();
  const Client client = *find_client(who);
  if (!guarded("on_resume", [&] { room_->on_resume(client); })) return;
  if (disposed_) return;
  v1::Envelope presence;
  auto* event = presence.mutable_presence();
  event->set_room_id(id_);
  fill_presence(event->add_resumed(), client);
  deliver(protocol::frame_all(presence, formats_), who);
}

void RoomHost::message(SessionId from, uint32_t cid, uint32_t op, std::string_view data,
                       std::span<const SessionId> targets) {
  const Client* client = find_client(from);
  if (!client || disposed_) return;  // left while the message was on its way
  auto self = shared_from_this();  // room code may dispose the room (and a failure does)
  current_sender_ = from;
  current_cid_ = cid;
  if (targets.size() > clients_.size()) {
    // More targets than members cannot all be valid; refusing here keeps room code from
    // looping over thousands of bogus ids per message.
    reply_error(MessageError::invalid_target, "more targets than members in the room");
  } else {
    guarded("on_message", [&] { room_->on_message(*client, Message{op, data, targets}); });
  }
  current_sender_ = 0;
  current_cid_ = 0;
}

void RoomHost::dispose(std::string_view reason) {
  if (disposed_) return;
  auto self = shared_from_this();  // the world's reference goes below; callers may hold none
  open();
  if (disposed_) return;  // on_create failed or refused its options: open() disposed it
  disposed_ = true;
  for (auto& m : members_) {
    m.session->shard().dispatch([session = m.session, room_id = id_, why = std::string(reason)] {
      session->on_removed(room_id, why);
    });
  }
  auto clients = std::move(clients_);
  clients_.clear();
  members_.clear();
  dropped_members_ = 0;
  membership_changed();
  for (auto& c : clients) guarded("on_leave", [&] { room_->on_leave(c); });
  guarded("on_dispose", [&] { room_->on_dispose(); });
  ++timer_generation_;
  timer_.cancel();
  count_period(Duration{0});
  core_of(shard_).remove_room(shard_.index(), this);
  shard_.metrics().rooms_current.sub();
  core_of(shard_).world().remove(id_);
}

void RoomHost::count_period(Duration period) {
  if (period == counted_period_) return;
  if (counted_period_.count() > 0) shard_.tick_period_removed(counted_period_);
  if (period.count() > 0) shard_.tick_period_added(period);
  counted_period_ = period;
}

void RoomHost::arm_timer() {
  // A generation number makes any earlier wait (cancelled or not) harmless.
  auto generation = ++timer_generation_;
  if (disposed_ || tick_rate_hz_ == 0) return count_period(Duration{0});
  count_period(scheduler_.period());
  auto next = scheduler_.next_tick();
  timer_.expires_at(std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(next.time_since_epoch())));
  timer_.async_wait([self = shared_from_this(), generation](const std::error_code& ec) {
    if (ec || generation != self->timer_generation_) return;
    self->advance(self->shard_.now());
  });
}

void RoomHost::advance(TimePoint now) {
  if (disposed_ || tick_rate_hz_ == 0) return;
  auto skipped_before = scheduler_.skipped();
  auto due = scheduler_.update(now);
  if (due.ticks > 0) {
    auto& metrics = shard_.metrics();
    metrics.tick_lateness.record_us(static_cast<uint64_t>(due.lateness.count() / 1000));
    metrics.ticks_skipped.add(scheduler_.skipped() - skipped_before);
    for (uint32_t i = 0; i < due.ticks && !disposed_ && tick_rate_hz_ > 0; ++i) {
      if (!guarded("on_tick", [&] { room_->on_tick(scheduler_.period()); })) break;
      metrics.room_ticks.add();
      // Snapshots of the world as this tick left it (a caught-up tick included: its
      // snapshot is as real as any other, and ticks must not skip numbers).
      replicate(++replication_tick_);
    }
  }
  arm_timer();
}

void RoomHost::sweep(TimePoint now) {
  if (disposed_) return;
  if (dropped_members_ > 0) {
    // Seats whose hold ran out; the session hears "timeout" (in its replay, if it resumes).
    std::vector<SessionId> due;
    for (size_t i = 0; i < members_.size(); ++i) {
      if (members_[i].held_until && now >= *members_[i].held_until) due.push_back(clients_[i].id);
    }
    for (auto id : due) leave(id, "timeout", true);
    if (disposed_) return;
  }
  if (!reservations_.empty()) {
    expire_reservations(now);
    // A matched room nobody came to: empty from the moment its last reservation lapsed.
    if (reservations_.empty() && clients_.empty() && !empty_since_) empty_since_ = now;
  }
  if (!empty_since_ || !reservations_.empty()) return;  // a reserved seat keeps the room
  auto grace = std::chrono::milliseconds(core_of(shard_).config().rooms.empty_dispose_ms);
  if (now - *empty_since_ >= grace) dispose("empty");
}

void RoomHost::reserve(std::string token, SeatHolder who, TimePoint expires) {
  if (disposed_) return;
  reservation_only_ = true;
  reservations_.insert_or_assign(std::move(token), Reservation{std::move(who), expires});
}

int RoomHost::reserve_for_node(std::string token, std::string account_id, TimePoint expires, std::string& why) {
  if (disposed_ || failed_ || create_rejection_) {
    why = "room " + id_ + " was disposed";
    return v1::ROOM_NOT_FOUND;
  }
  if (!reservations_.empty()) expire_reservations(shard_.now());
  // The checks a local join without a reservation meets (join()), so a redirect is never
  // handed out for a join that would be refused anyway.
  if (reservation_only_ && !(reservations_.empty() && core_of(shard_).config().matchmaker.late_joins)) {
    why = "room " + id_ + " is a match room: joining it takes a seat reservation";
    return v1::RESERVATION_INVALID;
  }
  if (locked_) {
    why = "room " + id_ + " is locked";
    return v1::ROOM_LOCKED;
  }
  if (members_.size() + reservations_.size() >= max_clients_) {
    why = "room " + id_ + " is full";
    return v1::ROOM_FULL;
  }
  reservations_.insert_or_assign(std::move(token), Reservation{SeatHolder{0, std::move(account_id)}, expires});
  return 0;
}

bool RoomHost::release_node_seat(const std::string& token) {
  auto it = reservations_.find(token);
  if (it == reservations_.end() || it->second.holder.session != 0 || reservation_only_) return false;
  reservations_.erase(it);
  // The seat kept an empty room alive: from now it waits rooms.empty_dispose_ms like any.
  if (reservations_.empty() && clients_.empty() && !empty_since_) empty_since_ = shard_.now();
  return true;
}

void RoomHost::expire_reservations(TimePoint now) {
  auto expired = std::erase_if(reservations_, [&](const auto& r) { return now >= r.second.expires; });
  if (expired > 0) shard_.metrics().reservations_expired.add(expired);
}

const Client* RoomHost::find_client(SessionId id) const {
  for (auto& c : clients_) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

RoomHost::Member* RoomHost::find_member(SessionId id) {
  for (size_t i = 0; i < clients_.size(); ++i) {
    if (clients_[i].id == id) return &members_[i];
  }
  return nullptr;
}

void RoomHost::membership_changed() {
  formats_ = 0;
  for (auto& m : members_) formats_ |= protocol::format_bit(m.format);
  remote_members_stale_ = true;
  publish_listing();
}

void RoomHost::publish_listing() {
  core_of(shard_).world().update_listing(*this, [&](Listing& l) {
    l.clients = static_cast<uint32_t>(clients_.size());
    l.max_clients = max_clients_;
    l.label = label_;
    l.locked = locked_;
    l.is_private = is_private_;
    l.disposed = disposed_;
    l.metadata = metadata_;
  });
}

void RoomHost::deliver_to(size_t index, const protocol::Frame& frame) {
  auto& m = members_[index];
  if (m.shard == shard_.index()) {
    m.session->send(frame);
  } else {
    m.session->shard().post([session = m.session, frame] { session->send(frame); });
  }
}

void RoomHost::deliver(const protocol::FramedMessage& frames, SessionId except) {
  if (remote_members_stale_) {
    std::vector<MemberList> by_shard(core_of(shard_).shard_count());
    for (auto& m : members_) {
      if (m.shard != shard_.index()) by_shard[m.shard].push_back(m.session);
    }
    remote_members_.assign(by_shard.size(), nullptr);
    for (size_t s = 0; s < by_shard.size(); ++s) {
      if (!by_shard[s].empty()) remote_members_[s] = std::make_shared<const MemberList>(std::move(by_shard[s]));
    }
    remote_members_stale_ = false;
  }
  for (size_t i = 0; i < members_.size(); ++i) {
    auto& m = members_[i];
    if (m.shard == shard_.index() && clients_[i].id != except) m.session->send(frames[m.format]);
  }
  for (size_t s = 0; s < remote_members_.size(); ++s) {
    if (!remote_members_[s]) continue;
    core_of(shard_).shard(static_cast<uint32_t>(s)).post([list = remote_members_[s], frames, except] {
      for (auto& session : *list) {
        if (session->id() != except) session->send(frames[session->format()]);
      }
    });
  }
}

v1::Envelope RoomHost::room_data(uint32_t op, std::string_view data, SessionId sender) const {
  v1::Envelope e;
  auto* rd = e.mutable_room_data();
  rd->set_room_id(id_);
  rd->set_op(op);
  rd->set_data(data.data(), data.size());
  rd->set_sender(sender);
  return e;
}

void RoomHost::send(std::span<const SessionId> to, uint32_t op, std::string_view data, SessionId sender) {
  auto e = room_data(op, data, sender);
  protocol::FramedMessage frames;
  for (auto id : to) {
    for (size_t i = 0; i < clients_.size(); ++i) {
      if (clients_[i].id != id) continue;
      auto f = static_cast<size_t>(members_[i].format);
      if (!frames.by_format[f]) frames.by_format[f] = protocol::frame(e, members_[i].format);
      deliver_to(i, frames.by_format[f]);
    }
  }
}

void RoomHost::broadcast(uint32_t op, std::string_view data, SessionId sender, SessionId except) {
  if (members_.empty()) return;
  deliver(protocol::frame_all(room_data(op, data, sender), formats_), except);
}

void RoomHost::reply_error(MessageError code, std::string_view message) {
  if (current_sender_ == 0) return;  // only meaningful inside on_message
  v1::Envelope e;
  e.set_cid(current_cid_);
  e.mutable_error()->set_code(static_cast<v1::ErrorCode>(code));
  e.mutable_error()->set_message(std::string(message));
  for (size_t i = 0; i < clients_.size(); ++i) {
    if (clients_[i].id == current_sender_) {
      shard_.metrics().count_error(static_cast<int>(code));
      deliver_to(i, protocol::frame(e, members_[i].format));
    }
  }
}

void RoomHost::update_settings(std::optional<uint32_t> max_clients, std::optional<std::string> label,
                               std::optional<bool> locked, std::optional<bool> hidden) {
  if (max_clients) max_clients_ = *max_clients;
  if (label) label_ = std::move(*label);
  if (locked) locked_ = *locked;
  if (hidden) is_private_ = *hidden;
  publish_listing();
}

void RoomHost::set_tick_rate(uint32_t hz) {
  tick_rate_hz_ = std::min(hz, TickScheduler::max_rate_hz);
  if (tick_rate_hz_ > 0) scheduler_.set_rate(tick_rate_hz_, shard_.now());
  if (created_) arm_timer();  // re-armed with the new period, or stopped for 0
}

void RoomHost::with_store(std::function<std::function<void()>(store::Store*)> job) {
  // The continuation is game code (the room's `done`), so it runs guarded; a job that
  // throws on the worker ends the room too rather than leaving `done` silently uncalled.
  auto finish = [self = shared_from_this()](std::function<void()> then, std::optional<std::string> error) {
    self->shard_.post([self, then = std::move(then), error = std::move(error)] {
      if (self->disposed_) return;
      if (error) return self->fail("a storage job", *error);
      self->guarded("a storage callback", then);
    });
  };
  auto run = [job = std::move(job), finish](store::Store* store) {
    std::function<void()> then;
    try {
      then = job(store);
    } catch (const std::exception& e) {
      return finish({}, std::string(e.what()));
    } catch (...) {
      return finish({}, std::string("an exception that is not a std::exception"));
    }
    finish(std::move(then), std::nullopt);
  };
  auto* api = core_of(shard_).api();
  if (!api) return run(nullptr);
  api->run(std::move(run));
}

}  // namespace craft::detail
