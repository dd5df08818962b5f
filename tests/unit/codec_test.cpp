#include "net/ws_codec.hpp"
#include "protocol/envelope_codec.hpp"

#include <gtest/gtest.h>

using namespace craft;
using ws::FrameHeader;
using ws::Opcode;
using ws::ParseResult;

TEST(WsCodec, AcceptKeyMatchesRfc6455Sample) {
  EXPECT_EQ(ws::accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsCodec, HeaderRoundTripAtEveryLengthForm) {
  const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
  for (size_t len : {0u, 125u, 126u, 65535u, 65536u, 100000u}) {
    std::string payload(len, 'a');
    auto frame = ws::make_frame(Opcode::binary, payload, mask);
    FrameHeader h;
    ASSERT_EQ(ws::parse_header(frame, h), ParseResult::ok) << len;
    EXPECT_TRUE(h.fin);
    EXPECT_TRUE(h.masked);
    EXPECT_EQ(h.opcode, Opcode::binary);
    EXPECT_EQ(h.payload_length, len);
    EXPECT_EQ(h.header_length, (len < 126 ? 2u : len <= 0xffff ? 4u : 10u) + 4u);
    std::string body = frame.substr(h.header_length);
    ws::apply_mask(body.data(), body.size(), h.mask);
    EXPECT_EQ(body, payload);
  }
}

TEST(WsCodec, NeedMoreAtEveryTruncationOfTheHeader) {
  const uint8_t mask[4] = {1, 2, 3, 4};
  auto frame = ws::make_frame(Opcode::text, std::string(70000, 'x'), mask);
  FrameHeader h;
  for (size_t cut = 0; cut < 14; ++cut) {
    EXPECT_EQ(ws::parse_header(std::string_view(frame).substr(0, cut), h), ParseResult::need_more) << cut;
  }
  EXPECT_EQ(ws::parse_header(std::string_view(frame).substr(0, 14), h), ParseResult::ok);
}

TEST(WsCodec, ProtocolErrors) {
  FrameHeader h;
  EXPECT_EQ(ws::parse_header(std::string("\xc2\x80\0\0\0\0", 6), h), ParseResult::protocol_error);  // RSV1
  EXPECT_EQ(ws::parse_header(std::string("\x83\x80\0\0\0\0", 6), h), ParseResult::protocol_error);  // opcode 3
  EXPECT_EQ(ws::parse_header(std::string("\x8b\x80\0\0\0\0", 6), h), ParseResult::protocol_error);  // opcode 11
  EXPECT_EQ(ws::parse_header(std::string("\x09\x80\0\0\0\0", 6), h), ParseResult::protocol_error);  // fragmented ping
  EXPECT_EQ(ws::parse_header(std::string("\x89\xfe\x00\x7e", 4), h), ParseResult::protocol_error);  // ping > 125
  EXPECT_EQ(ws::parse_header(std::string("\x82\xfe\x00\x10", 4), h), ParseResult::protocol_error);  // non-minimal 16
  EXPECT_EQ(ws::parse_header(std::string("\x82\xff\0\0\0\0\0\0\0\x10", 10), h),
            ParseResult::protocol_error);  // non-minimal 64
}

TEST(WsCodec, MaskingAtOddOffsetsMatchesBytewise) {
  const uint8_t mask[4] = {0xde, 0xad, 0xbe, 0xef};
  std::string data(37, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  for (size_t offset : {0u, 1u, 2u, 3u, 5u}) {
    std::string a = data, b = data;
    ws::apply_mask(a.data(), a.size(), mask, offset);
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>(b[i] ^ mask[(offset + i) % 4]);
    EXPECT_EQ(a, b) << offset;
  }
}

TEST(WsCodec, Utf8Validation) {
  EXPECT_TRUE(ws::is_valid_utf8("plain ascii that is longer than eight bytes"));
  EXPECT_TRUE(ws::is_valid_utf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x8e\xae"));  // é € 🎮
  EXPECT_FALSE(ws::is_valid_utf8("\xc0\xaf"));                                // overlong '/'
  EXPECT_FALSE(ws::is_valid_utf8("\xe0\x80\xaf"));                            // overlong, 3 bytes
  EXPECT_FALSE(ws::is_valid_utf8("\xed\xa0\x80"));                            // surrogate
  EXPECT_FALSE(ws::is_valid_utf8("\xf4\x90\x80\x80"));                        // > U+10FFFF
  EXPECT_FALSE(ws::is_valid_utf8("abc\xe2\x82"));                             // truncated
  EXPECT_FALSE(ws::is_valid_utf8("\x80"));                                    // lone continuation
}

TEST(WsCodec, ClosePayloadNeverSplitsACharacter) {
  std::string reason(200, 'a');
  reason[122] = '\xc3';
  reason[123] = '\xa9';
  auto p = ws::close_payload(4002, reason);
  EXPECT_EQ(uint8_t(p[0]), 0x0f);
  EXPECT_EQ(uint8_t(p[1]), 0xa2);
  EXPECT_LE(p.size(), 125u);
  EXPECT_TRUE(ws::is_valid_utf8(p.substr(2)));
}

TEST(EnvelopeCodec, BinaryAndJsonRoundTrip) {
  v1::Envelope e;
  e.set_cid(9);
  auto* rd = e.mutable_room_data();
  rd->set_room_id("Ab3dE5gH9jK1");
  rd->set_op(3);
  rd->set_data(std::string("\0\xff", 2));
  rd->set_sender(18446744073709551615ull);
  for (auto enc : {protocol::Encoding::binary, protocol::Encoding::json}) {
    v1::Envelope back;
    ASSERT_TRUE(protocol::decode(protocol::encode(e, enc), enc, back));
    EXPECT_EQ(back.SerializeAsString(), e.SerializeAsString());
  }
  auto json = protocol::encode(e, protocol::Encoding::json);
  EXPECT_NE(json.find("\"roomData\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"roomId\":\"Ab3dE5gH9jK1\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"sender\":\"18446744073709551615\""), std::string::npos) << json;  // uint64 as string
  EXPECT_NE(json.find("\"data\":\"AP8=\""), std::string::npos) << json;                     // bytes as base64
}

TEST(EnvelopeCodec, JsonAcceptsEnumNumbersAndIgnoresUnknownFields) {
  v1::Envelope e;
  ASSERT_TRUE(protocol::decode(R"({"cid":1,"error":{"code":6},"future":true})", protocol::Encoding::json, e));
  EXPECT_EQ(e.error().code(), v1::ROOM_NOT_FOUND);
  EXPECT_FALSE(protocol::decode("{\"cid\":", protocol::Encoding::json, e));
  EXPECT_FALSE(protocol::decode("\xff\xff\xff", protocol::Encoding::binary, e));
}

TEST(EnvelopeCodec, FramesPerWireFormat) {
  v1::Envelope e;
  e.mutable_ping()->set_client_time_us(5);
  auto binary = protocol::encode(e, protocol::Encoding::binary);
  auto tcp = protocol::frame(e, protocol::WireFormat::tcp);
  ASSERT_EQ(tcp->size(), 4 + binary.size());
  EXPECT_EQ(tcp->substr(0, 4), std::string("\0\0\0", 3) + char(binary.size()));
  EXPECT_EQ(tcp->substr(4), binary);

  auto all = protocol::frame_all(e, protocol::format_bit(protocol::WireFormat::ws_text) |
                                        protocol::format_bit(protocol::WireFormat::tcp));
  EXPECT_EQ(all[protocol::WireFormat::ws_binary], nullptr);
  ASSERT_NE(all[protocol::WireFormat::ws_text], nullptr);
  EXPECT_EQ(uint8_t((*all[protocol::WireFormat::ws_text])[0]), 0x81);  // FIN + text, unmasked
  EXPECT_EQ(*all[protocol::WireFormat::tcp], *tcp);
}
