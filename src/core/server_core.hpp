// What a running server is made of: shards, the world, the listeners and connection
// accounting. craft::Server is its public face. It is the assembly point of the layers:
// the transport's ShardHandler (HTTP routing, sweeps, shutdown) and the owner of the
// ApiService that sessions and rooms call (docs/architecture.md, "Layers").
#pragma once
#include "api/api_service.hpp"
#include "core/memory_trim.hpp"
#include "core/resume.hpp"
#include "core/world.hpp"
#include "net/connection.hpp"
#include "net/forwarded.hpp"
#include "net/shard.hpp"
#include "net/tls.hpp"
#include "presence/party_store.hpp"
#include "presence/ticket_pool.hpp"

#include <craft/clock.hpp>
#include <craft/config.hpp>

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace craft {
class Session;
}
namespace craft::cluster {
class NodeRegistry;
class RedisRoomDirectory;
}
namespace craft::presence {
struct ClusterMatcherCounters;
}

namespace craft::detail {
class ClusterParties;

// A connection over a limit still gets a session, which tells it why (1013) and closes;
// a plain HTTP request over a limit is answered 503.
// Past limits.max_refusals_per_ip the connection is closed at accept instead (`drop`).
enum class Rejection : uint8_t { none, max_connections, max_connections_per_ip, drop };

class ServerCore final : public ShardHandler {
 public:
  ServerCore(ServerConfig config, const Clock& clock);
  ~ServerCore() override;

  const ServerConfig& config() const { return config_; }
  const Clock& clock() const { return clock_; }
  Shard& shard(uint32_t index) { return *shards_[index]; }
  uint32_t shard_count() const { return static_cast<uint32_t>(shards_.size()); }
  World& world() { return world_; }
  // Accounts, storage and leaderboards; null when store.backend = none or before start().
  api::ApiService* api() { return api_.get(); }

  void start();
  void stop();
  void wait();
  // Server::drain(): new rooms and joins refused from now on (Session::dispatch).
  void drain();
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  size_t room_count() const;
  uint16_t http_port() const { return http_port_; }
  uint16_t tcp_port() const { return tcp_port_; }

  // Closes every open session using an identity `r` revokes (Session::end_if_revoked), on
  // every shard. The one way bans and logouts reach sockets: a cluster fans it out here.
  void end_sessions(const api::Revocation& r);
  // A connection's slot in the connection limits is free again.
  void release_connection(const Connection::IpKey& ip);
  // server.trusted_proxies, parsed.
  const net::AddressRanges& trusted_proxies() const { return trusted_proxies_; }
  // A connection from a trusted proxy learned its client's address (X-Forwarded-For, PROXY
  // protocol): its per-IP slot moves from the proxy to `client`, where max_connections_per_ip
  // applies (at accept, a trusted proxy's connections are counted but never refused).
  Rejection rebind_connection(const Connection::IpKey& proxy, const Connection::IpKey& client);
  // A full HTTP response for a GET that is not a WebSocket upgrade (`target`: path + query).
  std::string handle_http_get(std::string_view target);
  std::string metrics_text() const;
  // Server::reload_tls(): false (and an error logged) when TLS is off or a file is bad.
  bool reload_tls();

  // Resumable sessions (docs/protocol.md §3.2; core/session_resume.cpp). The registry of
  // shard `index` is touched only on that shard's thread.
  const ResumeTokens& resume_tokens() const { return resume_tokens_; }
  SessionId next_session_id() { return next_session_id_.fetch_add(1, std::memory_order_relaxed); }
  bool stopping() const { return stopping_flag_.load(std::memory_order_relaxed); }
  void register_resumable(uint32_t shard, std::shared_ptr<Session> session);
  void unregister_resumable(uint32_t shard, SessionId id);
  std::shared_ptr<Session> find_resumable(uint32_t shard, SessionId id);

  // auth.session_policy: the sessions of one account, across shards.
  struct AccountSession {
    SessionId id = 0;
    uint32_t shard = 0;
    std::weak_ptr<Session> session;
  };
  // Registers `self` as a session of `account`. nullopt: refused (policy refuse and the
  // account has a session); else the sessions `self` replaces (policy replace), to be ended.
  std::optional<std::vector<AccountSession>> claim_account(const std::string& account, AccountSession self);
  void release_account(const std::string& account, SessionId id);

