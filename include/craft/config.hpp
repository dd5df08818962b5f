// Everything craftd can be told. Each field has a default; craftd reads it from a TOML
// file, then environment variables (CRAFT_<SECTION>_<NAME>), then flags. Every limit is
// here, has a metric in /metrics and a test.
#pragma once
#include <cstdint>
#include <string>

namespace craft {

struct Limits {
  uint32_t max_message_size = 64 * 1024;        // bytes in one message (frame or reassembled)
  uint32_t max_rooms_per_session = 8;           // rooms one connection may be in at once
  double messages_per_second = 60;              // token bucket refill rate per session
  uint32_t message_burst = 120;                 // token bucket capacity per session
  uint32_t rate_limit_strikes = 100;            // rate-limited messages in a row before close 4003
  uint32_t handshake_timeout_ms = 10'000;       // HTTP upgrade + hello must finish within this
  uint32_t idle_timeout_ms = 60'000;            // close when nothing is received for this long
  uint32_t max_connections = 100'000;           // across all shards
  uint32_t max_connections_per_ip = 4'096;      // per remote address
  uint32_t send_queue_bytes = 1024 * 1024;      // queued output per session before close 4002
  uint32_t max_http_request_bytes = 8 * 1024;   // HTTP request head (upgrade or API)
};

struct RoomDefaults {
  uint32_t tick_rate_hz = 20;                   // 1-240
  uint32_t max_clients = 64;
  uint32_t empty_dispose_ms = 5'000;            // grace period before an empty room is disposed
  uint32_t max_rooms = 100'000;                 // across the server
  uint32_t chat_history = 50;                   // chat rooms: messages kept and sent on join
  uint32_t chat_max_length = 500;               // chat rooms: bytes of text per message
};

struct ServerConfig {
  std::string listen_address = "127.0.0.1";
  uint16_t http_port = 7777;                    // HTTP + WebSocket at /ws; 0 = pick a free port
  uint16_t tcp_port = 7778;                     // length-prefixed TCP; 0 = pick a free port
  bool tcp_enabled = true;
  uint32_t shards = 0;                          // event loops; 0 = one per core
  uint32_t shutdown_timeout_ms = 5'000;         // graceful shutdown bound
  // 0: writes go out at the end of each loop turn. Above 0: a connection's output waits up
  // to this long so more messages share one write; trades latency for CPU (docs/performance.md).
  uint32_t flush_interval_us = 0;
  std::string static_dir;                       // files served over HTTP (examples); empty = none
  std::string log_level = "info";
  Limits limits;
  RoomDefaults rooms;
};

}  // namespace craft
