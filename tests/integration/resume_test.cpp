// Resumable sessions through the C++ SDK against a real craftd (docs/protocol.md §3.1, §3.2):
// a half-open peer found by the server's pings, and resumes the server refuses.
#include "helpers.hpp"
#include "netsim.hpp"

#include <craft/close_codes.hpp>

using namespace craft;
using namespace craft::testing;
using Kind = craft::client::ConnectionEvent::Kind;

namespace {

using Clock = std::chrono::steady_clock;

struct Victim {
  std::unique_ptr<Client> client;
  std::vector<client::ConnectionEvent> events;
  uint64_t session = 0;
};

// A resumable client on `port` (a netsim in front of craftd) that said hello and joined `room`.
std::unique_ptr<Victim> victim(uint16_t port, Transport transport, const std::string& room, bool auto_resume = true,
                               std::chrono::milliseconds silence_timeout = 0ms) {
  client::Options o;
  o.silence_timeout = silence_timeout;
  o.port = port;
  o.transport = transport;
  o.resumable = true;
  o.auto_resume = auto_resume;
  o.resume_backoff = 20ms;
  auto v = std::make_unique<Victim>();
  v->client = std::make_unique<Client>(o);
  v->client->on_connection = [raw = v.get()](const client::ConnectionEvent& e) { raw->events.push_back(e); };
  v->client->connect();
  v->session = v->client->hello("victim").session_id();
  v->client->join(room);
  return v;
}

// Every presence event a client takes (from wait_for, next_event or poll), so a test can ask
// about one without discarding the others.
struct PresenceLog {
  std::vector<v1::PresenceEvent> seen;
  std::vector<v1::RoomData> data;
  explicit PresenceLog(Client& c) {
    c.on_presence = [this](const v1::PresenceEvent& p) { seen.push_back(p); };
    c.on_room_data = [this](const v1::RoomData& d) { data.push_back(d); };
  }
  const v1::RoomData* find(const std::string& payload) const {
    for (const auto& d : data)
      if (d.data() == payload) return &d;
    return nullptr;
  }
  bool saw(const std::string& kind, uint64_t session) const {
    for (const auto& e : seen) {
      const auto& list = kind == "dropped"   ? e.dropped()
                         : kind == "resumed" ? e.resumed()
                         : kind == "joins"   ? e.joins()
                                             : e.leaves();
      for (const auto& p : list)
        if (p.session_id() == session) return true;
    }
    return false;
  }
};

// Reads `c` until `log` has room data `payload`.
const v1::RoomData* wait_data(Client& c, const PresenceLog& log, const std::string& payload,
                              std::chrono::milliseconds timeout = 3000ms) {
  auto deadline = Clock::now() + timeout;
  while (!log.find(payload) && Clock::now() < deadline) c.poll(10ms);
  return log.find(payload);
}

// Reads `c` until `log` saw `kind` about `session`.
bool wait_presence(Client& c, const PresenceLog& log, const std::string& kind, uint64_t session,
                   std::chrono::milliseconds timeout = 3000ms) {
  auto deadline = Clock::now() + timeout;
  while (!log.saw(kind, session)) {
    if (Clock::now() >= deadline) return false;
    c.poll(10ms);
  }
  return true;
}

uint16_t port_for(const CraftdProcess& server, Transport t) {
  return t == Transport::tcp ? server.tcp_port() : server.http_port();
}

const char* name(Transport t) { return t == Transport::tcp ? "tcp" : "websocket"; }

v1::ErrorCode refusal(Client& c, v1::Envelope hello) {
  try {
    c.request(std::move(hello));
  } catch (const client::Error& e) {
    return e.code;
  }
  return v1::ERROR_UNSPECIFIED;
}

v1::Envelope resume_hello(const std::string& token, uint64_t last_seq) {
  v1::Envelope e;
  e.mutable_hello()->set_protocol_version(1);
  e.mutable_hello()->set_resumable(true);
  e.mutable_hello()->set_resume_token(token);
  e.mutable_hello()->set_last_seq(last_seq);
  return e;
}

}  // namespace

