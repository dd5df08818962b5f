// craft's C++ client: connect over WebSocket or TCP, say hello, join rooms, send and
// receive room data. Blocking and single-threaded on purpose: a request sends and then
// reads until its reply arrives (matched by cid), queueing everything else as events, so
// tests and the load generator see exactly what the server sent, in order, with no
// background thread. Not thread-safe: use one Client from one thread at a time.
// In a cluster a Client is one home connection plus one connection per other node that holds
// one of its rooms (made when a join is redirected there, closed when its last room is
// left); every room call goes to its room's connection and every connection's events come
// out of the same next_event()/poll(). See "Clusters" in sdk/cpp/README.md.
#pragma once
#include "craft.pb.h"
#include "craft/lobby.hpp"
#include "net/ws_codec.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace craft::client {

enum class Transport { websocket, tcp };
enum class Format { binary, json };  // WebSocket only; TCP is always binary

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  Transport transport = Transport::websocket;
  Format format = Format::binary;
  std::string path = "/ws";
  std::chrono::milliseconds timeout{5000};  // connect + upgrade, each request, each blocked write

  // Resumable sessions (docs/protocol.md §3.1, §3.2). Off by default: a plain session costs
  // nothing and tests of the plain protocol see exactly the envelopes they send.
  // With it, hello() asks for a resumable session; the client counts sequenced messages both
  // ways, acks what it received (on its own sends, else every 64 messages or 500 ms while it
  // reads) and keeps what it sent until the server's ack covers it.
  bool resumable = false;
  // When a read finds the connection lost (EOF, reset, close 4001) the client reconnects and
  // resumes inside that call, up to resume_attempts times, waiting resume_backoff * (n - 1)
  // before attempt n. A refused resume (RESUME_FAILED, REPLAY_GAP) falls back to a fresh
  // hello with the same name and token and rejoins the rooms by id. on_connection tells.
  bool auto_resume = true;
  int resume_attempts = 5;
  std::chrono::milliseconds resume_backoff{100};
  bool rejoin_after_fallback = true;
  // With a resumable session: nothing at all received for this long while reading means the
  // connection is half-open; it is abandoned and resumed (bytes waiting unread are not
  // silence). 0 = off. Set it above the server's
  // limits.server_ping_interval_ms (the longest a live server stays silent) plus a round trip.
  std::chrono::milliseconds silence_timeout{0};

  // Clusters (docs/cluster.md, protocol.md §4.21): join, join_or_create, join_reserved and
  // join_match follow a room_redirect / match_found.room_url themselves, over a connection
  // of this Client's to that node (same name and token, these options with the node URL's
  // host, port and path; WebSocket, since node URLs are ws://). Off: they throw Redirected
  // (and join_match joins on this connection), as hostile-input tests want.
  bool follow_redirects = true;
};

// What the client did about its connection (Client::on_connection).
struct ConnectionEvent {
  enum class Kind {
    dropped,    // the connection was lost; a resume starts now
    resumed,    // same session, same rooms; nothing was lost
    restarted,  // the resume was refused: a fresh session (new id), rooms rejoined where possible
    failed,     // no attempt succeeded; the client (with node_url: that connection) is closed
    node_lost,  // a connection to another node is gone for good (lost_rooms: its rooms)
  };
  Kind kind = Kind::dropped;
  uint16_t close_code = 0;  // dropped: the lost connection's close code, 0 for EOF or reset
  int attempts = 0;         // resumed, restarted, failed: connection attempts made
  v1::ErrorCode refusal = v1::ERROR_UNSPECIFIED;  // restarted: RESUME_FAILED or REPLAY_GAP
  uint64_t old_session_id = 0;                    // restarted: the session that ended
  std::vector<std::string> rejoined_rooms;        // restarted
  std::vector<std::string> lost_rooms;            // restarted: rooms that could not be rejoined
  std::string error;                              // failed: the last attempt's error; node_lost: the close reason
  // Which connection: empty = the home connection (the one connect() made), else the URL of
  // the other node's connection (a room_redirect's url, match_found.room_url).
  std::string node_url;
};

// What list_rooms and lobby_subscribe take besides the room type (proto RoomListRequest /
// LobbySubscribe). Build the filter with filter(), equals(), in_range(); sorts with sort_by().
struct ListOptions {
  std::optional<v1::RoomFilter> filter;
  std::vector<v1::RoomSort> sort;  // empty: oldest first
  uint32_t offset = 0;             // list_rooms only: rooms to skip
  uint32_t limit = 0;              // 0 = rooms.max_list_results (more is cut to it)
};

