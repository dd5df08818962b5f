// The game developer's side of craft: derive from Room, register the type with
// Server::define_room, and craft runs it. Every callback runs on the room's own event
// loop (shard), one at a time, so room code never needs a lock.
//
// Room code runs behind a guard: if a callback (on_drop and on_resume included), a
// storage/leaderboard `done`, or the factory throws, that room alone ends. Its members get
// room_left with the reason "room error", a player whose create/join was under way gets error
// INTERNAL, the failure is logged and counted in craft_room_errors_total, and none of the
// room's code runs again (not on_leave, not on_dispose; its destructor does). The guard cannot
// catch a stack overflow: never recurse on, or regex-match, what players send. Parse options
// with craft::RoomOptions (craft/room_options.hpp).
#pragma once
#include <craft/clock.hpp>
#include <craft/value.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace craft {

using SessionId = uint64_t;

// A player connected to the room.
struct Client {
  Client() = default;
  Client(SessionId session, std::string display_name, std::string account = {}, std::string account_username = {})
      : id(session), name(std::move(display_name)), account_id(std::move(account)), username(std::move(account_username)) {}

  SessionId id = 0;
  std::string name;
  std::string account_id;  // empty for an anonymous session (no token in hello)
  std::string username;    // the account's username, when there is an account
};

// What on_join answers: accept, or reject with a reason the client sees.
struct JoinResult {
  bool accepted = true;
  std::string reason;
  static JoinResult accept() { return {}; }
  static JoinResult reject(std::string why) { return {false, std::move(why)}; }
};

// One room_data message from a client.
struct Message {
  uint32_t op = 0;
  std::string_view data;
  std::span<const SessionId> targets;  // the sender asked for these recipients only (may be empty)
};

// Errors a room may answer a message with; the sender sees them with the message's cid.
enum class MessageError : uint8_t { bad_request = 1, message_too_large = 15, invalid_target = 18 };

// Room or player properties (docs/protocol.md §4.16): key -> typed value.
using Properties = std::map<std::string, Value, std::less<>>;

// One write of a properties_set: `to` unset deletes the key.
struct PropertyChange {
  std::string key;
  std::optional<Value> to;
};

// Who may write properties with properties_set (room code always may).
enum class PropertyWriters : uint8_t {
  own_player,           // default: a player its own player properties only
  room_and_own_player,  // also the room's properties
  nobody,               // only room code
};

// How a room type behaves beyond its factory (Server::define_room).
struct RoomTypeOptions {
  // Colyseus' filterBy: join_or_create reads these keys from its options (a JSON object);
  // each one present (text, number or boolean) must equal the room's metadata value of the
  // same key, and a room created by that join_or_create starts with them as metadata.
  std::vector<std::string> filter_by;
  PropertyWriters property_writers = PropertyWriters::own_player;
};

namespace detail {
class RoomHost;
}
namespace sync {
class Replicator;  // craft/replication.hpp
}

class Room {
 public:
  virtual ~Room() = default;

  // Called once, before anyone joins. `options` are the creator's (JSON text by convention);
  // refuse bad ones with reject_create.
  virtual void on_create(std::string_view options) { (void)options; }
  // Accept or reject a player. Called before the player is a member.
  virtual JoinResult on_join(const Client& client, std::string_view options) {
    (void)client, (void)options;
    return JoinResult::accept();
  }
  // State bytes delivered to a joining player in room_joined.state.
  virtual std::string join_state(const Client& client) {
    (void)client;
    return {};
  }
  // After the player left (asked, disconnected or kicked); it is no longer a member.
  virtual void on_leave(const Client& client) { (void)client; }
  // A resumable player's connection was lost without a goodbye (docs/protocol.md §3.2). It
  // is still a member; messages to it are kept for its resume. Return how long to keep its
  // seat: `hold` (session.resume_window_ms, the default), shorter, longer (the session is
  // then held that long too), or zero to have it leave now. If it has not resumed by then,
  // it leaves (on_leave) and its room_left says "timeout". Other members see it dropped.
  virtual Duration on_drop(const Client& client, Duration hold) {
    (void)client;
    return hold;
  }
  // The dropped player is back on a new connection, same session, everything it missed
  // delivered. Other members see it resumed.
  virtual void on_resume(const Client& client) { (void)client; }
  virtual void on_message(const Client& from, const Message& message) { (void)from, (void)message; }
  // Fixed timestep: dt is always 1 / tick rate. Late ticks are caught up (up to 5 at once).
  virtual void on_tick(Duration dt) { (void)dt; }
  virtual void on_dispose() {}
  // A client's properties_set passed the type's PropertyWriters rule and its expectations;
  // return false to veto it (the writer gets PERMISSION_DENIED, nothing changes).
  // `player` is 0 for the room's properties, else the member whose properties change.
  // Runs before the writes apply, so properties() still shows the old values.
  virtual bool on_properties_set(const Client& by, SessionId player, std::span<const PropertyChange> writes) {
    (void)by, (void)player, (void)writes;
    return true;
  }

