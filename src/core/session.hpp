// A player's connection speaking the craft protocol: hello, rooms, room data, limits.
// Runs on its connection's shard; rooms on other shards call back through posts.
#pragma once
#include "core/resume.hpp"
#include "core/room_host.hpp"
#include "core/server_core.hpp"
#include "core/token_bucket.hpp"
#include "net/connection.hpp"
#include "presence/room_directory.hpp"

#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace craft {

class Session final : public Connection {
 public:
  ~Session() override;  // in session.cpp, where LobbyState is complete
  Session(Shard& shard, asio::ip::tcp::socket socket, Transport transport, IpKey ip, SessionId id,
          detail::Rejection rejection);

  // Starts reading; a connection over a limit is closed with reject_code right away.
  void begin();
  SessionId id() const { return id_; }
  protocol::WireFormat format() const { return wire_format(); }
  // hello.room_handles: state_snapshot names rooms by room_joined.room_handle. Set by hello,
  // before any join; read by rooms (on their shards) when the session joins.
  bool room_handles() const { return room_handles_; }

  // Called on this session's shard by rooms.
  void on_join_succeeded(std::shared_ptr<detail::RoomHost> room, const Frame& joined);
  void on_join_failed(uint32_t cid, int code, std::string message, bool retryable, detail::JoinMode mode,
                      std::string type, std::string options);
  void on_removed(const std::string& room_id, const std::string& reason);
  // Closes this session (the error in `r`, cid 0, then 4005) if its account is r.account_id
  // (a ban) or it said hello with the session token r.token_id (a logout). A hello still
  // being checked is checked once more, so a revocation racing it is not missed.
  void end_if_revoked(const api::Revocation& r);

  // Rooms and the session itself deliver through here (it shadows Connection::send): a
  // resumable session numbers the message and keeps it for replay, and queues it only while
  // it has a connection (docs/protocol.md §3.2).
  void send(const Frame& frame);

  // A room's state_snapshot (docs/protocol.md §4.20), on this session's shard: sent only
  // over a live connection whose queue holds at most `max_queued_bytes` (else counted in
  // craft_replication_skipped_total); never kept for replay while held, where it would be
  // stale by the resume. Once sent it is numbered like any message.
  void send_state(const Frame& frame, uint32_t max_queued_bytes);

  // Presence code (parties, matches) delivers here, on this session's shard: sent (or kept
  // for replay while held) unless the session has ended.
  void deliver(const v1::Envelope& e);

  // Resume (core/session_resume.cpp); all on this session's shard.
  // A room holds this session's seat until `until`: the session is held at least as long.
  void hold_at_least(TimePoint until);
  // auth.session_policy = replace: a newer hello of the same account took over.
  void end_replaced();
  // The shard's sweep: a held session whose window is over ends; true if it did.
  bool expire_if_due(TimePoint now);
  // Shutdown: a held session ends without waiting for its window.
  void end_held();
  bool held() const { return resume_ && resume_->held; }
  // A resume hello's connection (`pipe`, from any shard) for the session `ticket` names:
  // answered by that session's welcome + replay, or refused on a fresh un-helloed session.
  static void resume_on_shard(detail::ServerCore& core, uint32_t shard, detail::ResumeTicket ticket, uint32_t cid,
                              uint64_t last_seq, std::shared_ptr<Connection::Pipe> pipe);

 private:
  void on_message(std::string_view payload, bool text) override;
  void on_websocket_open() override;
  void on_tls_established() override;
  void before_close(uint16_t code, std::string_view reason) override;
  void on_closed(uint16_t code) override;
  void on_pong(std::string_view payload) override;
  bool on_ping() override;
  bool take_token();  // limits.messages_per_second, for messages and pings
  void on_sweep(TimePoint now) override;
  bool over_connection_limit() override;
  // From a server.trusted_proxies peer: the client named by X-Forwarded-For becomes this
  // connection's address and takes its place in max_connections_per_ip.
  bool on_request_head(const http::Request& request) override;
  // TCP from a trusted proxy: the client from its PROXY protocol header (or the proxy).
  void on_stream_client(const IpKey& client) override;

