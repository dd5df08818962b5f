// Every hostile input: the exact error or close code, and the room keeps working for others.
#include "helpers.hpp"

#include <craft/close_codes.hpp>

#include "net/ws_codec.hpp"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

using namespace craft;
using namespace craft::testing;

namespace {
v1::Envelope ping_envelope(uint32_t cid) {
  v1::Envelope e;
  e.set_cid(cid);
  e.mutable_ping()->set_client_time_us(1);
  return e;
}
}  // namespace

TEST(BadInput, OversizedWebSocketFrameCloses1009) {
  CraftdProcess server({"--limits.max-message-size", "1024"});
  RoomOfThree room(server);
  room.victim->send_raw(room.victim->make_ws_frame(ws::Opcode::binary, std::string(2000, 'x')));
  EXPECT_EQ(room.victim->wait_closed(3000ms), close_code::message_too_big);
  room.expect_room_still_works();
  EXPECT_EQ(server.metric("craft_closes_total{code=\"1009\"}"), 1);
}

TEST(BadInput, OversizedFragmentedMessageCloses1009) {
  CraftdProcess server({"--limits.max-message-size", "1024"});
  RoomOfThree room(server);
  room.victim->send_raw(room.victim->make_ws_frame(ws::Opcode::binary, std::string(600, 'x'), true, false));
  room.victim->send_raw(room.victim->make_ws_frame(ws::Opcode::continuation, std::string(600, 'x'), true, true));
  EXPECT_EQ(room.victim->wait_closed(3000ms), close_code::message_too_big);
  room.expect_room_still_works();
}

TEST(BadInput, OversizedTcpFrameCloses1009) {
  CraftdProcess server({"--limits.max-message-size", "1024"});
  RoomOfThree room(server, Transport::tcp);
  room.victim->send_raw(std::string("\x00\x00\x07\xd0", 4) + std::string(2000, 'x'));
  EXPECT_EQ(room.victim->wait_closed(3000ms), close_code::message_too_big);
  room.expect_room_still_works();
}

// limits.max_hello_bytes: a socket that has not sent its first message cannot make the server
// buffer a large partial frame. The first frame announcing more is closed at its header, on
// both transports; after the hello the same size is an ordinary message.
TEST(BadInput, AFirstMessageAboveMaxHelloBytesCloses1009BeforeItsPayload) {
  CraftdProcess server({"--limits.max-hello-bytes", "1024"});
  RoomOfThree room(server);
  auto ws_client = connect(server);
  ws_client->send_raw(ws_client->make_ws_frame(ws::Opcode::binary, std::string(2000, 'x')).substr(0, 64));
  EXPECT_EQ(ws_client->wait_closed(3000ms), close_code::message_too_big);
  auto tcp_client = connect(server, Transport::tcp);
  tcp_client->send_raw(std::string("\x00\x00\x07\xd0", 4) + "only the start");  // announces 2000 bytes
  EXPECT_EQ(tcp_client->wait_closed(3000ms), close_code::message_too_big);
  EXPECT_GE(server.metric("craft_closes_total{code=\"1009\"}"), 2);
  // After a hello, 2,000 bytes are an ordinary message (under limits.max_message_size).
  auto greeted = hello(server, "greeted");
  greeted->join(room.room_id);
  greeted->send(room.room_id, 1, std::string(2000, 'y'));
  auto got = next_room_data(*room.observer);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->data().size(), 2000u);
  room.expect_room_still_works();
}

TEST(BadInput, UnmaskedClientFrameCloses1002) {
  CraftdProcess server;
  RoomOfThree room(server);
  room.victim->send_raw(room.victim->make_ws_frame(ws::Opcode::binary, "abc", false));
  EXPECT_EQ(room.victim->wait_closed(3000ms), close_code::protocol_error);
  room.expect_room_still_works();
}

TEST(BadInput, ReservedOpcodeCloses1002) {
  CraftdProcess server;
  RoomOfThree room(server);
  std::string frame = room.victim->make_ws_frame(ws::Opcode::binary, "abc");
  frame[0] = static_cast<char>(0x83);  // opcode 3 is reserved
  room.victim->send_raw(frame);
  EXPECT_EQ(room.victim->wait_closed(3000ms), close_code::protocol_error);
  room.expect_room_still_works();
}

TEST(BadInput, InvalidUtf8TextFrameCloses1007) {
  CraftdProcess server;
  RoomOfThree room(server, Transport::websocket, Format::json);
  room.victim->send_raw(room.victim->make_ws_frame(ws::Opcode::text, "{\"cid\":1,\"ping\":{}}\xc3\x28"));
  EXPECT_EQ(room.victim->wait_closed(3000ms), close_code::invalid_payload);
  room.expect_room_still_works();
}

TEST(BadInput, MalformedProtobufIsBadRequestWithCidZero) {
  CraftdProcess server;
  RoomOfThree room(server);
  room.victim->send_raw(room.victim->make_ws_frame(ws::Opcode::binary, "\xff\xff\xff\xff\xff"));
  auto err = room.victim->wait_for([](const v1::Envelope& e) { return e.has_error(); }, 3000ms);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->cid(), 0u);
  EXPECT_EQ(err->error().code(), v1::BAD_REQUEST);
  EXPECT_NO_THROW(room.victim->ping());  // still connected
  room.expect_room_still_works();
}

