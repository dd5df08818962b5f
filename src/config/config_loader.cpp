#include <craft/config_loader.hpp>

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <variant>
#include <vector>

namespace craft {

namespace {

using Target = std::variant<uint32_t*, uint16_t*, double*, bool*, std::string*>;

// Returns why `value` is not acceptable, or nothing.
using Check = std::string (*)(const std::string& value);

struct Field {
  const char* section;  // "server", "limits" or "rooms"
  const char* name;     // the struct field's name
  Target target;
  const char* help;     // one line, after the comment in include/craft/config.hpp
  double min = 0;
  double max = 4294967295.0;
  Check check = nullptr;
};

constexpr std::array<const char*, 12> sections = {"server", "limits", "rooms", "store", "auth", "session", "lobby", "matchmaker", "party", "replication", "tls", "cluster"};

std::string check_log_level(const std::string& v) {
  // spdlog::level::from_str maps anything it does not know to "off": refuse instead.
  for (const char* ok : {"trace", "debug", "info", "warn", "warning", "error", "err", "critical", "off"}) {
    if (v == ok) return {};
  }
  return "expected trace, debug, info, warn, error, critical or off, got '" + v + "'";
}

std::string check_not_empty(const std::string& v) { return v.empty() ? "must not be empty" : ""; }

// server.memory_trim_interval_ms: 0 (off) or at least 100. A check can cost milliseconds of
// shard 0 on a fragmented heap (docs/performance.md §10), so a tighter loop is refused.
std::string check_trim_interval(const std::string& v) {
  return v == "0" || std::strtod(v.c_str(), nullptr) >= 100 ? "" : "must be 0 (off) or at least 100, got " + v;
}

std::string check_backend(const std::string& v) {
  return v == "sqlite" || v == "postgres" || v == "none" ? "" : "expected sqlite, postgres or none, got '" + v + "'";
}

std::string check_password_cost(const std::string& v) {
  return v == "interactive" || v == "moderate" || v == "minimum"
             ? ""
             : "expected interactive, moderate or minimum, got '" + v + "'";
}

std::string check_session_policy(const std::string& v) {
  return v == "allow_many" || v == "replace" || v == "refuse"
             ? ""
             : "expected allow_many, replace or refuse, got '" + v + "'";
}

std::string check_token_key(const std::string& v) {
  if (v.empty()) return {};
  bool hex = v.size() == 64 && std::all_of(v.begin(), v.end(), [](unsigned char ch) { return std::isxdigit(ch); });
  return hex ? "" : "expected 64 hex characters (32 bytes), e.g. from `openssl rand -hex 32`";
}

// The full URL is parsed when the server is made (src/cluster/redis_url.cpp); the loader
// only refuses what is plainly not a Redis URL.
std::string check_redis_url(const std::string& v) {
  return v.empty() || v.rfind("redis://", 0) == 0 ? "" : "expected redis://[:password@]host[:port][/db], got '" + v + "'";
}

std::string check_node_id(const std::string& v) {
  if (v.size() > 64) return "at most 64 characters";
  for (unsigned char ch : v) {
    if (!std::isalnum(ch) && ch != '.' && ch != '_' && ch != '-') return "only letters, digits, '.', '_' and '-'";
  }
  return {};
}

std::string check_advertise(const std::string& v) {
  if (v.size() > 512) return "at most 512 characters";
  for (unsigned char ch : v) {
    if (ch <= 0x20 || ch >= 0x7f) return "printable ASCII without spaces";
  }
  return {};
}

std::vector<Field> fields_of(ServerConfig& c) {
  auto& l = c.limits;
  auto& r = c.rooms;
  auto& st = c.store;
  auto& a = c.auth;
  return {
      {"server", "listen_address", &c.listen_address, "address to listen on", 0, 0, check_not_empty},
      {"server", "http_port", &c.http_port, "HTTP + WebSocket (at /ws) port; 0 = pick a free port", 0, 65535},
      {"server", "tcp_port", &c.tcp_port, "length-prefixed TCP port; 0 = pick a free port", 0, 65535},
      {"server", "tcp_enabled", &c.tcp_enabled, "open the length-prefixed TCP listener"},
      {"server", "shards", &c.shards, "event loops (threads); 0 = one per core", 0, 256},
      {"server", "shutdown_timeout_ms", &c.shutdown_timeout_ms, "graceful shutdown bound", 0, 600'000},
      {"server", "drain_on_sigterm", &c.drain_on_sigterm,
       "SIGTERM drains: no new rooms or joins, running rooms go on until empty or drain_timeout_ms"},
      {"server", "drain_timeout_ms", &c.drain_timeout_ms,
       "a drain's deadline: then every client is closed with 1012 (reconnect) and the server stops", 0, 86'400'000},
      {"server", "flush_interval_us", &c.flush_interval_us,
       "hold a connection's output up to this long so messages share a write; 0 = each loop turn", 0, 1'000'000},
      {"server", "coalesce_us", &c.coalesce_us,
       "a busy shard takes events in batches this far apart instead of waking for each; 0 = wake per event", 0,
       100'000},
      {"server", "memory_trim_interval_ms", &c.memory_trim_interval_ms,
       "how often to check for memory freed since the last trim and give it back; 0 = never, else at least 100", 0,
       3'600'000, check_trim_interval},
      {"server", "memory_trim_free_bytes", &c.memory_trim_free_bytes,
       "resident bytes malloc no longer uses, grown since the last trim, that make the check trim (malloc_trim)", 0,
       4'000'000'000u},
      {"server", "trusted_proxies", &c.trusted_proxies,
       "proxies whose X-Forwarded-For / PROXY header (TCP port, without tls) names the client: addresses, CIDR ranges; empty = nobody"},
      {"server", "metrics_allow", &c.metrics_allow,
       "client addresses / CIDR ranges that may read /metrics (others: 404); empty = nobody"},
      {"server", "static_dir", &c.static_dir, "files served over HTTP (examples); empty = none"},
      {"server", "log_level", &c.log_level, "trace, debug, info, warn, error, critical or off", 0, 0, check_log_level},
      {"limits", "max_message_size", &l.max_message_size, "bytes in one message (frame or reassembled)", 16,
       64 * 1024 * 1024},
      {"limits", "max_hello_bytes", &l.max_hello_bytes,
       "bytes in a connection's first message (its hello; capped by max_message_size)", 256, 64 * 1024 * 1024},
      {"limits", "max_rooms_per_session", &l.max_rooms_per_session, "rooms one connection may be in at once", 1,
       1'000'000},
      {"limits", "messages_per_second", &l.messages_per_second, "token bucket refill rate per session", 0.001, 1e9},
      {"limits", "message_burst", &l.message_burst, "token bucket capacity per session", 1, 1e9},
      {"limits", "rate_limit_strikes", &l.rate_limit_strikes, "rate-limited messages in a row before close 4003", 1,
       1e9},
      {"limits", "handshake_timeout_ms", &l.handshake_timeout_ms, "HTTP upgrade + hello must finish within this", 1,
       3'600'000},
      {"limits", "idle_timeout_ms", &l.idle_timeout_ms, "close when nothing is received for this long", 1,
       86'400'000},
      {"limits", "server_ping_interval_ms", &l.server_ping_interval_ms,
       "nothing received for this long: the server pings the peer; 0 = never", 0, 86'400'000},
      {"limits", "server_ping_timeout_ms", &l.server_ping_timeout_ms,
       "no answer this long after a server ping: close 4001 (a resumable session is held)", 1, 86'400'000},
      {"limits", "max_connections", &l.max_connections, "connections across all shards", 1, 1e9},
      {"limits", "max_connections_per_ip", &l.max_connections_per_ip, "connections per remote address", 1, 1e9},
      {"limits", "max_refusals_per_ip", &l.max_refusals_per_ip,
       "connections over max_connections_per_ip being told 1013/503 at once; more from that address: closed at accept",
       0, 1e9},
      {"limits", "max_forwarded_hops", &l.max_forwarded_hops,
       "X-Forwarded-For entries read from a trusted proxy; a longer trusted chain: 400", 1, 1000},
      {"limits", "send_queue_bytes", &l.send_queue_bytes, "queued output per session before close 4002", 1024,
       1 << 30},
      {"limits", "pending_queue_bytes", &l.pending_queue_bytes,
       "messages waiting behind an unfinished request (payload + 64 B each); above it: RATE_LIMITED", 1024,
       1 << 30},
      {"limits", "max_http_request_bytes", &l.max_http_request_bytes, "HTTP request head (upgrade or API)", 256,
       1 << 20},
      {"limits", "max_http_body_bytes", &l.max_http_body_bytes, "HTTP API request body; above it: 413", 256,
       64 * 1024 * 1024},
      {"limits", "max_json_depth", &l.max_json_depth,
       "arrays/objects nested in client JSON (envelopes, HTTP bodies, stored values); deeper: 400", 1, 1016},
      {"rooms", "tick_rate_hz", &r.tick_rate_hz, "default room tick rate", 1, 240},
      {"rooms", "max_clients", &r.max_clients, "default players per room", 1, 1'000'000},
      {"rooms", "empty_dispose_ms", &r.empty_dispose_ms, "grace period before an empty room is disposed", 0,
       86'400'000},
      {"rooms", "max_rooms", &r.max_rooms, "rooms across the server", 1, 1e9},
      {"rooms", "max_list_results", &r.max_list_results, "rooms in one room_list answer (oldest first)", 1, 100'000},
      {"rooms", "chat_history", &r.chat_history, "chat rooms: messages kept and sent on join", 0, 100'000},
      {"rooms", "chat_max_length", &r.chat_max_length, "chat rooms: bytes of text per message", 1, 1'000'000},
      {"rooms", "max_properties", &r.max_properties, "keys in a room's properties, and in each player's", 0, 100'000},
      {"rooms", "max_property_bytes", &r.max_property_bytes, "one property: key + text value bytes", 16, 1 << 20},
      {"rooms", "max_metadata", &r.max_metadata, "listing metadata keys per room", 0, 10'000},
      {"rooms", "max_filter_conditions", &r.max_filter_conditions,
       "conditions (and, separately, sort keys) in one room filter", 1, 1'000},
      {"lobby", "update_interval_ms", &c.lobby.update_interval_ms,
       "a lobby subscriber gets at most one lobby_update per interval", 10, 3'600'000},
      {"lobby", "max_subscriptions_per_session", &c.lobby.max_subscriptions_per_session,
       "live room lists one session may follow", 0, 1'000},
      {"matchmaker", "interval_ms", &c.matchmaker.interval_ms, "the matcher runs this often", 10, 3'600'000},
      {"matchmaker", "room_type", &c.matchmaker.room_type, "the room type a match creates", 0, 0, check_not_empty},
      {"matchmaker", "max_tickets_per_session", &c.matchmaker.max_tickets_per_session,
       "matchmaker tickets one session may have waiting", 0, 1'000},
      {"matchmaker", "max_pool_size", &c.matchmaker.max_pool_size, "tickets waiting, server-wide", 0, 10'000'000},
      {"matchmaker", "max_query_bytes", &c.matchmaker.max_query_bytes, "bytes in a ticket's query", 0, 1 << 20},
      {"matchmaker", "max_ticket_properties", &c.matchmaker.max_ticket_properties,
       "string + numeric properties of one ticket", 0, 10'000},
      {"matchmaker", "max_count", &c.matchmaker.max_count, "the largest max_count a ticket may ask for", 2, 10'000},
      {"matchmaker", "widen_after_ms", &c.matchmaker.widen_after_ms,
       "the widening rule's step (docs/matchmaking.md)", 1, 86'400'000},
      {"matchmaker", "reservation_ttl_ms", &c.matchmaker.reservation_ttl_ms,
       "a match's seat reservations expire after this", 100, 86'400'000},
      {"matchmaker", "late_joins", &c.matchmaker.late_joins,
       "a match room with no reservation left takes joins without one; false = reserved players only"},
      {"party", "max_size", &c.party.max_size, "party members, leader included", 1, 1'000},
      {"party", "max_requests", &c.party.max_requests, "pending join requests + invitations per party", 0, 10'000},
      {"replication", "baseline_window", &c.replication.baseline_window,
       "snapshots remembered per client as baselines (replicated rooms); older acks are ignored", 2, 256},
      {"replication", "client_bytes_per_second", &c.replication.client_bytes_per_second,
       "snapshot bytes per client per second; changes past it wait for a later snapshot", 64, 1 << 30},
      {"replication", "max_queued_bytes", &c.replication.max_queued_bytes,
       "a member whose send queue holds more gets no snapshot this time", 1024, 1 << 30},
      {"store", "backend", &st.backend, "sqlite, postgres, or none (no accounts/storage API)", 0, 0, check_backend},
      {"store", "sqlite_path", &st.sqlite_path, "SQLite database file; :memory: = in-memory", 0, 0, check_not_empty},
      {"store", "postgres_url", &st.postgres_url, "PostgreSQL connection URL (backend = postgres)"},
      {"store", "workers", &st.workers, "threads running database work off the shards", 1, 64},
      {"store", "max_value_bytes", &st.max_value_bytes, "a storage value or metadata JSON object", 16, 16 << 20},
      {"store", "max_batch", &st.max_batch, "objects in one storage read/write/delete", 1, 10'000},
      {"store", "max_queue", &st.max_queue, "API calls waiting for a worker; above it: UNAVAILABLE", 1, 1e7},
      {"auth", "require", &a.require, "refuse sockets without a valid session token (close 4005)"},
      {"auth", "token_key", &a.token_key, "64 hex chars signing tokens; empty = <sqlite_path>.key or per run", 0, 0,
       check_token_key},
      {"auth", "session_ttl_s", &a.session_ttl_s, "session token lifetime", 10, 365 * 86400},
      {"auth", "refresh_ttl_s", &a.refresh_ttl_s, "refresh token lifetime", 10, 3650u * 86400},
      {"auth", "password_cost", &a.password_cost, "Argon2id cost: interactive, moderate, minimum (tests only)", 0, 0,
       check_password_cost},
      {"auth", "ip_attempts_per_minute", &a.ip_attempts_per_minute, "auth calls per remote address", 0.1, 1e9},
      {"auth", "account_attempts_per_minute", &a.account_attempts_per_minute,
       "auth calls per device id / email / custom id", 0.1, 1e9},
      {"auth", "rate_limit_keys", &a.rate_limit_keys,
       "addresses / ids each auth limiter tracks; past it, idle ones are forgotten", 16, 1e8},
      {"auth", "admin_key", &a.admin_key, "Bearer key for admin calls (leaderboard create, ban); empty = off"},
      {"auth", "session_policy", &a.session_policy,
       "a fresh hello while the account has a session: allow_many, replace (close 4006) or refuse", 0, 0,
       check_session_policy},
      {"session", "resume_window_ms", &c.session.resume_window_ms,
       "how long a resumable session keeps its seats after its connection is lost; 0 = never", 0, 86'400'000},
      {"session", "replay_buffer_bytes", &c.session.replay_buffer_bytes,
       "unacked messages kept per resumable session for replay on resume", 1024, 1 << 30},
      {"tls", "cert_file", &c.tls.cert_file, "PEM certificate chain; set with key_file: https/wss and TLS on the TCP port"},
      {"tls", "key_file", &c.tls.key_file, "PEM private key of the certificate; SIGHUP reloads both files"},
      {"cluster", "redis_url", &c.cluster.redis_url,
       "redis://[:password@]host[:port][/db] of the cluster's Redis; empty = a single node, no Redis", 0, 0,
       check_redis_url},
      {"cluster", "node_id", &c.cluster.node_id, "this node's id in the cluster; empty = random per start", 0, 0,
       check_node_id},
      {"cluster", "advertise", &c.cluster.advertise,
       "URL clients reach this node at; empty = ws://<listen_address>:<http_port>/ws", 0, 0, check_advertise},
      {"cluster", "heartbeat_ms", &c.cluster.heartbeat_ms, "the node's key in Redis is refreshed this often", 100,
       60'000},
      {"cluster", "node_ttl_ms", &c.cluster.node_ttl_ms,
       "the node's key expires this long after its last heartbeat (above heartbeat_ms)", 200, 600'000},
      {"cluster", "max_pending_commands", &c.cluster.max_pending_commands,
       "Redis commands waiting for a reply per connection; past it: refused", 16, 10'000'000},
      {"cluster", "max_message_bytes", &c.cluster.max_message_bytes,
       "bytes in one node-to-node message; larger ones are not sent and dropped on receipt", 256, 16'777'216},
      {"cluster", "max_pending_requests", &c.cluster.max_pending_requests,
       "node-to-node requests awaiting an answer; past it a request fails at once", 16, 10'000'000},
      {"cluster", "directory_flush_ms", &c.cluster.directory_flush_ms,
       "room directory changes are written to Redis and sent to the other nodes at most this often", 1, 10'000},
      {"cluster", "max_room_entry_bytes", &c.cluster.max_room_entry_bytes,
       "one room's encoded directory entry; a bigger one is listed on its own node only", 1024, 16 << 20},
      {"cluster", "seat_request_timeout_ms", &c.cluster.seat_request_timeout_ms,
       "a cross-node join waits this long for the room's node to reserve a seat; then UNAVAILABLE", 10, 60'000},
      {"cluster", "max_pending_seat_requests", &c.cluster.max_pending_seat_requests,
       "seat requests to other nodes waiting for an answer; past it a cross-node join is refused", 1, 1'000'000},
      {"cluster", "matcher_lease_ms", &c.cluster.matcher_lease_ms,
       "the matcher lease's expiry (renewed every matchmaker.interval_ms; above it)", 100, 600'000},
      {"cluster", "max_ticket_record_bytes", &c.cluster.max_ticket_record_bytes,
       "a matchmaker ticket read from Redis longer than this is skipped", 1'024, 64 << 20},
  };
}

bool is_text(const Field& f) { return std::holds_alternative<std::string*>(f.target); }
bool is_bool(const Field& f) { return std::holds_alternative<bool*>(f.target); }
bool is_whole(const Field& f) { return !is_text(f) && !is_bool(f) && !std::holds_alternative<double*>(f.target); }

std::string key_of(const Field& f) { return std::string(f.section) + "." + f.name; }

std::string flag_of(const Field& f) {
  std::string s = "--" + key_of(f);
  std::replace(s.begin(), s.end(), '_', '-');
  return s;
}

std::string env_name(std::string s) {
  for (auto& ch : s) ch = ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return "CRAFT_" + s;
}

std::string env_of(const Field& f) { return env_name(key_of(f)); }

// Shortest text that reads back to the same double (ostream's default keeps 6 digits),
// without exponents where they are not needed (1e+09 reads badly in --help).
std::string number_text(double v) {
  std::array<char, 64> buf{};
  auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v, std::chars_format::fixed);
  if (r.ec != std::errc{}) r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  return r.ec == std::errc{} ? std::string(buf.data(), r.ptr) : std::to_string(v);
}

[[noreturn]] void fail(const std::string& origin, const std::string& why) {
  throw std::runtime_error(origin + ": " + why);
}

void set_number(const Field& f, double v, const std::string& shown, const std::string& origin) {
  if (!std::isfinite(v)) fail(origin, "expected a number, got '" + shown + "'");
  if (is_whole(f) && v != std::floor(v)) fail(origin, "expected a whole number, got '" + shown + "'");
  if (v < f.min || v > f.max)
    fail(origin, "must be between " + number_text(f.min) + " and " + number_text(f.max) + ", got " + shown);
  if (f.check) {
    if (auto why = f.check(number_text(v)); !why.empty()) fail(origin, why);
  }
  std::visit(
      [&](auto* p) {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) *p = static_cast<T>(v);
      },
      f.target);
}

void set_text(const Field& f, const std::string& v, const std::string& origin) {
  if (f.check) {
    if (auto why = f.check(v); !why.empty()) fail(origin, why);
  }
  *std::get<std::string*>(f.target) = v;
}

// Environment variables and flags arrive as text.
void set_from_text(const Field& f, const std::string& text, const std::string& origin) {
  if (is_text(f)) return set_text(f, text, origin);
  if (is_bool(f)) {
    if (text == "true" || text == "1") *std::get<bool*>(f.target) = true;
    else if (text == "false" || text == "0") *std::get<bool*>(f.target) = false;
    else fail(origin, "expected true or false, got '" + text + "'");
    return;
  }
  // from_chars, unlike stod, takes no leading spaces, hex or trailing junk.
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
    fail(origin, "expected a number, got '" + text + "'");
  set_number(f, v, text, origin);
}

void set_from_toml(const Field& f, const toml::node& node, const std::string& origin) {
  auto wrong = [&](const char* expected) {
    std::ostringstream got;
    got << node.type();
    fail(origin, std::string("expected ") + expected + ", got " + got.str());
  };
  if (is_text(f)) {
    if (!node.is_string()) wrong("a string");
    return set_text(f, *node.value<std::string>(), origin);
  }
  if (is_bool(f)) {
    if (!node.is_boolean()) wrong("true or false");
    *std::get<bool*>(f.target) = *node.value<bool>();
    return;
  }
  if (node.is_integer()) {
    auto i = *node.value<int64_t>();
    return set_number(f, static_cast<double>(i), std::to_string(i), origin);
  }
  if (node.is_floating_point()) {
    double d = *node.value<double>();
    return set_number(f, d, number_text(d), origin);
  }
  wrong(is_whole(f) ? "a whole number" : "a number");
}

bool known_section(std::string_view s) {
  return std::find(sections.begin(), sections.end(), s) != sections.end();
}

void apply_toml(std::vector<Field>& fields, const std::string& path) {
  if (!std::ifstream(path)) throw std::runtime_error(path + ": cannot open the config file");
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << path << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    throw std::runtime_error(msg.str());
  }
  for (auto& [section_key, section_node] : root) {
    std::string section(section_key.str());
    auto* table = section_node.as_table();
    if (!table)
      fail(path, "'" + section + "' is outside a section; put it under [server], [limits], [rooms], [store], [auth] or [tls]");
    if (!known_section(section)) fail(path, "[" + section + "]: unknown section (expected server, limits, rooms, store, auth, session or tls)");
    for (auto& [key, node] : *table) {
      std::string name(key.str());
      auto it = std::find_if(fields.begin(), fields.end(),
                             [&](const Field& f) { return f.section == section && f.name == name; });
      std::string where = path + ": " + section + "." + name;
      if (it == fields.end()) fail(where, "unknown key");
      set_from_toml(*it, node, where);
    }
  }
}

// Our prefixes are strict, like the file's keys, so a misspelt variable is not ignored.
void apply_env(std::vector<Field>& fields, const std::map<std::string, std::string>& env) {
  for (auto& entry : env) {
    // Not a structured binding: clang 14 cannot capture one in a lambda (C++20 P1091).
    const std::string& name = entry.first;
    const std::string& value = entry.second;
    bool ours = std::any_of(sections.begin(), sections.end(),
                            [&](const char* s) { return name.starts_with(env_name(s) + "_"); });
    if (!ours) continue;
    auto it = std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return env_of(f) == name; });
    if (it == fields.end()) fail(name, "unknown environment variable (see --help)");
    set_from_text(*it, value, name);
  }
}

std::string value_text(const Field& f) {
  return std::visit(
      [](auto* p) -> std::string {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) return *p;
        else if constexpr (std::is_same_v<T, bool>) return *p ? "true" : "false";
        else if constexpr (std::is_same_v<T, double>) return number_text(*p);
        else return std::to_string(*p);
      },
      f.target);
}

std::string toml_value(const Field& f) {
  if (is_text(f)) {
    std::ostringstream quoted;
    quoted << toml::value<std::string>(value_text(f));
    return quoted.str();
  }
  std::string text = value_text(f);
  // Keep a double a TOML float, so the file says what kind of value the key takes.
  if (std::holds_alternative<double*>(f.target) && text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

std::string range_text(const Field& f) {
  if (is_text(f) || is_bool(f)) return "";
  double type_max = std::holds_alternative<uint16_t*>(f.target) ? 65535 : 4294967295.0;
  if (f.min == 0 && f.max == type_max) return "";
  return "; range " + number_text(f.min) + "-" + number_text(f.max);
}

}  // namespace

std::string to_toml(const ServerConfig& config) {
  ServerConfig copy = config;
  auto fields = fields_of(copy);
  std::ostringstream out;
  std::string section;
  for (auto& f : fields) {
    if (section != f.section) {
      section = f.section;
      out << (section == "server" ? "" : "\n") << "[" << section << "]\n";
    }
    out << "# " << f.help << range_text(f) << "\n" << f.name << " = " << toml_value(f) << "\n";
  }
  return out.str();
}

LoadResult load_config(int argc, const char* const* argv, const std::map<std::string, std::string>& env,
                       const LoadOptions& options) {
  LoadResult result;
  result.config = options.defaults;
  auto fields = fields_of(result.config);
  ServerConfig defaults = options.defaults;
  auto default_fields = fields_of(defaults);
  const std::string& program = options.program;

  CLI::App app{
      (options.about.empty() ? program + ": a game server built on craft." : options.about) +
          "\n"
          "Settings come from defaults, then --config FILE (TOML: [server], [limits], [rooms], [store], [auth], [tls]),\n"
          "then CRAFT_<SECTION>_<FIELD> environment variables, then these flags.",
      program};
  app.set_help_flag("-h,--help", "show every option with its default, then exit");
  std::string config_path;
  bool print_config = false;
  app.add_option("-c,--config", config_path, "TOML file with [server], [limits], [rooms], [store] and [auth] sections")
      ->type_name("FILE");
  app.add_flag("--print-config", print_config, "print the effective configuration as TOML, then exit");
  std::vector<std::string> flag_values(fields.size());
  static const std::map<std::string, std::string> aliases = {
      {"server.listen_address", "--listen"}, {"server.http_port", "--http-port"},
      {"server.tcp_port", "--tcp-port"},     {"server.shards", "--shards"},
      {"server.static_dir", "--static-dir"}, {"server.log_level", "--log-level"}};
  for (size_t i = 0; i < fields.size(); ++i) {
    const Field& f = fields[i];
    auto names = flag_of(f);
    if (auto a = aliases.find(key_of(f)); a != aliases.end()) names += "," + a->second;
    std::string default_text = value_text(default_fields[i]);
    if (default_text.empty()) default_text = "\"\"";
    std::string type = is_text(f) ? "TEXT" : is_bool(f) ? "BOOL" : is_whole(f) ? "UINT" : "NUMBER";
    app.add_option(names, flag_values[i],
                   std::string(f.help) + " (default " + default_text + range_text(f) + "; env " + env_of(f) + ")")
        ->type_name(type)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    result.exit_now = true;
    result.output = app.help();
    return result;
  } catch (const CLI::ParseError& e) {
    result.exit_now = true;
    result.exit_code = 2;
    result.output = program + ": " + e.what() + " (see " + program + " --help)\n";
    return result;
  }
  try {
    if (!config_path.empty()) apply_toml(fields, config_path);
    apply_env(fields, env);
    for (size_t i = 0; i < fields.size(); ++i) {
      if (app.get_option(flag_of(fields[i]))->count() > 0) set_from_text(fields[i], flag_values[i], flag_of(fields[i]));
    }
  } catch (const std::exception& e) {
    result.exit_now = true;
    result.exit_code = 2;
    result.output = program + ": " + e.what() + "\n";
    return result;
  }
  if (print_config) {
    result.exit_now = true;
    result.output = to_toml(result.config);
  }
  return result;
}

}  // namespace craft
