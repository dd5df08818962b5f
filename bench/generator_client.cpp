#include "generator_impl.hpp"

#include "proc.hpp"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace craft::bench::detail {

void Generator::start_connect(uint32_t i) {
  Conn& c = conns_[i];
  c.started_ns = c.last_send_ns = mono_ns();
  c.state = State::connecting;
  c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) return fail(i, std::string("socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (bind_source_ && o_.source_port_lo) {
    // Our own port for each connection: a port another socket holds (a listener on 0.0.0.0,
    // a connection still closing) is skipped.
    const uint32_t span = uint32_t(o_.source_port_hi) - o_.source_port_lo + 1;
    setsockopt(c.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in from = source_;
    int tries = 0;
    for (;; ++tries) {
      from.sin_port = htons(static_cast<uint16_t>(o_.source_port_lo + next_source_port_++ % span));
      if (::bind(c.fd, reinterpret_cast<const sockaddr*>(&from), sizeof from) == 0) break;
      if (errno != EADDRINUSE || tries >= 64) return fail(i, std::string("bind: ") + std::strerror(errno));
    }
  } else if (bind_source_) {
#ifdef IP_BIND_ADDRESS_NO_PORT
    setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);  // pick the port at connect
#endif
    if (::bind(c.fd, reinterpret_cast<const sockaddr*>(&source_), sizeof source_) != 0) {
      return fail(i, std::string("bind: ") + std::strerror(errno));
    }
  }
  const bool elsewhere = o_.cross_node && i != groups_[c.group].first;
  const sockaddr_in& to = c.redirect_target >= 0 ? redirect_targets_[size_t(c.redirect_target)].second
                          : elsewhere            ? join_server_
                                                 : server_;
  if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS) {
    return fail(i, std::string("connect: ") + std::strerror(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.u64 = i;
  c.want_out = true;
  epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev);
}

void Generator::on_connected(uint32_t i) {
  Conn& c = conns_[i];
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) return fail(i, std::string("connect: ") + std::strerror(err));
  ++connected_;
  set_want_out(i, false);
  if (o_.transport == Transport::ws) {
    c.state = State::upgrading;
    std::string key;
    MaskRng key_rng{static_cast<uint32_t>(i * 2654435761u + plan_.index * 40503u + 1)};
    send_bytes(i, upgrade_request(o_.host, o_.port, key, key_rng));
  } else {
    send_hello(i);
  }
}

void Generator::send_hello(uint32_t i) {
  conns_[i].state = State::hello_sent;
  v1::Envelope e;
  e.set_cid(1);
  e.mutable_hello()->set_protocol_version(1);
  e.mutable_hello()->set_name(std::string("b").append(std::to_string(plan_.index)).append("-").append(std::to_string(i)));
  if (resumable(i)) e.mutable_hello()->set_resumable(true);
  if (conns_[i].resuming) {
    e.mutable_hello()->set_resume_token(conns_[i].resume_token);
    e.mutable_hello()->set_last_seq(conns_[i].server_seq);
  }
  send_envelope(i, e);
}

