#include "craft/client.hpp"

#include "protocol/envelope_codec.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace craft::client {

namespace {
std::mt19937& rng() {
  thread_local std::mt19937 r{std::random_device{}()};
  return r;
}

int64_t wall_time_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Client::Client(Options options) : options_(std::move(options)) {}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

void Client::connect() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto port = std::to_string(options_.port);
  if (getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &found) != 0 || !found)
    throw std::runtime_error("cannot resolve " + options_.host);
  fd_ = ::socket(found->ai_family, SOCK_STREAM, 0);
  int rc = ::connect(fd_, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  if (rc != 0) throw std::runtime_error("connect to " + options_.host + ":" + port + " failed: " + strerror(errno));
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (options_.transport == Transport::tcp) return;

  uint8_t nonce[16];
  for (auto& b : nonce) b = static_cast<uint8_t>(rng()());
  static constexpr char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string key;
  for (int i = 0; i < 15; i += 3) {
    uint32_t v = (uint32_t(nonce[i]) << 16) | (uint32_t(nonce[i + 1]) << 8) | nonce[i + 2];
    for (int k = 3; k >= 0; --k) key += b64[(v >> (6 * k)) & 63];
  }
  uint32_t last = uint32_t(nonce[15]) << 16;
  key += b64[(last >> 18) & 63];
  key += b64[(last >> 12) & 63];
  key += "==";
  write_all("GET " + options_.path + " HTTP/1.1\r\nHost: " + options_.host + ":" + port +
            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
            "\r\nSec-WebSocket-Version: 13\r\n\r\n");
  auto deadline = Clock::now() + options_.timeout;
  size_t end;
  while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || closed_) throw std::runtime_error("WebSocket upgrade failed: " + in_);
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    auto n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) throw std::runtime_error("connection closed during the WebSocket upgrade");
    in_.append(buf, static_cast<size_t>(n));
  }
  auto head = in_.substr(0, end);
  in_.erase(0, end + 4);
  if (!head.starts_with("HTTP/1.1 101") || head.find(ws::accept_key(key)) == std::string::npos)
    throw std::runtime_error("WebSocket upgrade refused: " + head);
  decode_buffer();
}

void Client::write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd p{fd_, POLLOUT, 0};
        ::poll(&p, 1, 100);
        continue;
      }
      throw std::runtime_error(std::string("send failed: ") + strerror(errno));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

std::string Client::make_ws_frame(ws::Opcode opcode, std::string_view payload, bool masked, bool fin) const {
  uint8_t mask[4];
  for (auto& b : mask) b = static_cast<uint8_t>(rng()());
  return ws::make_frame(opcode, payload, masked ? mask : nullptr, fin);
}

void Client::send_raw(std::string_view bytes) { write_all(bytes); }

void Client::send_envelope(const v1::Envelope& e) {
  if (options_.transport == Transport::tcp) {
    write_all(protocol::frame_payload(protocol::encode(e, protocol::Encoding::binary), protocol::WireFormat::tcp));
  } else if (options_.format == Format::json) {
    write_all(make_ws_frame(ws::Opcode::text, protocol::encode(e, protocol::Encoding::json)));
  } else {
    write_all(make_ws_frame(ws::Opcode::binary, protocol::encode(e, protocol::Encoding::binary)));
  }
}

bool Client::read_some(std::chrono::milliseconds timeout) {
  if (closed_) return false;
  pollfd p{fd_, POLLIN, 0};
  int rc = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, timeout.count())));
  if (rc <= 0) return false;
  char buf[64 * 1024];
  auto n = ::read(fd_, buf, sizeof buf);
  if (n <= 0) {
    closed_ = true;
    return false;
  }
  in_.append(buf, static_cast<size_t>(n));
  decode_buffer();
  return true;
}

void Client::decode_buffer() {
  size_t pos = 0;
  if (options_.transport == Transport::tcp) {
    while (in_.size() - pos >= 4) {
      auto* p = reinterpret_cast<const uint8_t*>(in_.data() + pos);
      uint32_t len = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
      if (in_.size() - pos - 4 < len) break;
      take_message(std::string_view(in_.data() + pos + 4, len), false);
      pos += 4 + len;
    }
  } else {
    while (pos < in_.size()) {
      ws::FrameHeader h;
      auto r = ws::parse_header(std::string_view(in_.data() + pos, in_.size() - pos), h);
      if (r == ws::ParseResult::need_more) break;
      if (r == ws::ParseResult::protocol_error) throw std::runtime_error("server sent a malformed frame");
      if (in_.size() - pos < h.header_length + h.payload_length) break;
      std::string_view payload(in_.data() + pos + h.header_length, static_cast<size_t>(h.payload_length));
      pos += h.header_length + static_cast<size_t>(h.payload_length);
      switch (h.opcode) {
        case ws::Opcode::ping: write_all(make_ws_frame(ws::Opcode::pong, payload)); break;
        case ws::Opcode::pong: break;
        case ws::Opcode::close:
          if (close_code_ == 0 && payload.size() >= 2) {
            close_code_ = static_cast<uint16_t>((uint8_t(payload[0]) << 8) | uint8_t(payload[1]));
            close_reason_ = std::string(payload.substr(2));
          }
          closed_ = true;
          break;
        case ws::Opcode::text:
        case ws::Opcode::binary:
          if (h.fin) {
            take_message(payload, h.opcode == ws::Opcode::text);
          } else {
            fragments_.assign(payload);
            fragment_text_ = h.opcode == ws::Opcode::text;
          }
          break;
        case ws::Opcode::continuation:
          fragments_.append(payload);
          if (h.fin) {
            take_message(fragments_, fragment_text_);
            fragments_.clear();
          }
          break;
      }
    }
  }
  in_.erase(0, pos);
}