// Packets dropped, no FIN: only the server's pings can tell. 500 ms without a byte, a ping;
// 500 ms more without an answer, the peer is gone (+ up to 250 ms until the sweep sees it).
// (Not shorter: on a loaded machine a late sweep would skip the ping, or find the watcher,
// which answers pings only while this thread reads it, silent.)
TEST(Resume, AHalfOpenPeerIsFoundWithinPingIntervalPlusTimeoutAndThenResumes) {
  CraftdProcess server({"--limits.server-ping-interval-ms", "500", "--limits.server-ping-timeout-ms", "500"});
  auto watcher = hello(server, "watcher");
  PresenceLog log(*watcher);
  auto room = watcher->create("relay").room_id();
  int held_closes = 0;
  for (auto t : {Transport::websocket, Transport::tcp}) {
    SCOPED_TRACE(name(t));
    NetSimProxy net(port_for(server, t), 0ms, 0ms, 21);
    // Over TCP the client finds the half-open connection itself: a live server is never
    // silent for more than its ping interval. Over WebSocket the network resets it at last.
    const bool by_silence = t == Transport::tcp;
    auto v = victim(net.port(), t, room, true, by_silence ? 2000ms : 0ms);
    ASSERT_TRUE(wait_presence(*watcher, log, "joins", v->session));
    long pings_before = server.metric("craft_server_pings_total");

    auto start = Clock::now();
    net.blackhole();
    const std::string lost = std::string("into the hole over ") + name(t);
    v->client->send(room, 1, lost);  // lost: must be resent after the resume
    bool dropped = wait_presence(*watcher, log, "dropped", v->session);
    auto found_after = Clock::now() - start;
    ASSERT_TRUE(dropped) << "the watcher never saw the half-open peer dropped (watcher closed: "
                         << watcher->is_closed() << ", code " << watcher->close_code() << ", 4001 closes "
                         << server.metric("craft_closes_total{code=\"4001\"}") << ", held "
                         << server.metric("craft_sessions_held") << ")";
    std::cout << name(t) << ": half-open peer dropped "
              << std::chrono::duration_cast<std::chrono::milliseconds>(found_after).count()
              << " ms after the blackhole (interval 500 + timeout 500 + sweep <= 250)\n";
    EXPECT_GE(found_after, 800ms) << "dropped before the ping timeout could have run out";
    EXPECT_LE(found_after, 500ms + 500ms + 250ms + 250ms) << "interval + timeout + sweep (+ 250 ms slack)";
    ++held_closes;
    EXPECT_EQ(server.metric("craft_closes_total{code=\"4001\"}"), held_closes);
    EXPECT_EQ(server.metric("craft_sessions_held"), 1);
    EXPECT_GT(server.metric("craft_server_pings_total"), pings_before);

    watcher->send(room, 2, "while you were away");
    if (!by_silence) net.cut(NetSimProxy::Cut::reset);
    // The watcher keeps reading too, or the server's pings would find it silent.
    PresenceLog at_victim(*v->client);
    for (auto until = Clock::now() + 5s; !at_victim.find("while you were away") && Clock::now() < until;) {
      v->client->poll(10ms);
      watcher->poll(0ms);
    }
    auto* got = at_victim.find("while you were away");
    ASSERT_TRUE(got) << "events: " << v->events.size() << ", closed " << v->client->is_closed();
    EXPECT_EQ(got->sender(), watcher->session_id());
    EXPECT_EQ(v->client->session_id(), v->session);
    ASSERT_EQ(v->events.size(), 2u);
    EXPECT_EQ(v->events[0].kind, Kind::dropped);
    EXPECT_EQ(v->events[1].kind, Kind::resumed);
    ASSERT_TRUE(wait_presence(*watcher, log, "resumed", v->session));
    auto* resent = wait_data(*watcher, log, lost);
    ASSERT_TRUE(resent);
    EXPECT_EQ(resent->sender(), v->session);
    v->client->close();
    ASSERT_TRUE(wait_presence(*watcher, log, "leaves", v->session));
  }
}

// The same half-open peer, but the window ends first: the room sees it leave, and the SDK's
// resume is refused, so it starts a fresh session and rejoins the room by id.
TEST(Resume, AHalfOpenPeerWhoseWindowEndsLeavesAndTheSdkRejoinsAsANewSession) {
  CraftdProcess server({"--limits.server-ping-interval-ms", "400", "--limits.server-ping-timeout-ms", "400",
                        "--session.resume-window-ms", "300"});
  auto watcher = hello(server, "watcher");
  PresenceLog log(*watcher);
  auto room = watcher->create("relay").room_id();
  long expired = 0;
  for (auto t : {Transport::websocket, Transport::tcp}) {
    SCOPED_TRACE(name(t));
    NetSimProxy net(port_for(server, t), 0ms, 0ms, 22);
    auto v = victim(net.port(), t, room);
    ASSERT_TRUE(wait_presence(*watcher, log, "joins", v->session));
    net.blackhole();
    ASSERT_TRUE(wait_presence(*watcher, log, "dropped", v->session));
    auto dropped_at = Clock::now();
    ASSERT_TRUE(wait_presence(*watcher, log, "leaves", v->session)) << "the window never ended";
    EXPECT_GE(Clock::now() - dropped_at, 250ms) << "left well before the 300 ms window";
    // The room's own hold (as long as the window) may end a sweep before the session's: a
    // resume in between is still a resume, minus that room. Wait for the session's end.
    for (auto until = Clock::now() + 3s; server.metric("craft_sessions_expired_total") < expired + 1;) {
      ASSERT_LT(Clock::now(), until) << "the held session never expired";
      watcher->poll(20ms);
    }
    ++expired;
    net.cut(NetSimProxy::Cut::reset);
    v->client->poll(200ms);  // finds the reset, resumes, is refused, starts again
    ASSERT_EQ(v->events.size(), 2u);
    EXPECT_EQ(v->events[0].kind, Kind::dropped);
    EXPECT_EQ(v->events[1].kind, Kind::restarted);
    EXPECT_EQ(v->events[1].refusal, v1::RESUME_FAILED);
    EXPECT_EQ(v->events[1].old_session_id, v->session);
    EXPECT_EQ(v->events[1].rejoined_rooms, std::vector<std::string>{room});
    EXPECT_TRUE(v->events[1].lost_rooms.empty());
    EXPECT_NE(v->client->session_id(), v->session);
    ASSERT_TRUE(wait_presence(*watcher, log, "joins", v->client->session_id()));
    v->client->send(room, 1, std::string("back as someone new over ") + name(t));
    auto* got = wait_data(*watcher, log, std::string("back as someone new over ") + name(t));
    ASSERT_TRUE(got);
    EXPECT_EQ(got->sender(), v->client->session_id());
    v->client->close();
  }
  EXPECT_EQ(server.metric("craft_sessions_expired_total"), 2);
}

