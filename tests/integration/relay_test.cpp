#include "helpers.hpp"

#include <chrono>
#include <thread>

using namespace craft;
using namespace craft::testing;

namespace {

struct Wire {
  Transport transport;
  Format format;
  const char* name;
};

void PrintTo(const std::pair<Wire, Wire>& wires, std::ostream* os) {
  *os << wires.first.name << " to " << wires.second.name;
}

class RelayExchange : public ::testing::TestWithParam<std::pair<Wire, Wire>> {};

TEST_P(RelayExchange, TwoClientsExchangeRoomData) {
  CraftdProcess server;
  auto [wa, wb] = GetParam();
  auto a = hello(server, "ann", wa.transport, wa.format);
  auto b = hello(server, "bob", wb.transport, wb.format);
  auto joined_a = a->join_or_create("relay");
  auto joined_b = b->join_or_create("relay");
  ASSERT_EQ(joined_a.room_id(), joined_b.room_id()) << "join_or_create should find ann's room";
  ASSERT_EQ(joined_b.members_size(), 2);
  EXPECT_EQ(joined_b.you().name(), "bob");

  auto presence = a->wait_for([](const v1::Envelope& e) { return e.has_presence(); }, 3000ms);
  ASSERT_TRUE(presence);
  ASSERT_EQ(presence->presence().joins_size(), 1);
  EXPECT_EQ(presence->presence().joins(0).name(), "bob");

  std::string binary_payload("\x00\x01\xff hello", 9);
  a->send(joined_a.room_id(), 7, binary_payload);
  auto got = next_room_data(*b);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->op(), 7u);
  EXPECT_EQ(got->data(), binary_payload);
  EXPECT_EQ(got->sender(), a->session_id());
  EXPECT_EQ(got->room_id(), joined_a.room_id());

  b->send(joined_b.room_id(), 8, "reply");
  got = next_room_data(*a);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->op(), 8u);
  EXPECT_EQ(got->data(), "reply");
  EXPECT_EQ(got->sender(), b->session_id());
  // The sender never hears its own relay.
  EXPECT_FALSE(next_room_data(*a, 200ms));
}

const Wire ws_binary{Transport::websocket, Format::binary, "WsBinary"};
const Wire ws_json{Transport::websocket, Format::json, "WsJson"};
const Wire tcp{Transport::tcp, Format::binary, "Tcp"};

INSTANTIATE_TEST_SUITE_P(Transports, RelayExchange,
                         ::testing::Values(std::pair{ws_binary, ws_binary}, std::pair{ws_json, ws_json},
                                           std::pair{tcp, tcp}, std::pair{ws_json, tcp},
                                           std::pair{ws_binary, ws_json}),
                         [](const auto& param_info) {
                           return std::string(param_info.param.first.name) + "To" + param_info.param.second.name;
                         });

}  // namespace

TEST(Relay, TargetsLimitDelivery) {
  CraftdProcess server;
  auto a = hello(server, "a");
  auto room = a->create("relay").room_id();
  auto b = hello(server, "b");
  b->join(room);
  auto c = hello(server, "c");
  c->join(room);
  a->send(room, 1, "only for c", {c->session_id()});
  auto got = next_room_data(*c);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->data(), "only for c");
  EXPECT_FALSE(next_room_data(*b, 300ms));
}

TEST(Relay, UnknownTargetIsAnErrorWithTheCid) {
  CraftdProcess server;
  auto a = hello(server, "a");
  auto room = a->create("relay").room_id();
  v1::Envelope e;
  e.set_cid(77);
  e.mutable_room_data()->set_room_id(room);
  e.mutable_room_data()->add_targets(999999);
  a->send_envelope(e);
  auto err = a->wait_for([](const v1::Envelope& x) { return x.has_error(); }, 3000ms);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->cid(), 77u);
  EXPECT_EQ(err->error().code(), v1::INVALID_TARGET);
}

TEST(Relay, MoreTargetsThanMembersIsRefusedBeforeRoomCode) {
  CraftdProcess server;
  auto a = hello(server, "a");
  auto room = a->create("relay").room_id();
  auto b = hello(server, "b");
  b->join(room);
  v1::Envelope e;
  e.set_cid(91);
  e.mutable_room_data()->set_room_id(room);
  for (uint64_t t = 0; t < 5000; ++t) e.mutable_room_data()->add_targets(b->session_id());
  a->send_envelope(e);
  auto err = a->wait_for([](const v1::Envelope& x) { return x.has_error(); }, 3000ms);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->cid(), 91u);
  EXPECT_EQ(err->error().code(), v1::INVALID_TARGET);
  EXPECT_FALSE(next_room_data(*b, 200ms));
  a->send(room, 2, "normal");
  auto got = next_room_data(*b);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->data(), "normal");
}