  detail::ServerCore& core() { return detail::core_of(shard()); }
  void dispatch(const v1::Envelope& e);
  // Per-connection order (docs/protocol.md §2.1): while a request of this connection is
  // still under way elsewhere (hello's token check, a join or create on the room's shard, an
  // API call on a store worker), later envelopes wait and are dispatched in order when it
  // completes. Pings are answered at once.
  bool busy() const { return hello_pending_ || api_pending_ || pending_joins_ > 0; }
  // Still a session: connected, or held for resume (replies then go to the replay buffer).
  bool alive() const { return is_open() || held(); }
  bool holding() const { return held_ && !held_->items.empty(); }
  void hold(v1::Envelope e, size_t payload_bytes);
  void release_held();
  void handle_hello(const v1::Envelope& e);
  void check_hello_token(uint32_t cid, std::string token, std::string name);
  // Closes the session (TOKEN_EXPIRED, then 4005) once its session token has expired on the
  // shard's clock; true if it did.
  bool end_if_expired();
  void refuse_account(uint32_t cid, const api::CallError& why);
  void finish_hello(uint32_t cid, const std::string& name, std::unique_ptr<const api::Identity> identity);
  void handle_api(const v1::Envelope& e);
  void handle_create(uint32_t cid, const std::string& type, std::string options, bool is_private,
                     detail::JoinMode mode, Properties metadata = {});
  // The room type's filter keys (RoomTypeOptions::filter_by) read from join_or_create's
  // options: each present one becomes an equality condition in `query` (if given) and
  // metadata for a room created instead. False (and `error`) for bad options.
  bool filter_keys(const std::string& type, std::string_view options, presence::RoomQuery* query,
                   Properties& metadata, std::string& error);
  void handle_join(const v1::Envelope& e);
  void handle_join_or_create(const v1::Envelope& e);
  void handle_leave(const v1::Envelope& e);
  void handle_room_data(const v1::Envelope& e);
  void handle_state_ack(const v1::Envelope& e);
  void handle_room_list(const v1::Envelope& e);
  // core/cluster_routing.cpp: the room is not on this node (clustering on): find its node in
  // the directory, get a seat there and answer room_redirect; a refusal goes through
  // on_join_failed (so join_or_create makes a room here when the other one filled up).
  void route_join(uint32_t cid, std::string room_id, detail::JoinMode mode, std::string type, std::string options);
  void request_join(std::shared_ptr<detail::RoomHost> room, uint32_t cid, std::string options,
                    detail::JoinMode mode, std::string reservation = {});
  bool room_slot_available(uint32_t cid);
  void reject_if_over_limit();
  // The client a trusted proxy named (X-Forwarded-For, PROXY header): the connection counts
  // under that address from now on (per-IP limit, auth limiter).
  void count_as(const IpKey& client);
  const std::shared_ptr<detail::RoomHost>* find_room(const std::string& id) const;
  void send_envelope(const v1::Envelope& e);
  // The welcome for this session (a resumable one's carries a fresh resume token).
  v1::Envelope welcome(uint32_t cid);
  // Link-level envelopes (welcome, pong, ack, ping, disconnect) are never numbered.
  void send_link(const v1::Envelope& e);
  void send_error(uint32_t cid, int code, std::string message);
  // Leaves every room and forgets the session (resume registry, account registry).
  void end_session(std::string_view reason);
  // session_lobby.cpp: properties_set, lobby_subscribe / lobby_unsubscribe; end_lobby drops
  // the session's subscriptions when it ends.
  void handle_properties_set(const v1::Envelope& e);
  void handle_lobby(const v1::Envelope& e);
  void end_lobby();
  // A directory read for subscription `id` came back: send its lobby_update (if any).
  void lobby_deliver(uint32_t id, uint32_t cid, presence::Changes changes);
  void arm_lobby_timer();
  void flush_lobby();  // every lobby.update_interval_ms while subscribed
  // session_social.cpp: matchmaker tickets and parties; end_social removes the session's
  // tickets and takes it out of its party when it ends (not while it is held for resume).
  void handle_matchmaker(const v1::Envelope& e);
  void handle_party(const v1::Envelope& e);
  void end_social();
  v1::Presence presence() const;  // this session as parties and matches show it
  // session_resume.cpp
  void begin_resume(uint32_t cid, const v1::Hello& hello);
  void start_resumable();
  void hold();
  void adopt(std::shared_ptr<Connection::Pipe> pipe, uint32_t cid, uint64_t last_seq);
  void on_ack(uint64_t seq);
  void sweep_link(TimePoint now);
  bool claim_account(uint32_t cid);
  void record_rtt(int64_t stamp_us);
  int64_t now_us() { return std::chrono::duration_cast<std::chrono::microseconds>(shard().now().time_since_epoch()).count(); }