  // The session directory: every session past hello, by id, so code on any shard can reach
  // one (parties, matches). One locked map insert per hello and erase per session end;
  // nothing per message. A held session stays listed until it ends.
  void add_session(SessionId id, uint32_t shard, std::weak_ptr<Session> session);
  void remove_session(SessionId id);
  // Sends `e` to session `id` on its shard (Session::deliver), later; false if no such
  // session is listed now (it may still end before the post runs: then nothing is sent).
  // Any thread.
  bool post_to_session(SessionId id, v1::Envelope e);
  // post_to_session, or (cluster) to a session of another node that has asked something of
  // a party living here: party.deliver to its node (core/cluster_parties.hpp). How the
  // ticket pool reaches a party ticket's players and its leader wherever they are connected.
  bool deliver_anywhere(SessionId id, v1::Envelope e);
  // matchmaker_add with the party_id of a party living here, from its leader `who` (a session
  // of this node, or of another one through party.req): the whole party becomes one ticket,
  // each member noted with its node (presence::Ticket::player_nodes). Answers as §4.18 says.
  void queue_party_ticket(const v1::Presence& who, const v1::MatchmakerAdd& add, uint32_t cid, TimePoint created);
  // Parties (presence/party_store.hpp); any thread.
  presence::PartyStore& parties() { return *parties_; }
  // Matchmaker tickets (presence/ticket_pool.hpp); any thread.
  presence::TicketPool& tickets() { return *tickets_; }

  // The matchmaker (core/matchmaking.cpp): every matchmaker.interval_ms on shard 0, one pass
  // of the ticket pool; each match gets a private room of matchmaker.room_type with one seat
  // reservation per player, and match_found to every matched session.
  void arm_matchmaker();
  void arm_memory_trim();
  void run_matchmaker();
  // Server::set_match_filter: game code behind a guard (a throw refuses that group, is
  // logged and counts in craft_room_errors_total on shard 0, whose thread runs it).
  void set_match_filter(MatchFilter filter);
  void start_match(std::vector<presence::Ticket> tickets);

  // The rooms living on shard `index`, for its sweep and shutdown; on that shard's thread.
  void add_room(uint32_t shard, RoomHost* room);
  void remove_room(uint32_t shard, RoomHost* room);

  // ShardHandler: what the transport asks of the server (net/handler.hpp).
  bool http_wants_body(const http::Request& request) override;
  std::string http_refusal(const http::Request& request, int status, std::string_view why) override;
  std::string http_request(Shard& shard, const http::Request& request, std::string_view body, const IpKey& ip,
                           HttpRespond respond) override;
  void on_sweep(Shard& shard, TimePoint now) override;
  void on_shutdown(Shard& shard) override;
  void on_connection_released(const IpKey& ip) override { release_connection(ip); }

