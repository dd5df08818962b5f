// Resumable sessions (docs/protocol.md §3.2): numbering, acks, the replay buffer, holding a
// session whose connection was lost, and moving a new connection into it on resume. Also
// server pings to quiet connections and auth.session_policy.
//
// A session lives on one shard for life; a resume's connection lands on any shard. That
// connection's socket is detached there and posted here, so everything the session's rooms
// sent stays in order: frames sent while held wait in the replay buffer, and the new socket
// gets the welcome, then the replay, then live traffic, all from this one shard.
#include "core/server_core.hpp"
#include "core/session.hpp"

#include <craft/close_codes.hpp>

#include <spdlog/spdlog.h>

namespace craft {

using detail::ServerCore;

// ---- the registries ------------------------------------------------------------------

namespace detail {

void ServerCore::register_resumable(uint32_t shard, std::shared_ptr<Session> session) {
  auto id = session->id();
  sessions_by_shard_[shard].resumable[id] = std::move(session);
}

void ServerCore::unregister_resumable(uint32_t shard, SessionId id) { sessions_by_shard_[shard].resumable.erase(id); }

std::shared_ptr<Session> ServerCore::find_resumable(uint32_t shard, SessionId id) {
  auto& map = sessions_by_shard_[shard].resumable;
  auto it = map.find(id);
  return it == map.end() ? nullptr : it->second;
}

std::optional<std::vector<ServerCore::AccountSession>> ServerCore::claim_account(const std::string& account,
                                                                                  AccountSession self) {
  std::lock_guard lock(accounts_mutex_);
  auto& list = accounts_[account];
  if (!list.empty() && config_.auth.session_policy == "refuse") return std::nullopt;
  std::vector<AccountSession> replaced;
  replaced.swap(list);
  list.push_back(std::move(self));
  return replaced;
}

void ServerCore::release_account(const std::string& account, SessionId id) {
  std::lock_guard lock(accounts_mutex_);
  auto it = accounts_.find(account);
  if (it == accounts_.end()) return;
  std::erase_if(it->second, [&](const AccountSession& a) { return a.id == id; });
  if (it->second.empty()) accounts_.erase(it);
}

}  // namespace detail

// ---- numbering and acks --------------------------------------------------------------

void Session::start_resumable() {
  if (!resume_) resume_ = std::make_unique<Resume>();
}

void Session::send(const Frame& frame) {
  if (resume_ && resume_->started) {
    auto limit = core().config().session.replay_buffer_bytes;
    if (size_t dropped = resume_->replay.push(frame, limit)) {
      shard().metrics().replay_overflows.add(dropped);
      // Held, it can never be resumed now: end it (posted: a room may be mid-delivery).
      if (resume_->held) {
        shard().post([self = std::static_pointer_cast<Session>(shared_from_this())] {
          if (!self->held()) return;
          self->shard().metrics().sessions_expired.add();
          self->end_session("timeout");
        });
      }
    }
    if (resume_->held) return;
  }
  Connection::send(frame);
}

void Session::on_ack(uint64_t seq) { resume_->replay.ack(seq); }

void Session::sweep_link(TimePoint now) {
  if (!is_open()) return;
  const auto& limits = core().config().limits;
  if (resume_ && resume_->started && resume_->received > resume_->ack_sent) {
    resume_->ack_sent = resume_->received;
    v1::Envelope e;
    e.mutable_ack()->set_seq(resume_->received);
    // Rides on the next write to the client (a snapshot, typically), else goes at the next
    // sweep: one write a message instead of an extra one every 250 ms (docs/protocol.md §3.2).
    send_lazily(protocol::frame(e, wire_format()));
  }
  if (limits.server_ping_interval_ms == 0) return;
  auto quiet = now - last_receive();
  auto interval = std::chrono::milliseconds(limits.server_ping_interval_ms);
  if (quiet >= interval + std::chrono::milliseconds(limits.server_ping_timeout_ms)) {
    // Half-open (unplugged, asleep): a resumable session is held (on_closed sees 4001).
    return close(close_code::idle_timeout, "no answer to the server's ping (limits.server_ping_timeout_ms)");
  }
  if (quiet < interval) {
    ping_outstanding_ = false;  // something arrived since: the next quiet spell gets a ping
    return;
  }
  if (ping_outstanding_) return;
  ping_outstanding_ = true;
  shard().metrics().server_pings.add();
  int64_t stamp = now_us();
  ping_stamp_us_ = stamp;
  if (transport() == Transport::websocket) {
    char payload[8];
    for (int i = 7; i >= 0; --i, stamp >>= 8) payload[i] = static_cast<char>(stamp & 0xff);
    send_ping_frame(std::string_view(payload, 8));
  } else {
    v1::Envelope e;
    e.mutable_ping()->set_client_time_us(stamp);
    send_link(e);
  }
}

void Session::on_pong(std::string_view payload) {
  ping_outstanding_ = false;
  // A token like a ping: unsolicited pongs are otherwise a flood nothing limits or closes.
  // An answer to our ping every server_ping_interval_ms costs a client nothing it notices.
  if (!take_token()) return;
  if (payload.size() != 8) return;
  int64_t stamp = 0;
  for (unsigned char c : payload) stamp = static_cast<int64_t>(static_cast<uint64_t>(stamp) << 8 | c);
  record_rtt(stamp);
}

void Session::record_rtt(int64_t stamp_us) {
  // The stamp is the client's echo of ours: only the one of the ping we sent last counts,
  // once (a forged or replayed stamp would skew craft_session_rtt_seconds), and only if
  // plausible.
  if (stamp_us == 0 || stamp_us != ping_stamp_us_) return;
  ping_stamp_us_ = 0;
  int64_t rtt = now_us() - stamp_us;
  const auto& limits = core().config().limits;
  int64_t bound = (int64_t{limits.server_ping_interval_ms} + limits.server_ping_timeout_ms) * 1000;
  if (stamp_us > 0 && rtt >= 0 && rtt <= bound) shard().metrics().session_rtt.record_us(static_cast<uint64_t>(rtt));
}

// ---- auth.session_policy --------------------------------------------------------------

bool Session::claim_account(uint32_t cid) {
  const auto& policy = core().config().auth.session_policy;
  if (policy != "replace" && policy != "refuse") return true;
  auto replaced = core().claim_account(
      identity_->account_id, {id_, shard().index(), std::static_pointer_cast<Session>(shared_from_this())});
  if (!replaced) {
    shard().metrics().sessions_refused.add();
    send_error(cid, v1::SESSION_EXISTS,
               "this account already has a session (auth.session_policy = refuse): resume it, or close it first");
    return false;
  }
  registered_account_ = true;
  for (auto& old : *replaced) {
    core().shard(old.shard).post([weak = old.session] {
      if (auto s = weak.lock()) s->end_replaced();
    });
  }
  return true;
}

void Session::end_replaced() {
  if (ended_) return;
  shard().metrics().sessions_replaced.add();
  registered_account_ = false;  // the newer session owns the account's entry now
  if (is_open()) return close(close_code::session_replaced, "replaced by a newer session of this account");
  end_session("replaced");
}

// ---- hold and expiry ------------------------------------------------------------------

void Session::hold() {
  if (resume_->held) return;
  keep_slot();  // a held session counts against the connection limits, as connected
  resume_->held = true;
  resume_->held_until = shard().now() + std::chrono::milliseconds(core().config().session.resume_window_ms);
  shard().metrics().sessions_held.add();
  // A copy: a room on this shard runs on_drop inline, and room code may kick (on_removed).
  auto rooms = rooms_;
  for (auto& room : rooms) {
    room->shard().dispatch([room, who = id_] { room->drop(who); });
  }
}

void Session::hold_at_least(TimePoint until) {
  if (held() && until > resume_->held_until) resume_->held_until = until;
}

bool Session::expire_if_due(TimePoint now) {
  if (!held() || now < resume_->held_until) return false;
  shard().metrics().sessions_expired.add();
  end_session("timeout");
  return true;
}

void Session::end_held() {
  if (held()) end_session("server shutting down");
}

// ---- resume ---------------------------------------------------------------------------

void Session::begin_resume(uint32_t cid, const v1::Hello& hello) {
  detail::ResumeTicket ticket;
  if (!core().resume_tokens().read(hello.resume_token(), ticket) || ticket.shard >= core().shard_count()) {
    shard().metrics().resume_failed_unknown.add();
    return send_error(cid, v1::RESUME_FAILED, "not a resume token of this server (restarted?): say hello afresh");
  }
  // The socket moves to the session's shard. Nothing more is read here: bytes after this
  // hello are the resumed session's (or, if refused, the fresh connection's).
  hello_pending_ = true;
  pause_reading();
  auto self = std::static_pointer_cast<Session>(shared_from_this());
  shard().post([self, ticket, cid, last_seq = hello.last_seq()] {
    if (!self->is_open()) return;
    auto pipe = std::make_shared<Connection::Pipe>(self->detach());
    auto& core = self->core();
    core.shard(ticket.shard).post([&core, ticket, cid, last_seq, pipe] {
      Session::resume_on_shard(core, ticket.shard, ticket, cid, last_seq, pipe);
    });
  });
}

void Session::resume_on_shard(ServerCore& core, uint32_t shard_index, detail::ResumeTicket ticket, uint32_t cid,
                              uint64_t last_seq, std::shared_ptr<Connection::Pipe> pipe) {
  auto& shard = core.shard(shard_index);
  auto& metrics = shard.metrics();
  auto session = core.find_resumable(shard_index, ticket.session);
  int code = 0;
  std::string why;
  if (!session || session->ended_ || session->resume_->generation != ticket.generation || core.stopping()) {
    metrics.resume_failed_unknown.add();
    code = v1::RESUME_FAILED;
    why = "that session has ended or was resumed since (resume window over?): say hello afresh";
  } else if (pipe->transport != session->transport() || pipe->format != session->wire_format()) {
    metrics.resume_failed_format.add();
    code = v1::RESUME_FAILED;
    why = "resume over the transport and frame type (binary/text) the session began with";
  } else if (last_seq > session->resume_->replay.last_seq() || last_seq < session->resume_->replay.first_kept() - 1) {
    metrics.resume_failed_gap.add();
    code = v1::REPLAY_GAP;
    why = last_seq > session->resume_->replay.last_seq()
              ? "last_seq is beyond what the server sent"
              : "messages you missed outgrew session.replay_buffer_bytes: the session ended, say hello afresh";
    if (last_seq <= session->resume_->replay.last_seq()) {
      // It can never be resumed: end it now, so its rooms stop holding the seat.
      if (session->is_open()) session->close(close_code::normal, "replaced by a failed resume");
      session->end_session("disconnected");
    }
  }
  if (code == 0) return session->adopt(std::move(pipe), cid, last_seq);
  // Refused: the connection lives on here as a fresh, un-helloed one.
  auto fresh = std::make_shared<Session>(shard, asio::ip::tcp::socket(shard.context()), pipe->transport, pipe->ip,
                                         core.next_session_id(), detail::Rejection::none);
  fresh->attach(std::move(*pipe));
  fresh->send_error(cid, code, std::move(why));
  fresh->resume_reading();
}

void Session::adopt(std::shared_ptr<Connection::Pipe> pipe, uint32_t cid, uint64_t last_seq) {
  auto& metrics = shard().metrics();
  const bool was_held = resume_->held;
  // The old connection (half-open: its loss not noticed yet, or still closing) goes silently.
  resume_->adopting = true;
  abort();
  resume_->adopting = false;
  release_slot();  // the old connection's slot; the pipe brings its own
  attach(std::move(*pipe));
  if (was_held) {
    resume_->held = false;
    metrics.sessions_held.sub();
  }
  ping_outstanding_ = false;
  // Full, as any new connection's: what the client resends now (everything it sent while
  // away) must not be refused by the rate limit.
  bucket_.fill(shard().now());
  strikes_ = 0;
  resume_->ack_sent = resume_->received;  // welcome.last_seq says it
  ++resume_->generation;
  auto reply = welcome(cid);
  reply.mutable_welcome()->set_resumed(true);
  reply.mutable_welcome()->set_last_seq(resume_->received);
  send_link(reply);
  resume_->replay.ack(last_seq);  // the client has those
  uint64_t replayed = 0;
  resume_->replay.for_each_after(last_seq, [&](const Frame& f) {
    Connection::send(f);
    ++replayed;
  });
  metrics.replayed_messages.add(replayed);
  metrics.sessions_resumed.add();
  if (!is_open()) return;  // the replay did not fit limits.send_queue_bytes (4002)
  auto rooms = rooms_;  // on_resume runs inline for a room on this shard and may kick
  for (auto& room : rooms) {
    room->shard().dispatch([room, who = id_] { room->resume(who); });
  }
  if (!is_open()) return;
  release_held();
  if (is_open()) resume_reading();
}

}  // namespace craft
