#include "options.hpp"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace craft::bench {

const char* scenario_name(Scenario s) {
  switch (s) {
    case Scenario::idle: return "idle";
    case Scenario::relay: return "relay";
    case Scenario::echo: return "echo";
    case Scenario::tick: return "tick";
    case Scenario::held: return "held";
  }
  return "?";
}

const char* transport_name(Transport t) { return t == Transport::ws ? "ws" : "tcp"; }

namespace {

constexpr const char* usage_text = R"(craft-bench: load generator for craftd (loopback).

  craft-bench --scenario idle|relay|echo|tick|held [flags]

Target:
  --host ADDR            server address (default 127.0.0.1)
  --port N               HTTP/WebSocket port, WebSocket at /ws (default 7777)
  --tcp-port N           length-prefixed TCP port, with --transport tcp (default 7778)
  --transport ws|tcp     (default ws)
  --server-pid PID[,PID] read server RSS and CPU from /proc/PID (recommended); several
                         PIDs (cluster nodes) are summed
  --targets H:P[,H:P]    several servers: generator process k connects to target k mod T
                         (use --processes >= T); --host/--port are then unused
  --cross-node           relay with --targets: room creators connect to their process's
                         target, the other members to the next one (joins by id of a room
                         on another node)
Load:
  --clients N            connections in total (default 100; echo: 2)
  --room-size R          clients per relay room (default 10; echo: 2)
  --join-after-ms MS     relay: a room's other members join MS after it exists (default 0:
                         at once; with --cross-node, once it is listed on every node)
  --rate HZ              messages per second per sending client (default 20)
  --payload BYTES        room_data bytes, >= 8 (send timestamp + padding; default 32)
  --duration S           measured seconds (default 10; idle: seconds to hold, may be 0)
  --warmup S             traffic before measuring (default 2)
  --settle S             idle: wait after the last connection before reading RSS (default 2)
  --connect-rate N       new connections per second in total (default 2000)
  --processes P          generator processes, each with N/P clients and its own source
                         address 127.0.0.(2+k) (needed past ~19,000 connections)
  --source-base ADDR     first source address with --processes > 1 (default 127.0.0.2)
  --source-ports LO-HI   with --processes > 1: bind each connection's source port from this
                         range in turn (each process has its own address, so its own range)
                         instead of the kernel's search, which gets slow past ~8,000
                         connections from one address (default: the kernel picks)
  --setup-timeout S      per client: connect + hello + join deadline (default 15)
  --room-options JSON    tick: options for room_create, e.g. '{"tickRate":60}'; "state":"json"
                         is added unless given (tick reads movement2d's JSON snapshots)
  --join-or-create TYPE  idle: each client sends room_join_or_create{TYPE} after welcome
                         and is ready when joined (join latency is reported)
  --resumable            resumable sessions: hello{resumable:true} and acks (protocol.md 3.2)
  --batch N              held: connect, join and cut N sessions at a time (default: all)
  --cut rst|fin          held: cut with a TCP reset (default) or a plain close (FIN)
  --replay-kb K          held: then one feeder per room sends K KiB of room_data (default 0)
  --replay-steps S       held: server RSS is read after each of S equal parts (default 4)
Scenarios:
  idle    connect, hello, hold; server RSS per connection
  relay   rooms of R in "relay" rooms, everyone sends at --rate; delivery latency
  echo    pairs; A sends, B answers; round trip
  tick    rooms of R in "movement2d" rooms, bots send inputs at --rate; snapshot age,
          input-to-acknowledgement latency, the server's tick lateness from /metrics
  held    resumable sessions in relay rooms of R, cut without goodbye so the server holds
          them: server RSS per held session; with --replay-kb, per KiB of replay buffer
Output:
  --json FILE            append one JSON line per run
  --label TEXT           stored with the run
  --quiet                no live progress line on stderr
)";

