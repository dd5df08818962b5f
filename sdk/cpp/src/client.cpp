// The message level of Client: requests matched to replies by cid, and the event queue.
#include "craft/client.hpp"

#include <unistd.h>

#include <algorithm>

namespace craft::client {

namespace {

int64_t wall_time_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string body_name(const v1::Envelope& e) {
  if (e.body_case() == v1::Envelope::BODY_NOT_SET) return "an empty envelope";
  return std::string(v1::Envelope::descriptor()->FindFieldByNumber(static_cast<int>(e.body_case()))->name());
}

}  // namespace

Error::Error(v1::ErrorCode c, const std::string& message)
    : std::runtime_error(v1::ErrorCode_Name(c) + ": " + message), code(c) {}

Client::Client(Options options) : options_(std::move(options)), rng_(std::random_device{}()) {}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

void Client::connect() {
  if (fd_ >= 0 && !closed_) throw std::runtime_error("already connected");
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  // A failed or finished earlier connection leaves nothing behind; cids and events carry on.
  in_.clear();
  in_head_ = 0;
  framing_ = false;
  fragments_.clear();
  fragment_text_.reset();
  closed_ = close_sent_ = write_failed_ = disconnect_seen_ = established_ = false;
  ++connection_epoch_;
  last_received_ = Clock::now();
  close_code_ = 0;
  close_reason_.clear();
  auto deadline = Clock::now() + options_.timeout;
  open_socket(deadline);
  try {
    if (options_.transport == Transport::websocket) upgrade(deadline);
    framing_ = true;
    decode_buffer();  // the server may have written right after the upgrade (e.g. a refusal)
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

std::string Client::describe_close() const {
  if (close_code_ == 0) return "";
  return " (code " + std::to_string(close_code_) + (close_reason_.empty() ? "" : ": " + close_reason_) + ")";
}

v1::Envelope Client::request(v1::Envelope e) {
  if (fd_ < 0) throw std::runtime_error("not connected");
  uint32_t cid = next_cid_++;
  if (next_cid_ == 0) next_cid_ = 1;  // 0 means "not a reply"
  e.set_cid(cid);
  std::string what = "the reply to " + body_name(e) + " (cid " + std::to_string(cid) + ")";
  if (closed_) throw std::runtime_error("connection closed before sending " + body_name(e) + describe_close());
  // Anything already queued arrived before the request went out, so cannot be its reply
  // (even if a test reused the cid by hand).
  size_t checked = inbox_.size();
  send_envelope(e);
  // A resumed session resends or replays sequenced requests by itself; a link-level one (ping)
  // that was lost with its connection is sent again. A session that was lost takes its
  // requests with it.
  const bool link_level = !is_sequenced(e);
  uint64_t connection = connection_epoch_, session = session_epoch_;
  auto deadline = Clock::now() + options_.timeout;
  for (;;) {
    if (!e.has_hello() && session != session_epoch_)
      throw std::runtime_error("session lost while waiting for " + what + ": a fresh session was started");
    if (link_level && !e.has_hello() && connection != connection_epoch_ && established_ && !closed_) {
      connection = connection_epoch_;
      send_envelope(e);
    }
    for (size_t i = checked; i < inbox_.size(); ++i) {
      if (inbox_[i].cid() != cid) continue;
      v1::Envelope reply = std::move(inbox_[i]);
      inbox_.erase(inbox_.begin() + static_cast<std::ptrdiff_t>(i));
      if (reply.has_error()) throw Error(reply.error().code(), reply.error().message());
      return reply;
    }
    checked = inbox_.size();
    if (closed_) throw std::runtime_error("connection closed while waiting for " + what + describe_close());
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) throw std::runtime_error("timeout waiting for " + what);
    read_some(left);
  }
}

v1::Welcome Client::hello(std::string name, std::string token) {
  v1::Envelope e;
  auto* h = e.mutable_hello();
  h->set_protocol_version(1);
  h->set_name(name);
  h->set_token(token);
  h->set_resumable(options_.resumable);
  name_ = std::move(name);
  token_ = std::move(token);
  auto reply = request(std::move(e));
  if (!reply.has_welcome()) throw std::runtime_error("expected welcome, got " + body_name(reply));
  return reply.welcome();  // take_message already took the session's id, token and numbering
}

v1::Pong Client::ping() {
  v1::Envelope e;
  e.mutable_ping()->set_client_time_us(wall_time_us());
  auto reply = request(std::move(e));
  if (!reply.has_pong()) throw std::runtime_error("expected pong, got " + body_name(reply));
  return reply.pong();
}

v1::RoomJoined Client::expect_joined(v1::Envelope e, Hop hop) {
  // The join's options go along to the room's node if it is elsewhere.
  std::string options = e.has_room_join()             ? e.room_join().options()
                        : e.has_room_join_or_create() ? e.room_join_or_create().options()
                                                      : std::string();
  auto reply = request(std::move(e));
  if (reply.has_room_redirect()) {
    auto& r = *reply.mutable_room_redirect();
    // One hop: the room's node holds the room, so its redirect means some node advertises
    // another's URL (cluster.advertise); following on would loop, taking a seat each time.
    if (hop == Hop::followed || home_)
      throw std::runtime_error("redirected again to " + r.url().substr(0, 200) + " (node " + r.node().substr(0, 64) +
                               "): check cluster.advertise");
    if (hop == Hop::no_follow || !options_.follow_redirects) throw Redirected(std::move(r));
    return join_on_node(r.url(), r.room_id(), r.reservation(), options);
  }
  if (!reply.has_room_joined()) throw std::runtime_error("expected room_joined, got " + body_name(reply));
  return std::move(*reply.mutable_room_joined());
}

v1::RoomJoined Client::create(std::string type, std::string options, bool is_private) {
  v1::Envelope e;
  auto* c = e.mutable_room_create();
  c->set_type(std::move(type));
  c->set_options(std::move(options));
  c->set_private_(is_private);
  return expect_joined(std::move(e));
}

v1::RoomJoined Client::join(std::string room_id, std::string options) {
  v1::Envelope e;
  e.mutable_room_join()->set_room_id(std::move(room_id));
  e.mutable_room_join()->set_options(std::move(options));
  return expect_joined(std::move(e));
}

v1::RoomJoined Client::join_or_create(std::string type, std::string options) {
  v1::Envelope e;
  e.mutable_room_join_or_create()->set_type(std::move(type));
  e.mutable_room_join_or_create()->set_options(std::move(options));
  return expect_joined(std::move(e));
}

void Client::leave(std::string room_id) {
  if (Client* node = node_holding(room_id)) {
    // A lost node connection: the room is out already (reap_nodes reports it).
    if (node->closed_ || node->fd_ < 0) return reap_nodes();
    try {
      node->leave(std::move(room_id));
    } catch (...) {
      reap_nodes();
      throw;
    }
    return reap_nodes();  // its last room: the connection closes
  }
  v1::Envelope e;
  e.mutable_room_leave()->set_room_id(std::move(room_id));
  auto reply = request(std::move(e));
  if (!reply.has_room_left()) throw std::runtime_error("expected room_left, got " + body_name(reply));
}

std::vector<v1::RoomInfo> Client::list_rooms(std::string type) {
  v1::Envelope e;
  e.mutable_room_list()->set_type(std::move(type));
  auto reply = request(std::move(e));
  if (!reply.has_room_list_result()) throw std::runtime_error("expected room_list_result, got " + body_name(reply));
  auto* rooms = reply.mutable_room_list_result()->mutable_rooms();
  return {std::make_move_iterator(rooms->begin()), std::make_move_iterator(rooms->end())};
}

void Client::send(const std::string& room_id, uint32_t op, std::string_view data, std::vector<uint64_t> targets) {
  if (Client* node = node_holding(room_id)) {
    // Dropped on a lost node connection, like any write after the server has gone.
    if (!node->closed_ && node->fd_ >= 0) node->send(room_id, op, data, std::move(targets));
    return;
  }
  v1::Envelope e;
  auto* rd = e.mutable_room_data();
  rd->set_room_id(room_id);
  rd->set_op(op);
  rd->set_data(data.data(), data.size());
  rd->mutable_targets()->Add(targets.begin(), targets.end());
  send_envelope(e);
}

void Client::send_envelope(const v1::Envelope& e) {
  // The server numbers every message after its welcome that is not link-level, whatever it
  // is, so count them all; a resumable session also keeps each one for a resend.
  bool sequenced = established_ && is_sequenced(e);
  if (sequenced) ++sent_seq_;
  if (!managed()) return write_envelope(e);
  if (sequenced) unacked_.emplace_back(sent_seq_, e);
  if (received_seq_ > acked_seq_ && !e.has_hello()) {
    v1::Envelope with_ack(e);
    with_ack.set_ack_seq(received_seq_);
    acked_seq_ = received_seq_;
    return write_envelope(with_ack);
  }
  write_envelope(e);
}

v1::Envelope Client::take_event() {
  auto& queue = inbox_.empty() ? node_inbox_ : inbox_;
  v1::Envelope e = std::move(queue.front());
  queue.pop_front();
  if (on_event) on_event(e);
  if (e.has_room_data() && on_room_data) on_room_data(e.room_data());
  if (e.has_presence() && on_presence) on_presence(e.presence());
  return e;
}

std::optional<v1::Envelope> Client::next_event(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!has_events() && any_open()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    read_all(left);
  }
  if (!has_events()) return std::nullopt;
  return take_event();
}

std::optional<v1::Envelope> Client::wait_for(const std::function<bool(const v1::Envelope&)>& match,
                                             std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto e = next_event(std::max(left, std::chrono::milliseconds(0)));
    if (!e) return std::nullopt;
    if (match(*e)) return e;
  }
}

int Client::poll(std::chrono::milliseconds timeout) {
  if (!has_events()) read_all(timeout);
  // Drain what the kernel already holds, bounded so a fast sender cannot keep us here.
  for (int i = 0; i < 16 && read_all(std::chrono::milliseconds(0)); ++i) {
  }
  int n = 0;
  while (has_events()) {
    take_event();
    ++n;
  }
  return n;
}

}  // namespace craft::client