TEST(BadInput, MalformedJsonIsBadRequestWithCidZero) {
  CraftdProcess server;
  RoomOfThree room(server, Transport::websocket, Format::json);
  room.victim->send_raw(room.victim->make_ws_frame(ws::Opcode::text, "{\"cid\": 3, \"roomJoin\": "));
  auto err = room.victim->wait_for([](const v1::Envelope& e) { return e.has_error(); }, 3000ms);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->cid(), 0u);
  EXPECT_EQ(err->error().code(), v1::BAD_REQUEST);
  EXPECT_NO_THROW(room.victim->ping());
  room.expect_room_still_works();
}

TEST(BadInput, UnknownOrServerOnlyMessageIsUnknownMessage) {
  CraftdProcess server;
  RoomOfThree room(server);
  v1::Envelope e;
  e.set_cid(5);
  e.mutable_welcome()->set_session_id(1);  // a server-to-client message
  room.victim->send_envelope(e);
  auto err = next_error(*room.victim);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), v1::UNKNOWN_MESSAGE);
  v1::Envelope empty;
  empty.set_cid(6);
  room.victim->send_envelope(empty);
  auto err2 = room.victim->wait_for([](const v1::Envelope& x) { return x.has_error(); }, 3000ms);
  ASSERT_TRUE(err2);
  EXPECT_EQ(err2->cid(), 6u);
  EXPECT_EQ(err2->error().code(), v1::UNKNOWN_MESSAGE);
  room.expect_room_still_works();
}

TEST(BadInput, UnknownRoomAndUnknownType) {
  CraftdProcess server;
  RoomOfThree room(server);
  try {
    room.victim->join("doesNotExist");
    FAIL() << "join of an unknown room succeeded";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code, v1::ROOM_NOT_FOUND);
  }
  try {
    room.victim->create("no-such-type");
    FAIL() << "create of an unknown type succeeded";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code, v1::UNKNOWN_ROOM_TYPE);
  }
  room.expect_room_still_works();
}

TEST(BadInput, DataForARoomNotJoinedIsNotInRoom) {
  CraftdProcess server;
  RoomOfThree room(server);
  auto outsider = hello(server, "outsider");
  v1::Envelope e;
  e.set_cid(12);
  e.mutable_room_data()->set_room_id(room.room_id);
  e.mutable_room_data()->set_data("sneaky");
  outsider->send_envelope(e);
  auto err = outsider->wait_for([](const v1::Envelope& x) { return x.has_error(); }, 3000ms);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->cid(), 12u);
  EXPECT_EQ(err->error().code(), v1::NOT_IN_ROOM);
  EXPECT_FALSE(next_room_data(*room.observer, 200ms));  // nothing leaked into the room
  room.expect_room_still_works();
}

TEST(BadInput, RequestsBeforeHelloAreNotAuthenticated) {
  CraftdProcess server;
  auto c = connect(server);
  v1::Envelope e;
  e.set_cid(3);
  e.mutable_room_join_or_create()->set_type("relay");
  c->send_envelope(e);
  auto err = c->wait_for([](const v1::Envelope& x) { return x.has_error(); }, 3000ms);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->cid(), 3u);
  EXPECT_EQ(err->error().code(), v1::NOT_AUTHENTICATED);
  EXPECT_NO_THROW(c->hello("late"));
}

TEST(BadInput, MaxRoomsPerSession) {
  CraftdProcess server({"--limits.max-rooms-per-session", "2"});
  RoomOfThree room(server);  // the victim is in one room
  room.victim->create("relay");
  try {
    room.victim->create("relay");
    FAIL() << "third room allowed";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code, v1::TOO_MANY_ROOMS);
  }
  try {
    room.victim->join_or_create("chat");
    FAIL() << "third room allowed by join_or_create";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code, v1::TOO_MANY_ROOMS);
  }
  EXPECT_EQ(server.metric("craft_errors_total{code=\"TOO_MANY_ROOMS\"}"), 2);
  room.expect_room_still_works();
}

TEST(BadInput, RateLimitAnswersRateLimitedWithTheCid) {
  // One token per 100 s: no refill while the test runs, however slow the machine.
  CraftdProcess server({"--limits.messages-per-second", "0.01", "--limits.message-burst", "5",
                        "--limits.rate-limit-strikes", "1000"});
  RoomOfThree room(server);  // the victim spent 2 tokens (hello, join)
  for (uint32_t cid = 100; cid < 110; ++cid) room.victim->send_envelope(ping_envelope(cid));
  // Replies come in the order sent: pongs for the 3 tokens left (burst 5 minus hello and
  // join), then RATE_LIMITED carrying each dropped ping's own cid.
  std::vector<std::string> replies;
  while (replies.size() < 10) {
    auto e = room.victim->next_event(3000ms);
    if (!e) break;
    if (e->has_pong()) replies.push_back("pong " + std::to_string(e->cid()));
    if (e->has_error()) replies.push_back(v1::ErrorCode_Name(e->error().code()) + " " + std::to_string(e->cid()));
  }
  const std::vector<std::string> expected{"pong 100",         "pong 101",         "pong 102",
                                          "RATE_LIMITED 103", "RATE_LIMITED 104", "RATE_LIMITED 105",
                                          "RATE_LIMITED 106", "RATE_LIMITED 107", "RATE_LIMITED 108",
                                          "RATE_LIMITED 109"};
  EXPECT_EQ(replies, expected);
  EXPECT_EQ(server.metric("craft_rate_limited_total"), 7);
  room.expect_room_still_works();
}

