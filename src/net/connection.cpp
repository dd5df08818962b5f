#include "net/connection.hpp"

#include "net/http_request.hpp"
#include "net/proxy_protocol.hpp"
#include "net/tcp_framing.hpp"
#include "net/ws_codec.hpp"

#include <craft/close_codes.hpp>

#include <linux/sockios.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <algorithm>

namespace craft {

namespace {
constexpr auto close_linger = std::chrono::seconds(2);
constexpr int reads_per_wakeup = 4;  // then yield to other connections
constexpr size_t max_gathered_frames = 64;
}  // namespace

Connection::Connection(Shard& shard, asio::ip::tcp::socket socket, Transport transport, IpKey ip)
    : shard_(shard), socket_(std::move(socket)), ip_(ip), transport_(transport) {
  if (transport == Transport::tcp) format_ = WireFormat::tcp;
}

Connection::~Connection() = default;

void Connection::start() {
  std::error_code ec;
  socket_.non_blocking(true, ec);
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  opened_at_ = last_receive_ = shard_.now();
  shard_.add_connection(this);
  wait_readable();
}

void Connection::wait_readable() {
  socket_.async_wait(asio::ip::tcp::socket::wait_read,
                     [self = shared_from_this(), g = generation_](const std::error_code& ec) { self->on_readable(ec, g); });
}

void Connection::on_readable(const std::error_code& ec, uint8_t generation) {
  if (generation != generation_ || state_ == State::closed) return;
  if (ec) {
    finish_close();
    return;
  }
  if (tls_ && state_ == State::open) return on_readable_tls();  // closing: drain raw bytes below
  char* buffer = shard_.read_buffer();
  const size_t capacity = shard_.read_buffer_size();
  for (int round = 0; round < reads_per_wakeup; ++round) {
    std::error_code read_ec;
    size_t n = socket_.read_some(asio::buffer(buffer, capacity), read_ec);
    if (read_ec == asio::error::would_block || read_ec == asio::error::try_again) break;
    if (read_ec || n == 0) {
      finish_close();
      return;
    }
    shard_.metrics().bytes_in.add(n);
    shard_.metrics().read_calls.add();
    if (state_ == State::closing) continue;  // draining until the peer's EOF
    deliver(buffer, n);
    if (state_ == State::closed || paused_) return;
    if (n < capacity) break;
  }
  wait_readable();
}

void Connection::deliver(char* buffer, size_t n) {
  last_receive_ = shard_.now();
  if (partial_.empty()) {
    size_t used = consume(buffer, n);
    if (state_ == State::open && used < n) partial_.assign(buffer + used, n - used);
  } else {
    partial_.append(buffer, n);
    size_t used = consume(partial_.data(), partial_.size());
    if (state_ == State::open) partial_.erase(0, used);
  }
  if (state_ != State::open) partial_.clear();
  if (partial_.empty()) partial_.shrink_to_fit();  // an idle connection holds no buffer
}

size_t Connection::consume(char* data, size_t size) {
  size_t used = 0;
  while (used < size && state_ == State::open && !paused_) {
    Transport before = transport_;
    switch (transport_) {
      case Transport::http: used += consume_http(data + used, size - used); break;
      case Transport::websocket: used += consume_websocket(data + used, size - used); break;
      case Transport::tcp: used += consume_tcp(data + used, size - used); break;
    }
    if (transport_ == before) break;  // an upgrade hands the rest of the bytes on
  }
  return used;
}

size_t Connection::consume_http(char* data, size_t size) {
  if (http_pending_) return size;  // one request per connection: the rest is ignored
  const auto& limits = shard_.limits();
  http::Request request;
  size_t head_length = 0;
  auto result = http::parse_request(std::string_view(data, size), request, head_length);
  if (result == http::ParseResult::incomplete) {
    if (size > limits.max_http_request_bytes) {
      shard_.metrics().http_rejected.add();
      finish_http(http::response(431, "Request Header Fields Too Large", "text/plain", "request head too large\n"));
      return size;
    }
    return 0;
  }
  if (result == http::ParseResult::bad || head_length > limits.max_http_request_bytes) {
    shard_.metrics().http_rejected.add();
    int status = result == http::ParseResult::bad ? 400 : 431;
    finish_http(http::response(status, status == 400 ? "Bad Request" : "Request Header Fields Too Large",
                               "text/plain", "bad request\n"));
    return size;
  }
  shard_.metrics().http_requests.add();
  if (!on_request_head(request)) {
    if (state_ != State::open) return size;  // dropped by a limit, nothing to answer
    shard_.metrics().http_rejected.add();
    finish_http(http::response(400, "Bad Request", "text/plain", "bad X-Forwarded-For from a trusted proxy\n"));
    return size;
  }
  if (request.path() != "/ws" && over_connection_limit()) {
    // A WebSocket upgrade over a limit is told 1013 after the 101; anything else gets 503.
    finish_http(http::response(503, "Service Unavailable", "text/plain",
                               "too many connections (limits.max_connections / max_connections_per_ip)\n", false,
                               "Retry-After: 1\r\n"));
    return size;
  }
  if (http::body_framing_is_bad(request)) {
    shard_.metrics().http_rejected.add();
    finish_http(http_refusal(request, 400, "ambiguous Content-Length / Transfer-Encoding"));
    return size;
  }
  if (request.path() == "/ws") {
    upgrade_websocket(request);
    return head_length;
  }
  size_t length = 0;
  if (shard_.handler().http_wants_body(request)) {
    auto content_length = http::content_length(request);
    if (content_length < 0) {
      shard_.metrics().http_rejected.add();
      finish_http(http_refusal(request, 400, "send the body with Content-Length (no chunked encoding)"));
      return size;
    }
    if (static_cast<unsigned long long>(content_length) > limits.max_http_body_bytes) {
      shard_.metrics().http_rejected.add();
      finish_http(http_refusal(request, 413, "body above limits.max_http_body_bytes (" +
                                                 std::to_string(limits.max_http_body_bytes) + ")"));
      return size;
    }
    length = static_cast<size_t>(content_length);
    if (size - head_length < length) return 0;  // wait for the whole body
  }
  handle_http(request, std::string_view(data + head_length, length));
  return head_length + length;
}

std::string Connection::http_refusal(const http::Request& request, int status, std::string_view why) {
  auto response = shard_.handler().http_refusal(request, status, why);
  if (!response.empty()) return response;
  return http::response(status, status == 413 ? "Content Too Large" : "Bad Request", "text/plain",
                        std::string(why) + "\n");
}

void Connection::handle_http(const http::Request& request, std::string_view body) {
  auto self = shared_from_this();
  auto now = shard_.handler().http_request(shard_, request, body, ip_, [self](std::string response) {
    self->shard_.post([self, response = std::move(response)]() mutable { self->deliver_http(std::move(response)); });
  });
  if (now.empty()) {
    http_pending_ = true;  // the answer comes through the callback
    return;
  }
  deliver_http(std::move(now));
}

void Connection::deliver_http(std::string response) {
  if (response.starts_with("HTTP/1.1 4")) shard_.metrics().http_rejected.add();
  if (state_ == State::open) finish_http(std::move(response));
}

void Connection::upgrade_websocket(const http::Request& request) {
  auto key = request.header("sec-websocket-key");
  if (request.method != "GET" || !request.wants_websocket() || key.size() != 24 ||
      request.header("sec-websocket-version") != "13") {
    shard_.metrics().http_rejected.add();
    finish_http(http::response(400, "Bad Request", "text/plain",
                               "expected a WebSocket upgrade (version 13, with Sec-WebSocket-Key)\n"));
    return;
  }
  // No extensions are negotiated: permessage-deflate costs ~100 KB per connection.
  send_raw("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: " + ws::accept_key(key) + "\r\n\r\n");
  transport_ = Transport::websocket;
  on_websocket_open();
}

void Connection::finish_http(std::string response) {
  if (out_bytes_ + response.size() > shard_.limits().send_queue_bytes) {
    response = http::response(500, "Internal Server Error", "text/plain", "response larger than limits.send_queue_bytes\n");
  }
  send_raw(std::move(response));
  state_ = State::closing;
  closing_since_ = shard_.now();
  flush();
}

// Until its first message (the hello) a connection is anonymous: its frames are held to
// limits.max_hello_bytes, so a socket that never says hello cannot make us buffer
// max_message_size for handshake_timeout_ms.
bool Connection::hello_limited() const { return !first_message_seen_ && shard_.limits().max_hello_bytes != 0; }

uint64_t Connection::message_limit() const {
  return hello_limited() ? shard_.limits().max_hello_bytes : shard_.limits().max_message_size;
}

const char* Connection::message_limit_name() const {
  return hello_limited() ? "first message (hello) larger than limits.max_hello_bytes"
                         : "message larger than limits.max_message_size";
}

size_t Connection::consume_websocket(char* data, size_t size) {
  size_t pos = 0;
  // Pings that arrive together get one pong, echoing the newest (RFC 6455 5.5.3 allows it):
  // within the rate limit (on_ping) one read of 6-byte pings could otherwise queue ten
  // thousand pongs.
  std::string pong;
  bool pong_due = false;
  while (state_ == State::open && !paused_ && pos < size) {
    ws::FrameHeader h;
    auto r = ws::parse_header(std::string_view(data + pos, size - pos), h);
    if (r == ws::ParseResult::need_more) break;
    if (r == ws::ParseResult::protocol_error) {
      protocol_violation(close_code::protocol_error, "malformed WebSocket frame");
      return size;
    }
    if (!h.masked) {
      protocol_violation(close_code::protocol_error, "client frames must be masked");
      return size;
    }
    const uint64_t max_size = ws::is_control(h.opcode) ? shard_.limits().max_message_size : message_limit();
    if (h.payload_length > max_size ||
        (h.opcode == ws::Opcode::continuation && fragments_.size() + h.payload_length > max_size)) {
      protocol_violation(close_code::message_too_big, message_limit_name());
      return size;
    }
    if (size - pos < h.header_length + h.payload_length) break;
    char* payload = data + pos + h.header_length;
    auto length = static_cast<size_t>(h.payload_length);
    ws::apply_mask(payload, length, h.mask);
    pos += h.header_length + length;
    std::string_view body(payload, length);

    switch (h.opcode) {
      case ws::Opcode::ping:
        if (!on_ping()) break;  // over the rate limit: no pong (and maybe closed)
        pong.assign(body);
        pong_due = true;
        break;
      case ws::Opcode::pong:
        on_pong(body);
        break;
      case ws::Opcode::close:
        if (pong_due && !send_raw(ws::make_frame(ws::Opcode::pong, pong))) return size;  // pings before it
        // Answer and wait for the peer's EOF; no Disconnect envelope, the client chose this.
        // The answer is a close tail: it is queued even on a full queue (2 bytes of payload).
        in_close_tail_ = true;
        send_raw(ws::make_frame(ws::Opcode::close, ws::close_payload(close_code::normal, "")));
        in_close_tail_ = false;
        state_ = State::closing;
        closing_since_ = shard_.now();
        shard_.metrics().count_close(close_code::normal);
        on_closed_once(close_code::normal);
        flush();
        return size;
      case ws::Opcode::text:
      case ws::Opcode::binary: {
        if (in_fragmented_message_) {
          protocol_violation(close_code::protocol_error, "new message inside a fragmented one");
          return size;
        }
        bool text = h.opcode == ws::Opcode::text;
        if (h.fin) {
          if (text && !ws::is_valid_utf8(body)) {
            protocol_violation(close_code::invalid_payload, "text frame is not valid UTF-8");
            return size;
          }
          first_message_seen_ = true;
          on_message(body, text);
        } else {
          in_fragmented_message_ = true;
          fragment_is_text_ = text;
          fragments_.assign(body);
        }
        break;
      }
      case ws::Opcode::continuation: {
        if (!in_fragmented_message_) {
          protocol_violation(close_code::protocol_error, "continuation without a message");
          return size;
        }
        fragments_.append(body);
        if (h.fin) {
          std::string message = std::move(fragments_);
          fragments_ = std::string();
          in_fragmented_message_ = false;
          if (fragment_is_text_ && !ws::is_valid_utf8(message)) {
            protocol_violation(close_code::invalid_payload, "text message is not valid UTF-8");
            return size;
          }
          first_message_seen_ = true;
          on_message(message, fragment_is_text_);
        }
        break;
      }
    }
  }
  // Pongs count against limits.send_queue_bytes like everything else: a client that pings
  // without reading is a slow consumer (4002), not a memory leak.
  if (pong_due && state_ == State::open && !send_raw(ws::make_frame(ws::Opcode::pong, pong))) return size;
  return pos;
}

size_t Connection::consume_tcp(char* data, size_t size) {
  size_t pos = 0;
  if (expect_proxy_header_) {
    IpKey client = ip_;
    auto header = net::parse_proxy_header(std::string_view(data, size), client, pos);
    if (header == net::ProxyHeader::need_more) return 0;  // bounded: longer is `bad`
    if (header == net::ProxyHeader::bad) {
      shard_.metrics().forwarded_rejected.add();
      protocol_violation(close_code::protocol_error, "bad PROXY protocol header");
      return size;
    }
    expect_proxy_header_ = false;
    on_stream_client(header == net::ProxyHeader::client ? client : ip_);
    if (state_ != State::open) return size;
  }
  while (state_ == State::open && !paused_) {
    auto frame = tcp::next_frame(std::string_view(data + pos, size - pos), message_limit());
    if (frame.status == tcp::Frame::Status::too_large) {
      protocol_violation(close_code::message_too_big, message_limit_name());
      return size;
    }
    if (frame.status == tcp::Frame::Status::need_more) break;
    first_message_seen_ = true;
    on_message(frame.payload, false);
    pos += frame.consumed;
  }
  return pos;
}

void Connection::protocol_violation(uint16_t code, std::string_view reason) {
  close(code, reason);
}

void Connection::send(const Frame& frame) {
  if (enqueue(frame)) shard_.metrics().frames_out.add();
}

bool Connection::send_raw(std::string bytes) { return enqueue(std::make_shared<const std::string>(std::move(bytes))); }

void Connection::send_lazily(const Frame& frame) {
  if (enqueue(frame, true)) shard_.metrics().frames_out.add();
}

bool Connection::enqueue(Frame frame, bool lazy) {
  if (state_ != State::open && !in_close_tail_) return false;
  // Only the close tail (one disconnect envelope and one close frame, a few hundred bytes
  // at most) may go past the limit, so that even a full queue can say why it closes.
  const uint64_t limit = shard_.limits().send_queue_bytes;
  if (!in_close_tail_ && uint64_t{out_bytes_} + frame->size() > limit) {
    close(close_code::slow_consumer, "send queue full: the client reads too slowly");
    return false;
  }
  out_bytes_ += static_cast<uint32_t>(frame->size());
  out_.push_back(std::move(frame));
  if (!lazy && !flush_scheduled_ && !write_waiting_) {
    flush_scheduled_ = true;
    shard_.schedule_flush(shared_from_this());
  }
  return true;
}

void Connection::drop_unsent_backlog() {
  // Keep only a frame already partly on the wire, so the stream stays well framed.
  size_t keep = out_offset_ > 0 ? 1 : 0;
  for (size_t i = keep; i < out_.size(); ++i) out_bytes_ -= static_cast<uint32_t>(out_[i]->size());
  out_.resize(keep);
}

void Connection::close(uint16_t code, std::string_view reason) {
  if (state_ != State::open || in_close_tail_) return;
  shard_.metrics().count_close(code);
  // A slow consumer would read its whole backlog before the close: drop it, so the
  // disconnect envelope and close frame are what it reads next.
  if (code == close_code::slow_consumer) drop_unsent_backlog();
  in_close_tail_ = true;
  before_close(code, reason);
  if (transport_ == Transport::websocket) {
    send_raw(ws::make_frame(ws::Opcode::close, ws::close_payload(code, reason)));
  }
  in_close_tail_ = false;
  state_ = State::closing;
  closing_since_ = shard_.now();
  partial_.clear();
  fragments_ = std::string();
  on_closed_once(code);
  flush();
}

void Connection::flush() {
  flush_scheduled_ = false;
  if (state_ == State::closed || write_waiting_) return;
  if (tls_) return flush_tls();
  auto& iov = shard_.scratch_buffers();
  // Written frames leave out_ once, when this flush stops: erasing them after every write of
  // max_gathered_frames made a long queue of small frames (a burst of WebSocket pongs, of
  // room data) cost its length squared, and stalled the shard for every connection on it.
  size_t head = 0;
  auto drop_written = [&] { out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(head)); };
  while (head < out_.size()) {
    iov.clear();
    size_t count = std::min(out_.size() - head, max_gathered_frames);
    for (size_t i = 0; i < count; ++i) {
      size_t offset = i == 0 ? out_offset_ : 0;
      const auto& frame = *out_[head + i];
      iov.emplace_back(frame.data() + offset, frame.size() - offset);
    }
    std::error_code ec;
    size_t written = socket_.write_some(iov, ec);
    shard_.metrics().write_calls.add();
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      drop_written();
      wait_writable();
      return;
    }
    if (ec) {
      drop_written();
      finish_close();
      return;
    }
    shard_.metrics().bytes_out.add(written);
    out_bytes_ -= static_cast<uint32_t>(written);
    while (written > 0) {
      size_t remaining = out_[head]->size() - out_offset_;
      if (written >= remaining) {
        written -= remaining;
        out_offset_ = 0;
        ++head;
      } else {
        out_offset_ += static_cast<uint32_t>(written);
        written = 0;
      }
    }
  }
  out_.clear();
  if (out_.capacity() > 16) std::vector<Frame>().swap(out_);  // idle connections give memory back
  if (state_ == State::closing && !send_shut_down_) {
    send_shut_down_ = true;
    opened_at_ = shard_.now();  // closing now: the close linger starts here (connection.hpp)
    std::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);  // then wait for the peer's EOF
  }
}

