// A player's connection speaking the craft protocol: hello, rooms, room data, limits.
// Runs on its connection's shard; rooms on other shards call back through posts.
#pragma once
#include "core/room_host.hpp"
#include "core/server_core.hpp"
#include "core/token_bucket.hpp"
#include "net/connection.hpp"

#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace craft {

class Session final : public Connection {
 public:
  Session(Shard& shard, asio::ip::tcp::socket socket, Transport transport, IpKey ip, SessionId id,
          detail::Rejection rejection);

  // Starts reading; a connection over a limit is closed with reject_code right away.
  void begin();
  SessionId id() const { return id_; }
  protocol::WireFormat format() const { return wire_format(); }

  // Called on this session's shard by rooms.
  void on_join_succeeded(std::shared_ptr<detail::RoomHost> room, const Frame& joined);
  void on_join_failed(uint32_t cid, int code, std::string message, bool retryable, detail::JoinMode mode,
                      std::string type, std::string options);
  void on_removed(const std::string& room_id, const std::string& reason);
  // Closes this session (the error in `r`, cid 0, then 4005) if its account is r.account_id
  // (a ban) or it said hello with the session token r.token_id (a logout). A hello still
  // being checked is checked once more, so a revocation racing it is not missed.
  void end_if_revoked(const api::Revocation& r);

 private:
  void on_message(std::string_view payload, bool text) override;
  void on_websocket_open() override;
  void on_tls_established() override;
  void before_close(uint16_t code, std::string_view reason) override;
  void on_closed() override;
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
                     detail::JoinMode mode);
  void handle_join(const v1::Envelope& e);
  void handle_join_or_create(const v1::Envelope& e);
  void handle_leave(const v1::Envelope& e);
  void handle_room_data(const v1::Envelope& e);
  void handle_room_list(const v1::Envelope& e);
  void request_join(std::shared_ptr<detail::RoomHost> room, uint32_t cid, std::string options,
                    detail::JoinMode mode);
  bool room_slot_available(uint32_t cid);
  void reject_if_over_limit();
  // The client a trusted proxy named (X-Forwarded-For, PROXY header): the connection counts
  // under that address from now on (per-IP limit, auth limiter).
  void count_as(const IpKey& client);
  const std::shared_ptr<detail::RoomHost>* find_room(const std::string& id) const;
  void send_envelope(const v1::Envelope& e);
  void send_error(uint32_t cid, int code, std::string message);

  SessionId id_;
  std::string name_;
  TokenBucket bucket_;
  std::vector<std::shared_ptr<detail::RoomHost>> rooms_;
  uint32_t strikes_ = 0;        // rate-limited messages in a row
  detail::Rejection rejection_;  // over a connection limit: close with 1013 once open
  uint32_t pending_joins_ = 0;
  bool hello_done_ = false;
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
};

}  // namespace craft
