// Promises of docs/protocol.md and docs/http-api.md that no other test checked, each against a
// real server: a craftd process where wall time does not matter, an in-process Server on a
// ManualClock where it does (rate-limit refill, the close linger). Waits are on conditions.
#include "helpers.hpp"

#include <craft/close_codes.hpp>
#include <craft/server.hpp>

#include <sys/socket.h>

#include <map>
#include <sstream>
#include <thread>

namespace craft::testing {
namespace {

// --- CORS (http-api.md §10) ------------------------------------------------------------------

// The header lines of an HTTP response, by lower-cased name; the status line under "".
std::map<std::string, std::string> head_of(const std::string& response) {
  std::map<std::string, std::string> out;
  std::istringstream in(response.substr(0, response.find("\r\n\r\n")));
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (first) {
      out[""] = line;
      first = false;
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    out[name] = line.substr(line.find_first_not_of(' ', colon + 1));
  }
  return out;
}

void expect_cors(const std::string& response, const std::string& status_line) {
  auto head = head_of(response);
  EXPECT_EQ(head[""], status_line) << response;
  EXPECT_EQ(head["access-control-allow-origin"], "*") << response;
  EXPECT_EQ(head["access-control-allow-headers"], "Authorization, Content-Type") << response;
  EXPECT_EQ(head["access-control-allow-methods"], "GET, POST, OPTIONS") << response;
  EXPECT_EQ(head["cache-control"], "no-store") << response;
  EXPECT_EQ(head["connection"], "close") << response;
}

TEST(Promises, EveryApiResponseAndThePreflightCarryTheCorsHeaders) {
  CraftdProcess server({"--limits.max-http-body-bytes", "1024"});
  const auto port = server.http_port();
  const std::string json = "Content-Type: application/json\r\n";
  // The preflight a browser sends before a cross-origin POST with a bearer token.
  auto preflight = http_request(port, "OPTIONS", "/v1/storage/write", "",
                                "Origin: http://game.example\r\nAccess-Control-Request-Method: POST\r\n"
                                "Access-Control-Request-Headers: authorization, content-type\r\n");
  expect_cors(preflight, "HTTP/1.1 204 No Content");
  EXPECT_EQ(preflight.substr(preflight.find("\r\n\r\n") + 4), "") << "a 204 has no body";

  auto ok = http_request(port, "POST", "/v1/auth/device", R"({"deviceId":"cors-device-0001","create":true})", json);
  expect_cors(ok, "HTTP/1.1 200 OK");
  expect_cors(http_request(port, "GET", "/v1/account"), "HTTP/1.1 401 Unauthorized");
  expect_cors(http_request(port, "POST", "/v1/auth/device", R"({"bogus":1})", json), "HTTP/1.1 400 Bad Request");
  expect_cors(http_request(port, "POST", "/v1/nothing-here", "{}", json), "HTTP/1.1 404 Not Found");
  expect_cors(http_request(port, "GET", "/v1/auth/device"), "HTTP/1.1 405 Method Not Allowed");
  expect_cors(http_request(port, "POST", "/v1/auth/device", std::string(2000, ' '), json),
              "HTTP/1.1 413 Content Too Large");
}

// --- room types for the join promises (protocol.md §4.4-4.6) ---------------------------------

constexpr std::string_view kReason = "only players named ann may join";

// Rejects everyone but "ann" with kReason.
class PickyRoom : public Room {
 public:
  JoinResult on_join(const craft::Client& c, std::string_view) override {
    return c.name == "ann" ? JoinResult::accept() : JoinResult::reject(std::string(kReason));
  }
};

// op 1 locks the room, and answers "locked" once it is.
class LockableRoom : public Room {
 public:
  void on_message(const craft::Client& from, const Message& m) override {
    if (m.op != 1) return;
    set_locked(true);
    send(from.id, 1, "locked");
  }
};

// Holds one player.
class SoloRoom : public Room {
 public:
  void on_create(std::string_view) override { set_max_clients(1); }
};

struct InProcess {
  Server server;
  explicit InProcess(ServerConfig config, const Clock* clock = nullptr) : server(std::move(config), clock) {
    server.define_room<PickyRoom>("picky");
    server.define_room<LockableRoom>("lockable");
    server.define_room<SoloRoom>("solo");
    server.start();
  }
  ~InProcess() {
    server.stop();
    server.wait();
  }
  std::unique_ptr<Client> connect() {
    client::Options o;
    o.port = server.http_port();
    auto c = std::make_unique<Client>(o);
    c->connect();
    return c;
  }
  std::unique_ptr<Client> hello(const std::string& name) {
    auto c = connect();
    c->hello(name);
    return c;
  }
  long metric(const std::string& name_and_labels) const {
    auto text = server.metrics_text();
    auto needle = "\n" + name_and_labels + " ";
    auto pos = text.find(needle);
    if (pos == std::string::npos) throw std::runtime_error("no metric " + name_and_labels);
    return std::stol(text.substr(pos + needle.size()));
  }
};

ServerConfig test_config(uint32_t shards = 2) {
  ServerConfig c;
  c.http_port = 0;
  c.tcp_port = 0;
  c.shards = shards;
  c.store.backend = "none";
  return c;
}

// The error a request is answered with; ERROR_UNSPECIFIED if it succeeded.
template <class F>
std::pair<v1::ErrorCode, std::string> refusal(F&& request) {
  try {
    request();
  } catch (const client::Error& e) {
    std::string what = e.what();
    return {e.code, what.substr(what.find(": ") + 2)};
  }
  return {v1::ERROR_UNSPECIFIED, ""};
}

TEST(Promises, JoinRejectedCarriesTheRoomsReason) {
  InProcess s(test_config());
  auto ann = s.hello("ann");
  auto room = ann->create("picky").room_id();
  auto bob = s.hello("bob");
  EXPECT_EQ(refusal([&] { bob->join(room); }), std::make_pair(v1::JOIN_REJECTED, std::string(kReason)));
  // Join-or-create picks that room too, and its refusal is the answer (protocol.md §4.6).
  EXPECT_EQ(refusal([&] { bob->join_or_create("picky"); }), std::make_pair(v1::JOIN_REJECTED, std::string(kReason)));
  auto ann2 = s.hello("ann");
  EXPECT_EQ(ann2->join(room).members_size(), 2);
}

TEST(Promises, ALockedRoomAnswersRoomLockedAndJoinOrCreateMakesANewRoom) {
  InProcess s(test_config());
  auto owner = s.hello("owner");
  auto room = owner->create("lockable").room_id();
  auto guest = s.hello("guest");
  guest->join(room);
  owner->send(room, 1, "");
  auto locked = next_room_data(*owner, 10s);
  ASSERT_TRUE(locked);
  ASSERT_EQ(locked->data(), "locked");
  // Locked rooms are never listed (craft.proto RoomFilter, protocol.md §4.15).
  EXPECT_EQ(owner->list_rooms("lockable").size(), 0u);

  auto late = s.hello("late");
  EXPECT_EQ(refusal([&] { late->join(room); }).first, v1::ROOM_LOCKED);
  auto other = late->join_or_create("lockable");
  EXPECT_NE(other.room_id(), room);
  EXPECT_EQ(other.members_size(), 1);
  EXPECT_EQ(owner->list_rooms("lockable").size(), 1u);  // the new one; the locked one stays hidden
}

TEST(Promises, JoinOrCreateSkipsAFullRoom) {
  InProcess s(test_config());
  auto first = s.hello("first");
  auto room = first->join_or_create("solo").room_id();
  auto second = s.hello("second");
  EXPECT_EQ(refusal([&] { second->join(room); }).first, v1::ROOM_FULL);
  auto other = second->join_or_create("solo");
  EXPECT_NE(other.room_id(), room);
  EXPECT_EQ(other.members_size(), 1);
}

// --- rooms.max_rooms (protocol.md §4.4, §5.3) -------------------------------------------------

TEST(Promises, TheServerHoldsAtMostMaxRooms) {
  CraftdProcess server({"--rooms.max-rooms", "2"});
  auto a = hello(server, "a"), b = hello(server, "b"), c = hello(server, "c");
  auto first = a->create("relay").room_id();
  b->create("chat", "", /*is_private=*/true);  // private rooms count too
  EXPECT_EQ(refusal([&] { c->create("relay"); }).first, v1::TOO_MANY_ROOMS);
  EXPECT_EQ(refusal([&] { c->join_or_create("chat"); }).first, v1::TOO_MANY_ROOMS) << "no public chat room to join";
  EXPECT_EQ(server.metric("craft_errors_total{code=\"TOO_MANY_ROOMS\"}"), 2);
  // Joining an existing room is not a create.
  EXPECT_EQ(c->join_or_create("relay").room_id(), first);
  EXPECT_EQ(c->list_rooms().size(), 1u);
}

// A room_list answer holds at most rooms.max_list_results rooms, oldest first, so its cost and
// size stay bounded however many rooms clients create (docs/security.md).
TEST(Promises, RoomListAnswersAtMostMaxListResultsOldestFirst) {
  CraftdProcess server({"--rooms.max-list-results", "3"});
  std::vector<std::unique_ptr<Client>> owners;
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    owners.push_back(hello(server, "owner" + std::to_string(i)));
    ids.push_back(owners.back()->create("relay").room_id());
  }
  auto viewer = hello(server, "viewer");
  auto rooms = viewer->list_rooms("relay");
  ASSERT_EQ(rooms.size(), 3u);
  for (size_t i = 0; i < rooms.size(); ++i) EXPECT_EQ(rooms[i].room_id(), ids[i]) << "oldest first";
  EXPECT_EQ(viewer->list_rooms().size(), 3u) << "every type: the same cap";
  EXPECT_EQ(server.metric("craft_room_lists_truncated_total"), 2);
}

// --- rate-limit strikes reset (protocol.md §5.4) ---------------------------------------------

v1::ErrorCode ping_code(Client& c) {
  return refusal([&] { c.ping(); }).first;
}

TEST(Promises, AMessageThatGetsATokenResetsTheStrikes) {
  ManualClock clock;  // frozen: the bucket refills only when the test says so
  auto config = test_config(1);
  config.limits.messages_per_second = 1;
  config.limits.message_burst = 3;
  config.limits.rate_limit_strikes = 5;
  InProcess s(config, &clock);
  auto c = s.hello("striker");  // hello took one token
  EXPECT_EQ(ping_code(*c), v1::ERROR_UNSPECIFIED);
  EXPECT_EQ(ping_code(*c), v1::ERROR_UNSPECIFIED);  // the bucket is empty now
  for (int i = 0; i < 4; ++i) EXPECT_EQ(ping_code(*c), v1::RATE_LIMITED) << "strike " << i + 1;
  clock.advance(1s);  // one token
  EXPECT_EQ(ping_code(*c), v1::ERROR_UNSPECIFIED) << "a message with a token";
  for (int i = 0; i < 4; ++i) EXPECT_EQ(ping_code(*c), v1::RATE_LIMITED) << "strike " << i + 1 << " after the reset";
  clock.advance(1s);
  EXPECT_EQ(ping_code(*c), v1::ERROR_UNSPECIFIED) << "8 strikes, never 5 in a row: still open";
  EXPECT_EQ(s.metric("craft_closes_total{code=\"4003\"}"), 0);
  // Five in a row do close, so the count above was really counted.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(ping_code(*c), v1::RATE_LIMITED);
  v1::Envelope fifth;
  fifth.set_cid(999);
  fifth.mutable_ping();
  c->send_envelope(fifth);
  EXPECT_EQ(c->wait_closed(10s), close_code::flood);
  EXPECT_EQ(s.metric("craft_closes_total{code=\"4003\"}"), 1);
}

// --- the close linger (protocol.md §1.2, §4.12) ----------------------------------------------

// Polls a condition (not a clock) until it holds or `timeout` passes.
template <class F>
bool eventually(F&& condition, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

TEST(Promises, AServerCloseWaitsTwoSecondsForThePeersEofThenCloses) {
  ManualClock clock;
  auto config = test_config(1);  // one shard: one sweep judges every connection
  config.limits.handshake_timeout_ms = 1500;
  InProcess s(config, &clock);
  // `marker` never says hello: its 4000 at 1.5 s shows that a sweep ran after the clock moved.
  // A ping on `probe` after that is handled after the whole sweep, so the connection count
  // read then includes the sweep's verdict on `peer`.
  auto marker = s.connect();
  auto probe = s.hello("probe");
  auto peer = s.hello("never-sends-eof");
  ASSERT_EQ(s.metric("craft_connections"), 3);

  peer->send_raw(peer->make_ws_frame(ws::Opcode::binary, "x", /*masked=*/false));  // close 1002
  ASSERT_EQ(peer->wait_closed(10s), close_code::protocol_error) << "the disconnect and close frame arrive first";
  // The client answered the close frame but keeps its socket open: no EOF reaches the server.
  probe->ping();
  EXPECT_EQ(s.metric("craft_connections"), 3) << "closed before the linger";

  clock.advance(2s - 1ms);  // just inside the linger
  ASSERT_EQ(marker->wait_closed(10s), close_code::handshake_timeout);
  probe->ping();
  EXPECT_EQ(s.metric("craft_connections"), 3) << "closed before 2 s had passed";

  clock.advance(2ms);  // just past the linger: the next sweep closes the socket
  EXPECT_TRUE(eventually([&] { return s.metric("craft_connections") == 2; })) << "still open after the linger";

  // A peer that does send its EOF is closed at once, without the clock moving.
  ::shutdown(marker->native_handle(), SHUT_WR);
  EXPECT_TRUE(eventually([&] { return s.metric("craft_connections") == 1; })) << "EOF did not end the linger";
}

}  // namespace
}  // namespace craft::testing