void Client::take_message(std::string_view payload, bool text) {
  v1::Envelope e;
  if (!protocol::decode(payload, text ? protocol::Encoding::json : protocol::Encoding::binary, e))
    throw std::runtime_error("server sent an undecodable envelope");
  if (e.has_disconnect()) {
    close_code_ = static_cast<uint16_t>(e.disconnect().code());
    close_reason_ = e.disconnect().reason();
  }
  inbox_.push_back(std::move(e));
}

v1::Envelope Client::request(v1::Envelope e) {
  uint32_t cid = next_cid_++;
  e.set_cid(cid);
  send_envelope(e);
  auto deadline = Clock::now() + options_.timeout;
  for (;;) {
    for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
      if (it->cid() != cid) continue;
      v1::Envelope reply = std::move(*it);
      inbox_.erase(it);
      if (reply.has_error()) throw Error(reply.error().code(), reply.error().message());
      return reply;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) throw std::runtime_error("timeout waiting for the reply to cid " + std::to_string(cid));
    if (closed_) throw std::runtime_error("connection closed waiting for the reply to cid " + std::to_string(cid));
    read_some(left);
  }
}

v1::Welcome Client::hello(std::string name, std::string token) {
  v1::Envelope e;
  e.mutable_hello()->set_protocol_version(1);
  e.mutable_hello()->set_name(std::move(name));
  e.mutable_hello()->set_token(std::move(token));
  auto reply = request(std::move(e));
  if (!reply.has_welcome()) throw std::runtime_error("expected welcome");
  session_id_ = reply.welcome().session_id();
  return reply.welcome();
}

v1::Pong Client::ping() {
  v1::Envelope e;
  e.mutable_ping()->set_client_time_us(wall_time_us());
  auto reply = request(std::move(e));
  if (!reply.has_pong()) throw std::runtime_error("expected pong");
  return reply.pong();
}

v1::RoomJoined Client::expect_joined(v1::Envelope e) {
  auto reply = request(std::move(e));
  if (!reply.has_room_joined()) throw std::runtime_error("expected room_joined");
  return reply.room_joined();
}

v1::RoomJoined Client::create(std::string type, std::string options, bool is_private) {
  v1::Envelope e;
  e.mutable_room_create()->set_type(std::move(type));
  e.mutable_room_create()->set_options(std::move(options));
  e.mutable_room_create()->set_private_(is_private);
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
  v1::Envelope e;
  e.mutable_room_leave()->set_room_id(std::move(room_id));
  auto reply = request(std::move(e));
  if (!reply.has_room_left()) throw std::runtime_error("expected room_left");
}

std::vector<v1::RoomInfo> Client::list_rooms(std::string type) {
  v1::Envelope e;
  e.mutable_room_list()->set_type(std::move(type));
  auto reply = request(std::move(e));
  if (!reply.has_room_list_result()) throw std::runtime_error("expected room_list_result");
  return {reply.room_list_result().rooms().begin(), reply.room_list_result().rooms().end()};
}

void Client::send(const std::string& room_id, uint32_t op, std::string_view data, std::vector<uint64_t> targets) {
  v1::Envelope e;
  auto* rd = e.mutable_room_data();
  rd->set_room_id(room_id);
  rd->set_op(op);
  rd->set_data(data.data(), data.size());
  for (auto t : targets) rd->add_targets(t);
  send_envelope(e);
}

std::optional<v1::Envelope> Client::next_event(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (inbox_.empty()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || closed_) break;
    read_some(left);
  }
  if (inbox_.empty()) return std::nullopt;
  v1::Envelope e = std::move(inbox_.front());
  inbox_.pop_front();
  if (on_event) on_event(e);
  if (e.has_room_data() && on_room_data) on_room_data(e.room_data());
  if (e.has_presence() && on_presence) on_presence(e.presence());
  return e;
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
  read_some(timeout);
  int n = 0;
  while (!inbox_.empty()) {
    next_event(std::chrono::milliseconds(0));
    ++n;
  }
  return n;
}

void Client::close(uint16_t code) {
  if (fd_ < 0 || closed_) return;
  if (options_.transport == Transport::websocket) {
    write_all(make_ws_frame(ws::Opcode::close, ws::close_payload(code, "")));
    wait_closed(std::chrono::milliseconds(1000));
  }
  ::shutdown(fd_, SHUT_RDWR);
  closed_ = true;
}

std::optional<uint16_t> Client::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!closed_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    read_some(left);
  }
  return close_code_;
}

}  // namespace craft::client
