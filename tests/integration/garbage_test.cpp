// Random bytes from many connections at once: the server survives, and a room in the
// middle of it keeps working. Seeded, so a failure reproduces.
#include "helpers.hpp"

#include <filesystem>
#include <random>

#include <stdlib.h>

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

// Every API route gets random bodies, mangled JSON and wrong types: each answer is a 4xx with
// a JSON error, the stored data is untouched, and the server keeps serving.
TEST(Garbage, RandomApiBodiesGetClientErrors) {
  char dir_template[] = "/tmp/craft-garbage-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  std::string db = std::string(dir_template) + "/craft.db";
  CraftdProcess server({"--store.sqlite-path", db, "--auth.password-cost", "minimum",
                        "--auth.ip-attempts-per-minute", "100000", "--auth.account-attempts-per-minute", "100000",
                        "--auth.admin-key", "garbage-admin-key"});
  auto login = http_request(server.http_port(), "POST", "/v1/auth/device",
                            R"({"deviceId":"garbage-device-1","create":true})");
  auto at = login.find("\"token\":\"");
  ASSERT_NE(at, std::string::npos) << login;
  auto token = login.substr(at + 9, login.find('"', at + 9) - at - 9);
  auto bearer = "Authorization: Bearer " + token + "\r\n";
  // Admin calls check the admin key before they parse the body (security.md): they get it, so
  // the body is what they refuse.
  const std::string admin = "Authorization: Bearer garbage-admin-key\r\n";
  auto saved = http_request(server.http_port(), "POST", "/v1/storage/write",
                            R"({"objects":[{"collection":"keep","key":"k","value":{"v":1}}]})", bearer);
  ASSERT_NE(saved.find("200 OK"), std::string::npos) << saved;

  const char* routes[] = {"/v1/auth/device", "/v1/auth/email", "/v1/auth/custom", "/v1/auth/refresh",
                          "/v1/auth/logout", "/v1/account/update", "/v1/account/link", "/v1/storage/write",
                          "/v1/storage/read", "/v1/storage/delete", "/v1/storage/list", "/v1/leaderboard/write",
                          "/v1/leaderboard/list", "/v1/leaderboard/create", "/v1/admin/ban"};
  const char* shapes[] = {"{", "[]", "null", "{\"objects\":5}", "{\"ids\":[{\"collection\":7}]}",
                          "{\"deviceId\":{\"a\":1}}", "{\"limit\":-5}", "{\"score\":\"x\"}", "\"\\ud800\"",
                          "{\"objects\":[{\"value\":[1,2]}]}"};
  std::mt19937 rng(20261129);
  // Counts only the answers that are what docs/http-api.md §7 promises for a body that is
  // not the call's JSON message: 400 with a BAD_REQUEST error. Every other answer is a
  // failure of its own, so the count at the end can fall short.
  int bad_requests = 0;
  const auto rejected_before = server.metric("craft_http_rejected_total");
  for (const char* route : routes) {
    for (int i = 0; i < 14; ++i) {
      std::string body = i < 10 ? shapes[i] : random_bytes(rng, 200);
      bool admin_route = std::string_view(route) == "/v1/leaderboard/create" || std::string_view(route) == "/v1/admin/ban";
      auto response = http_request(server.http_port(), "POST", route, body, admin_route ? admin : bearer);
      bool is_400 = response.starts_with("HTTP/1.1 400 ");
      bool is_bad_request = response.find("{\"error\":{\"code\":\"BAD_REQUEST\"") != std::string::npos;
      EXPECT_TRUE(is_400 && is_bad_request) << route << " " << ::testing::PrintToString(body) << "\n" << response;
      if (is_400 && is_bad_request) ++bad_requests;
    }
  }
  EXPECT_EQ(bad_requests, 15 * 14);
  // The server counted each of them as a 4xx answer too (metrics requests are 200s).
  EXPECT_EQ(server.metric("craft_http_rejected_total") - rejected_before, 15 * 14);
  auto kept = http_request(server.http_port(), "POST", "/v1/storage/read",
                           R"({"ids":[{"collection":"keep","key":"k"}]})", bearer);
  EXPECT_NE(kept.find(R"("value":{"v":1})"), std::string::npos) << kept;
  EXPECT_NE(server.http_get("/healthz").find("200 OK"), std::string::npos);
  EXPECT_EQ(server.stop(), 0);
  std::filesystem::remove_all(dir_template);
}
