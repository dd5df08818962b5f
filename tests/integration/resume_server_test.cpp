// Resumable sessions at the envelope level (docs/protocol.md §3.2), without SDK help: the
// test counts sequenced messages itself, so it checks the server against the spec's text.
#include "helpers.hpp"

#include <craft/close_codes.hpp>

using namespace craft;
using namespace craft::testing;

namespace {

bool link_level(const v1::Envelope& e) {
  return e.has_hello() || e.has_welcome() || e.has_ping() || e.has_pong() || e.has_ack() || e.has_disconnect();
}

// A client that numbers what it receives, as a resumable client must.
struct Counted {
  std::unique_ptr<Client> c;
  uint64_t received = 0;
  v1::Welcome welcome;
  std::vector<v1::Envelope> got;  // sequenced messages, in order

  void take(const v1::Envelope& e) {
    if (link_level(e)) return;
    ++received;
    got.push_back(e);
  }
  // Events until `pred` holds for a sequenced one.
  std::optional<v1::Envelope> until(const std::function<bool(const v1::Envelope&)>& pred,
                                    std::chrono::milliseconds timeout = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto e = c->next_event(100ms);
      if (!e) continue;
      take(*e);
      if (!link_level(*e) && pred(*e)) return e;
    }
    return std::nullopt;
  }
};

v1::Envelope resumable_hello(const std::string& name) {
  v1::Envelope e;
  e.mutable_hello()->set_name(name);
  e.mutable_hello()->set_resumable(true);
  return e;
}

Counted start(const CraftdProcess& server, const std::string& name, Transport t = Transport::websocket) {
  Counted k;
  k.c = connect(server, t);
  auto reply = k.c->request(resumable_hello(name));
  k.welcome = reply.welcome();
  return k;
}

v1::Envelope resume_hello(const Counted& k) {
  v1::Envelope e;
  e.mutable_hello()->set_resumable(true);
  e.mutable_hello()->set_resume_token(k.welcome.resume_token());
  e.mutable_hello()->set_last_seq(k.received);
  return e;
}

}  // namespace

TEST(ResumeServer, WelcomeOfAResumableSessionCarriesATokenAndTheWindow) {
  CraftdProcess server({"--session.resume-window-ms", "4000"});
  auto a = start(server, "a");
  EXPECT_EQ(a.welcome.resume_token().size(), 96u);
  EXPECT_EQ(a.welcome.resume_window_ms(), 4000u);
  EXPECT_FALSE(a.welcome.resumed());
  auto plain = hello(server, "plain");
  // A plain hello gets no token (nothing to resume).
  auto c = connect(server);
  auto w = c->hello("p2");
  EXPECT_TRUE(w.resume_token().empty());
}