void Generator::on_welcome(uint32_t i, const v1::Welcome& w) {
  Conn& c = conns_[i];
  if (c.state != State::hello_sent) return;
  c.session_id = w.session_id();
  if (resumable(i) && w.resume_token().empty() && unresumable_++ == 0) {
    note("the server answered hello{resumable} without a resume token: a plain session");
  }
  c.resume_token = w.resume_token();
  if (c.resuming) {
    // held: the same session back, its rooms intact; the replay follows.
    ++(w.resumed() ? resumed_ : resume_fresh_);
    c.state = State::ready;
    return;
  }
  if (o_.scenario == Scenario::idle && o_.join_or_create.empty()) return mark_ready(i);
  if (o_.scenario == Scenario::idle) {
    c.state = State::joining;
    v1::Envelope e;
    e.set_cid(3);
    if (!c.reservation.empty()) {
      // The second leg of a redirected join_or_create: join the named room with the seat;
      // the latency keeps counting from the first leg.
      e.mutable_room_join()->set_room_id(c.redirect_room);
      e.mutable_room_join()->set_reservation(c.reservation);
      c.reservation.clear();
      c.redirect_room.clear();
    } else {
      c.join_sent_ns = mono_ns();
      e.mutable_room_join_or_create()->set_type(o_.join_or_create);
    }
    send_envelope(i, e);
    return;
  }
  Group& g = groups_[c.group];
  if (i == g.first) {
    c.state = State::joining;
    c.join_sent_ns = mono_ns();
    v1::Envelope e;
    e.set_cid(2);
    e.mutable_room_create()->set_type(o_.scenario == Scenario::tick ? "movement2d" : "relay");
    e.mutable_room_create()->set_options(o_.room_options);
    send_envelope(i, e);
  } else if (!g.room_id.empty() && mono_ns() >= g.join_at_ns) {
    send_join(i);
  } else if (conns_[g.first].outcome == Outcome::failed) {
    fail(i, "room creator failed");
  } else {
    c.state = State::wait_room;
  }
}

void Generator::send_join(uint32_t i) {
  Conn& c = conns_[i];
  c.state = State::joining;
  v1::Envelope e;
  e.set_cid(3);
  e.mutable_room_join()->set_room_id(groups_[c.group].room_id);
  if (c.reservation.empty()) {
    c.join_sent_ns = mono_ns();
  } else {
    // The second leg of a redirected join: the latency keeps counting from the first.
    e.mutable_room_join()->set_reservation(c.reservation);
    c.reservation.clear();
    c.reservation.shrink_to_fit();
  }
  send_envelope(i, e);
}

void Generator::on_joined(uint32_t i, const std::string& room_id) {
  Conn& c = conns_[i];
  if (c.state != State::joining) return;
  if (c.parked_fd >= 0) ::close(c.parked_fd);  // the redirect is done: its seat was used
  c.parked_fd = -1;
  Group& g = groups_[c.group];
  // Joins, not creates: a relay room's first member creates it; idle join_or_create joins.
  if (i != g.first || o_.scenario == Scenario::idle) {
    join_.record(uint64_t(std::max<int64_t>(0, mono_ns() - c.join_sent_ns)));
  }
  if (i == g.first) {
    g.room_id = room_id;
    if (o_.join_after_ms > 0) {
      g.join_at_ns = mono_ns() + int64_t{o_.join_after_ms} * 1'000'000;
      delayed_.push_back(c.group);  // join_delayed sends the members' joins then
      mark_ready(i);
      return;
    }
    for (uint32_t m = g.first + 1; m < g.first + g.size; ++m) {
      if (conns_[m].state == State::wait_room) send_join(m);
    }
  }
  mark_ready(i);
}

void Generator::join_delayed(int64_t now) {
  while (!delayed_.empty() && groups_[delayed_.front()].join_at_ns <= now) {
    const Group& g = groups_[delayed_.front()];
    delayed_.pop_front();
    for (uint32_t m = g.first + 1; m < g.first + g.size; ++m) {
      if (conns_[m].state == State::wait_room) send_join(m);
    }
  }
}

void Generator::mark_ready(uint32_t i) {
  Conn& c = conns_[i];
  c.state = State::ready;
  c.outcome = Outcome::ready;
  ++ready_;
  ++groups_[c.group].alive;
}

void Generator::close_conn(Conn& c) {
  if (c.fd >= 0) ::close(c.fd);  // also leaves the epoll set
  c.fd = -1;
  if (c.parked_fd >= 0) ::close(c.parked_fd);
  c.parked_fd = -1;
  c.state = State::closed;
  c.want_out = false;
}

