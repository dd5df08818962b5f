// The server's side of a Room: membership, the tick loop, and delivery. Lives on one shard
// and is only touched there; sessions on other shards reach it by posting.
#pragma once
#include "core/tick_scheduler.hpp"
#include "protocol/envelope_codec.hpp"

#include <craft/replication.hpp>
#include <craft/room.hpp>

#include <asio/steady_timer.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace craft::store {
class Store;
}

namespace craft {
class Shard;
class Session;
}  // namespace craft

namespace craft::detail {

class ServerCore;

enum class JoinMode : uint8_t { join, create, join_or_create };

struct JoinRequest {
  std::shared_ptr<Session> session;
  Client client;
  std::string options;
  uint32_t cid = 0;
  JoinMode mode = JoinMode::join;
  std::string reservation;  // RoomJoin.reservation: a matched seat (reserve())
};

// What room listings show; guarded by World's mutex, written by the room's shard.
struct Listing {
  std::string type;
  uint32_t clients = 0;
  uint32_t max_clients = 0;
  std::string label;
  bool locked = false;
  bool is_private = false;
  bool disposed = false;
  Properties metadata;
};

class RoomHost : public std::enable_shared_from_this<RoomHost> {
 public:
  RoomHost(Shard& shard, std::string id, std::string type, std::unique_ptr<Room> room,
           bool is_private, std::string create_options);
  ~RoomHost();

  Shard& shard() { return shard_; }
  const std::string& id() const { return id_; }
  const std::string& type() const { return type_; }
  Listing listing;  // see Listing

  // All below run on the room's shard.
  void join(JoinRequest request);
  // Removes a member; `notify` sends it room_left (when the room, not the player, decided).
  void leave(SessionId who, std::string_view reason, bool notify);
  // A member's session lost its connection and is held for resume (Room::on_drop decides
  // for how long here), or came back.
  void drop(SessionId who);
  void resume(SessionId who);
  void message(SessionId from, uint32_t cid, uint32_t op, std::string_view data,
               std::span<const SessionId> targets);
  void dispose(std::string_view reason);
  bool disposed() const { return disposed_; }
  // Runs `job` on a store worker (with nullptr when store.backend = none or the store queue
  // is full); the function it
  // returns then runs on this room's shard, unless the room was disposed meanwhile.
  void with_store(std::function<std::function<void()>(store::Store*)> job);
  // Runs the ticks due at `now` and re-arms the timer. Public so tests can drive it.
  void advance(TimePoint now);
  void sweep(TimePoint now);
  // Seat reservations (a match, core/matchmaking.cpp): `token` lets session `who` join once
  // before `expires`, even past max_clients (the seat is counted from now on). Unused ones
  // expire lazily, at joins and sweeps (craft_reservations_expired_total). A room given a
  // reservation is reservation-only from then on: a join without a valid one is refused
  // (RESERVATION_INVALID), unless matchmaker.late_joins and no reservation is left.
  // Who may spend a reservation (seat_fits, the one check every join makes): a session of
  // this node; else, for a player matched or redirected from another node (whose session id
  // means nothing here), the account's user id when it was logged in; else whoever holds the
  // token (bearer: 128 random bits, once, within the TTL).
  struct SeatHolder {
    SessionId session = 0;   // non-zero: only this session of this node
    std::string account_id;  // session 0 and non-empty: any session of this account
  };
  void reserve(std::string token, SeatHolder who, TimePoint expires);
  void reserve(std::string token, SessionId who, TimePoint expires) { reserve(std::move(token), SeatHolder{who, {}}, expires); }
  static bool seat_fits(const SeatHolder& who, const Client& client) {
    if (who.session != 0) return who.session == client.id;
    return who.account_id.empty() || who.account_id == client.account_id;
  }
  // A seat for a player joining from another node of a cluster (docs/cluster.md): `token`
  // lets the account `account_id` (or, when empty, whoever holds the token) join once before
  // `expires`. Unlike reserve() it does not make the room reservation-only. Refused (the
  // ErrorCode, and `why`) when the room is gone, locked, full counting held seats, or a match
  // room taking only its matched players; 0 when the seat is held.
  int reserve_for_node(std::string token, std::string account_id, TimePoint expires, std::string& why);
  // Frees a seat reserve_for_node() made and nobody used (its session on the other node
  // ended: seat.release); true when there was one. A match's seats (reserve()) stay.
  bool release_node_seat(const std::string& token);

