// The byte level of Client: socket, HTTP upgrade, framing in and out, close handshake.
#include "craft/client.hpp"

#include "protocol/envelope_codec.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>

namespace craft::client {

namespace {

// A sanity bound on what the server may send in one message; beyond it the stream is
// surely corrupt and buffering it would only exhaust memory.
constexpr uint64_t max_message_size = 64ull << 20;
constexpr size_t max_upgrade_response = 16 * 1024;
constexpr size_t read_chunk = 64 * 1024;

int poll_ms(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT_MAX));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Value of header `name` (lower case) in an HTTP head, nullopt if absent.
std::optional<std::string> header(std::string_view head, std::string_view name) {
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos) {
    pos += 2;
    size_t end = head.find("\r\n", pos);
    auto line = head.substr(pos, end == std::string_view::npos ? head.npos : end - pos);
    auto colon = line.find(':');
    if (colon != line.npos && lower(trim(line.substr(0, colon))) == name) return std::string(trim(line.substr(colon + 1)));
    pos = end;
  }
  return std::nullopt;
}

}  // namespace

void Client::open_socket(Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto port = std::to_string(options_.port);
  auto where = options_.host + ":" + port;
  if (int rc = getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    throw std::runtime_error("cannot resolve " + options_.host + ": " + gai_strerror(rc));
  std::string error = "no address";
  for (auto* a = found; a && fd_ < 0; a = a->ai_next) {
    // Non-blocking from the start: connect honours the deadline, and writes never hang.
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      error = strerror(errno);
      continue;
    }
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int ready;
      while ((ready = ::poll(&p, 1, poll_ms(deadline))) < 0 && errno == EINTR) {
      }
      int err = ready > 0 ? 0 : ETIMEDOUT;
      socklen_t len = sizeof err;
      if (ready > 0) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc != 0) {
      error = strerror(errno);
      ::close(fd);
      continue;
    }
    fd_ = fd;
  }
  freeaddrinfo(found);
  if (fd_ < 0) throw std::runtime_error("connect to " + where + " failed: " + error);
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void Client::upgrade(Clock::time_point deadline) {
  unsigned char nonce[16];
  for (auto& b : nonce) b = static_cast<unsigned char>(rng_());
  unsigned char encoded[32];
  int n = EVP_EncodeBlock(encoded, nonce, sizeof nonce);
  std::string key(reinterpret_cast<char*>(encoded), static_cast<size_t>(n));
  bool ipv6_literal = options_.host.find(':') != std::string::npos;
  auto host = ipv6_literal ? "[" + options_.host + "]" : options_.host;
  write_all("GET " + options_.path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(options_.port) +
            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
            "\r\nSec-WebSocket-Version: 13\r\n\r\n");
  size_t end;
  while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
    if (in_.size() > max_upgrade_response) throw std::runtime_error("WebSocket upgrade: response head too large");
    if (closed_) throw std::runtime_error("connection closed during the WebSocket upgrade: " + in_);
    if (Clock::now() >= deadline) throw std::runtime_error("timeout waiting for the WebSocket upgrade");
    read_some(std::chrono::milliseconds(poll_ms(deadline)));
  }
  std::string head = in_.substr(0, end);
  in_head_ = end + 4;  // whatever follows is already WebSocket frames
  auto status = head.substr(0, head.find("\r\n"));
  auto refused = [&](const std::string& why) {
    return std::runtime_error("WebSocket upgrade refused (" + why + "): " + status);
  };
  if (!status.starts_with("HTTP/1.1 101")) throw refused("status");
  if (lower(header(head, "upgrade").value_or("")) != "websocket") throw refused("Upgrade header");
  if (lower(header(head, "connection").value_or("")).find("upgrade") == std::string::npos)
    throw refused("Connection header");
  if (header(head, "sec-websocket-accept") != ws::accept_key(key)) throw refused("Sec-WebSocket-Accept");
}

void Client::write_all(std::string_view bytes) {
  if (fd_ < 0) throw std::runtime_error("not connected");
  auto deadline = Clock::now() + options_.timeout;
  while (!bytes.empty() && !write_failed_) {
    auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (Clock::now() >= deadline) throw std::runtime_error("timeout sending to the server");
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, poll_ms(deadline));
    } else if (errno == EPIPE || errno == ECONNRESET) {
      // The server closed us; what it said before doing so is still to be read.
      write_failed_ = true;
    } else if (errno != EINTR) {
      throw std::runtime_error(std::string("send failed: ") + strerror(errno));
    }
  }
}

