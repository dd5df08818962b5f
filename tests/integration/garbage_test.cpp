// Random bytes from many connections at once: the server survives, and a room in the
// middle of it keeps working. Seeded, so a failure reproduces.
#include "helpers.hpp"

#include <random>

#include "net/ws_codec.hpp"
#include "protocol/envelope_codec.hpp"

using namespace craft;
using namespace craft::testing;

namespace {

std::string random_bytes(std::mt19937& rng, size_t max_len) {
  std::uniform_int_distribution<size_t> len(0, max_len);
  std::string s(len(rng), '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

}  // namespace

TEST(Garbage, RandomFramesAndBytesNeverHurtOthers) {
  CraftdProcess server({"--limits.max-message-size", "4096"});
  RoomOfThree room(server);
  std::mt19937 rng(20261124);
  for (int round = 0; round < 60; ++round) {
    auto transport = round % 3 == 0 ? Transport::tcp : Transport::websocket;
    auto c = connect(server, transport);
    if (round % 2) c->hello("noise");
    for (int i = 0; i < 5; ++i) {
      auto payload = random_bytes(rng, 300);
      switch (rng() % 4) {
        case 0: c->send_raw(payload); break;  // raw bytes, no framing
        case 1:
          if (transport == Transport::websocket) {
            c->send_raw(c->make_ws_frame(ws::Opcode::binary, payload));  // well framed, random envelope
          } else {
            c->send_raw(protocol::frame_payload(payload, protocol::WireFormat::tcp));
          }
          break;
        case 2:
          if (transport == Transport::websocket) c->send_raw(c->make_ws_frame(ws::Opcode::text, payload));
          break;
        case 3: {
          // A valid envelope with random field values.
          v1::Envelope e;
          e.set_cid(static_cast<uint32_t>(rng()));
          e.mutable_room_data()->set_room_id(i % 2 ? room.room_id : random_bytes(rng, 20));
          e.mutable_room_data()->set_op(static_cast<uint32_t>(rng()));
          e.mutable_room_data()->set_data(payload);
          e.mutable_room_data()->add_targets(rng());
          try {
            c->send_envelope(e);
          } catch (const std::exception&) {
            // JSON encoding of invalid UTF-8 may fail client-side; irrelevant here.
          }
          break;
        }
      }
    }
    c->wait_closed(std::chrono::milliseconds(20));  // read whatever came back, if anything
    if (round % 10 == 9) room.expect_room_still_works("round " + std::to_string(round));
  }
  room.expect_room_still_works();
  EXPECT_NE(server.http_get("/healthz").find("200 OK"), std::string::npos);
}