[[noreturn]] void usage(int code, const std::string& error = {}) {
  if (!error.empty()) std::fprintf(stderr, "craft-bench: %s\n\n", error.c_str());
  std::fputs(usage_text, code ? stderr : stdout);
  std::exit(code);
}

double to_double(const std::string& flag, const std::string& v, double lo, double hi) {
  size_t used = 0;
  double d = 0;
  try {
    d = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || !(d >= lo && d <= hi)) {
    usage(2, flag + " wants a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + v + "'");
  }
  return d;
}

uint32_t to_uint(const std::string& flag, const std::string& v, uint32_t lo, uint32_t hi) {
  double d = to_double(flag, v, lo, hi);
  if (d != static_cast<double>(static_cast<uint32_t>(d))) usage(2, flag + " wants a whole number, got '" + v + "'");
  return static_cast<uint32_t>(d);
}

std::vector<std::string> split_list(const std::string& v) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= v.size()) {
    size_t comma = v.find(',', start);
    if (comma == std::string::npos) comma = v.size();
    if (comma > start) out.push_back(v.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace

Options parse_options(int argc, char** argv) {
  Options o;
  bool clients_given = false, room_size_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") usage(0);
    if (arg == "--quiet") {
      o.quiet = true;
      continue;
    }
    if (arg == "--resumable") {
      o.resumable = true;
      continue;
    }
    if (arg == "--cross-node") {
      o.cross_node = true;
      continue;
    }
    if (!arg.starts_with("--")) usage(2, "unexpected argument '" + arg + "'");
    std::string value;
    auto eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else {
      if (i + 1 >= argc) usage(2, arg + " needs a value");
      value = argv[++i];
    }
    if (arg == "--host") o.host = value;
    else if (arg == "--port") o.port = static_cast<uint16_t>(to_uint(arg, value, 1, 65535));
    else if (arg == "--tcp-port") o.tcp_port = static_cast<uint16_t>(to_uint(arg, value, 1, 65535));
    else if (arg == "--transport") {
      if (value == "ws") o.transport = Transport::ws;
      else if (value == "tcp") o.transport = Transport::tcp;
      else usage(2, "--transport is ws or tcp");
    } else if (arg == "--scenario") {
      if (value == "idle") o.scenario = Scenario::idle;
      else if (value == "relay") o.scenario = Scenario::relay;
      else if (value == "echo") o.scenario = Scenario::echo;
      else if (value == "tick") o.scenario = Scenario::tick;
      else if (value == "held") o.scenario = Scenario::held;
      else usage(2, "--scenario is idle, relay, echo, tick or held");
    } else if (arg == "--clients") {
      o.clients = to_uint(arg, value, 1, 10'000'000);
      clients_given = true;
    } else if (arg == "--room-size") {
      o.room_size = to_uint(arg, value, 1, 100'000);
      room_size_given = true;
    } else if (arg == "--join-after-ms") {
      o.join_after_ms = to_uint(arg, value, 0, 600'000);
    } else if (arg == "--rate") o.rate = to_double(arg, value, 0.001, 100'000);
    else if (arg == "--duration") o.duration = to_double(arg, value, 0, 86'400);
    else if (arg == "--warmup") o.warmup = to_double(arg, value, 0, 3'600);
    else if (arg == "--settle") o.settle = to_double(arg, value, 0, 3'600);
    else if (arg == "--payload") o.payload = to_uint(arg, value, 8, 1 << 20);
    else if (arg == "--server-pid") {
      for (const auto& item : split_list(value)) o.server_pids.push_back(static_cast<int>(to_uint(arg, item, 1, 1u << 30)));
      if (o.server_pids.empty()) usage(2, "--server-pid wants PID[,PID...]");
      o.server_pid = o.server_pids.front();
    } else if (arg == "--targets") {
      for (const auto& item : split_list(value)) {
        auto colon = item.rfind(':');
        if (colon == std::string::npos || colon == 0) usage(2, "--targets wants HOST:PORT[,HOST:PORT...]");
        o.targets.push_back({item.substr(0, colon), static_cast<uint16_t>(to_uint(arg, item.substr(colon + 1), 1, 65535))});
      }
      if (o.targets.empty()) usage(2, "--targets wants HOST:PORT[,HOST:PORT...]");
    } else if (arg == "--join-or-create") o.join_or_create = value;
    else if (arg == "--processes") o.processes = to_uint(arg, value, 1, 200);
    else if (arg == "--source-base") o.source_base = value;
    else if (arg == "--source-ports") {
      auto dash = value.find('-');
      if (dash == std::string::npos) usage(2, "--source-ports wants LO-HI");
      o.source_port_lo = static_cast<uint16_t>(to_uint(arg, value.substr(0, dash), 1024, 65535));
      o.source_port_hi = static_cast<uint16_t>(to_uint(arg, value.substr(dash + 1), o.source_port_lo, 65535));
    }
    else if (arg == "--connect-rate") o.connect_rate = to_double(arg, value, 1, 1'000'000);
    else if (arg == "--setup-timeout") o.setup_timeout = to_double(arg, value, 1, 3'600);
    else if (arg == "--keepalive") o.keepalive = to_double(arg, value, 1, 3'600);
    else if (arg == "--json") o.json = value;
    else if (arg == "--label") o.label = value;
    else if (arg == "--room-options") o.room_options = value;
    else if (arg == "--batch") o.batch = to_uint(arg, value, 0, 10'000'000);
    else if (arg == "--replay-kb") o.replay_kb = to_uint(arg, value, 0, 1 << 20);
    else if (arg == "--replay-steps") o.replay_steps = to_uint(arg, value, 1, 1000);
    else if (arg == "--cut") {
      if (value == "rst") o.cut = Cut::rst;
      else if (value == "fin") o.cut = Cut::fin;
      else usage(2, "--cut is rst or fin");
    }
    else usage(2, "unknown flag " + arg);
  }
  if (o.scenario == Scenario::echo) {
    if (!clients_given) o.clients = 2;
    if (room_size_given && o.room_size != 2) usage(2, "echo pairs clients: --room-size must be 2");
    o.room_size = 2;
    if (o.clients % 2) usage(2, "echo needs an even --clients (pairs)");
  }
  if (o.scenario == Scenario::held) {
    // One process: it reads the server's RSS itself between its phases.
    if (o.processes > 1) usage(2, "held runs in one generator process (--processes 1)");
    if (!o.server_pid) usage(2, "held needs --server-pid (it measures the server's RSS)");
    o.resumable = true;
  }
  if (o.scenario == Scenario::tick && o.room_options.find("\"state\"") == std::string::npos) {
    // tick times movement2d's JSON snapshots ("t", "seq"); replicated state is the room's
    // default since issue 13, so the JSON broadcast is asked for unless the run chose a state.
    auto brace = o.room_options.find('{');
    auto next = brace == std::string::npos ? brace : o.room_options.find_first_not_of(" \t\r\n", brace + 1);
    if (o.room_options.find_first_not_of(" \t\r\n") == std::string::npos) o.room_options = R"({"state":"json"})";
    else if (next != std::string::npos) o.room_options.insert(brace + 1, o.room_options[next] == '}' ? R"("state":"json")" : R"("state":"json",)");
  }
  if (o.cross_node && (o.targets.size() < 2 || o.scenario != Scenario::relay)) {
    usage(2, "--cross-node needs relay and at least two --targets");
  }
  if (!o.join_or_create.empty() && o.scenario != Scenario::idle) usage(2, "--join-or-create is for idle");
  if (o.processes > o.clients) o.processes = o.clients;
  if (o.scenario != Scenario::idle && o.room_size > 1 && (o.clients / o.processes) < o.room_size) {
    usage(2, "each process needs at least --room-size clients");
  }
  return o;
}

}  // namespace craft::bench