// A token the server never issued is refused; the connection stays usable for a fresh hello.
// So is a forged token, and a real one of a session that said goodbye.
TEST(Resume, ATokenThatIsNotALiveSessionsIsRefusedAndTheConnectionStaysUsable) {
  CraftdProcess server;
  for (auto t : {Transport::websocket, Transport::tcp}) {
    SCOPED_TRACE(name(t));
    auto c = connect(server, t);
    EXPECT_EQ(refusal(*c, resume_hello("bogus", 0)), v1::RESUME_FAILED);
    EXPECT_EQ(refusal(*c, resume_hello(std::string(200, 'A'), 7)), v1::RESUME_FAILED);
    v1::Welcome fresh;
    ASSERT_NO_THROW(fresh = c->hello("fresh")) << "no fresh hello after refused resumes on a bogus token";
    EXPECT_NE(fresh.session_id(), 0u);
    c->ping();
  }
  // Same transport, same session, but it ended with a goodbye.
  client::Options o;
  o.port = server.tcp_port();
  o.transport = Transport::tcp;
  o.resumable = true;
  Client gone(o);
  gone.connect();
  auto token = gone.hello("gone").resume_token();
  ASSERT_FALSE(token.empty());
  auto watcher = hello(server, "watcher");
  auto room = watcher->create("relay").room_id();
  gone.join(room);
  std::string forged = token;
  forged[forged.size() / 2] = forged[forged.size() / 2] == 'A' ? 'B' : 'A';
  auto other = connect(server, Transport::tcp);
  EXPECT_EQ(refusal(*other, resume_hello(forged, 0)), v1::RESUME_FAILED) << "a forged token";
  gone.close();  // the goodbye ends the session at once
  PresenceLog log(*watcher);
  ASSERT_TRUE(wait_presence(*watcher, log, "leaves", gone.session_id())) << "the goodbye did not end the session";
  EXPECT_EQ(refusal(*other, resume_hello(token, 0)), v1::RESUME_FAILED) << "a session that said goodbye";
  // This refusal came from the shard of the session the token named (the connection moved
  // there to be judged); the connection must still take a fresh hello.
  ASSERT_NO_THROW(other->hello("after-refusals")) << "no fresh hello after a refused resume of an ended session";
  other->ping();
}

// A live session's token presented over the other transport is refused, and the session
// it names carries on as if nothing happened.
TEST(Resume, ATokenOverTheOtherTransportIsRefusedAndTheSessionCarriesOn) {
  CraftdProcess server;
  auto watcher = hello(server, "watcher");
  PresenceLog log(*watcher);
  auto room = watcher->create("relay").room_id();
  client::Options o;
  o.port = server.tcp_port();
  o.transport = Transport::tcp;
  o.resumable = true;
  Client owner(o);
  owner.connect();
  auto token = owner.hello("owner").resume_token();
  owner.join(room);
  auto ws = connect(server, Transport::websocket);
  EXPECT_EQ(refusal(*ws, resume_hello(token, 0)), v1::RESUME_FAILED) << "a TCP session's token on WebSocket";
  auto json = connect(server, Transport::websocket, Format::json);
  EXPECT_EQ(refusal(*json, resume_hello(token, 0)), v1::RESUME_FAILED) << "on WebSocket, as JSON";
  EXPECT_NO_THROW(owner.ping()) << "the refused attempt broke the session it named";
  owner.send(room, 1, "still here");
  EXPECT_TRUE(wait_data(*watcher, log, "still here"));
  ws->hello("ws-fresh");
  ws->ping();
}