void Connection::wait_writable() {
  write_waiting_ = true;
  socket_.async_wait(asio::ip::tcp::socket::wait_write,
                     [self = shared_from_this(), g = generation_](const std::error_code& ec) {
                       if (g != self->generation_) return;
                       self->write_waiting_ = false;
                       if (ec) return;
                       self->flush();
                     });
}

void Connection::sweep(TimePoint now) {
  if (state_ == State::open) {
    // A lazily queued frame (send_lazily()) that no other write took along goes now.
    if (!out_.empty() && !flush_scheduled_ && !write_waiting_) {
      flush_scheduled_ = true;
      shard_.schedule_flush(shared_from_this());
    }
    return on_sweep(now);
  }
  if (state_ != State::closing) return;
  // A closing connection keeps its close tail (disconnect envelope, close frame) until the
  // peer's kernel has acknowledged it: closing earlier while the peer still sends makes our
  // kernel answer with a reset and throw away what the peer has not received, so a slow
  // reader would see its backlog and then a bare reset. A peer that does not read holds
  // the connection no longer than limits.idle_timeout_ms (at least the linger) after the close.
  const auto drain_limit = std::max<std::chrono::nanoseconds>(
      std::chrono::milliseconds(shard_.limits().idle_timeout_ms), close_linger);
  if (now - closing_since_ > drain_limit) return finish_close();
  if (!send_shut_down_) return;  // the tail is still waiting for room in the kernel
  int unacknowledged = 0;
  if (::ioctl(socket_.native_handle(), SIOCOUTQ, &unacknowledged) == 0 && unacknowledged > 0) {
    opened_at_ = now;  // the linger counts from full delivery
    return;
  }
  if (now - opened_at_ > close_linger) finish_close();  // then wait for the peer's EOF
}