TEST(ResumeServer, ResumeReplaysWhatWasMissedInOrderAndOthersSeeDroppedThenResumedNeverALeave) {
  for (auto transport : {Transport::websocket, Transport::tcp}) {
    SCOPED_TRACE(transport == Transport::tcp ? "tcp" : "websocket");
    CraftdProcess server;
    auto a = start(server, "a", transport);
    v1::Envelope create;
    create.mutable_room_create()->set_type("relay");
    auto joined = a.c->request(create);
    a.take(joined);
    auto room = joined.room_joined().room_id();
    auto b = hello(server, "b");
    b->join(room);
    ASSERT_TRUE(a.until([](auto& e) { return e.has_presence() && e.presence().joins_size() == 1; }));
    for (int i = 0; i < 3; ++i) b->send(room, 1, "before-" + std::to_string(i));
    ASSERT_TRUE(a.until([](auto& e) { return e.has_room_data() && e.room_data().data() == "before-2"; }));
    const auto session = a.welcome.session_id();
    a.c.reset();  // the socket just ends: no close frame, no goodbye

    auto dropped = b->wait_for([](auto& e) { return e.has_presence() && e.presence().dropped_size() == 1; }, 3000ms);
    ASSERT_TRUE(dropped) << "b sees a dropped";
    EXPECT_EQ(dropped->presence().dropped(0).session_id(), session);
    for (int i = 0; i < 5; ++i) b->send(room, 1, "missed-" + std::to_string(i));
    std::this_thread::sleep_for(200ms);

    a.c = connect(server, transport);
    auto reply = a.c->request(resume_hello(a));
    ASSERT_TRUE(reply.has_welcome()) << reply.DebugString();
    EXPECT_TRUE(reply.welcome().resumed());
    EXPECT_EQ(reply.welcome().session_id(), session);
    EXPECT_NE(reply.welcome().resume_token(), a.welcome.resume_token());
    EXPECT_EQ(reply.welcome().last_seq(), 1u) << "a sent one sequenced message: room_create";
    a.welcome = reply.welcome();
    for (int i = 0; i < 5; ++i) {
      auto got = a.until([](auto& e) { return e.has_room_data(); });
      ASSERT_TRUE(got) << "replayed message " << i;
      EXPECT_EQ(got->room_data().data(), "missed-" + std::to_string(i));
    }
    auto resumed = b->wait_for([](auto& e) { return e.has_presence() && e.presence().resumed_size() == 1; }, 3000ms);
    ASSERT_TRUE(resumed) << "b sees a resumed";
    // Live again, both ways.
    a.c->send(room, 2, "after");
    auto at_b = next_room_data(*b);
    ASSERT_TRUE(at_b);
    EXPECT_EQ(at_b->data(), "after");
    EXPECT_EQ(at_b->sender(), session);
    EXPECT_EQ(server.metric("craft_sessions_resumed_total"), 1);
    // b never saw a leave.
    EXPECT_FALSE(b->wait_for([](auto& e) { return e.has_presence() && e.presence().leaves_size() > 0; }, 300ms));
  }
}

TEST(ResumeServer, AGoodbyeEndsTheSessionAtOnce) {
  CraftdProcess server({"--session.resume-window-ms", "60000"});
  auto a = start(server, "a", Transport::tcp);
  v1::Envelope create;
  create.mutable_room_create()->set_type("relay");
  auto room = a.c->request(create).room_joined().room_id();
  auto b = hello(server, "b");
  b->join(room);
  v1::Envelope bye;
  bye.mutable_disconnect()->set_code(1000);
  a.c->send_envelope(bye);
  auto left = b->wait_for([](auto& e) { return e.has_presence() && e.presence().leaves_size() == 1; }, 3000ms);
  ASSERT_TRUE(left) << "a goodbye is a leave, not a drop";
  EXPECT_EQ(server.metric("craft_sessions_held"), 0);
}

TEST(ResumeServer, ABogusTokenIsRefusedAndTheConnectionCanStillSayHello) {
  CraftdProcess server;
  auto c = connect(server);
  v1::Envelope e;
  e.mutable_hello()->set_resume_token(std::string(96, 'a'));
  try {
    c->request(e);
    FAIL() << "expected RESUME_FAILED";
  } catch (const client::Error& err) {
    EXPECT_EQ(err.code, v1::RESUME_FAILED);
  }
  auto w = c->hello("fresh");
  EXPECT_NE(w.session_id(), 0u);
  EXPECT_EQ(server.metric("craft_resume_failures_total{reason=\"unknown\"}"), 1);
}

TEST(ResumeServer, AHeldSessionLeavesItsRoomsWhenTheWindowEnds) {
  CraftdProcess server({"--session.resume-window-ms", "500"});
  auto a = start(server, "a");
  v1::Envelope create;
  create.mutable_room_create()->set_type("relay");
  auto room = a.c->request(create).room_joined().room_id();
  auto b = hello(server, "b");
  b->join(room);
  auto token = a.welcome;
  a.c.reset();
  ASSERT_TRUE(b->wait_for([](auto& e) { return e.has_presence() && e.presence().dropped_size() == 1; }, 3000ms));
  auto left = b->wait_for([](auto& e) { return e.has_presence() && e.presence().leaves_size() == 1; }, 3000ms);
  ASSERT_TRUE(left) << "the window ended";
  EXPECT_EQ(server.metric("craft_sessions_expired_total"), 1);
  // Its token is void now.
  a.c = connect(server);
  try {
    a.c->request(resume_hello(a));
    FAIL() << "expected RESUME_FAILED";
  } catch (const client::Error& err) {
    EXPECT_EQ(err.code, v1::RESUME_FAILED);
  }
}
