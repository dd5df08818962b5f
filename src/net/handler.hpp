// The transport's view of everything above it. src/net knows bytes, frames and this
// interface; the server's core (detail::ServerCore) implements it, so the transport never
// includes a room, session, protocol or API header (docs/architecture.md, "Layers").
//
// Per message, the transport calls Connection's virtual hooks (on_message etc., overridden
// by Session); these calls here are per HTTP request, per shard sweep and per closed socket,
// none on the read/write path of a message.
#pragma once
#include <craft/clock.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace craft {

class Shard;
namespace http {
struct Request;
}

// A peer's address, IPv4 mapped into the last 4 bytes: the key of per-address accounting.
using IpKey = std::array<uint8_t, 16>;

// The limits the transport enforces itself, copied from craft::Limits when the server starts
// (docs/security.md has each one's default, metric and test).
struct TransportLimits {
  uint32_t max_message_size = 0;        // limits.max_message_size: a frame or reassembled message
  uint32_t max_hello_bytes = 0;         // limits.max_hello_bytes: the first message; 0 = max_message_size
  uint32_t send_queue_bytes = 0;        // limits.send_queue_bytes: queued output before close 4002
  uint32_t idle_timeout_ms = 0;         // limits.idle_timeout_ms: the longest a closing socket drains
  uint32_t max_http_request_bytes = 0;  // limits.max_http_request_bytes: the request head
  uint32_t max_http_body_bytes = 0;     // limits.max_http_body_bytes: a body the handler asked for
  uint32_t flush_interval_us = 0;       // server.flush_interval_us: 0 flushes at the end of each loop turn
  uint32_t coalesce_us = 0;             // server.coalesce_us: 0 wakes the loop for every event
  uint32_t shards = 1;                  // set by ServerCore: with several, coalescing reads a lead early
};

// Receives one whole HTTP response, on any thread; called at most once.
using HttpRespond = std::function<void(std::string response)>;

class ShardHandler {
 public:
  virtual ~ShardHandler() = default;

  // Plain HTTP (every request except the WebSocket upgrade at /ws), on the connection's
  // shard thread. One request per connection; the response ends it.
  //
  // True when the handler needs the request's body: the transport then waits for exactly
  // Content-Length bytes (at most max_http_body_bytes; chunked bodies are refused) and hands
  // them to http_request. Without it the body is never read.
  virtual bool http_wants_body(const http::Request& request) = 0;
  // The response for a request the transport refuses itself before http_request (`status`
  // 400 or 413, `why` in words), in the handler's own format; empty for plain text.
  virtual std::string http_refusal(const http::Request& request, int status, std::string_view why) = 0;
  // Answers a request: the whole response now, or an empty string and later exactly one call
  // of `respond` from any thread (the transport takes it back to the shard).
  virtual std::string http_request(Shard& shard, const http::Request& request, std::string_view body,
                                   const IpKey& ip, HttpRespond respond) = 0;

  // Every 250 ms on the shard's thread, after its connections' sweeps.
  virtual void on_sweep(Shard& shard, TimePoint now) = 0;
  // Graceful shutdown on the shard's thread, after every connection was closed.
  virtual void on_shutdown(Shard& shard) = 0;
  // A connection's socket is closed (any thread's shard): its slot in the per-address and
  // total connection counts is free again.
  virtual void on_connection_released(const IpKey& ip) = 0;
};

}  // namespace craft
