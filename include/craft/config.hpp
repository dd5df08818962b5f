// Everything craftd can be told. Each field has a default; craftd reads it from a TOML
// file, then environment variables (CRAFT_<SECTION>_<NAME>), then flags (the same loader is
// in craft/config_loader.hpp for a game's own binary). Every limit is
// here; docs/security.md gives each its default, metric and test.
#pragma once
#include <cstdint>
#include <string>

namespace craft {

struct Limits {
  uint32_t max_message_size = 64 * 1024;        // bytes in one message (frame or reassembled)
  // A connection's first message (its hello) may be at most this long: an unauthenticated
  // socket cannot make the server buffer max_message_size of a partial frame for
  // handshake_timeout_ms. Capped by max_message_size.
  uint32_t max_hello_bytes = 4 * 1024;
  uint32_t max_rooms_per_session = 8;           // rooms one connection may be in at once
  // Fits a room ticking at 240 Hz with one input per tick, plus acks and keep-alives.
  double messages_per_second = 300;             // token bucket refill rate per session
  uint32_t message_burst = 300;                 // token bucket capacity per session
  uint32_t rate_limit_strikes = 100;            // rate-limited messages in a row before close 4003
  uint32_t handshake_timeout_ms = 10'000;       // HTTP upgrade + hello must finish within this
  uint32_t idle_timeout_ms = 60'000;            // close when nothing is received for this long
  // Nothing received for this long: the server pings (WebSocket ping frame; a ping envelope
  // on TCP). Still nothing server_ping_timeout_ms later: the peer is gone (close 4001; a
  // resumable session is held). 0 = no server pings.
  uint32_t server_ping_interval_ms = 10'000;
  uint32_t server_ping_timeout_ms = 10'000;
  uint32_t max_connections = 100'000;           // across all shards
  uint32_t max_connections_per_ip = 4'096;      // per remote address (behind a trusted proxy: per client)
  // Connections over max_connections_per_ip that are still being told why (1013 after the
  // upgrade or TLS handshake, 503 for plain HTTP), per address. Past it a new connection from
  // that address is closed at accept without a word, so one address cannot hold slots of
  // max_connections while its refusals wait for their handshakes.
  uint32_t max_refusals_per_ip = 8;
  // X-Forwarded-For entries read from a trusted proxy's request, right to left; a longer chain
  // of trusted proxies is answered 400 (docs/deploy.md).
  uint32_t max_forwarded_hops = 8;
  uint32_t send_queue_bytes = 1024 * 1024;      // queued output per session before close 4002
  // Messages one connection may have waiting (payload bytes + 64 each) behind its own
  // unfinished request (hello, join, create, API call), so they take effect in the order
  // sent; past it a message is refused with RATE_LIMITED.
  uint32_t pending_queue_bytes = 256 * 1024;
  uint32_t max_http_request_bytes = 8 * 1024;   // HTTP request head (upgrade or API)
  uint32_t max_http_body_bytes = 64 * 1024;     // HTTP API request body; above it: 413
  // Arrays/objects nested in any client JSON document (text-frame envelope, HTTP API body)
  // and in a stored JSON value (storage value, metadata); checked before any parser runs.
  uint32_t max_json_depth = 32;                 // 1-1016; deeper: BAD_REQUEST / 400
};

// Where accounts, storage objects and leaderboards live.
struct StoreConfig {
  std::string backend = "sqlite";               // "sqlite", "postgres", or "none" (no API)
  // ":memory:" = a private in-memory database, gone when the server stops: an embedded
  // ServerConfig{} writes nothing to disk. craftd's default is "craft.db" (its loader passes
  // that as LoadOptions::defaults), so a game's own binary says where its file goes.
  std::string sqlite_path = ":memory:";
  std::string postgres_url;                     // e.g. postgresql://craft@127.0.0.1/craft
  uint32_t workers = 2;                         // threads running database work off the shards
  uint32_t max_value_bytes = 64 * 1024;         // a storage value or metadata JSON object
  uint32_t max_batch = 100;                     // objects in one storage read/write/delete
  uint32_t max_queue = 10'000;                  // API calls waiting for a worker; above: UNAVAILABLE
};

struct AuthConfig {
  bool require = false;                         // refuse sockets without a valid session token (4005)
  // 64 hex characters signing session tokens. Empty: kept in <sqlite_path>.key (made on
  // first start), or a new random key per run for ":memory:" and PostgreSQL.
  std::string token_key;
  uint32_t session_ttl_s = 3600;
  uint32_t refresh_ttl_s = 30 * 86400;
  std::string password_cost = "interactive";    // Argon2id: interactive, moderate, or minimum (tests only)
  double ip_attempts_per_minute = 60;           // auth calls per remote address
  double account_attempts_per_minute = 10;      // auth calls per device id / email / custom id
  uint32_t rate_limit_keys = 100'000;           // addresses / ids tracked by each auth limiter (memory bound)
  std::string admin_key;                        // Bearer key for admin calls (leaderboard create, ban); empty = off
  // A fresh hello with a session token while the account already has a session (connected
  // or held for resume): "allow_many" lets both live, "replace" ends the older one (close
  // 4006), "refuse" answers SESSION_EXISTS (docs/protocol.md §3).
  std::string session_policy = "allow_many";
};

// Resumable sessions (hello.resumable, docs/protocol.md §3.2).
struct SessionConfig {
  // How long a resumable session keeps its seats after its connection is lost without a
  // goodbye; a room can shorten or extend it per player (Room::on_drop). 0 = never held.
  uint32_t resume_window_ms = 15'000;
  // Sequenced messages the client has not acked, kept to replay on resume. Past it the
  // oldest are dropped (a resume that needs them gets REPLAY_GAP); a held session whose
  // buffer overflows ends. Frames shared by several receivers count in full for each.
  uint32_t replay_buffer_bytes = 256 * 1024;
};

struct RoomDefaults {
  uint32_t tick_rate_hz = 20;                   // 1-240
  uint32_t max_clients = 64;
  uint32_t empty_dispose_ms = 5'000;            // grace period before an empty room is disposed
  uint32_t max_rooms = 100'000;                 // across the server
  uint32_t max_list_results = 100;              // rooms in one room_list answer (oldest first)
  uint32_t chat_history = 50;                   // chat rooms: messages kept and sent on join
  uint32_t chat_max_length = 500;               // chat rooms: bytes of text per message
  uint32_t max_properties = 64;                 // keys in a room's properties, and in each player's
  uint32_t max_property_bytes = 1024;           // one property: key + text value bytes
  uint32_t max_metadata = 32;                   // listing metadata keys per room
  uint32_t max_filter_conditions = 16;          // conditions (and, separately, sort keys) in one filter
};

// Live room lists (protocol.md §4.17).
struct LobbyConfig {
  uint32_t update_interval_ms = 250;            // a subscriber gets at most one lobby_update per interval
  uint32_t max_subscriptions_per_session = 4;
};

// The ticket matchmaker (protocol.md §4.18, docs/matchmaking.md).
struct MatchmakerConfig {
  uint32_t interval_ms = 1'000;                 // the matcher runs this often
  std::string room_type = "relay";              // the room a match creates
  uint32_t max_tickets_per_session = 3;
  uint32_t max_pool_size = 100'000;             // tickets waiting, server-wide
  uint32_t max_query_bytes = 1'024;
  uint32_t max_ticket_properties = 32;          // string + numeric properties of one ticket
  uint32_t max_count = 64;                      // the largest max_count a ticket may ask for
  uint32_t widen_after_ms = 10'000;             // the widening rule's step (docs/matchmaking.md)
  uint32_t reservation_ttl_ms = 15'000;         // a match's seat reservations expire after this
  // A match room takes only players with a valid reservation (RESERVATION_INVALID otherwise).
  // true: once every reservation of the room is used or expired, it also takes joins by id
  // without one (late joiners, backfill) while seats are free; false: never.
  bool late_joins = false;
};

// Parties (protocol.md §4.19).
struct PartyConfig {
  uint32_t max_size = 8;                        // members, leader included
  uint32_t max_requests = 16;                   // pending join requests + invitations per party
};

// Replicated state (docs/protocol.md §4.20, craft/replication.hpp): the server's defaults
// for rooms that use a sync::Replicator, and the per-member bound on what waits to be sent.
struct ReplicationConfig {
  // Snapshots remembered per client as possible baselines (a ReplicatorOptions value of 0
  // takes this); an ack older than the window is ignored and the client gets a full
  // snapshot. Bounds the server's memory for a client that never acks.
  uint32_t baseline_window = 32;
  // Snapshot bytes per client per second (ReplicatorOptions::bytes_per_second 0 takes this);
  // changes that do not fit wait for a later snapshot, highest priority first.
  uint32_t client_bytes_per_second = 65536;
  // A member whose send queue already holds more than this gets no snapshot this time (the
  // next one is a delta against an older ack); below limits.send_queue_bytes, so a slow
  // reader loses snapshots before it is closed with 4002.
  uint32_t max_queued_bytes = 65'536;
};

// TLS on the HTTP/WebSocket port (https, wss) and the TCP port (TLS, then the
// length-prefixed frames). Both files set: every connection speaks TLS 1.2 or 1.3; both
// empty: plaintext. The server refuses to start when a file is missing or bad, and
// Server::reload_tls() (craftd: SIGHUP) reads them again.
struct TlsConfig {
  std::string cert_file;                        // PEM certificate, then any intermediates (the chain)
  std::string key_file;                         // PEM private key of the first certificate
  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// Several craftd nodes as one cluster through Redis (docs/cluster.md). redis_url empty: a
// single node, no Redis traffic at all.
struct ClusterConfig {
  std::string redis_url;                        // redis://[:password@]host[:port][/db]; empty = off
  std::string node_id;                          // 1-64 of [A-Za-z0-9._-]; empty = 16 random hex chars per start
  std::string advertise;                        // URL clients reach this node at; empty = ws://<listen_address>:<http_port>/ws
  uint32_t heartbeat_ms = 1'000;                // the node's key in Redis is refreshed this often
  // The key expires this long after the last heartbeat: the others see the node dead within
  // node_ttl_ms + heartbeat_ms (4 s with the defaults). Must be above heartbeat_ms.
  uint32_t node_ttl_ms = 3'000;
  // Commands sent to Redis and not yet answered, per connection; past it a command is
  // refused (counted in craft_cluster_redis_refused_total), so a stalled Redis cannot grow
  // the node's memory.
  uint32_t max_pending_commands = 10'000;
  // One node-to-node message (docs/cluster.md), whole; a larger one is not sent, and one
  // received is dropped (craft_cluster_bus_dropped_total).
  uint32_t max_message_bytes = 65'536;
  // Node-to-node requests waiting for their answer; past it a request fails at once
  // (craft_cluster_bus_timed_out_total), so a silent peer cannot grow the node's memory.
  uint32_t max_pending_requests = 10'000;
  // The shared room directory: a room's changes are written to Redis and sent to the other
  // nodes at most this often (a room that changes 20 times meanwhile is written once).
  uint32_t directory_flush_ms = 50;
  // One room's directory entry (id, type, label, metadata), encoded; a bigger one is listed on
  // its own node only. Must fit in one bus message (cluster.max_message_bytes).
  uint32_t max_room_entry_bytes = 36'864;
  // A join of a room on another node asks that node for a seat over Redis (docs/cluster.md);
  // no answer within this long: the client gets UNAVAILABLE.
  uint32_t seat_request_timeout_ms = 2'000;
  // Seat requests to other nodes waiting for their answer; past it a cross-node join is
  // refused at once (UNAVAILABLE), so a slow or hung node cannot grow this one's memory.
  uint32_t max_pending_seat_requests = 1'000;
  // Matchmaking across nodes: one node at a time runs the matcher, the holder of the Redis
  // lease craft:matcher, which it renews every matchmaker.interval_ms; when the holder dies
  // another node takes over within matcher_lease_ms + matchmaker.interval_ms. Must be above
  // matchmaker.interval_ms.
  uint32_t matcher_lease_ms = 3'000;
  // A ticket record read back from Redis longer than this is skipped (hostile input; a real
  // one is a ticket's query and properties: kilobytes).
  uint32_t max_ticket_record_bytes = 262'144;
};

struct ServerConfig {
  std::string listen_address = "127.0.0.1";
  uint16_t http_port = 7777;                    // HTTP + WebSocket at /ws; 0 = pick a free port
  uint16_t tcp_port = 7778;                     // length-prefixed TCP; 0 = pick a free port
  bool tcp_enabled = true;
  uint32_t shards = 0;                          // event loops; 0 = one per core
  uint32_t shutdown_timeout_ms = 5'000;         // graceful shutdown bound
  // SIGTERM drains instead of stopping at once (craftd --drain; docs/cluster.md "Draining a
  // node"): no new rooms or joins, running rooms carry on until they are gone or
  // drain_timeout_ms has passed, then every client is closed with 1012 (reconnect).
  bool drain_on_sigterm = false;
  uint32_t drain_timeout_ms = 60'000;
  // 0: writes go out at the end of each loop turn. Above 0: a connection's output waits up
  // to this long so more messages share one write; trades latency for CPU (docs/performance.md).
  uint32_t flush_interval_us = 0;
  // 0: a shard's loop sleeps until the next event and wakes for each one. Above 0: once busy
  // (an event was handled), it takes what arrives in batches at most this long apart, waking
  // once per batch instead of once per message, until a batch finds nothing; then it sleeps
  // until the next event again. Adds up to this long to a message's latency under load;
  // trades latency for CPU (docs/performance.md "Waking once per batch"). Batches end on
  // multiples of coalesce_us on the steady clock, and (with it above 0) room ticks fall on
  // multiples of their period: set it to the tick period (50'000 at 20 Hz) or a divisor of it and a busy shard
  // wakes once per tick, reading the inputs just before the tick runs (§7 there). With
  // several shards, work one shard hands another ends the other's wait at once, and from
  // 10'000 up every shard also reads coalesce_us / 8 (at most 5 ms) before each edge, so
  // inputs of members on another shard than their room still reach the next tick. A room
  // ticking faster than the window shortens its shard's windows to its own period.
  uint32_t coalesce_us = 0;
  // Every this long (0 = never; else at least 100), give back to the system the memory malloc
  // keeps after a big room or many connections are gone: when the resident memory malloc does
  // not use grew by memory_trim_free_bytes since the last trim, shard 0 calls glibc's
  // malloc_trim (milliseconds). docs/performance.md §10 has the numbers and the costs.
  uint32_t memory_trim_interval_ms = 10'000;
  uint32_t memory_trim_free_bytes = 16 * 1024 * 1024;
  // Reverse proxies that name the client (per-IP limits, auth rate limits): X-Forwarded-For
  // on the HTTP port, a PROXY protocol header (v1/v2) on the TCP port. Addresses and CIDR
  // ranges, e.g. "127.0.0.1, ::1, 10.0.0.0/8". Empty = trust nobody; from every other peer
  // both are ignored. A bad entry: Server's constructor throws std::invalid_argument.
  std::string trusted_proxies;
  // Client addresses (after trusted_proxies) that may read GET /metrics; others get 404. It
  // shares the port with /ws and the API, so a firewall cannot hide it. Same syntax as
  // trusted_proxies; empty = nobody. Server::metrics_text() is not affected.
  std::string metrics_allow = "127.0.0.0/8, ::1";
  std::string static_dir;                       // files served over HTTP (examples); empty = none
  std::string log_level = "info";
  Limits limits;
  RoomDefaults rooms;
  StoreConfig store;
  AuthConfig auth;
  SessionConfig session;
  LobbyConfig lobby;
  MatchmakerConfig matchmaker;
  PartyConfig party;
  ReplicationConfig replication;
  TlsConfig tls;
  ClusterConfig cluster;
};

}  // namespace craft