std::string Client::make_ws_frame(ws::Opcode opcode, std::string_view payload, bool masked, bool fin) const {
  uint8_t mask[4];
  for (auto& b : mask) b = static_cast<uint8_t>(rng_());
  return ws::make_frame(opcode, payload, masked ? mask : nullptr, fin);
}

void Client::send_raw(std::string_view bytes) { write_all(bytes); }

void Client::write_envelope(const v1::Envelope& e) {
  if (options_.transport == Transport::tcp) {
    write_all(protocol::frame_payload(protocol::encode(e, protocol::Encoding::binary), protocol::WireFormat::tcp));
  } else if (options_.format == Format::json) {
    write_all(make_ws_frame(ws::Opcode::text, protocol::encode(e, protocol::Encoding::json)));
  } else {
    write_all(make_ws_frame(ws::Opcode::binary, protocol::encode(e, protocol::Encoding::binary)));
  }
}

bool Client::read_some(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + std::max(timeout, std::chrono::milliseconds(0));
  for (;;) {
    if (fd_ < 0 || closed_) return false;
    // A resumable session acks within 500 ms while messages arrive, even if the caller waits
    // longer than that for something else.
    auto wake = deadline;
    if (Clock::time_point due; ack_due(due)) {
      if (Clock::now() >= due) {
        send_ack();
        continue;
      }
      wake = std::min(wake, due);
    }
    // A live server is never silent for long (it pings a quiet client); a connection that is
    // is taken for half-open and resumed.
    if (options_.silence_timeout.count() > 0 && managed() && established_) {
      auto dead = last_received_ + options_.silence_timeout;
      pollfd waiting{fd_, POLLIN, 0};
      // Bytes already waiting are not silence: nobody read them (the caller was away, or this
      // Client was busy with another node's connection); they are read below.
      if (Clock::now() >= dead && ::poll(&waiting, 1, 0) <= 0) {
        closed_ = true;
        if (can_recover()) {
          recover();
          return true;
        }
        return false;
      }
      wake = std::min(wake, dead);
    }
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, poll_ms(wake));
    if (rc < 0) return false;  // EINTR: callers loop on their own deadline
    if (rc == 0) {
      if (Clock::now() >= deadline) return false;
      continue;
    }
    char buf[read_chunk];
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
    if (n <= 0) {
      closed_ = true;  // EOF or reset: the server is gone
    } else {
      last_received_ = Clock::now();
      // Compact only here, so the decoded prefix is dropped once per read, not once per frame.
      if (in_head_ > 0) {
        in_.erase(0, in_head_);
        in_head_ = 0;
      }
      in_.append(buf, static_cast<size_t>(n));
      if (framing_) decode_buffer();  // before the upgrade completes the bytes are HTTP
    }
    if (closed_ && can_recover()) {
      recover();  // reconnects and resumes (or falls back); callers re-check their state
      return true;
    }
    return n > 0;
  }
}

void Client::fail(const std::string& why) {
  // Stop reading this stream for good (its framing is lost), keep what was decoded before.
  if (options_.transport == Transport::websocket && !close_sent_ && !write_failed_) {
    close_sent_ = true;
    try {
      write_all(make_ws_frame(ws::Opcode::close, ws::close_payload(1002, "")));
    } catch (const std::exception&) {
      // Best effort: the error below is what matters.
    }
  }
  closed_ = true;
  in_.clear();
  in_head_ = 0;
  throw std::runtime_error("server broke the protocol: " + why);
}

void Client::decode_buffer() {
  if (options_.transport == Transport::tcp) {
    while (!closed_ && decode_tcp()) {
    }
  } else {
    while (!closed_ && decode_ws()) {
    }
  }
}

bool Client::decode_tcp() {
  std::string_view rest(in_.data() + in_head_, in_.size() - in_head_);
  if (rest.size() < 4) return false;
  auto* p = reinterpret_cast<const uint8_t*>(rest.data());
  uint32_t len = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
  if (len > max_message_size) fail("a TCP frame of " + std::to_string(len) + " bytes");
  if (rest.size() - 4 < len) return false;
  in_head_ += 4 + len;  // advanced first so a throwing take_message does not repeat the frame
  take_message(rest.substr(4, len), false);
  return true;
}