  // Backends of the Room API.
  void send(std::span<const SessionId> to, uint32_t op, std::string_view data, SessionId sender);
  void broadcast(uint32_t op, std::string_view data, SessionId sender, SessionId except);
  void reply_error(MessageError code, std::string_view message);
  const std::vector<Client>& clients() const { return clients_; }
  const Client* find_client(SessionId id) const;
  TimePoint now() const;
  int64_t wall_time_us() const;
  // Runs on_create once (on the first join, or here for rooms driven by tests).
  void open();
  // The room's code threw: the room is disposed with room_error_reason (docs/protocol.md §4.8).
  bool failed() const { return failed_; }
  static constexpr std::string_view room_error_reason = "room error";
  // Room::reject_create: only inside on_create; the room is disposed once on_create returns.
  void reject_create(std::string_view reason);
  uint32_t max_clients() const { return max_clients_; }
  void update_settings(std::optional<uint32_t> max_clients, std::optional<std::string> label,
                       std::optional<bool> locked, std::optional<bool> hidden);
  void set_tick_rate(uint32_t hz);

  // Replicated state (core/room_replication.cpp, docs/protocol.md §4.20), on the room's shard.
  // Room::set_replicator: members get state_schema and are the replicator's clients.
  void set_replicator(sync::Replicator* replicator);
  // A member's state_ack (the body, or riding on room_data): hostile input, handed to the
  // replicator, which ignores bad ticks. A non-member's is dropped (the session answered it).
  void state_ack(SessionId from, uint32_t tick);

  // Listing metadata and properties (core/room_properties.cpp), on the room's shard.
  // preset: World::create, before the room is reachable (type options, filter_by metadata).
  void preset(RoomTypeOptions options, Properties metadata);
  bool set_metadata(std::string key, Value value);
  void erase_metadata(std::string_view key);
  const Properties& metadata() const { return metadata_; }
  // A member's properties_set: answered with properties_changed (to everyone, cid echoed to
  // the writer) or an error to the writer.
  void properties_set(SessionId by, uint32_t cid, const v1::PropertiesSet& request);
  // Room code's write (by = 0): no permission rule, expectations or veto.
  bool set_properties(SessionId player, std::vector<PropertyChange> writes);
  const Properties& properties() const { return properties_; }
  const Properties* player_properties(SessionId player) const;
  uint64_t properties_version() const { return properties_version_; }

 private:
  struct Member {
    std::shared_ptr<Session> session;
    uint32_t shard;
    protocol::WireFormat format;
    std::optional<TimePoint> held_until;  // dropped: the seat is kept until then
    bool room_handles = false;             // hello.room_handles: snapshots carry handle_, not id_
  };
  using MemberList = std::vector<std::shared_ptr<Session>>;

  void fail_join(JoinRequest& request, int code, std::string message, bool retryable);
  // Every call into game code goes through here: an exception (or a room that already
  // failed) makes it return false, and the room is ended by fail() instead of the process.
  template <class F>
  bool guarded(const char* callback, F&& call);
  void fail(const char* callback, std::string_view what);
  Member* find_member(SessionId id);
  void deliver(const protocol::FramedMessage& frames, SessionId except);
  void deliver_to(size_t member_index, const protocol::Frame& frame);
  v1::Envelope room_data(uint32_t op, std::string_view data, SessionId sender) const;
  void membership_changed();
  void publish_listing();
  void arm_timer();
  // Tells the shard the tick period this room now runs at (0: none), for its coalescing.
  void count_period(Duration period);

