// craft-bench command line.
#pragma once
#include "wire.hpp"

#include <cstdint>
#include <string>

namespace craft::bench {

enum class Scenario : uint8_t { idle, relay, echo, tick, held };
enum class Cut : uint8_t { rst, fin };

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 7777;          // HTTP/WebSocket
  uint16_t tcp_port = 7778;      // length-prefixed TCP
  Transport transport = Transport::ws;
  Scenario scenario = Scenario::relay;
  uint32_t clients = 100;
  uint32_t room_size = 10;
  double rate = 20;              // messages per second per sending client
  double duration = 10;          // seconds measured
  double warmup = 2;             // seconds of traffic before measuring (relay, echo)
  double settle = 2;             // seconds after the last connection before reading RSS (idle)
  uint32_t payload = 32;         // bytes of room_data.data (at least 8: the send timestamp)
  int server_pid = 0;
  uint32_t processes = 1;
  std::string source_base = "127.0.0.2";  // process k binds 127.0.0.(base+k) when processes > 1
  double connect_rate = 2000;    // new connections per second, all processes together
  double setup_timeout = 15;     // seconds one client may take to connect, say hello and join
  double keepalive = 20;         // seconds without sending before a ping
  std::string room_options;      // tick: room_create.options, e.g. {"tickRate":60}
  // Resumable sessions (docs/protocol.md §3.2): hello{resumable}, acks piggybacked on sends
  // (Envelope.ack_seq) or standalone every 64 messages / 500 ms. held implies it.
  bool resumable = false;
  // held: sessions are connected, joined and then cut in batches of this many (0 = all at
  // once), so the server's connected high-water mark stays at one batch while held grow.
  uint32_t batch = 0;
  Cut cut = Cut::rst;            // held: how a connection is cut (no goodbye either way)
  uint32_t replay_kb = 0;        // held: KiB of room_data each room's feeder sends while held
  uint32_t replay_steps = 4;     // held: RSS is read after each of this many equal parts
  std::string json;
  std::string label;
  bool quiet = false;            // no progress line
};

// Parses argv; prints usage and exits on --help or a bad flag.
Options parse_options(int argc, char** argv);

const char* scenario_name(Scenario s);
const char* transport_name(Transport t);

}  // namespace craft::bench