// Away too long with too much traffic: the messages the victim missed no longer fit
// session.replay_buffer_bytes, so its resume is refused with REPLAY_GAP and the SDK falls back
// to a fresh session in the same room.
TEST(Resume, MissedMessagesBeyondTheReplayBufferGiveReplayGapAndAFreshSession) {
  CraftdProcess server({"--session.replay-buffer-bytes", "4096", "--limits.messages-per-second", "10000",
                        "--limits.message-burst", "10000"});
  auto watcher = hello(server, "watcher");
  PresenceLog log(*watcher);
  auto room = watcher->create("relay").room_id();
  for (auto t : {Transport::websocket, Transport::tcp}) {
    SCOPED_TRACE(name(t));
    NetSimProxy net(port_for(server, t), 0ms, 0ms, 23);
    auto v = victim(net.port(), t, room);
    ASSERT_TRUE(wait_presence(*watcher, log, "joins", v->session));
    long gaps_before = server.metric("craft_resume_failures_total{reason=\"gap\"}");
    net.blackhole();  // the server still thinks it is connected, and gets no more acks
    std::string filler(200, 'x');
    for (int i = 0; i < 40; ++i) watcher->send(room, 1, filler);  // 8 KB: twice the buffer
    watcher->ping();
    net.cut(NetSimProxy::Cut::reset);
    v->client->poll(300ms);
    ASSERT_EQ(v->events.size(), 2u);
    EXPECT_EQ(v->events[1].kind, Kind::restarted);
    EXPECT_EQ(v->events[1].refusal, v1::REPLAY_GAP);
    EXPECT_EQ(v->events[1].rejoined_rooms, std::vector<std::string>{room});
    EXPECT_NE(v->client->session_id(), v->session);
    EXPECT_EQ(server.metric("craft_resume_failures_total{reason=\"gap\"}"), gaps_before + 1);
    // The old session ended: the watcher saw it leave, and then the new one join.
    ASSERT_TRUE(wait_presence(*watcher, log, "leaves", v->session));
    ASSERT_TRUE(wait_presence(*watcher, log, "joins", v->client->session_id()));
    v->client->close();
  }
}

// Without auto_resume the application calls resume() itself; after the window it is refused
// (the room saw the player leave when the window ended) and hello() starts again.
TEST(Resume, AfterTheWindowAnExplicitResumeIsRefusedAndTheRoomSawALeave) {
  CraftdProcess server({"--session.resume-window-ms", "300"});
  auto watcher = hello(server, "watcher");
  PresenceLog log(*watcher);
  auto room = watcher->create("relay").room_id();
  NetSimProxy net(server.http_port(), 0ms, 0ms, 24);
  auto v = victim(net.port(), Transport::websocket, room, /*auto_resume=*/false);
  ASSERT_TRUE(wait_presence(*watcher, log, "joins", v->session));

  // Within the window an explicit resume works.
  net.cut(NetSimProxy::Cut::close);
  v->client->poll(100ms);
  EXPECT_TRUE(v->client->is_closed()) << "auto_resume is off";
  EXPECT_TRUE(v->events.empty());
  auto back = v->client->resume();
  EXPECT_TRUE(back.resumed());
  EXPECT_EQ(back.session_id(), v->session);
  v->client->send(room, 1, "resumed by hand");
  ASSERT_TRUE(wait_data(*watcher, log, "resumed by hand"));

  // Past the window it is not.
  net.cut(NetSimProxy::Cut::reset);
  ASSERT_TRUE(wait_presence(*watcher, log, "dropped", v->session));
  auto dropped_at = Clock::now();
  ASSERT_TRUE(wait_presence(*watcher, log, "leaves", v->session));
  EXPECT_GE(Clock::now() - dropped_at, 250ms);
  // The room's own hold may end a sweep before the session's window: wait for the latter.
  for (auto until = Clock::now() + 3s; server.metric("craft_sessions_expired_total") < 1;) {
    ASSERT_LT(Clock::now(), until) << "the held session never expired";
    watcher->poll(20ms);
  }
  auto rooms = v->client->rooms();
  EXPECT_EQ(rooms, std::vector<std::string>{room});
  try {
    v->client->resume();
    ADD_FAILURE() << "resumed after the window";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code, v1::RESUME_FAILED);
  }
  EXPECT_TRUE(v->client->resume_token().empty());
  auto fresh = v->client->hello("victim-again");
  EXPECT_NE(fresh.session_id(), v->session);
  v->client->join(room);
  EXPECT_EQ(v->client->rooms(), std::vector<std::string>{room});
}
