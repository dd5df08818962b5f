// The session level of Client: sequence numbers, acks, the resend buffer and resume
// (docs/protocol.md §3.1, §3.2).
#include "craft/client.hpp"

#include <craft/close_codes.hpp>

#include <unistd.h>

#include <algorithm>
#include <thread>

namespace craft::client {

namespace {
// protocol.md §3.2: ack at least every 64 messages or 500 ms while messages arrive.
constexpr uint64_t ack_every_messages = 64;
constexpr std::chrono::milliseconds ack_every_time{500};
}  // namespace

bool is_sequenced(const v1::Envelope& e) {
  switch (e.body_case()) {
    case v1::Envelope::kHello:
    case v1::Envelope::kWelcome:
    case v1::Envelope::kPing:
    case v1::Envelope::kPong:
    case v1::Envelope::kAck:
    case v1::Envelope::kDisconnect:
      return false;
    default:
      return true;  // an empty body too: the server numbers whatever it cannot call link-level
  }
}

// Called for every decoded server envelope, before it is queued.
bool Client::note_received(const v1::Envelope& e) {
  if (e.has_welcome()) {
    const auto& w = e.welcome();
    established_ = true;
    gave_up_ = false;
    if (!w.resumed()) {
      // A new session: both numberings start again and nothing of an older one is resent.
      ++session_epoch_;
      received_seq_ = acked_seq_ = sent_seq_ = server_acked_seq_ = 0;
      unacked_.clear();
      rooms_.clear();
    }
    session_id_ = w.session_id();
    resume_token_ = w.resume_token();
    resume_window_ms_ = w.resume_window_ms();
    return true;
  }
  if (e.has_ack()) {
    // Link-level: the server has our messages 1..seq. An ack beyond what we sent is bogus.
    uint64_t seq = std::min<uint64_t>(e.ack().seq(), sent_seq_);
    server_acked_seq_ = std::max(server_acked_seq_, seq);
    while (!unacked_.empty() && unacked_.front().first <= server_acked_seq_) unacked_.pop_front();
    return false;
  }
  if (established_ && is_sequenced(e)) {
    ++received_seq_;
    if (managed()) {
      if (received_seq_ == acked_seq_ + 1) first_unacked_ = Clock::now();
      if (received_seq_ - acked_seq_ >= ack_every_messages) send_ack();
    }
    if (e.has_room_joined()) {
      rooms_.push_back(e.room_joined().room_id());
    } else if (e.has_room_left()) {
      std::erase(rooms_, e.room_left().room_id());
    }
  }
  // A 4001 on a resumable session is the server holding it for us: resumed, not reported.
  if (e.has_disconnect() && e.disconnect().code() == close_code::idle_timeout && options_.auto_resume &&
      managed() && !closing_)
    return false;
  return true;
}

void Client::send_ack() {
  v1::Envelope e;
  e.mutable_ack()->set_seq(received_seq_);
  acked_seq_ = received_seq_;
  write_envelope(e);
}

bool Client::ack_due(Clock::time_point& when) const {
  if (!managed() || received_seq_ <= acked_seq_ || !established_) return false;
  when = first_unacked_ + ack_every_time;
  return true;
}

bool Client::can_recover() const {
  // Only a loss without a goodbye is held by the server: EOF or reset, or its 4001.
  return options_.auto_resume && managed() && established_ && !recovering_ && !closing_ &&
         !gave_up_ && (close_code_ == 0 || close_code_ == close_code::idle_timeout);
}

v1::Welcome Client::resume() {
  if (resume_token_.empty()) throw std::runtime_error("no resumable session to resume");
  if (fd_ >= 0) {
    // The old connection may be half-open; the server replaces it with this one.
    ::close(fd_);
    fd_ = -1;
    closed_ = true;
  }
  connect();
  v1::Envelope e;
  auto* h = e.mutable_hello();
  h->set_protocol_version(1);
  h->set_resumable(true);
  h->set_resume_token(resume_token_);
  h->set_last_seq(received_seq_);
  acked_seq_ = received_seq_;  // hello.last_seq is an ack
  v1::Envelope reply;
  try {
    reply = request(std::move(e));
  } catch (const Error& refused) {
    if (refused.code == v1::RESUME_FAILED || refused.code == v1::REPLAY_GAP) {
      // The session is over: nothing of it can be resent. The connection is open, un-helloed.
      resume_token_.clear();
      unacked_.clear();
    }
    throw;
  }
  if (!reply.has_welcome() || !reply.welcome().resumed())
    throw std::runtime_error("resume: expected welcome{resumed}, got " + reply.ShortDebugString());
  const auto& w = reply.welcome();
  uint64_t have = std::min<uint64_t>(w.last_seq(), sent_seq_);
  server_acked_seq_ = std::max(server_acked_seq_, have);
  while (!unacked_.empty() && unacked_.front().first <= have) unacked_.pop_front();
  if (!unacked_.empty() && unacked_.front().first != have + 1)
    throw std::runtime_error("resume: the server has our messages up to " + std::to_string(have) +
                             " but we kept only from " + std::to_string(unacked_.front().first));
  // What the server did not get goes again, in order, before anything new.
  resent_ += unacked_.size();
  for (const auto& [seq, sent] : unacked_) {
    if (received_seq_ > acked_seq_) {
      v1::Envelope with_ack(sent);
      with_ack.set_ack_seq(received_seq_);
      acked_seq_ = received_seq_;
      write_envelope(with_ack);
    } else {
      write_envelope(sent);
    }
  }
  return w;
}

void Client::emit(const ConnectionEvent& event) {
  if (on_connection) on_connection(event);
}

void Client::recover() {
  recovering_ = true;
  uint16_t lost_code = close_code_;
  std::string lost_reason = close_reason_;
  ConnectionEvent dropped;
  dropped.close_code = lost_code;
  emit(dropped);
  std::string last_error;
  int attempts = std::max(1, options_.resume_attempts);
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    if (attempt > 1) std::this_thread::sleep_for(options_.resume_backoff * (attempt - 1));
    try {
      resume();
      recovering_ = false;
      ConnectionEvent resumed;
      resumed.kind = ConnectionEvent::Kind::resumed;
      resumed.attempts = attempt;
      emit(resumed);
      return;
    } catch (const Error& refused) {
      if (refused.code == v1::RESUME_FAILED || refused.code == v1::REPLAY_GAP) {
        ConnectionEvent event;
        event.kind = ConnectionEvent::Kind::restarted;
        event.attempts = attempt;
        event.refusal = refused.code;
        try {
          restart(event);
          recovering_ = false;
          emit(event);
          return;
        } catch (const std::exception& e) {
          last_error = e.what();
          break;  // a fresh hello was refused too (token, policy): retrying will not help
        }
      }
      last_error = refused.what();
    } catch (const std::exception& e) {
      last_error = e.what();
    }
  }
  recovering_ = false;
  gave_up_ = true;
  closed_ = true;
  close_code_ = lost_code;
  close_reason_ = lost_reason;
  ConnectionEvent failed;
  failed.kind = ConnectionEvent::Kind::failed;
  failed.attempts = attempts;
  failed.error = last_error;
  emit(failed);
}

void Client::restart(ConnectionEvent& event) {
  auto rooms = rooms_;
  event.old_session_id = session_id_;
  hello(name_, token_);  // a fresh session on the connection the refusal came on
  for (const auto& room : rooms) {
    if (!options_.rejoin_after_fallback) {
      event.lost_rooms.push_back(room);
      continue;
    }
    try {
      // By id, here: the room lived on this node, so a redirect means it is gone.
      v1::Envelope e;
      e.mutable_room_join()->set_room_id(room);
      expect_joined(std::move(e), Hop::no_follow);
      event.rejoined_rooms.push_back(room);
    } catch (const std::exception&) {
      event.lost_rooms.push_back(room);  // gone, full, locked, refused...
    }
  }
}

}  // namespace craft::client