  Shard& shard_;
  std::string id_;
  uint32_t handle_;  // room_joined.room_handle: this room's number in the process (never 0)
  std::string type_;
  std::unique_ptr<Room> room_;
  std::string create_options_;
  bool created_ = false;
  bool disposed_ = false;
  bool failed_ = false;  // game code threw; it is never called again
  bool in_create_ = false;
  std::optional<std::string> create_rejection_;  // set by reject_create
  bool is_private_;
  bool locked_ = false;
  uint32_t max_clients_;
  std::string label_;
  // Parallel arrays: clients_ is what game code sees, members_ how to reach them.
  std::vector<Client> clients_;
  std::vector<Member> members_;
  uint8_t formats_ = 0;  // wire formats among members, so a broadcast frames only those
  // Per remote shard, an immutable snapshot of members there: a cross-shard broadcast posts
  // the pointer, never a copy of the list.
  std::vector<std::shared_ptr<const MemberList>> remote_members_;
  bool remote_members_stale_ = true;
  uint32_t dropped_members_ = 0;  // members with held_until set; the sweep looks only then
  std::optional<TimePoint> empty_since_;
  uint32_t tick_rate_hz_;
  TickScheduler scheduler_;
  Duration counted_period_{0};  // what the shard was told (count_period)
  asio::steady_timer timer_;
  uint64_t timer_generation_ = 0;
  struct Reservation {
    SeatHolder holder;
    TimePoint expires;
  };
  std::unordered_map<std::string, Reservation> reservations_;  // token -> seat
  bool reservation_only_ = false;  // a match room (reserve() was called)
  void expire_reservations(TimePoint now);
  // Metadata, properties (core/room_properties.cpp).
  RoomTypeOptions type_options_;
  Properties metadata_;
  Properties properties_;
  std::map<SessionId, Properties> player_properties_;
  uint64_t properties_version_ = 0;
  // Checks one batch against the limits; "" when fine, else the error (code in `code`).
  std::string check_writes(const Properties& current, std::span<const PropertyChange> writes, int& code) const;
  void apply_writes(SessionId player, std::vector<PropertyChange> writes, SessionId by, uint32_t cid);
  void error_to(SessionId who, uint32_t cid, int code, std::string message);
  void fill_properties(v1::RoomJoined* joined) const;
  // Room::on_properties_set, guarded (room_host.cpp, where guarded() lives); false if it threw.
  bool ask_room(const Client& by, SessionId player, std::span<const PropertyChange> writes, bool& accepted);
  // Replicated state (core/room_replication.cpp).
  // After each on_tick: a snapshot to every connected member when the tick is due.
  void replicate(uint32_t tick);
  // Members' first words of replication: the replicator learns them, they get the schema.
  void add_replicated(size_t member_index);
  void configure_replicator();
  const protocol::FramedMessage& schema_frames();
  // Adds what the replicator did since last time to the shard's counters.
  void count_replication();
  // guarded() for code in other files (the template lives in room_host.cpp).
  bool guarded_call(const char* callback, const std::function<void()>& call);
  sync::Replicator* replicator_ = nullptr;  // room code's, not owned (Room::set_replicator)
  bool replicator_configured_ = false;
  uint32_t replication_tick_ = 0;           // on_tick calls so far: the snapshot tick numbers
  sync::ReplicatorStats replication_counted_;
  std::optional<v1::Envelope> schema_;       // built once: it never changes for the room's life
  protocol::FramedMessage schema_frames_;
  uint8_t schema_formats_ = 0;
  std::string snapshot_data_;               // reused encode buffer
  // The message being handled, for reply_error.
  SessionId current_sender_ = 0;
  uint32_t current_cid_ = 0;
};

}  // namespace craft::detail