// Whether an envelope counts in a session's sequence numbers (protocol.md §3.2): everything
// but the link-level hello, welcome, ping, pong, ack and disconnect.
bool is_sequenced(const v1::Envelope& e);

// The server answered a request with an Error envelope (same cid).
// what() is "<CODE_NAME>: <server message>".
class Error : public std::runtime_error {
 public:
  Error(v1::ErrorCode c, const std::string& message);
  v1::ErrorCode code;
};

// A cluster's node answered join / join_or_create with room_redirect (docs/protocol.md
// §4.21): the room lives on another node. Thrown only with Options::follow_redirects off
// (else the Client joins there itself); follow it with follow_redirect() (a second Client to
// redirect.url(), same token, join with the reservation within reservation_ttl_ms).
class Redirected : public std::runtime_error {
 public:
  explicit Redirected(v1::RoomRedirect r);
  v1::RoomRedirect redirect;
};

// `base` with host, port and path taken from a node URL "ws://host:port/path" (IPv6 in
// brackets). Throws std::invalid_argument for anything else (wss:// is not supported here).
Options options_for_url(const std::string& url, Options base);

class Client {
 public:
  explicit Client(Options options);
  ~Client();  // closes the socket without a close handshake
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // TCP connect (+ HTTP upgrade for WebSocket, Sec-WebSocket-Accept checked).
  // Throws std::runtime_error on failure or after options.timeout. May be called again once
  // the connection has been closed (a reconnect; the cid counter carries on).
  void connect();

  // Requests: each throws Error if the server answers with an error, std::runtime_error on
  // timeout ("timeout waiting for ..."), on a closed connection or on an unexpected reply.
  // With a resumable session a request survives a lost connection (it is resent or its reply
  // replayed); if the session is lost instead (restarted), a request waiting for its reply
  // throws std::runtime_error ("session lost ...").
  v1::Welcome hello(std::string name = "", std::string token = "");
  // Reconnects (a new connection; the old one is abandoned, it may be half-open) and resumes
  // the session with hello{resumable, resume_token, last_seq}, then resends what the server
  // had not received. Throws Error RESUME_FAILED or REPLAY_GAP if refused (the session is
  // over; the new connection is open and may say hello()), std::runtime_error otherwise.
  // Called by the client itself when auto_resume is on.
  v1::Welcome resume();
  v1::Pong ping();  // client_time_us = this machine's wall clock in microseconds
  v1::RoomJoined create(std::string type, std::string options = "", bool is_private = false);
  // In a cluster join and join_or_create may find the room on another node: with
  // Options::follow_redirects (the default) the client then joins it there itself (see
  // "Clusters" below) and returns that node's room_joined; you().session_id() is then the
  // session on that node, not session_id(). Besides the errors of a join there, that can
  // throw std::runtime_error (cannot connect to the node, or "redirected again": that node
  // redirected too) and std::invalid_argument (a URL that is not ws://host:port/path).
  v1::RoomJoined join(std::string room_id, std::string options = "");
  v1::RoomJoined join_or_create(std::string type, std::string options = "");
  // Waits for the RoomLeft with the cid, on the room's connection; leaving the last room of
  // another node's connection closes that connection.
  void leave(std::string room_id);
  std::vector<v1::RoomInfo> list_rooms(std::string type = "");