bool Client::decode_ws() {
  std::string_view rest(in_.data() + in_head_, in_.size() - in_head_);
  ws::FrameHeader h;
  switch (ws::parse_header(rest, h)) {
    case ws::ParseResult::need_more: return false;
    case ws::ParseResult::protocol_error: fail("a malformed WebSocket frame header");
    case ws::ParseResult::ok: break;
  }
  if (h.masked) fail("a masked frame");
  if (h.payload_length > max_message_size) fail("a frame of " + std::to_string(h.payload_length) + " bytes");
  if (rest.size() - h.header_length < h.payload_length) return false;
  auto payload = rest.substr(h.header_length, static_cast<size_t>(h.payload_length));
  in_head_ += h.header_length + payload.size();
  switch (h.opcode) {
    case ws::Opcode::ping:
      write_all(make_ws_frame(ws::Opcode::pong, payload));
      break;
    case ws::Opcode::pong:
      break;
    case ws::Opcode::close:
      on_close_frame(payload);
      break;
    case ws::Opcode::text:
    case ws::Opcode::binary:
      if (fragment_text_) fail("a new message inside a fragmented one");
      if (h.fin) {
        take_message(payload, h.opcode == ws::Opcode::text);
      } else {
        fragments_.assign(payload);
        fragment_text_ = h.opcode == ws::Opcode::text;
      }
      break;
    case ws::Opcode::continuation:
      if (!fragment_text_) fail("a continuation frame outside a fragmented message");
      if (fragments_.size() + payload.size() > max_message_size) fail("a fragmented message too large");
      fragments_.append(payload);
      if (h.fin) {
        bool text = *fragment_text_;
        fragment_text_.reset();
        std::string message = std::move(fragments_);
        fragments_.clear();
        take_message(message, text);
      }
      break;
  }
  return true;
}

void Client::on_close_frame(std::string_view payload) {
  // A Disconnect envelope, when one came first, is the authoritative code and reason.
  if (!disconnect_seen_ && payload.size() >= 2) {
    close_code_ = static_cast<uint16_t>((uint8_t(payload[0]) << 8) | uint8_t(payload[1]));
    close_reason_ = std::string(payload.substr(2));
  }
  if (!close_sent_) {
    // Echo the code, as RFC 6455 asks, so the server can close the TCP connection cleanly.
    close_sent_ = true;
    write_all(make_ws_frame(ws::Opcode::close, payload.substr(0, std::min<size_t>(payload.size(), 2))));
  }
  closed_ = true;  // nothing may follow a close frame
}

void Client::take_message(std::string_view payload, bool text) {
  if (text && !ws::is_valid_utf8(payload)) fail("a text frame that is not UTF-8");
  v1::Envelope e;
  if (!protocol::decode(payload, text ? protocol::Encoding::json : protocol::Encoding::binary, e))
    throw std::runtime_error(std::string("server sent an undecodable ") + (text ? "JSON" : "protobuf") + " envelope");
  if (e.has_disconnect()) {
    disconnect_seen_ = true;
    close_code_ = static_cast<uint16_t>(e.disconnect().code());
    close_reason_ = e.disconnect().reason();
  }
  if (!note_received(e)) return;
  if (e.has_ping()) {
    // The protocol lets either side ping; answer like the server would, out of band.
    v1::Envelope pong;
    pong.set_cid(e.cid());
    pong.mutable_pong()->set_client_time_us(e.ping().client_time_us());
    pong.mutable_pong()->set_server_time_us(std::chrono::duration_cast<std::chrono::microseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
    send_envelope(pong);
    return;
  }
  inbox_.push_back(std::move(e));
}

void Client::close(uint16_t code) {
  for (auto& [url, node] : nodes_) node->close(code);
  nodes_.clear();
  if (fd_ < 0) return;
  if (!closed_) {
    auto wait = std::min<std::chrono::milliseconds>(options_.timeout, std::chrono::milliseconds(1000));
    try {
      closing_ = true;  // whatever happens now is not a connection to resume
      if (options_.transport == Transport::websocket) {
        if (!close_sent_) {
          close_sent_ = true;
          write_all(make_ws_frame(ws::Opcode::close, ws::close_payload(code, "")));
        }
      } else {
        if (established_ && managed() && !write_failed_) {
          // On TCP an EOF alone means "connection lost": the goodbye ends a resumable session.
          v1::Envelope bye;
          bye.mutable_disconnect()->set_code(code);
          write_envelope(bye);
        }
        ::shutdown(fd_, SHUT_WR);
      }
      wait_closed(wait);  // events that arrive meanwhile stay queued
    } catch (const std::exception&) {
      // Closing anyway; a misbehaving server must not make close() throw.
    }
  }
  ::close(fd_);
  fd_ = -1;
  closed_ = true;
  closing_ = false;
  // The session ended with us; nothing is left to resume or resend.
  resume_token_.clear();
  unacked_.clear();
}

std::optional<uint16_t> Client::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!closed_) {
    if (fd_ < 0) break;
    if (Clock::now() >= deadline) return std::nullopt;
    read_some(std::chrono::milliseconds(poll_ms(deadline)));
  }
  return close_code_;
}

}  // namespace craft::client
