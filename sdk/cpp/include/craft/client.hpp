// craft's C++ client: connect over WebSocket or TCP, say hello, join rooms, send and
// receive room data. Blocking and single-threaded on purpose: a request sends and then
// reads until its reply arrives (matched by cid), queueing everything else as events.
// Tests, tools and bots use it; it is not thread-safe (one thread per Client).
#pragma once
#include "craft.pb.h"
#include "net/ws_codec.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace craft::client {

enum class Transport { websocket, tcp };
enum class Format { binary, json };  // WebSocket only; TCP is always binary

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  Transport transport = Transport::websocket;
  Format format = Format::binary;
  std::string path = "/ws";
  std::chrono::milliseconds timeout{5000};  // for connect and each request
};

// The server answered a request with an Error envelope.
class Error : public std::runtime_error {
 public:
  Error(v1::ErrorCode c, const std::string& message) : std::runtime_error(message), code(c) {}
  v1::ErrorCode code;
};

class Client {
 public:
  explicit Client(Options options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void connect();
  v1::Welcome hello(std::string name = "", std::string token = "");
  v1::Pong ping();
  v1::RoomJoined create(std::string type, std::string options = "", bool is_private = false);
  v1::RoomJoined join(std::string room_id, std::string options = "");
  v1::RoomJoined join_or_create(std::string type, std::string options = "");
  void leave(std::string room_id);
  std::vector<v1::RoomInfo> list_rooms(std::string type = "");
  // Fire and forget: room data has no reply.
  void send(const std::string& room_id, uint32_t op, std::string_view data, std::vector<uint64_t> targets = {});

  // Sends `e` with the next cid and waits for the envelope with that cid.
  v1::Envelope request(v1::Envelope e);

  // Events: everything that is not a reply being waited for.
  std::optional<v1::Envelope> next_event(std::chrono::milliseconds timeout);
  // Takes events until one matches (others are dropped); nullopt on timeout or close.
  std::optional<v1::Envelope> wait_for(const std::function<bool(const v1::Envelope&)>& match,
                                       std::chrono::milliseconds timeout);
  // Optional callbacks, run as poll() takes events.
  std::function<void(const v1::RoomData&)> on_room_data;
  std::function<void(const v1::PresenceEvent&)> on_presence;
  std::function<void(const v1::Envelope&)> on_event;  // every event
  // Reads what arrives within `timeout` and dispatches queued events; returns how many.
  int poll(std::chrono::milliseconds timeout);

  // Low level, for tests of hostile input.
  void send_envelope(const v1::Envelope& e);
  void send_raw(std::string_view bytes);
  std::string make_ws_frame(ws::Opcode opcode, std::string_view payload, bool masked = true, bool fin = true) const;

  // Sends a close frame (WebSocket) or shuts down (TCP), waits briefly for the server's.
  void close(uint16_t code = 1000);
  bool is_closed() const { return closed_; }
  // The server's close code: from its Disconnect envelope, else its close frame, else 0.
  uint16_t close_code() const { return close_code_; }
  const std::string& close_reason() const { return close_reason_; }
  // Reads (queueing events) until the server closes; nullopt on timeout.
  std::optional<uint16_t> wait_closed(std::chrono::milliseconds timeout);

  uint64_t session_id() const { return session_id_; }
  uint32_t next_cid() const { return next_cid_; }
  int native_handle() const { return fd_; }

 private:
  using Clock = std::chrono::steady_clock;
  // Reads once (waiting up to `timeout`) and decodes complete messages into inbox_.
  bool read_some(std::chrono::milliseconds timeout);
  void decode_buffer();
  void take_message(std::string_view payload, bool text);
  void write_all(std::string_view bytes);
  v1::RoomJoined expect_joined(v1::Envelope e);

  Options options_;
  int fd_ = -1;
  std::string in_;                  // bytes not yet decoded
  std::string fragments_;           // a fragmented WebSocket message
  bool fragment_text_ = false;
  std::deque<v1::Envelope> inbox_;  // decoded, not yet taken
  uint32_t next_cid_ = 1;
  uint64_t session_id_ = 0;
  bool closed_ = false;
  uint16_t close_code_ = 0;
  std::string close_reason_;
};

}  // namespace craft::client