TEST(BadInput, FloodCloses4003) {
  CraftdProcess server({"--limits.messages-per-second", "10", "--limits.message-burst", "10",
                        "--limits.rate-limit-strikes", "20"});
  RoomOfThree room(server);
  for (uint32_t cid = 1; cid <= 200; ++cid) room.victim->send_envelope(ping_envelope(cid));
  EXPECT_EQ(room.victim->wait_closed(3000ms), close_code::flood);
  room.expect_room_still_works();
}

TEST(BadInput, HandshakeTimeoutCloses4000) {
  CraftdProcess server({"--limits.handshake-timeout-ms", "300"});
  RoomOfThree room(server);
  auto silent_ws = connect(server);  // upgraded, never says hello
  auto silent_tcp = connect(server, Transport::tcp);
  EXPECT_EQ(silent_ws->wait_closed(3000ms), close_code::handshake_timeout);
  EXPECT_EQ(silent_tcp->wait_closed(3000ms), close_code::handshake_timeout);
  room.expect_room_still_works();
}

TEST(BadInput, IdleTimeoutCloses4001) {
  CraftdProcess server({"--limits.idle-timeout-ms", "600"});
  RoomOfThree room(server);
  // The sender and observer stay active until the victim, who went quiet, is closed.
  std::optional<uint16_t> closed;
  for (auto deadline = std::chrono::steady_clock::now() + 30s; !closed && std::chrono::steady_clock::now() < deadline;) {
    room.sender->ping();
    room.observer->ping();
    closed = room.victim->wait_closed(100ms);
  }
  EXPECT_EQ(closed, close_code::idle_timeout);
  room.expect_room_still_works();
}

TEST(BadInput, MaxConnectionsPerIpCloses1013) {
  CraftdProcess server({"--limits.max-connections-per-ip", "3"});
  RoomOfThree room(server);
  auto fourth = connect(server);
  EXPECT_EQ(fourth->wait_closed(3000ms), close_code::try_again_later);
  auto fifth = connect(server, Transport::tcp);
  EXPECT_EQ(fifth->wait_closed(3000ms), close_code::try_again_later);
  EXPECT_EQ(server.metric("craft_connections_rejected_total{limit=\"max_connections_per_ip\"}"), 2);
  room.expect_room_still_works();
}

TEST(BadInput, MaxConnectionsCloses1013) {
  CraftdProcess server({"--limits.max-connections", "4"});  // the metrics request needs one
  RoomOfThree room(server);
  auto fourth = connect(server);
  EXPECT_NO_THROW(fourth->hello("fourth"));
  auto fifth = connect(server);
  EXPECT_EQ(fifth->wait_closed(3000ms), close_code::try_again_later);
  room.expect_room_still_works();
}

TEST(BadInput, SlowConsumerCloses4002) {
  CraftdProcess server({"--limits.send-queue-bytes", "1048576", "--limits.messages-per-second", "100000",
                        "--limits.message-burst", "100000"});
  RoomOfThree room(server);
  // The observer keeps reading on its own thread; the victim reads nothing.
  std::atomic<int> observed{0};
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done) {
      if (auto e = room.observer->next_event(50ms); e && e->has_room_data()) ++observed;
    }
  });
  const std::string big(32 * 1024, 'z');
  const int count = 600;  // ~19 MB: more than the victim's kernel buffers and queue hold
  for (int i = 0; i < count; ++i) {
    room.sender->send(room.room_id, 1, big);
    if (i % 16 == 15) std::this_thread::sleep_for(5ms);  // a fast sender, not an instant one
  }
  for (int i = 0; i < 200 && observed < count; ++i) std::this_thread::sleep_for(50ms);
  done = true;
  reader.join();
  EXPECT_EQ(observed.load(), count) << "the observer must receive everything";
  EXPECT_EQ(room.victim->wait_closed(10000ms), close_code::slow_consumer);
  EXPECT_EQ(server.metric("craft_closes_total{code=\"4002\"}"), 1);
  room.expect_room_still_works();
}

TEST(BadInput, UnsupportedProtocolVersionCloses4004) {
  CraftdProcess server;
  auto c = connect(server);
  v1::Envelope e;
  e.set_cid(1);
  e.mutable_hello()->set_protocol_version(99);
  c->send_envelope(e);
  auto err = c->wait_for([](const v1::Envelope& x) { return x.has_error(); }, 3000ms);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->error().code(), v1::UNSUPPORTED_VERSION);
  EXPECT_EQ(c->wait_closed(3000ms), close_code::unsupported_version);
}
