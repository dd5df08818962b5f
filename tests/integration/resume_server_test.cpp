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

// A relay room `k` creates (its room_joined counted as k's first message).
std::string relay_room(Counted& k) {
  v1::Envelope create;
  create.mutable_room_create()->set_type("relay");
  auto joined = k.c->request(create);
  k.take(joined);
  return joined.room_joined().room_id();
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
    auto room = relay_room(a);
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
  auto room = relay_room(a);
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
  auto room = relay_room(a);
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

// Issue 11: a room ticking at 240 Hz with one input per tick, plus keep-alives and acks,
// is not rate limited by default. Paced by sleeping between sends, so the client never
// sends faster than 250 per second, however the machine stalls.
TEST(ResumeServer, TheDefaultRateLimitFitsA240HzInputStreamWithKeepAlives) {
  CraftdProcess server;
  auto a = start(server, "a");
  auto room = relay_room(a);
  for (int i = 0; i < 750; ++i) {  // 3 s at 250 per second
    if (i % 60 == 59) {
      v1::Envelope ping;
      ping.mutable_ping()->set_client_time_us(i);
      a.c->send_envelope(ping);
    } else {
      v1::Envelope input;
      input.set_ack_seq(1);
      input.mutable_room_data()->set_room_id(room);
      input.mutable_room_data()->set_op(1);
      input.mutable_room_data()->set_data("x");
      a.c->send_envelope(input);
    }
    std::this_thread::sleep_for(4ms);
  }
  EXPECT_FALSE(a.c->wait_for([](auto& e) { return e.has_error(); }, 500ms)) << "no RATE_LIMITED";
  EXPECT_EQ(server.metric("craft_rate_limited_total"), 0);
}

// Half-open: the peer stops answering (no FIN). The server pings after the interval and
// gives up after the timeout: 4001, and the resumable session is held, not ended.
TEST(ResumeServer, AQuietPeerIsPingedAndOneThatNeverAnswersIsHeldAfterIntervalPlusTimeout) {
  CraftdProcess server({"--limits.server-ping-interval-ms", "500", "--limits.server-ping-timeout-ms", "500"});
  auto a = start(server, "a", Transport::tcp);
  auto room = relay_room(a);
  auto b = hello(server, "b");
  b->join(room);
  // The SDK answers pings while it reads: a reading client stays connected.
  auto start_time = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start_time < 2500ms) {
    a.c->poll(25ms);
    b->poll(25ms);
  }
  EXPECT_GE(server.metric("craft_server_pings_total"), 2);
  EXPECT_FALSE(a.c->is_closed());
  auto rtt = server.metric("craft_session_rtt_seconds_count");
  EXPECT_GE(rtt, 1) << "answered pings are RTT samples";
  // Now it stops reading and answering: half-open as far as the server can tell.
  auto stopped = std::chrono::steady_clock::now();
  auto dropped = b->wait_for([](auto& e) { return e.has_presence() && e.presence().dropped_size() == 1; }, 3000ms);
  ASSERT_TRUE(dropped) << "b sees a dropped; closes 4001: " << server.metric("craft_closes_total{code=\"4001\"}")
                       << ", held " << server.metric("craft_sessions_held") << ", pings "
                       << server.metric("craft_server_pings_total") << ", b closed " << b->is_closed() << " "
                       << b->close_code() << ", expired " << server.metric("craft_sessions_expired_total");
  auto took = std::chrono::steady_clock::now() - stopped;
  EXPECT_LE(took, 500ms + 500ms + 250ms + 750ms) << "interval + timeout + one sweep + slack for a loaded machine";
  EXPECT_EQ(server.metric("craft_sessions_held"), 1);
  EXPECT_EQ(server.metric("craft_closes_total{code=\"4001\"}"), 1) << "only a: b kept answering";
}