  // ---- Issue 12: listings, lobby, properties, matchmaker, parties (protocol.md §4.15-§4.19).
  // Same model as above: each call sends, reads until its reply, and queues what else came.
  // Public rooms of `type` ("" = all) passing opts.filter, in opts.sort order, the page
  // opts.offset..+opts.limit; RoomList.more: rooms past it pass the filter too. Each
  // RoomInfo.metadata is a map of Value (from_values() makes it plain).
  v1::RoomList list_rooms(std::string type, const ListOptions& opts);
  // The best room of `type` passing `filter` (and the type's filter keys from options), in
  // `sort` order (empty: oldest first), or a new one.
  v1::RoomJoined join_or_create(std::string type, std::string options, const v1::RoomFilter& filter,
                                const std::vector<v1::RoomSort>& sort = {});
  // Joins a match's room with its seat reservation (room_join{room_id, reservation}), on the
  // connection to match.room_url() when it names another node (Options::follow_redirects).
  // Error RESERVATION_INVALID: unknown, used, expired (reservation_ttl_ms) or another session's.
  v1::RoomJoined join_match(const v1::MatchFound& match, std::string options = "");
  // room_join{room_id, options, reservation}: a seat reserved for you (match_found, room_redirect).
  // Follows a redirect like join().
  v1::RoomJoined join_reserved(std::string room_id, std::string reservation, std::string options = "");
  // properties_set: writes (to = nullopt deletes), applied only if every expectation holds.
  // player: 0 = the room's properties, else a member's (by default a session may write only
  // its own). Returns the applied change (the reply, cid echoed; every other member gets the
  // same as an event). Error PROPERTY_CONFLICT (an expectation failed, nothing written),
  // PERMISSION_DENIED, LIMIT_REACHED (rooms.max_properties), BAD_REQUEST, NOT_IN_ROOM.
  // std::invalid_argument for a non-finite number. Feed the result to RoomProperties::apply.
  v1::PropertiesChanged set_properties(const std::string& room_id, const std::vector<PropertyWrite>& writes,
                                       const std::vector<PropertyExpect>& expect = {}, uint64_t player = 0);
  // A live room list: the reply is the first page (reset = true, `added`, and the
  // subscription number); later lobby_update events (cid 0, at most every
  // lobby.update_interval_ms) carry added/updated/removed. Feed them all to a LobbyList.
  // Error LIMIT_REACHED past lobby.max_subscriptions_per_session. opts.offset is not used.
  v1::LobbyUpdate lobby_subscribe(std::string type, const ListOptions& opts = {});
  // Returns the final lobby_update (ended = true).
  v1::LobbyUpdate lobby_unsubscribe(uint32_t subscription);
  // Submits a ticket; returns its id. A match arrives later as a match_found event (then
  // join_match), an unmatched end as matchmaker_ticket_ended. Error BAD_REQUEST (query,
  // counts), LIMIT_REACHED (matchmaker.max_tickets_per_session, a full pool).
  std::string matchmaker_add(v1::MatchmakerAdd ticket);
  // Cancels a ticket; returns the matchmaker_ticket_ended reply (reason "cancelled").
  v1::MatchmakerTicketEnded matchmaker_remove(std::string ticket);
  // Parties. party_create returns the new party's state; the others return the party state
  // when the server answers with one (nullopt otherwise; a join request to a closed party
  // is answered with the state listing you in requests). Every member also gets party_state
  // events on each change; party_invite events (from = the leader) are invitations;
  // party_data events carry party_send's data; party_left events tell you are out.
  // Errors: NOT_FOUND, PARTY_FULL, PERMISSION_DENIED (not the leader), INVALID_TARGET,
  // LIMIT_REACHED (one party per session, party.max_requests), BAD_REQUEST.
  v1::PartyState party_create(bool open = false, uint32_t max_size = 0);  // 0 = party.max_size
  std::optional<v1::PartyState> party_join(std::string party_id);
  void party_leave(std::string party_id);  // waits for the reply (party_left)
  std::optional<v1::PartyState> party_promote(std::string party_id, uint64_t session_id);
  std::optional<v1::PartyState> party_kick(std::string party_id, uint64_t session_id);
  std::optional<v1::PartyState> party_accept(std::string party_id, uint64_t session_id);
  std::optional<v1::PartyState> party_invite(std::string party_id, uint64_t session_id);
  // Game data to every other party member (party_data events, sender stamped); no reply.
  void party_send(const std::string& party_id, uint32_t op, std::string_view data);
  // Room data: no reply expected. Empty targets = everyone in the room. Sent on the room's
  // connection (a room the client is not in goes to the home connection: NOT_IN_ROOM).
  void send(const std::string& room_id, uint32_t op, std::string_view data, std::vector<uint64_t> targets = {});
  // Generic request: sets cid to the next id (1, 2, ...), sends, then reads until the
  // envelope with that cid arrives; everything else received meanwhile is queued as an event.
  v1::Envelope request(v1::Envelope e);

  // Events: everything a server sends that is not a reply being waited for (room data,
  // presence, room_left with cid 0, errors with cid 0 or an unmatched cid, disconnect...).
  // WebSocket pings and Ping envelopes from the server are answered here, not queued.
  // Anything that reads throws std::runtime_error if the server breaks the framing (the
  // connection is then closed) or sends an undecodable envelope (that one is skipped).
  // Returns a queued event first, else reads; nullopt on timeout or once closed and drained.
  // Other nodes' connections are read here and in poll() and wait_for() too (one ::poll over
  // every socket), not while a request waits for its reply; their events come out in the
  // order each connection received them, the home connection's first. A room of a node
  // connection that is gone for good comes out as room_left{room_id, reason "node lost"}
  // (cid 0) after on_connection's node_lost; a room a restarted node connection could not
  // rejoin as room_left{reason "rejoin failed"}.
  std::optional<v1::Envelope> next_event(std::chrono::milliseconds timeout);
  // Takes events until one matches; the others are discarded (their callbacks still run).
  std::optional<v1::Envelope> wait_for(const std::function<bool(const v1::Envelope&)>& match,
                                       std::chrono::milliseconds timeout);
  // Optional callbacks, run as next_event()/wait_for()/poll() take each event.
  std::function<void(const v1::RoomData&)> on_room_data;
  std::function<void(const v1::PresenceEvent&)> on_presence;
  std::function<void(const v1::Envelope&)> on_event;  // every event, before the two above
  // Runs inside whichever call found the connection lost; do not use the client from it.
  // Node connections report through it too (ConnectionEvent::node_url set).
  std::function<void(const ConnectionEvent&)> on_connection;
  // Waits up to `timeout` only if nothing is queued, takes whatever else is readable without
  // waiting, dispatches every queued event to the callbacks; returns how many it dispatched.
  int poll(std::chrono::milliseconds timeout);