void Generator::fail(uint32_t i, const std::string& reason) {
  Conn& c = conns_[i];
  if (c.outcome != Outcome::pending) return lose(i, reason);
  State was = c.state;
  close_conn(c);
  c.outcome = Outcome::failed;
  ++failed_;
  ++reasons_["failed: " + reason];
  if (was == State::unstarted || was == State::connecting) return;
  // A room whose creator failed will never get an id: its members fail too.
  Group& g = groups_[c.group];
  if (o_.scenario != Scenario::idle && i == g.first && g.room_id.empty()) {
    for (uint32_t m = g.first + 1; m < g.first + g.size; ++m) {
      if (conns_[m].outcome == Outcome::pending && conns_[m].state != State::unstarted &&
          conns_[m].state != State::connecting)
        fail(m, "room creator failed");
    }
  }
}

void Generator::lose(uint32_t i, const std::string& reason) {
  Conn& c = conns_[i];
  if (c.outcome == Outcome::pending) return fail(i, reason);
  if (c.outcome != Outcome::ready) return;
  close_conn(c);
  c.outcome = Outcome::dropped;
  ++dropped_;
  --ready_;
  --groups_[c.group].alive;
  ++reasons_["dropped: " + reason];
}

void Generator::set_want_out(uint32_t i, bool on) {
  Conn& c = conns_[i];
  if (c.want_out == on || c.fd < 0) return;
  c.want_out = on;
  epoll_event ev{};
  ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
  ev.data.u64 = i;
  epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
}

void Generator::send_bytes(uint32_t i, std::string_view bytes) {
  Conn& c = conns_[i];
  if (c.fd < 0) return;
  c.last_send_ns = mono_ns();
  if (!c.out.empty()) {
    c.out.append(bytes);
    return;
  }
  ssize_t n = ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) return lose(i, std::string("send: ") + std::strerror(errno));
    n = 0;
  }
  if (size_t(n) < bytes.size()) {
    c.out.assign(bytes.substr(size_t(n)));
    set_want_out(i, true);
  }
}

void Generator::flush(uint32_t i) {
  Conn& c = conns_[i];
  if (c.fd < 0 || c.out.empty()) return set_want_out(i, false);
  ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) lose(i, std::string("send: ") + std::strerror(errno));
    return;
  }
  c.out.erase(0, size_t(n));
  if (c.out.empty()) {
    c.out.shrink_to_fit();
    set_want_out(i, false);
  }
}

void Generator::send_envelope(uint32_t i, const v1::Envelope& e) {
  e.SerializeToString(&scratch_);
  frame_.clear();
  append_frame(frame_, o_.transport, scratch_, rng_);
  send_bytes(i, frame_);
}

void Generator::send_data(uint32_t i, uint32_t op, std::string_view data) {
  scratch_.clear();
  encode_room_data(scratch_, groups_[conns_[i].group].room_id, op, data, take_ack(i));
  frame_.clear();
  append_frame(frame_, o_.transport, scratch_, rng_);
  send_bytes(i, frame_);
}