  // Clustering (core/cluster_node.cpp, docs/cluster.md); all no-ops when cluster.redis_url
  // is empty. cluster_nodes_response(): GET /cluster/nodes (404 when off).
  void check_cluster_config() const;
  void make_cluster_directory();  // in the constructor: before any room is published
  void start_cluster();
  void stop_cluster();
  std::string cluster_metrics() const;
  std::string cluster_nodes_response() const;
  // A ban or logout made here, for every other node (user.ban / user.logout on the bus).
  void publish_revocation(const api::Revocation& r);
  // The registry and its bus (cluster/node_registry.hpp); null with clustering off.
  cluster::NodeRegistry* cluster_registry() const { return cluster_.get(); }
  // Cross-node joins (core/cluster_routing.cpp, docs/cluster.md): request_seat asks node
  // `node` for a seat in `room_id` for
  // `account_id` ("" = anonymous: a bearer seat) over the bus; `done` runs on `reply_on`
  // with the room_redirect to send, or an ErrorCode and message (UNAVAILABLE when the node
  // is not alive, does not answer within cluster.seat_request_timeout_ms, or
  // cluster.max_pending_seat_requests are under way).
  struct SeatResult {
    int code = 0;  // 0: `redirect` holds the answer
    std::string message;
    bool retryable = false;  // no seat there (full, locked, gone, no answer): join_or_create makes a room here
    v1::RoomRedirect redirect;
  };
  void request_seat(const std::string& node, std::string room_id, std::string account_id, Shard& reply_on,
                    std::function<void(SeatResult)> done);
  void count_redirect() { redirects_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void serve_seat_requests();  // registers the "seat.reserve" responder, before the registry starts
  void serve_seat_releases();  // and the "seat.release" handler
  std::string routing_metrics() const;
  // Cross-node join counters (docs/cluster.md "Observing it"); read by /metrics.
  std::atomic<uint64_t> redirects_{0};             // room_redirect sent to clients
  std::atomic<uint64_t> seat_requests_{0};         // seat requests sent to other nodes
  std::atomic<uint64_t> seat_requests_failed_{0};  // unanswered: timeout, node dead, Redis down, bad answer
  std::atomic<uint64_t> seat_requests_refused_{0}; // not sent: max_pending_seat_requests
  std::atomic<uint32_t> seat_requests_pending_{0};
  std::atomic<uint64_t> seats_granted_{0};         // reservations made here for other nodes' players
  std::atomic<uint64_t> seats_released_{0};        // seats freed unused: their session elsewhere ended
  std::atomic<uint64_t> seats_denied_{0};          // other nodes' seat requests answered with an error

  struct IpHash {
    size_t operator()(const Connection::IpKey& k) const;
  };
  void listen(std::optional<asio::ip::tcp::acceptor>& acceptor, uint16_t port, uint16_t& bound);
  void accept_next(asio::ip::tcp::acceptor& acceptor, Connection::Transport transport);
  // Counts the connection; says which limit it is over, if any. `per_ip_later`: a connection
  // from a trusted proxy, whose per-IP limit waits for rebind_connection().
  Rejection admit(const Connection::IpKey& ip, Shard& shard, bool per_ip_later = false);

  ServerConfig config_;
  net::AddressRanges trusted_proxies_;
  net::AddressRanges metrics_allow_;
  const Clock& clock_;
  static TransportLimits transport_limits(const ServerConfig& config);
  TransportLimits transport_limits_ = transport_limits(config_);  // read by every shard
  // Per shard, touched only on its thread (the count also by stop()'s waiting thread).
  struct ShardRooms {
    std::vector<RoomHost*> rooms;
    std::atomic<size_t> count{0};
  };
  std::unique_ptr<ShardRooms[]> rooms_by_shard_;
  struct ShardSessions {
    std::unordered_map<SessionId, std::shared_ptr<Session>> resumable;
  };
  std::unique_ptr<ShardSessions[]> sessions_by_shard_;
  ResumeTokens resume_tokens_;
  std::atomic<bool> stopping_flag_{false};
  std::atomic<bool> draining_{false};
  std::mutex accounts_mutex_;
  std::unordered_map<std::string, std::vector<AccountSession>> accounts_;
  // Before shards_, so they outlive every session a shard's teardown ends.
  std::mutex directory_mutex_;
  std::unordered_map<SessionId, AccountSession> directory_;
  std::unique_ptr<presence::PartyStore> parties_;
  std::unique_ptr<presence::ClusterMatcherCounters> matcher_counters_;  // before tickets_, which counts in it
  std::unique_ptr<presence::TicketPool> tickets_;
  std::vector<std::unique_ptr<Shard>> shards_;
  World world_;
  std::unique_ptr<net::TlsContext> tls_;  // null: plaintext (tls.cert_file unset)
  std::optional<asio::ip::tcp::acceptor> http_acceptor_;
  std::optional<asio::ip::tcp::acceptor> tcp_acceptor_;
  std::optional<asio::steady_timer> accept_retry_;
  std::optional<asio::steady_timer> matchmaker_timer_;  // on shard 0
  std::optional<asio::steady_timer> memory_trim_timer_;  // on shard 0 (server.memory_trim_interval_ms)
  std::atomic<uint64_t> memory_trims_{0};
  std::atomic<uint64_t> memory_returned_bytes_{0};
  detail::MemoryTrimmer memory_trimmer_;           // on shard 0
  std::atomic<uint64_t> memory_slack_bytes_{0};  // at the last check (MemoryTrimResult::slack_bytes)
  std::atomic<uint64_t> memory_trim_micros_{0};
  uint16_t http_port_ = 0;
  uint16_t tcp_port_ = 0;
  uint32_t next_accept_shard_ = 0;  // only the accepting shard touches it
  std::chrono::steady_clock::time_point last_accept_warning_{};
  std::atomic<uint64_t> next_session_id_{1};

  std::mutex limits_mutex_;
  std::unordered_map<Connection::IpKey, uint32_t, IpHash> per_ip_;
  uint32_t total_connections_ = 0;

  // After shards_, so it is destroyed first: its workers post replies to the shards.
  std::unique_ptr<api::ApiService> api_;

  // The node registry; null with clustering off. Its thread reads the room and connection
  // counts above, so it is stopped before they go.
  std::unique_ptr<cluster::NodeRegistry> cluster_;
  ClusterParties* cluster_parties_ = nullptr;  // parties_, when clustering is on
  std::atomic<uint64_t> revocations_sent_{0};
  std::atomic<uint64_t> revocations_received_{0};
  std::atomic<uint64_t> revocations_refused_{0};
  cluster::RedisRoomDirectory* cluster_directory_ = nullptr;  // owned by world_; null when off
  // With clustering on: this node's id (chosen in the constructor) and advertised URL
  // (match_found.room_url, set in start_cluster()).
  std::string cluster_node_id_;
  std::string cluster_advertise_;
  // set_match_filter's guarded filter, for a pool made after it was set.
  MatchFilter match_filter_;

  std::mutex stop_mutex_;
  bool started_ = false;
  bool stopping_ = false;
  std::thread stopper_;
};

// The server a shard belongs to: every shard core code sees was made by a ServerCore,
// which is its handler.
inline ServerCore& core_of(Shard& shard) { return static_cast<ServerCore&>(shard.handler()); }

}  // namespace craft::detail