 protected:
  // Outgoing room_data. `sender` is stamped on the message (0 = the room itself).
  void send(SessionId to, uint32_t op, std::string_view data, SessionId sender = 0);
  void send(std::span<const SessionId> to, uint32_t op, std::string_view data, SessionId sender = 0);
  void broadcast(uint32_t op, std::string_view data, SessionId sender = 0);
  void broadcast_except(SessionId except, uint32_t op, std::string_view data, SessionId sender = 0);
  // Only inside on_message: answer the message being handled with an error (its cid echoed).
  void reply_error(MessageError code, std::string_view message);
  // Only inside on_create: refuse the room (e.g. bad options). Once on_create returns the
  // room is disposed and the creator's room_create fails with BAD_REQUEST and `reason`.
  void reject_create(std::string_view reason);
  // Removes a player; it receives room_left with the reason.
  void kick(SessionId who, std::string_view reason);

  const std::vector<Client>& clients() const;
  const Client* find_client(SessionId id) const;
  const std::string& id() const;
  const std::string& type() const;
  TimePoint now() const;             // the server's Clock, for game time
  int64_t wall_time_us() const;      // microseconds since the Unix epoch, for timestamps

  // Room metadata, shown in room listings; changes apply at once.
  uint32_t max_clients() const;
  void set_max_clients(uint32_t n);
  void set_label(std::string label);
  void set_locked(bool locked);  // a locked room accepts no joins
  void set_private(bool hidden); // a private room is joinable by id only, never listed
  // Listing metadata (shown in room_list and lobby updates, matched by filters): at most
  // rooms.max_metadata keys, each key + text value at most rooms.max_property_bytes, numbers
  // finite. Returns false (nothing changes) past a limit. Applies at once.
  bool set_metadata(std::string key, Value value);
  void erase_metadata(std::string_view key);
  const Properties& metadata() const;

  // Properties (docs/protocol.md §4.16). Writes from room code always apply (no veto, no
  // expectations) and reach every member as properties_changed with by = 0, in version
  // order with the players' writes. `player` 0 = the room's properties, else a member's
  // (false if it is not a member). False past rooms.max_properties / max_property_bytes or
  // for a non-finite number; nothing changes then. A member's player properties go away
  // when it leaves.
  bool set_properties(SessionId player, std::vector<PropertyChange> writes);
  const Properties& properties() const;                      // the room's
  const Properties* player_properties(SessionId player) const;  // null: none, or not a member
  uint64_t properties_version() const;

  // 1-240 Hz, or 0 for no game loop (rooms that only react to messages). Default: the
  // server's rooms.tick_rate_hz. Takes effect from the next tick, one period on. With
  // server.coalesce_us set, ticks instead fall on multiples of the period on the steady clock
  // (the first within one period), shared by every room of the rate, so they cost one
  // wake-up together (docs/architecture.md "Shards"); a rate faster than the window
  // shortens its shard's windows to its period.
  void set_tick_rate(uint32_t hz);
  // Dispose the room now: everyone receives room_left.
  void dispose();

  // Replicated state (craft/replication.hpp, docs/protocol.md §4.20). With a replicator
  // attached, craft sends every member `state_schema` once after its room_joined, captures
  // the world after every on_tick whose tick number is a multiple of the replicator's
  // send_interval_ticks and sends each connected member its `state_snapshot`, and hands
  // members' acks (state_ack) to it. Call it in on_create. nullptr detaches (no more
  // snapshots). Not owned: the Replicator must outlive the room's use of it, so make it a
  // member of the room (declared after the ecs::Registry it reads). Tick numbers count this
  // room's on_tick calls from 1. A throw from the replicator (or from room code it calls,
  // e.g. a position_from function) ends the room like any room code's (the room guard).
  void set_replicator(sync::Replicator* replicator);

  // Saved data (docs/http-api.md), from room code. Asynchronous: the database work runs off
  // the room's loop and `done` runs on it later, never if the room is gone by then. Room code
  // acts as the server, so storage permissions do not bind it. Values are JSON object text.
  // Read: the value, or nullopt if the object is absent (or the database failed or is busy:
  // store.max_queue calls waiting).
  void storage_read(std::string collection, std::string key, std::string owner_account_id,
                    std::function<void(std::optional<std::string> json)> done);
  // Write unconditionally, readable and writable by its owner. `done(false)` on any failure.
  void storage_write(std::string collection, std::string key, std::string owner_account_id, std::string json,
                     std::function<void(bool ok)> done = {});
  // Submit a score for a player with an account; `done` gets the new rank, 0 on failure.
  void leaderboard_write(std::string leaderboard_id, const Client& player, int64_t score,
                         std::function<void(int64_t rank)> done = {});

 private:
  friend class detail::RoomHost;
  detail::RoomHost* host_ = nullptr;
};

using RoomFactory = std::function<std::unique_ptr<Room>()>;

}  // namespace craft