void Generator::on_event(uint32_t i, uint32_t events) {
  Conn& c = conns_[i];
  if (c.fd < 0) return;
  if (c.state == State::connecting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(i);
    return;
  }
  if (events & EPOLLOUT) flush(i);
  if (c.fd >= 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(i);
}

void Generator::on_readable(uint32_t i) {
  Conn& c = conns_[i];
  char* buf = buffer_.get();
  for (int round = 0; round < 4 && c.fd >= 0; ++round) {
    ssize_t n = ::recv(c.fd, buf, read_buffer_size, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      return lose(i, std::string("recv: ") + std::strerror(errno));
    }
    if (n == 0) return lose(i, std::string("eof in state ") + state_name(c.state));
    if (c.in.empty()) {
      size_t used = consume(i, buf, size_t(n));
      if (c.fd >= 0 && used < size_t(n)) c.in.assign(buf + used, size_t(n) - used);
    } else {
      c.in.append(buf, size_t(n));
      size_t used = consume(i, c.in.data(), c.in.size());
      if (c.fd >= 0) c.in.erase(0, used);
    }
    if (c.fd < 0 || c.in.empty()) {
      c.in.clear();
      c.in.shrink_to_fit();
    }
    if (size_t(n) < read_buffer_size) return;
  }
}

size_t Generator::consume(uint32_t i, char* data, size_t size) {
  Conn& c = conns_[i];
  size_t pos = 0;
  if (c.state == State::upgrading) {
    std::string key;
    MaskRng key_rng{static_cast<uint32_t>(i * 2654435761u + plan_.index * 40503u + 1)};
    (void)upgrade_request(o_.host, o_.port, key, key_rng);  // the same key again, not stored
    size_t head = 0;
    switch (parse_upgrade_response(std::string_view(data, size), key, head)) {
      case UpgradeResult::need_more: return 0;
      case UpgradeResult::bad: {
        std::string_view first(data, std::min<size_t>(size, 64));
        fail(i, "bad upgrade response: " + std::string(first.substr(0, first.find('\r'))));
        return size;
      }
      case UpgradeResult::ok: break;
    }
    pos = head;
    send_hello(i);
  }
  while (pos < size && c.fd >= 0) {
    InFrame f = next_frame(std::string_view(data + pos, size - pos), o_.transport, 16u << 20);
    if (f.kind == InFrame::need_more) break;
    if (f.kind == InFrame::bad) {
      lose(i, "malformed frame from server");
      return size;
    }
    pos += f.length;
    switch (f.kind) {
      case InFrame::message: on_envelope(i, f.payload); break;
      case InFrame::ping: {
        std::string pong;
        append_ws_control(pong, 10, f.payload, rng_);
        send_bytes(i, pong);
        break;
      }
      case InFrame::close: {
        unsigned code = f.payload.size() >= 2
                            ? (unsigned(uint8_t(f.payload[0])) << 8) | uint8_t(f.payload[1])
                            : 1005;
        lose(i, "close frame " + std::to_string(code));
        return size;
      }
      default: break;
    }
  }
  return pos;
}

void Generator::on_envelope(uint32_t i, std::string_view payload) {
  FastEnvelope fe;
  if (!decode_fast(payload, fe)) return lose(i, "undecodable envelope");
  if (fe.body_field == field_room_data) {
    on_sequenced(i);
    return on_room_data(i, fe);
  }
  v1::Envelope e;
  if (!e.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return lose(i, "undecodable envelope");
  switch (e.body_case()) {
    case v1::Envelope::kWelcome:
    case v1::Envelope::kPing:
    case v1::Envelope::kPong:
    case v1::Envelope::kAck:
    case v1::Envelope::kDisconnect: break;  // link-level: not numbered
    default: on_sequenced(i); break;
  }
  switch (e.body_case()) {
    case v1::Envelope::kWelcome: return on_welcome(i, e.welcome());
    case v1::Envelope::kPing: {
      // The server's keep-alive on TCP (protocol.md §3 item 5): pong, cid 0, its stamp echoed.
      v1::Envelope pong;
      pong.mutable_pong()->set_client_time_us(e.ping().client_time_us());
      return send_envelope(i, pong);
    }
    case v1::Envelope::kRoomJoined: return on_joined(i, e.room_joined().room_id());
    case v1::Envelope::kRoomRedirect: {
      const auto& r = e.room_redirect();
      return follow_redirect(i, r.url(), r.room_id(), r.reservation());
    }
    case v1::Envelope::kError: {
      if (conns_[i].outcome == Outcome::pending) {
        note("client " + std::to_string(i) + " got error " + std::to_string(e.error().code()) + ": " +
             e.error().message());
        return fail(i, "error " + std::to_string(e.error().code()));
      }
      ++errors_;
      if (conns_[i].resuming && (e.error().code() == v1::RESUME_FAILED || e.error().code() == v1::REPLAY_GAP)) {
        ++resume_failed_;
      }
      if (e.error().code() == v1::RATE_LIMITED) ++rate_limited_;
      else note("error " + std::to_string(e.error().code()) + ": " + e.error().message());
      return;
    }
    case v1::Envelope::kDisconnect:
      note("disconnect " + std::to_string(e.disconnect().code()) + ": " + e.disconnect().reason());
      return lose(i, "disconnect " + std::to_string(e.disconnect().code()));
    case v1::Envelope::kRoomLeft:
      if (conns_[i].outcome == Outcome::ready) {
        note("removed from room: " + e.room_left().reason());
        return lose(i, "removed from room");
      }
      return;
    default:
      return;  // pong, ack, presence
  }
}

void Generator::on_room_data(uint32_t i, const FastEnvelope& e) {
  if (conns_[i].resuming) ++replayed_;
  if (o_.scenario == Scenario::tick) {
    if (e.op == 0) on_snapshot(i, e.data);
    return;
  }
  if (e.data.size() < 8) return;
  int64_t now = mono_ns();
  int64_t ts = 0;
  std::memcpy(&ts, e.data.data(), 8);
  ++delivered_total_;
  if (o_.scenario == Scenario::echo && e.op == op_data) {
    // B: answer at once with the same bytes; the one-way time is exact (one clock).
    if (in_window(ts)) latency_.record(uint64_t(std::max<int64_t>(0, now - ts)));
    send_data(i, op_echo, e.data);
    return;
  }
  if (in_window(now)) ++delivered_window_;
  if (!in_window(ts)) return;
  ++delivered_of_window_;
  auto elapsed = uint64_t(std::max<int64_t>(0, now - ts));
  (o_.scenario == Scenario::echo ? rtt_ : latency_).record(elapsed);
}

// movement2d input: uint32 LE seq, int8 dx, int8 dy; a random direction each time.
void Generator::send_input(uint32_t i, int64_t now) {
  Conn& c = conns_[i];
  uint32_t seq = ++c.input_seq;
  uint32_t r = rng_.next();
  char input[6] = {char(seq), char(seq >> 8), char(seq >> 16), char(seq >> 24),
                   char(int(r % 3) - 1), char(int((r / 3) % 3) - 1)};
  c.input_sent_ns[seq % c.input_sent_ns.size()] = now;
  send_data(i, 1, std::string_view(input, sizeof input));
  ++sent_total_;
  if (in_window(now)) ++sent_window_;
}

// A snapshot: {"t":<server ms>,"tick":N,"players":[{"id":"<session>",...,"seq":N},...]}.
void Generator::on_snapshot(uint32_t i, std::string_view json) {
  Conn& c = conns_[i];
  int64_t now = mono_ns();
  ++delivered_total_;
  if (!in_window(now)) return;
  ++delivered_window_;
  ++delivered_of_window_;
  // Snapshot age: the server's wall clock in the snapshot vs ours (same machine), ms precision.
  if (json.starts_with("{\"t\":")) {
    int64_t t_ms = std::strtoll(json.data() + 5, nullptr, 10);
    int64_t age_ns = wall_ns() - t_ms * 1'000'000;
    rtt_.record(uint64_t(std::max<int64_t>(0, age_ns)));
  }
  // Input to acknowledgement: the first snapshot showing our newest input applied.
  std::string needle = "\"id\":\"" + std::to_string(c.session_id) + "\"";
  auto at = json.find(needle);
  if (at == std::string_view::npos) return;
  auto seq_at = json.find("\"seq\":", at);
  if (seq_at == std::string_view::npos) return;
  auto seq = static_cast<uint32_t>(std::strtoul(json.data() + seq_at + 6, nullptr, 10));
  if (seq > c.acked_seq && seq + c.input_sent_ns.size() > c.input_seq) {
    latency_.record(uint64_t(std::max<int64_t>(0, now - c.input_sent_ns[seq % c.input_sent_ns.size()])));
  }
  c.acked_seq = std::max(c.acked_seq, seq);
}

}  // namespace craft::bench::detail