void Connection::on_closed_once(uint16_t code) {
  if (closed_notified_) return;
  closed_notified_ = true;
  on_closed(code);
}

void Connection::finish_close() {
  if (state_ == State::closed) return;
  state_ = State::closed;
  std::error_code ec;
  socket_.close(ec);
  out_.clear();
  out_bytes_ = 0;
  out_offset_ = 0;
  partial_.clear();
  shard_.remove_connection(this);
  // Before the slot is released: a session held for resume keeps it (keep_slot()).
  on_closed_once(1006);
  if (!keep_slot_) release_slot();
}

void Connection::release_slot() {
  if (slot_released_) return;
  slot_released_ = true;
  shard_.handler().on_connection_released(ip_);
}

Connection::Pipe Connection::detach() {
  Pipe p;
  std::error_code ec;
  auto local = socket_.local_endpoint(ec);
  p.v6 = !ec && local.address().is_v6();
  ++generation_;  // waits on this socket, cancelled by release(), find a new generation
  p.fd = socket_.release(ec);
  if (ec) p.fd = -1;
  p.tls = std::move(tls_);
  p.partial = std::move(partial_);
  p.fragments = std::move(fragments_);
  p.out = std::move(out_);
  p.out_offset = out_offset_;
  p.ip = ip_;
  p.accepted = opened_at_;  // while open: the accept time
  p.transport = transport_;
  p.format = format_;
  p.fragment_is_text = fragment_is_text_;
  p.in_fragmented_message = in_fragmented_message_;
  p.tls_established = tls_established_;
  partial_.clear();
  fragments_.clear();
  out_.clear();
  out_offset_ = 0;
  out_bytes_ = 0;
  state_ = State::closed;
  closed_notified_ = true;  // not over: moved
  slot_released_ = true;    // the slot goes with the pipe
  shard_.remove_connection(this);
  return p;
}