TEST(ResumeServer, AResumeOverAnotherTransportOrFrameTypeIsRefusedAndTheSessionStaysHeld) {
  CraftdProcess server;
  auto a = start(server, "a");  // WebSocket, binary
  auto session = a.welcome.session_id();
  a.c.reset();
  std::this_thread::sleep_for(100ms);
  auto over_tcp = connect(server, Transport::tcp);
  try {
    over_tcp->request(resume_hello(a));
    FAIL() << "expected RESUME_FAILED";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code, v1::RESUME_FAILED);
  }
  auto as_text = connect(server, Transport::websocket, Format::json);
  try {
    as_text->request(resume_hello(a));
    FAIL() << "expected RESUME_FAILED";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code, v1::RESUME_FAILED);
  }
  EXPECT_EQ(server.metric("craft_resume_failures_total{reason=\"format\"}"), 2);
  // The right one still resumes it.
  a.c = connect(server);
  auto w = a.c->request(resume_hello(a)).welcome();
  EXPECT_TRUE(w.resumed());
  EXPECT_EQ(w.session_id(), session);
}

TEST(ResumeServer, LastSeqBeyondWhatWasSentIsAReplayGapAndLeavesTheSessionAlone) {
  CraftdProcess server;
  auto a = start(server, "a");
  auto lying = connect(server);
  auto e = resume_hello(a);
  e.mutable_hello()->set_last_seq(1000);
  try {
    lying->request(e);
    FAIL() << "expected REPLAY_GAP";
  } catch (const client::Error& err) {
    EXPECT_EQ(err.code, v1::REPLAY_GAP);
  }
  // Still connected and working: the half-open check was not fooled into dropping it.
  a.c->ping();
}

TEST(ResumeServer, MessagesThatOutgrewTheReplayBufferMakeTheResumeAReplayGapAndEndTheSession) {
  CraftdProcess server({"--session.replay-buffer-bytes", "4096"});
  auto a = start(server, "a");
  auto room = relay_room(a);
  auto b = hello(server, "b");
  b->join(room);
  ASSERT_TRUE(a.until([](auto& e) { return e.has_presence(); }));
  a.c.reset();
  ASSERT_TRUE(b->wait_for([](auto& e) { return e.has_presence() && e.presence().dropped_size() == 1; }, 3s));
  for (int i = 0; i < 20; ++i) b->send(room, 1, std::string(500, 'x'));  // 10 KB > 4 KB while held
  auto left = b->wait_for([](auto& e) { return e.has_presence() && e.presence().leaves_size() == 1; }, 3s);
  ASSERT_TRUE(left) << "a held session whose buffer overflowed ends at once";
  a.c = connect(server);
  try {
    a.c->request(resume_hello(a));
    FAIL() << "expected RESUME_FAILED (the session ended)";
  } catch (const client::Error& err) {
    EXPECT_EQ(err.code, v1::RESUME_FAILED);
  }
  EXPECT_GE(server.metric("craft_replay_overflows_total"), 1);
}

TEST(ResumeServer, AConnectedClientThatNeverAcksKeepsAtMostTheReplayBufferAndGetsAReplayGap) {
  CraftdProcess server({"--session.replay-buffer-bytes", "4096"});
  auto a = start(server, "a");
  auto room = relay_room(a);
  auto b = hello(server, "b");
  b->join(room);
  for (int i = 0; i < 20; ++i) b->send(room, 1, std::string(500, 'y'));
  ASSERT_TRUE(a.until([](auto& e) { return e.has_room_data() && e.room_data().data() == std::string(500, 'y'); }));
  std::this_thread::sleep_for(200ms);
  EXPECT_GE(server.metric("craft_replay_overflows_total"), 10) << "dropped oldest first, never grew past 4 KB";
  // Claiming to have seen only the first message, it cannot resume: those were dropped.
  auto again = connect(server);
  auto e = resume_hello(a);
  e.mutable_hello()->set_last_seq(1);
  try {
    again->request(e);
    FAIL() << "expected REPLAY_GAP";
  } catch (const client::Error& err) {
    EXPECT_EQ(err.code, v1::REPLAY_GAP);
  }
  EXPECT_EQ(server.metric("craft_resume_failures_total{reason=\"gap\"}"), 1);
}