TEST(Relay, LeaveTellsOthersAndListShowsCounts) {
  CraftdProcess server;
  auto a = hello(server, "a");
  auto room = a->create("relay").room_id();
  auto b = hello(server, "b");
  b->join(room);
  auto rooms = b->list_rooms("relay");
  ASSERT_EQ(rooms.size(), 1u);
  EXPECT_EQ(rooms[0].room_id(), room);
  EXPECT_EQ(rooms[0].clients(), 2u);
  EXPECT_EQ(rooms[0].type(), "relay");
  b->leave(room);
  auto left = a->wait_for([](const v1::Envelope& e) { return e.has_presence() && e.presence().leaves_size() == 1; },
                          3000ms);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->presence().leaves(0).session_id(), b->session_id());
  // The same room, listed by its real type and by every type, now counts one member (the
  // listing is updated before room_left is sent). An empty room stays listed until
  // rooms.empty_dispose_ms, so the list still has exactly this room.
  for (const std::string type : {"relay", ""}) {
    rooms = b->list_rooms(type);
    ASSERT_EQ(rooms.size(), 1u) << "type '" << type << "'";
    EXPECT_EQ(rooms[0].room_id(), room);
    EXPECT_EQ(rooms[0].type(), "relay");
    EXPECT_EQ(rooms[0].clients(), 1u) << "type '" << type << "'";
    EXPECT_EQ(rooms[0].max_clients(), 64u);  // rooms.max_clients default
  }
  a->leave(room);
  rooms = b->list_rooms("relay");
  ASSERT_EQ(rooms.size(), 1u);
  EXPECT_EQ(rooms[0].clients(), 0u);
}

TEST(Relay, PrivateRoomsAreJoinableByIdButNotListed) {
  CraftdProcess server;
  auto a = hello(server, "a");
  auto room = a->create("relay", "", true).room_id();
  auto b = hello(server, "b");
  EXPECT_TRUE(b->list_rooms().empty());
  EXPECT_EQ(b->join(room).members_size(), 2);
  // join_or_create never picks a private room.
  auto c = hello(server, "c");
  EXPECT_NE(c->join_or_create("relay").room_id(), room);
}

TEST(Relay, PingAnswersWithBothClocks) {
  CraftdProcess server;
  auto a = hello(server, "a");
  auto pong = a->ping();
  EXPECT_GT(pong.client_time_us(), 0);
  EXPECT_GT(pong.server_time_us(), 0);
}

TEST(Relay, FlushIntervalStillDeliversEverythingInOrder) {
  CraftdProcess server({"--server.flush-interval-us", "20000"});
  auto a = hello(server, "a");
  auto room = a->create("relay").room_id();
  auto b = hello(server, "b");
  b->join(room);
  for (int i = 0; i < 50; ++i) a->send(room, 1, std::to_string(i));
  for (int i = 0; i < 50; ++i) {
    auto got = next_room_data(*b);
    ASSERT_TRUE(got) << i;
    EXPECT_EQ(got->data(), std::to_string(i));
  }
  EXPECT_LT(server.metric("craft_write_calls_total"), 50) << "held output should share writes";
}

// server.coalesce_us: a busy shard takes what gathered in a window at once. 50 messages sent
// 2 ms apart on one connection reach an idle shard as 50 separate reads without it (each one
// wakes the loop); with a 20 ms window they share a few reads, and still all arrive in order.
TEST(Relay, CoalescingTakesPacedMessagesInBatchesAndDeliversEverythingInOrder) {
  CraftdProcess server({"--server.coalesce-us", "20000", "--server.shards", "1"});
  auto a = hello(server, "a");
  auto room = a->create("relay").room_id();
  auto b = hello(server, "b");
  b->join(room);
  const long reads_before = server.metric("craft_read_calls_total");
  for (int i = 0; i < 50; ++i) {
    a->send(room, 1, std::to_string(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  for (int i = 0; i < 50; ++i) {
    auto got = next_room_data(*b);
    ASSERT_TRUE(got) << i;
    EXPECT_EQ(got->data(), std::to_string(i));
  }
  const long reads = server.metric("craft_read_calls_total") - reads_before;
  EXPECT_LE(reads, 25) << "paced messages should share reads when the loop wakes once per window";
  EXPECT_GT(server.metric("craft_coalesced_batches_total"), 0);
}
