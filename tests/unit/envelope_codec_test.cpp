// Envelope encodings (protobuf binary, protobuf's canonical JSON) and the per-transport framing
// the server shares between receivers. Suite names differ from codec_test.cpp's.
#include "protocol/envelope_codec.hpp"

#include "net/ws_codec.hpp"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace craft;
using protocol::Encoding;
using protocol::WireFormat;

namespace {

constexpr uint64_t max_u64 = 18446744073709551615ull;

// One envelope of every body the protocol has, with awkward values where it matters.
std::vector<v1::Envelope> samples() {
  std::vector<v1::Envelope> out;
  auto add = [&](uint32_t cid) -> v1::Envelope& {
    out.emplace_back();
    out.back().set_cid(cid);
    return out.back();
  };
  {
    auto* h = add(1).mutable_hello();
    h->set_protocol_version(1);
    h->set_token("t0ken");
    h->set_name("h\xc3\xa9ros \xf0\x9f\x8e\xae");
  }
  {
    auto* w = add(1).mutable_welcome();
    w->set_session_id(max_u64);
    w->set_protocol_version(1);
    w->set_server_time_us(1732000000123456);
    w->set_shard(3);
  }
  add(4294967295u).mutable_ping()->set_client_time_us(-42);
  {
    auto* p = add(2).mutable_pong();
    p->set_client_time_us(1);
    p->set_server_time_us(INT64_MAX);
  }
  {
    auto* c = add(3).mutable_room_create();
    c->set_type("relay");
    c->set_options(R"({"max":4})");
    c->set_private_(true);
  }
  {
    auto* j = add(4).mutable_room_join();
    j->set_room_id("Ab3dE5gH9jK1");
    j->set_options(std::string("\0\x01\xff", 3));
  }
  add(5).mutable_room_join_or_create()->set_type("chat");
  {
    auto* j = add(6).mutable_room_joined();
    j->set_room_id("r1");
    j->set_type("relay");
    j->mutable_you()->set_session_id(7);
    j->mutable_you()->set_name("me");
    auto* m = j->add_members();
    m->set_session_id(max_u64 - 1);
    m->set_name("other");
    j->set_state(std::string(300, '\x80'));
  }
  add(7).mutable_room_leave()->set_room_id("r1");
  {
    auto* l = add(0).mutable_room_left();
    l->set_room_id("r1");
    l->set_reason("kicked");
  }
  {
    auto* d = add(0).mutable_room_data();
    d->set_room_id("r1");
    d->set_op(4000000000u);
    d->set_data(std::string("\0\xff\x10 bin", 7));
    d->add_targets(1);
    d->add_targets(max_u64);
    d->set_sender(9);
  }
  {
    auto* p = add(0).mutable_presence();
    p->set_room_id("r1");
    p->add_joins()->set_session_id(1);
    p->add_leaves()->set_name("gone");
  }
  add(8).mutable_room_list()->set_type("relay");
  {
    auto* r = add(8).mutable_room_list_result()->add_rooms();
    r->set_room_id("r1");
    r->set_type("relay");
    r->set_clients(2);
    r->set_max_clients(16);
    r->set_label("lobby");
    r->set_locked(true);
  }
  {
    auto* e = add(9).mutable_error();
    e->set_code(v1::INVALID_TARGET);
    e->set_message("no such target");
  }
  {
    auto* d = add(0).mutable_disconnect();
    d->set_code(4002);
    d->set_reason("slow consumer");
  }
  add(10);  // no body at all
  return out;
}

bool same(const v1::Envelope& a, const v1::Envelope& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

// --- encodings ------------------------------------------------------------------------------

TEST(EnvelopeEncoding, BinaryRoundTripOfEveryBody) {
  for (const auto& e : samples()) {
    v1::Envelope back;
    ASSERT_TRUE(protocol::decode(protocol::encode(e, Encoding::binary), Encoding::binary, back)) << e.DebugString();
    EXPECT_TRUE(same(back, e)) << e.DebugString() << "\nvs\n" << back.DebugString();
  }
}

TEST(EnvelopeEncoding, JsonRoundTripOfEveryBody) {
  for (const auto& e : samples()) {
    auto json = protocol::encode(e, Encoding::json);
    EXPECT_TRUE(ws::is_valid_utf8(json)) << json;  // it goes into a text frame
    v1::Envelope back;
    ASSERT_TRUE(protocol::decode(json, Encoding::json, back)) << json;
    EXPECT_TRUE(same(back, e)) << json << "\nvs\n" << back.DebugString();
  }
}

TEST(EnvelopeEncoding, JsonUsesLowerCamelCaseNames) {
  v1::Envelope e;
  e.set_cid(3);
  e.mutable_room_join()->set_room_id("abc");
  auto json = protocol::encode(e, Encoding::json);
  EXPECT_TRUE(contains(json, "\"roomJoin\":{")) << json;
  EXPECT_TRUE(contains(json, "\"roomId\":\"abc\"")) << json;
  EXPECT_FALSE(contains(json, "room_join")) << json;

  e.mutable_room_join_or_create()->set_type("relay");
  json = protocol::encode(e, Encoding::json);
  EXPECT_TRUE(contains(json, "\"roomJoinOrCreate\"")) << json;
  EXPECT_FALSE(contains(json, "\"roomJoin\"")) << json;  // oneof: the join was replaced

  e.mutable_hello()->set_protocol_version(1);
  EXPECT_TRUE(contains(protocol::encode(e, Encoding::json), "\"protocolVersion\":1"));
  e.mutable_room_list_result()->add_rooms()->set_max_clients(4);
  EXPECT_TRUE(contains(protocol::encode(e, Encoding::json), "\"roomListResult\":{\"rooms\":[{\"maxClients\":4}]}"));
}

TEST(EnvelopeEncoding, JsonWritesSixtyFourBitIntegersAsStrings) {
  v1::Envelope e;
  e.mutable_welcome()->set_session_id(max_u64);
  e.mutable_welcome()->set_server_time_us(-5);
  auto json = protocol::encode(e, Encoding::json);
  EXPECT_TRUE(contains(json, "\"sessionId\":\"18446744073709551615\"")) << json;
  EXPECT_TRUE(contains(json, "\"serverTimeUs\":\"-5\"")) << json;

  e.mutable_room_data()->add_targets(7);
  e.mutable_room_data()->add_targets(max_u64);
  json = protocol::encode(e, Encoding::json);
  EXPECT_TRUE(contains(json, "\"targets\":[\"7\",\"18446744073709551615\"]")) << json;
}

TEST(EnvelopeEncoding, JsonBytesAreBase64AndEnumsAreNames) {
  v1::Envelope e;
  e.mutable_room_data()->set_data("hi");
  EXPECT_TRUE(contains(protocol::encode(e, Encoding::json), "\"data\":\"aGk=\""));
  e.mutable_error()->set_code(v1::ROOM_NOT_FOUND);
  EXPECT_TRUE(contains(protocol::encode(e, Encoding::json), "\"code\":\"ROOM_NOT_FOUND\""));
}

TEST(EnvelopeEncoding, JsonIsValidUtf8EvenWhenAStringFieldIsNot) {
  // A text frame must be UTF-8, whatever a client managed to put into a string field.
  // (protobuf logs an error for the bad field; that line in the output is expected.)
  v1::Envelope e;
  e.mutable_room_left()->set_room_id("ab\xff\xfe");
  e.mutable_room_left()->set_reason("ok");
  auto json = protocol::encode(e, Encoding::json);
  EXPECT_TRUE(ws::is_valid_utf8(json)) << json;
  v1::Envelope back;
  EXPECT_TRUE(protocol::decode(json, Encoding::json, back)) << json;
  EXPECT_EQ(back.room_left().reason(), "ok");
}

TEST(EnvelopeEncoding, JsonOmitsDefaults) {
  v1::Envelope e;
  e.mutable_ping();
  EXPECT_EQ(protocol::encode(e, Encoding::json), "{\"ping\":{}}");
  e.set_cid(0);
  EXPECT_FALSE(contains(protocol::encode(e, Encoding::json), "cid"));
}

TEST(EnvelopeEncoding, JsonDecodeAcceptsNumbersForSixtyFourBitsAndEnums) {
  v1::Envelope e;
  ASSERT_TRUE(protocol::decode(R"({"cid":2,"welcome":{"sessionId":7,"serverTimeUs":"-9"}})", Encoding::json, e));
  EXPECT_EQ(e.cid(), 2u);
  EXPECT_EQ(e.welcome().session_id(), 7u);
  EXPECT_EQ(e.welcome().server_time_us(), -9);
  ASSERT_TRUE(protocol::decode(R"({"error":{"code":6}})", Encoding::json, e));
  EXPECT_EQ(e.error().code(), v1::ROOM_NOT_FOUND);
  ASSERT_TRUE(protocol::decode(R"({"error":{"code":"RATE_LIMITED"}})", Encoding::json, e));
  EXPECT_EQ(e.error().code(), v1::RATE_LIMITED);
}

TEST(EnvelopeEncoding, JsonDecodeAcceptsOriginalFieldNamesAndIgnoresUnknownFields) {
  v1::Envelope e;
  ASSERT_TRUE(protocol::decode(R"({"cid":1,"room_join":{"room_id":"x"},"fromTheFuture":[1,{"a":2}]})",
                               Encoding::json, e));
  EXPECT_EQ(e.room_join().room_id(), "x");
  // Part of ignoring unknown fields: an enum name from a newer protocol reads as the default.
  ASSERT_TRUE(protocol::decode(R"({"error":{"code":"NO_SUCH_CODE_YET"}})", Encoding::json, e));
  EXPECT_TRUE(e.has_error());
  EXPECT_EQ(e.error().code(), v1::ERROR_UNSPECIFIED);
}

TEST(EnvelopeEncoding, JsonKeepsAnEmptyOptionalJsonValue) {
  // accountUpdate.metadata has presence: "" set on purpose must read back as "", not {} (found
  // by the envelope_json fuzzer: {} is a different request from "").
  v1::Envelope e;
  e.set_cid(7);
  e.mutable_api_request()->mutable_account_update()->set_metadata("");
  auto json = protocol::encode(e, Encoding::json);
  v1::Envelope back;
  ASSERT_TRUE(protocol::decode(json, Encoding::json, back)) << json;
  ASSERT_TRUE(back.api_request().account_update().has_metadata()) << json;
  EXPECT_EQ(back.api_request().account_update().metadata(), "") << json;
}

TEST(EnvelopeEncoding, OnlyApiCallsTreatValueAndMetadataAsJsonText) {
  // RoomInfo.metadata is a map of typed values: in a room list it is an ordinary field.
  v1::Envelope e;
  auto* room = e.mutable_room_list_result()->add_rooms();
  room->set_room_id("r");
  (*room->mutable_metadata())["mode"].set_text("duo");
  (*room->mutable_metadata())["skill"].set_number(1500);
  auto json = protocol::encode(e, Encoding::json);
  v1::Envelope back;
  ASSERT_TRUE(protocol::decode(json, Encoding::json, back)) << json;
  EXPECT_TRUE(same(e, back)) << json;
  // An API call still carries its JSON values as text, in either spelling of the member.
  for (const char* call : {R"({"apiRequest":{"storageWrite":{"objects":[{"collection":"c","key":"k","value":{"a":1}}]}}})",
                           R"({"api_request":{"storageWrite":{"objects":[{"collection":"c","key":"k","value":{"a":1}}]}}})"}) {
    ASSERT_TRUE(protocol::decode(call, Encoding::json, back)) << call;
    EXPECT_EQ(back.api_request().storage_write().objects(0).value(), R"({"a":1})") << call;
  }
}

TEST(EnvelopeEncoding, MalformedInputIsRefused) {
  v1::Envelope e;
  for (const char* bad : {"", "{", "{\"cid\":", "[]", "{\"cid\":\"x\"}", "{\"cid\":-1}", "{\"ping\":5}",
                          "{\"roomData\":{\"data\":\"!!!\"}}"}) {
    EXPECT_FALSE(protocol::decode(bad, Encoding::json, e)) << bad;
  }
  EXPECT_FALSE(protocol::decode("\xff\xff\xff\xff\xff", Encoding::binary, e));
  EXPECT_FALSE(protocol::decode(std::string("\x0a\x05" "ab", 4), Encoding::binary, e));  // length past the end
}

TEST(EnvelopeEncoding, EmptyBinaryIsAnEmptyEnvelope) {
  v1::Envelope e;
  e.set_cid(5);
  ASSERT_TRUE(protocol::decode("", Encoding::binary, e));
  EXPECT_EQ(e.cid(), 0u);
  EXPECT_EQ(e.body_case(), v1::Envelope::BODY_NOT_SET);
}

TEST(EnvelopeEncoding, DecodeReplacesWhatTheEnvelopeHeld) {
  // The server reuses one Envelope per connection; nothing may leak between messages.
  for (auto enc : {Encoding::binary, Encoding::json}) {
    v1::Envelope e;
    e.set_cid(99);
    e.mutable_room_data()->add_targets(1);
    v1::Envelope ping;
    ping.mutable_ping()->set_client_time_us(3);
    ASSERT_TRUE(protocol::decode(protocol::encode(ping, enc), enc, e));
    EXPECT_TRUE(same(e, ping)) << e.DebugString();
  }
}

// --- framing ----------------------------------------------------------------------------------

TEST(EnvelopeFraming, TcpIsFourByteBigEndianLengthThenBinary) {
  v1::Envelope e;
  e.mutable_room_data()->set_data(std::string(70000, 'd'));
  auto binary = protocol::encode(e, Encoding::binary);
  ASSERT_GT(binary.size(), 65536u);
  auto f = protocol::frame(e, WireFormat::tcp);
  ASSERT_EQ(f->size(), 4 + binary.size());
  auto n = binary.size();
  EXPECT_EQ(uint8_t((*f)[0]), 0);
  EXPECT_EQ(uint8_t((*f)[1]), (n >> 16) & 0xff);
  EXPECT_EQ(uint8_t((*f)[2]), (n >> 8) & 0xff);
  EXPECT_EQ(uint8_t((*f)[3]), n & 0xff);
  EXPECT_EQ(f->substr(4), binary);

  v1::Envelope empty;
  EXPECT_EQ(*protocol::frame(empty, WireFormat::tcp), std::string(4, '\0'));
  EXPECT_EQ(protocol::frame_payload(std::string(0x01020304, 'z'), WireFormat::tcp).substr(0, 4),
            std::string("\x01\x02\x03\x04", 4));
}

TEST(EnvelopeFraming, WebSocketFramesAreUnmaskedFinalFramesOfTheRightOpcode) {
  for (const auto& e : samples()) {
    for (auto [format, opcode, enc] : {std::tuple{WireFormat::ws_binary, ws::Opcode::binary, Encoding::binary},
                                       std::tuple{WireFormat::ws_text, ws::Opcode::text, Encoding::json}}) {
      auto f = protocol::frame(e, format);
      ws::FrameHeader h;
      ASSERT_EQ(ws::parse_header(*f, h), ws::ParseResult::ok);
      EXPECT_TRUE(h.fin);
      EXPECT_FALSE(h.masked);  // server frames are never masked
      EXPECT_EQ(h.opcode, opcode);
      ASSERT_EQ(h.header_length + h.payload_length, f->size());
      EXPECT_EQ(f->substr(h.header_length), protocol::encode(e, enc));
      v1::Envelope back;
      ASSERT_TRUE(protocol::decode(f->substr(h.header_length), enc, back));
      EXPECT_TRUE(same(back, e));
    }
  }
}

TEST(EnvelopeFraming, WebSocketLengthFormsFollowThePayload) {
  for (size_t len : {0u, 125u, 126u, 65535u, 65536u}) {
    auto f = protocol::frame_payload(std::string(len, 'p'), WireFormat::ws_binary);
    ws::FrameHeader h;
    ASSERT_EQ(ws::parse_header(f, h), ws::ParseResult::ok);
    EXPECT_EQ(h.payload_length, len);
    EXPECT_EQ(h.header_length, len < 126 ? 2u : len <= 0xffff ? 4u : 10u);
    EXPECT_EQ(f.size(), h.header_length + len);
  }
}

TEST(EnvelopeFraming, FrameAllBuildsOnlyTheRequestedFormats) {
  v1::Envelope e;
  e.set_cid(4);
  e.mutable_room_data()->set_room_id("r");
  e.mutable_room_data()->set_data("payload");
  for (uint8_t formats = 0; formats < (1u << protocol::wire_format_count); ++formats) {
    auto all = protocol::frame_all(e, formats);
    for (size_t i = 0; i < protocol::wire_format_count; ++i) {
      auto f = static_cast<WireFormat>(i);
      if (formats & protocol::format_bit(f)) {
        ASSERT_NE(all[f], nullptr) << int(formats) << " " << i;
        EXPECT_EQ(*all[f], *protocol::frame(e, f)) << int(formats) << " " << i;
      } else {
        EXPECT_EQ(all[f], nullptr) << int(formats) << " " << i;
      }
    }
  }
}

TEST(EnvelopeFraming, FormatBitsAreDistinct) {
  EXPECT_EQ(protocol::format_bit(WireFormat::ws_binary), 1);
  EXPECT_EQ(protocol::format_bit(WireFormat::ws_text), 2);
  EXPECT_EQ(protocol::format_bit(WireFormat::tcp), 4);
}