void Connection::attach(Pipe p) {
  ++generation_;
  std::error_code ec;
  socket_ = asio::ip::tcp::socket(shard_.context());
  if (p.fd >= 0) socket_.assign(p.v6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), p.fd, ec);
  // Asio keeps its own non-blocking flag per socket object: without this a read would block
  // the shard (the descriptor's O_NONBLOCK alone does not tell asio).
  if (!ec) socket_.non_blocking(true, ec);
  if (ec) {
    if (p.fd >= 0) ::close(p.fd);
    p.fd = -1;
  }
  tls_ = std::move(p.tls);
  partial_ = std::move(p.partial);
  fragments_ = std::move(p.fragments);
  out_ = std::move(p.out);
  out_offset_ = p.out_offset;
  out_bytes_ = 0;
  for (auto& f : out_) out_bytes_ += static_cast<uint32_t>(f->size());
  out_bytes_ -= out_offset_;
  ip_ = p.ip;
  transport_ = p.transport;
  format_ = p.format;
  fragment_is_text_ = p.fragment_is_text;
  in_fragmented_message_ = p.in_fragmented_message;
  tls_established_ = p.tls_established;
  state_ = State::open;
  flush_scheduled_ = false;
  write_waiting_ = false;
  closed_notified_ = false;
  in_close_tail_ = false;
  send_shut_down_ = false;
  http_pending_ = false;
  expect_proxy_header_ = false;
  paused_ = true;  // until resume_reading()
  keep_slot_ = false;
  slot_released_ = false;
  last_receive_ = shard_.now();
  opened_at_ = p.accepted != TimePoint{} ? p.accepted : last_receive_;
  shard_.add_connection(this);
  if (p.fd < 0) return finish_close();
  if (!out_.empty()) {
    flush_scheduled_ = true;
    shard_.schedule_flush(shared_from_this());
  }
}

void Connection::resume_reading() {
  if (state_ != State::open) return;
  paused_ = false;
  if (!partial_.empty()) {
    std::string bytes = std::move(partial_);
    partial_.clear();
    deliver(bytes.data(), bytes.size());
    if (state_ != State::open || paused_) return;
  }
  // Not just a wait: bytes may sit in the kernel or in OpenSSL already.
  shard_.post([self = shared_from_this(), g = generation_] { self->on_readable({}, g); });
}

void Connection::send_ping_frame(std::string_view payload) {
  if (transport_ == Transport::websocket) send_raw(ws::make_frame(ws::Opcode::ping, payload));
}

}  // namespace craft