  // Low level, for hostile-input tests and tools.
  void send_envelope(const v1::Envelope& e);  // framed per transport/format; WebSocket frames masked
  void send_raw(std::string_view bytes);      // straight onto the socket, no framing
  // A WebSocket frame; masked with a fresh random mask unless `masked` is false.
  std::string make_ws_frame(ws::Opcode opcode, std::string_view payload, bool masked = true, bool fin = true) const;
  // Writes after the peer has gone are dropped (is_closed() tells); writing before connect()
  // or after close() throws std::runtime_error.

  // WebSocket: sends a close frame and waits briefly for the server's; TCP: sends a
  // Disconnect envelope first if the session is resumable (a goodbye, so the server does not
  // hold it), shuts down the sending side and waits briefly for the server to close. Then
  // releases the socket. Either way the session ends and is not resumed. Closes every other
  // node's connection first, the same way.
  void close(uint16_t code = 1000);
  bool is_closed() const { return closed_; }
  // Once the server has closed us: the code of its Disconnect envelope if one came, else of
  // its WebSocket close frame if one came, else 0. The reason likewise.
  uint16_t close_code() const { return close_code_; }
  const std::string& close_reason() const { return close_reason_; }
  // Reads (queueing events) until the peer closes; close_code(), or nullopt on timeout.
  std::optional<uint16_t> wait_closed(std::chrono::milliseconds timeout);

  uint64_t session_id() const { return session_id_; }  // from Welcome; 0 before hello
  // Resumable sessions: the token of the latest welcome (empty: the session is not resumable),
  // sequenced messages received from and sent to the server, the server's latest ack, the
  // sent messages kept for a resend. These are the home connection's.
  const std::string& resume_token() const { return resume_token_; }
  uint32_t resume_window_ms() const { return resume_window_ms_; }
  uint64_t received_seq() const { return received_seq_; }
  uint64_t sent_seq() const { return sent_seq_; }
  uint64_t server_acked_seq() const { return server_acked_seq_; }
  size_t unacked() const { return unacked_.size(); }
  uint64_t resent() const { return resent_; }  // messages sent again after resumes, in all
  // The rooms the client is in, by id: the home connection's in join order, then each other
  // node connection's.
  std::vector<std::string> rooms() const;
  uint32_t next_cid() const { return next_cid_; }
  int native_handle() const { return fd_; }  // -1 before connect() and after close()
  // Clusters: the URLs of the open connections to other nodes (sorted), and which one holds
  // a room ("" = the home connection, or a room the client is not in).
  std::vector<std::string> node_urls() const;
  std::string node_of(const std::string& room_id) const;
  // Every open socket (home first), for poll()/select() in your own loop.
  std::vector<int> native_handles() const;