// What a client sent while away goes out at once on resume: the bucket starts full again.
TEST(ResumeServer, AResumeStartsWithAFullRateLimitBucketForTheResend) {
  CraftdProcess server({"--limits.messages-per-second", "5", "--limits.message-burst", "50"});
  auto a = start(server, "a");
  auto room = relay_room(a);
  auto b = hello(server, "b");
  b->join(room);
  for (int i = 0; i < 45; ++i) a.c->send(room, 1, "before");  // the bucket is nearly empty now
  for (int i = 0; i < 45; ++i) ASSERT_TRUE(next_room_data(*b));
  a.c.reset();
  ASSERT_TRUE(b->wait_for([](auto& e) { return e.has_presence() && e.presence().dropped_size() == 1; }, 3s));
  a.c = connect(server);
  auto w = a.c->request(resume_hello(a)).welcome();
  ASSERT_TRUE(w.resumed());
  for (int i = 0; i < 40; ++i) a.c->send(room, 1, "resent-" + std::to_string(i));  // the resend
  for (int i = 0; i < 40; ++i) {
    auto got = next_room_data(*b);
    ASSERT_TRUE(got) << i;
    EXPECT_EQ(got->data(), "resent-" + std::to_string(i));
  }
  EXPECT_EQ(server.metric("craft_rate_limited_total"), 0);
}

// Review findings (issue 11): requests queued behind an unfinished one when the connection
// drops are still answered, into the replay.
TEST(ResumeServer, ARequestQueuedBehindAnUnfinishedOneIsAnsweredWhileHeld) {
  CraftdProcess server({"--store.sqlite-path", ":memory:"});
  for (int run = 0; run < 5; ++run) {
    SCOPED_TRACE(run);
    auto a = start(server, "a");
    v1::Envelope api;
    api.set_cid(100);
    api.mutable_api_request()->mutable_account_get();  // off-shard: later envelopes wait behind it
    a.c->send_envelope(api);
    v1::Envelope create;
    create.set_cid(101);
    create.mutable_room_create()->set_type("relay");
    a.c->send_envelope(create);
    a.c.reset();  // cut at once
    std::this_thread::sleep_for(100ms);
    a.c = connect(server);
    auto w = a.c->request(resume_hello(a)).welcome();
    ASSERT_TRUE(w.resumed());
    EXPECT_EQ(w.last_seq(), 2u) << "both requests were received";
    ASSERT_TRUE(a.until([](auto& e) { return e.cid() == 100; })) << "the API call's answer";
    ASSERT_TRUE(a.until([](auto& e) { return e.cid() == 101 && e.has_room_joined(); })) << "the queued create's answer";
  }
}

TEST(ResumeServer, MessagesTheRateLimitRefusedAreNumberedToo) {
  CraftdProcess server({"--limits.messages-per-second", "1", "--limits.message-burst", "3"});
  auto a = start(server, "a");
  auto room = relay_room(a);  // one token
  for (int i = 0; i < 6; ++i) a.c->send(room, 1, "x");  // two pass, four are refused
  int refused = 0;
  while (auto e = a.until([](auto& x) { return x.has_error(); }, 500ms)) ++refused;
  EXPECT_GE(refused, 3);
  a.c.reset();
  std::this_thread::sleep_for(100ms);
  a.c = connect(server);
  auto w = a.c->request(resume_hello(a)).welcome();
  EXPECT_EQ(w.last_seq(), 7u) << "room_create and all six room_data, refused ones included";
}

TEST(ResumeServer, ALastSeqOfTwoToTheSixtyFourMinusOneIsAGapThatLeavesTheSessionHeld) {
  CraftdProcess server;
  auto a = start(server, "a");
  a.c.reset();
  std::this_thread::sleep_for(100ms);
  auto lying = connect(server);
  auto e = resume_hello(a);
  e.mutable_hello()->set_last_seq(UINT64_MAX);
  try {
    lying->request(e);
    FAIL() << "expected REPLAY_GAP";
  } catch (const client::Error& err) {
    EXPECT_EQ(err.code, v1::REPLAY_GAP);
  }
  a.c = connect(server);
  EXPECT_TRUE(a.c->request(resume_hello(a)).welcome().resumed()) << "still held: the honest resume works";
}
