// movement2d on replicated state (issue 13 item 6, examples/movement2d/README.md): a real
// craftd, a room created without a "state" option (replicated is the default); two players
// send inputs with their acks riding on them and decode the snapshots with src/sync's decoder:
// their own entity carries their session id, the last applied input seq and a position that
// moved; no JSON snapshot is broadcast; {"state":"json"} still gets the JSON broadcast; a bad
// "state" option refuses the room.
#include "helpers.hpp"
#include "replication_helpers.hpp"

#include <cmath>

namespace craft::testing {
namespace {

std::string input(uint32_t seq, int8_t dx, int8_t dy) {
  std::string s(6, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>((seq >> (8 * i)) & 0xff);
  s[4] = static_cast<char>(dx);
  s[5] = static_cast<char>(dy);
  return s;
}


// The decoded entity whose player.id is `session`, or null.
const sync::DecodedEntity* player_entity(const sync::DecodedFrame& frame, uint64_t session) {
  for (auto& [id, e] : frame) {
    if (e.components.size() == 2 && e.components[1].size() == 4 && e.components[1][0].wire[0] == session) return &e;
  }
  return nullptr;
}

}  // namespace

TEST(Movement2dReplication, PlayersDecodeTheirOwnPositionSeqAndIdFromDeltas) {
  CraftdProcess server;
  auto a = hello(server, "ann");
  auto b = hello(server, "bob");
  auto joined = a->create("movement2d", R"({"tickRate":30})");  // replicated: the default
  EXPECT_NE(joined.state().find("\"state\":\"replicated\""), std::string::npos) << joined.state();
  auto room = joined.room_id();
  b->join(room);
  std::unique_ptr<sync::SnapshotDecoder> decoder;
  int json_snapshots = 0, deltas = 0;
  uint32_t seq = 0;
  std::optional<double> x0;  // ann's x in the first snapshot
  auto last_input = std::chrono::steady_clock::now() - 1s;
  auto until = std::chrono::steady_clock::now() + 8s;
  // ann walks right: an input every 50 ms, the newest decoded tick riding on it.
  while (std::chrono::steady_clock::now() < until && seq < 40) {
    auto e = a->next_event(50ms);
    if (e && e->has_state_schema()) {
      const auto& s = e->state_schema();
      EXPECT_EQ(s.room_id(), room);
      EXPECT_EQ(s.tick_rate_hz(), 30u);
      ASSERT_EQ(s.components_size(), 2);
      EXPECT_EQ(s.components(0).name(), "pos");
      EXPECT_EQ(s.components(1).name(), "player");
      ASSERT_EQ(s.components(1).fields_size(), 4);
      EXPECT_EQ(s.components(1).fields(0).name(), "id");
      EXPECT_EQ(s.components(1).fields(1).name(), "seq");
      EXPECT_EQ(s.components(1).fields(2).name(), "dropped");
      EXPECT_EQ(s.components(1).fields(3).name(), "name");
      decoder = decoder_for(s);
    } else if (e && e->has_state_snapshot()) {
      ASSERT_TRUE(decoder) << "a snapshot before the schema";
      const auto& data = e->state_snapshot().data();
      if (data.size() > 4 && (data[4] & 0x7f) != 0) ++deltas;
      EXPECT_EQ(decoder->decode(data), sync::DecodeResult::ok);
    } else if (e && e->has_room_data() && e->room_data().op() == 0) {
      ++json_snapshots;
    }
    if (decoder && decoder->newest_tick() > 0 && !x0) {
      if (const auto* me = player_entity(*decoder->newest(), a->session_id())) x0 = me->components[0][0].wire[0] * 0.01;
    }
    if (x0 && std::chrono::steady_clock::now() - last_input >= 50ms) {
      last_input = std::chrono::steady_clock::now();
      v1::Envelope in;
      auto* rd = in.mutable_room_data();
      rd->set_room_id(room);
      rd->set_op(1);
      rd->set_data(input(++seq, 1, 0));
      rd->set_state_ack(decoder->newest_tick());
      a->send_envelope(in);
    }
  }
  ASSERT_TRUE(decoder);
  // Let the last inputs apply and reach us.
  for (int i = 0; i < 20; ++i) {
    auto s = a->wait_for([](const v1::Envelope& x) { return x.has_state_snapshot(); }, 1000ms);
    ASSERT_TRUE(s);
    ASSERT_EQ(decoder->decode(s->state_snapshot().data()), sync::DecodeResult::ok);
  }
  EXPECT_EQ(json_snapshots, 0) << "a replicated room still broadcast JSON snapshots";
  EXPECT_GT(deltas, 10) << "acks did not make deltas";
  const auto* view = decoder->newest();
  ASSERT_TRUE(view);
  EXPECT_EQ(view->size(), 2u);
  const auto* ann = player_entity(*view, a->session_id());
  const auto* bob = player_entity(*view, b->session_id());
  ASSERT_TRUE(ann && bob) << "each player's entity carries its session id";
  EXPECT_EQ(ann->components[1][1].wire[0], seq) << "seq: the last input applied";
  EXPECT_EQ(ann->components[1][3].text, "ann");
  EXPECT_EQ(ann->components[1][2].wire[0], 0u) << "not dropped";
  EXPECT_EQ(bob->components[1][1].wire[0], 0u) << "bob sent nothing";
  // ann moved right by up to 40 steps of 200/30 units (clamped at x = 790); x is wire * 0.01.
  ASSERT_TRUE(x0);
  double x = ann->components[0][0].wire[0] * 0.01;
  EXPECT_GE(x, std::min(790.0, *x0 + 40 * 200.0 / 30 - 0.01)) << "ann did not move 40 steps right from " << *x0;
  EXPECT_LE(x, 790.001);
}

TEST(Movement2dReplication, ABadStateOptionRefusesTheRoomAndJsonStaysAvailable) {
  CraftdProcess server;
  auto a = hello(server, "ann");
  try {
    a->create("movement2d", R"({"state":"binary"})");
    ADD_FAILURE() << "the room was created";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code, v1::BAD_REQUEST);
    EXPECT_NE(std::string(e.what()).find("option state must be"), std::string::npos) << e.what();
  }
  // {"state":"json"} keeps the JSON broadcast (old clients, bench/movement2d-bytes.mjs) and says
  // so in the join state.
  auto joined = a->create("movement2d", R"({"state":"json"})");
  EXPECT_NE(joined.state().find("\"state\":\"json\""), std::string::npos) << joined.state();
  auto data = next_room_data(*a);
  ASSERT_TRUE(data);
  EXPECT_EQ(data->op(), 0u);
  EXPECT_EQ(data->data().rfind("{\"t\":", 0), 0u);
  EXPECT_FALSE(a->wait_for([](const v1::Envelope& x) { return x.has_state_snapshot(); }, 300ms));
}

}  // namespace craft::testing