 private:
  using Clock = std::chrono::steady_clock;
  // connection.cpp: socket, upgrade, framing.
  void open_socket(Clock::time_point deadline);
  void upgrade(Clock::time_point deadline);
  bool read_some(std::chrono::milliseconds timeout);  // true if bytes arrived
  void decode_buffer();
  bool decode_tcp();
  bool decode_ws();
  void take_message(std::string_view payload, bool text);
  void on_close_frame(std::string_view payload);
  [[noreturn]] void fail(const std::string& why);  // server broke the protocol
  void write_all(std::string_view bytes);
  void write_envelope(const v1::Envelope& e);  // framing only
  // client.cpp: requests and events.
  // How a join answered with room_redirect goes on: followed (if the options say so), or
  // never (a rejoin after a restart: the room was here), or this was already the hop.
  enum class Hop { first, no_follow, followed };
  v1::RoomJoined expect_joined(v1::Envelope e, Hop hop = Hop::first);
  v1::Envelope take_event();
  bool has_events() const { return !inbox_.empty() || !node_inbox_.empty(); }
  // nodes.cpp: the connections to other nodes of a cluster.
  Client* node_for(const std::string& url);  // this, an open one, or a new one (helloed)
  v1::RoomJoined join_on_node(const std::string& url, const std::string& room_id, const std::string& reservation,
                              const std::string& options);
  Client* node_holding(const std::string& room_id);  // nullptr: the home connection's (or nobody's)
  bool read_all(std::chrono::milliseconds timeout);  // every socket; true if bytes arrived or one ended
  Clock::time_point wake_at(Clock::time_point deadline) const;  // ack and silence timers
  bool any_open() const;
  void reap_nodes();  // takes their events; closes idle ones; reports lost ones
  std::string describe_close() const;
  // session.cpp: sequence numbers, acks, resume.
  bool note_received(const v1::Envelope& e);  // false: link-level, not for the event queue
  void send_ack();
  bool ack_due(Clock::time_point& when) const;
  // The client keeps the session (acks, resend buffer, automatic resume, TCP goodbye) only if
  // asked to (Options::resumable): a resumable hello sent by hand leaves the counting to the
  // caller, as the protocol tests need.
  bool managed() const { return options_.resumable && !resume_token_.empty(); }
  bool can_recover() const;
  void recover();
  void restart(ConnectionEvent& event);
  void emit(const ConnectionEvent& event);

  Options options_;
  int fd_ = -1;
  mutable std::mt19937 rng_;
  std::string in_;                 // received bytes; in_[0, in_head_) are already decoded
  size_t in_head_ = 0;
  bool framing_ = false;           // in_ holds frames (TCP: at once; WebSocket: after the upgrade)
  std::string fragments_;          // a fragmented WebSocket message being reassembled
  std::optional<bool> fragment_text_;  // set while one is in progress
  std::deque<v1::Envelope> inbox_;     // decoded, not yet taken
  uint32_t next_cid_ = 1;
  uint64_t session_id_ = 0;
  bool closed_ = false;            // peer closed (or we did); nothing more will be read
  bool close_sent_ = false;        // our WebSocket close frame is out
  bool write_failed_ = false;      // the peer is gone; writes are dropped
  bool disconnect_seen_ = false;
  uint16_t close_code_ = 0;
  std::string close_reason_;

  // Session state that outlives a connection (session.cpp).
  std::string name_, token_;          // of the last hello, for a fallback hello
  std::string resume_token_;          // non-empty: the session is resumable
  uint32_t resume_window_ms_ = 0;
  bool established_ = false;          // this connection got a welcome: its messages are numbered
  uint64_t received_seq_ = 0;         // sequenced server messages received
  uint64_t acked_seq_ = 0;            // the highest received_seq_ we told the server
  Clock::time_point first_unacked_{};  // when received_seq_ first went past acked_seq_
  uint64_t sent_seq_ = 0;             // sequenced messages sent
  uint64_t server_acked_seq_ = 0;
  uint64_t resent_ = 0;
  std::deque<std::pair<uint64_t, v1::Envelope>> unacked_;  // sent, not yet acked by the server
  std::vector<std::string> rooms_;
  uint64_t connection_epoch_ = 0;     // bumped by connect()
  Clock::time_point last_received_{};  // the latest bytes from the server (silence_timeout)
  uint64_t session_epoch_ = 0;        // bumped by every fresh (not resumed) welcome
  bool recovering_ = false;
  bool closing_ = false;
  bool gave_up_ = false;              // automatic resume failed; only resume() tries again

  // Clusters (nodes.cpp). A node connection is a Client of its own, owned by its home.
  Client* home_ = nullptr;            // set on a node connection: it follows no redirect
  int joining_ = 0;                   // joins under way on this node connection: not idle
  std::map<std::string, std::unique_ptr<Client>> nodes_;  // by URL
  std::deque<v1::Envelope> node_inbox_;  // node connections' events, in their arrival order
};

// By hand what Options::follow_redirects does (for tests and tools that turned it off):
// a new Client to redirect.url() with `base`'s other options (follow_redirects off, so a
// second redirect throws Redirected), hello(name, token) (the same session token, so the seat
// bound to your account is yours), then join_reserved. The room lives on that connection from
// then on: keep the client. Throws like connect(), hello() and join (RESERVATION_INVALID:
// used, expired, not yours).
struct Followed {
  std::unique_ptr<Client> client;
  v1::RoomJoined joined;
};
Followed follow_redirect(const v1::RoomRedirect& redirect, const Options& base, std::string name = "",
                         std::string token = "", std::string options = "");

}  // namespace craft::client
