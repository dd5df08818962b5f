// craft-bench command line.
#pragma once
#include "wire.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace craft::bench {

enum class Scenario : uint8_t { idle, relay, echo, tick, held };
enum class Cut : uint8_t { rst, fin };

struct Target {
  std::string host;
  uint16_t port = 0;
};

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 7777;          // HTTP/WebSocket
  uint16_t tcp_port = 7778;      // length-prefixed TCP
  Transport transport = Transport::ws;
  Scenario scenario = Scenario::relay;
  uint32_t clients = 100;
  uint32_t room_size = 10;
  uint32_t join_after_ms = 0;  // relay: members join this long after their room exists
  double rate = 20;              // messages per second per sending client
  double duration = 10;          // seconds measured
  double warmup = 2;             // seconds of traffic before measuring (relay, echo)
  double settle = 2;             // seconds after the last connection before reading RSS (idle)
  uint32_t payload = 32;         // bytes of room_data.data (at least 8: the send timestamp)
  int server_pid = 0;            // the first of server_pids (0 = none)
  std::vector<int> server_pids;  // several nodes: RSS and CPU are summed over all of them
  // Several nodes (docs/benchmarks.md "Cluster"): generator process k connects to
  // targets[k % size] instead of --host/--port.
  std::vector<Target> targets;
  // relay: a room's creator connects to its process's target, the other members to the next
  // target, so every join by id is a join of a room on another node.
  bool cross_node = false;
  Target join_target;            // set per process when cross_node (not a flag)
  // idle: after welcome every client sends room_join_or_create{type} and is ready when
  // joined; the join latency histogram times those.
  std::string join_or_create;
  uint32_t processes = 1;
  std::string source_base = "127.0.0.2";  // process k binds 127.0.0.(base+k) when processes > 1
  // With a source address: bind each socket to the next port of [lo, hi] ourselves instead of
  // letting connect() search for one (past ~8,000 connections from one address to one server,
  // the kernel's search took 3.7 ms per connect here and the generators stalled). 0 = kernel.
  uint16_t source_port_lo = 0, source_port_hi = 0;
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