  SessionId id_;
  std::string name_;
  TokenBucket bucket_;
  std::vector<std::shared_ptr<detail::RoomHost>> rooms_;
  uint32_t strikes_ = 0;        // rate-limited messages in a row
  detail::Rejection rejection_;  // over a connection limit: close with 1013 once open
  uint32_t pending_joins_ = 0;
  bool hello_done_ = false;
  bool room_handles_ = false;
  bool hello_pending_ = false;  // the hello token is being checked
  bool api_pending_ = false;    // an api_request is on a store worker
  bool recheck_hello_ = false;  // a revocation arrived meanwhile: check the token again
  // Envelopes waiting behind a request under way; allocated only while needed, so an idle
  // connection pays one pointer.
  struct Held {
    struct Item {
      v1::Envelope envelope;
      uint32_t cost;  // counted against limits.pending_queue_bytes
    };
    std::deque<Item> items;
    uint64_t bytes = 0;
    bool releasing = false;
  };
  std::unique_ptr<Held> held_;
  // The account hello's token proved; null for an anonymous session, so anonymous
  // connections pay 8 bytes, not ~100 (idle memory per connection, docs/benchmarks.md).
  std::unique_ptr<const api::Identity> identity_;
  // The seats handed out by room_redirects: until used or expired each counts against
  // limits.max_rooms_per_session (docs/security.md), a second join of the same room trades
  // it for a new one, and the session's end gives the seats back to their nodes: so a socket
  // cannot fill a room on another node with redirects it never follows, not even by
  // reconnecting. Allocated only while one is held; among the pointers, so the flags above
  // pack with pending_joins_ (idle memory).
  struct HeldSeat {
    TimePoint expires;
    std::string room_id, node, reservation;
  };
  std::unique_ptr<std::vector<HeldSeat>> redirects_;
  // Forgets the seat this session holds in `room_id` through a redirect, and frees it there.
  void give_back_seat(const std::string& room_id);
  void release_held_seats();
  void release_seat(const HeldSeat& seat, TimePoint now);  // frees it on its room's node
  // A resumable session's numbering, replay buffer and hold; null for a plain session.
  struct Resume {
    detail::ReplayBuffer replay;
    uint64_t received = 0;   // sequenced client messages received
    uint64_t ack_sent = 0;   // the last ack we sent the client
    uint32_t generation = 0; // of the current resume token
    bool started = false;    // welcome sent: server messages are numbered from here
    bool held = false;       // no connection; waiting for a resume until held_until
    bool adopting = false;   // a resume is replacing this session's connection
    TimePoint held_until{};
  };
  std::unique_ptr<Resume> resume_;
  bool ping_outstanding_ = false;  // a server ping went out in this quiet spell
  int64_t ping_stamp_us_ = 0;      // that ping's stamp until its answer: the only RTT sample
  bool ended_ = false;             // end_session ran
  bool registered_account_ = false;  // in the auth.session_policy registry
  // Lobby subscriptions: null until the session uses them (8 bytes idle).
  struct LobbyState;
  std::unique_ptr<LobbyState> lobby_;
};

}  // namespace craft
