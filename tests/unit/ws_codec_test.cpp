// RFC 6455 framing helpers: header parsing at every length form and truncation point, the
// protocol errors a server must refuse, masking, the handshake key and the UTF-8 validator.
// Suite names differ from codec_test.cpp's so both files can live in one binary.
#include "net/ws_codec.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace craft;
using ws::FrameHeader;
using ws::Opcode;
using ws::ParseResult;

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

ParseResult parse(std::string_view data) {
  FrameHeader h;
  return ws::parse_header(data, h);
}

// Reference masking, one byte at a time, to compare the word-at-a-time version against.
std::string mask_bytewise(std::string s, const uint8_t mask[4], size_t offset) {
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(s[i] ^ mask[(offset + i) % 4]);
  return s;
}

}  // namespace

// --- header parsing -------------------------------------------------------------------------

TEST(WsFrameHeader, SevenBitLengthUnmasked) {
  FrameHeader h;
  ASSERT_EQ(ws::parse_header(bytes({0x81, 0x05, 'H', 'e', 'l', 'l', 'o'}), h), ParseResult::ok);
  EXPECT_TRUE(h.fin);
  EXPECT_EQ(h.opcode, Opcode::text);
  EXPECT_FALSE(h.masked);
  EXPECT_EQ(h.payload_length, 5u);
  EXPECT_EQ(h.header_length, 2u);
}

TEST(WsFrameHeader, SevenBitLengthMaskedCopiesTheMask) {
  FrameHeader h;
  ASSERT_EQ(ws::parse_header(bytes({0x82, 0xfd, 0x37, 0xfa, 0x21, 0x3d}), h), ParseResult::ok);
  EXPECT_TRUE(h.masked);
  EXPECT_EQ(h.payload_length, 125u);
  EXPECT_EQ(h.header_length, 6u);
  EXPECT_EQ(h.mask[0], 0x37);
  EXPECT_EQ(h.mask[1], 0xfa);
  EXPECT_EQ(h.mask[2], 0x21);
  EXPECT_EQ(h.mask[3], 0x3d);
}

TEST(WsFrameHeader, SixteenBitLength) {
  FrameHeader h;
  ASSERT_EQ(ws::parse_header(bytes({0x82, 0x7e, 0x00, 0x7e}), h), ParseResult::ok);
  EXPECT_EQ(h.payload_length, 126u);
  EXPECT_EQ(h.header_length, 4u);
  ASSERT_EQ(ws::parse_header(bytes({0x82, 0x7e, 0x01, 0x00}), h), ParseResult::ok);
  EXPECT_EQ(h.payload_length, 256u);
  ASSERT_EQ(ws::parse_header(bytes({0x02, 0xfe, 0xff, 0xff, 1, 2, 3, 4}), h), ParseResult::ok);
  EXPECT_FALSE(h.fin);
  EXPECT_TRUE(h.masked);
  EXPECT_EQ(h.payload_length, 65535u);
  EXPECT_EQ(h.header_length, 8u);
  EXPECT_EQ(h.mask[3], 4);
}

TEST(WsFrameHeader, SixtyFourBitLength) {
  FrameHeader h;
  ASSERT_EQ(ws::parse_header(bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}), h), ParseResult::ok);
  EXPECT_EQ(h.payload_length, 65536u);
  EXPECT_EQ(h.header_length, 10u);
  // Far beyond anything buffered: the header alone is still "ok"; the caller checks sizes.
  ASSERT_EQ(ws::parse_header(bytes({0x82, 0xff, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 9, 8, 7, 6}), h),
            ParseResult::ok);
  EXPECT_EQ(h.payload_length, 0x010203040506ull);
  EXPECT_EQ(h.header_length, 14u);
  ASSERT_EQ(ws::parse_header(bytes({0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), h),
            ParseResult::ok);
  EXPECT_EQ(h.payload_length, 0x7fffffffffffffffull);
}

TEST(WsFrameHeader, MostSignificantLengthBitIsAnError) {
  EXPECT_EQ(parse(bytes({0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0})), ParseResult::protocol_error);
}

TEST(WsFrameHeader, NeedMoreAtEveryTruncationPoint) {
  const uint8_t mask[4] = {9, 8, 7, 6};
  for (size_t len : {0u, 5u, 125u, 126u, 65535u, 65536u}) {
    for (const uint8_t* m : {static_cast<const uint8_t*>(nullptr), mask}) {
      char header[ws::max_header_length];
      size_t n = ws::write_header(header, Opcode::binary, len, true, m);
      std::string_view full(header, n);
      for (size_t cut = 0; cut < n; ++cut) {
        EXPECT_EQ(parse(full.substr(0, cut)), ParseResult::need_more) << "len " << len << " cut " << cut;
      }
      FrameHeader h;
      ASSERT_EQ(ws::parse_header(full, h), ParseResult::ok) << len;
      EXPECT_EQ(h.header_length, n);
      EXPECT_EQ(h.payload_length, len);
      EXPECT_EQ(h.masked, m != nullptr);
    }
  }
}

TEST(WsFrameHeader, ExtraBytesAfterTheHeaderAreNotConsumed) {
  FrameHeader h;
  auto two = ws::make_frame(Opcode::binary, "ab") + ws::make_frame(Opcode::text, "cde");
  ASSERT_EQ(ws::parse_header(two, h), ParseResult::ok);
  EXPECT_EQ(h.payload_length, 2u);
  ASSERT_EQ(ws::parse_header(std::string_view(two).substr(h.header_length + 2), h), ParseResult::ok);
  EXPECT_EQ(h.opcode, Opcode::text);
  EXPECT_EQ(h.payload_length, 3u);
}

// --- protocol errors ------------------------------------------------------------------------

TEST(WsFrameHeader, AnyReservedBitIsAnError) {
  for (int rsv : {0x40, 0x20, 0x10, 0x70}) {
    EXPECT_EQ(parse(bytes({0x80 | rsv | 0x2, 0x80, 1, 2, 3, 4})), ParseResult::protocol_error) << rsv;
  }
}

TEST(WsFrameHeader, OnlyDefinedOpcodesAreAccepted) {
  for (int op = 0; op < 16; ++op) {
    bool defined = op <= 2 || (op >= 8 && op <= 10);
    FrameHeader h;
    auto r = ws::parse_header(bytes({0x80 | op, 0x80, 1, 2, 3, 4}), h);
    EXPECT_EQ(r, defined ? ParseResult::ok : ParseResult::protocol_error) << "opcode " << op;
    if (defined) {
      EXPECT_EQ(static_cast<int>(h.opcode), op);
    }
  }
}

TEST(WsFrameHeader, FragmentedControlFramesAreErrors) {
  for (int op : {0x8, 0x9, 0xa}) {
    EXPECT_EQ(parse(bytes({op, 0x80, 1, 2, 3, 4})), ParseResult::protocol_error) << op;
    EXPECT_EQ(parse(bytes({0x80 | op, 0x80, 1, 2, 3, 4})), ParseResult::ok) << op;
  }
}

TEST(WsFrameHeader, ControlFramesOver125BytesAreErrors) {
  for (int op : {0x8, 0x9, 0xa}) {
    EXPECT_EQ(parse(bytes({0x80 | op, 0xfd, 1, 2, 3, 4})), ParseResult::ok) << op;  // exactly 125
    EXPECT_EQ(parse(bytes({0x80 | op, 0xfe, 0x00, 0x7e, 1, 2, 3, 4})), ParseResult::protocol_error) << op;
    EXPECT_EQ(parse(bytes({0x80 | op, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4})), ParseResult::protocol_error)
        << op;
  }
}

TEST(WsFrameHeader, NonMinimalLengthsAreErrors) {
  EXPECT_EQ(parse(bytes({0x82, 0x7e, 0x00, 0x00})), ParseResult::protocol_error);
  EXPECT_EQ(parse(bytes({0x82, 0x7e, 0x00, 0x7d})), ParseResult::protocol_error);
  EXPECT_EQ(parse(bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0})), ParseResult::protocol_error);
  EXPECT_EQ(parse(bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0x7d})), ParseResult::protocol_error);
  EXPECT_EQ(parse(bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff})), ParseResult::protocol_error);
  EXPECT_EQ(parse(bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0})), ParseResult::ok);  // 65536 is minimal
}

// --- writing frames ---------------------------------------------------------------------------

TEST(WsFrames, MatchTheRfc6455Examples) {
  const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  // RFC 6455 section 5.7.
  EXPECT_EQ(ws::make_frame(Opcode::text, "Hello"), bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
  EXPECT_EQ(ws::make_frame(Opcode::text, "Hello", mask),
            bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
  EXPECT_EQ(ws::make_frame(Opcode::text, "Hel", nullptr, false), bytes({0x01, 0x03, 0x48, 0x65, 0x6c}));
  EXPECT_EQ(ws::make_frame(Opcode::continuation, "lo"), bytes({0x80, 0x02, 0x6c, 0x6f}));
  EXPECT_EQ(ws::make_frame(Opcode::ping, "Hello"), bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
  EXPECT_EQ(ws::make_frame(Opcode::pong, "Hello", mask),
            bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
  auto f256 = ws::make_frame(Opcode::binary, std::string(256, 'x'));
  EXPECT_EQ(f256.substr(0, 4), bytes({0x82, 0x7e, 0x01, 0x00}));
  EXPECT_EQ(f256.size(), 4u + 256u);
  auto f64k = ws::make_frame(Opcode::binary, std::string(65536, 'x'));
  EXPECT_EQ(f64k.substr(0, 10), bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}));
  EXPECT_EQ(f64k.size(), 10u + 65536u);
}

TEST(WsFrames, WriteThenParseAtEveryBoundary) {
  const uint8_t mask[4] = {0xa1, 0xb2, 0xc3, 0xd4};
  for (uint64_t len : {0ull, 1ull, 125ull, 126ull, 127ull, 65535ull, 65536ull, 1ull << 32, (1ull << 63) - 1}) {
    for (bool fin : {true, false}) {
      char header[ws::max_header_length];
      size_t n = ws::write_header(header, Opcode::binary, len, fin, mask);
      FrameHeader h;
      ASSERT_EQ(ws::parse_header(std::string_view(header, n), h), ParseResult::ok) << len;
      EXPECT_EQ(h.fin, fin);
      EXPECT_EQ(h.payload_length, len);
      EXPECT_EQ(h.header_length, n);
      EXPECT_EQ(n, (len < 126 ? 2u : len <= 0xffff ? 4u : 10u) + 4u);
      EXPECT_EQ(std::string(reinterpret_cast<const char*>(h.mask), 4), std::string(header + n - 4, 4));
    }
  }
}

// --- masking ----------------------------------------------------------------------------------

TEST(WsMask, MatchesBytewiseAtEveryOffsetAndLength) {
  const uint8_t mask[4] = {0xde, 0xad, 0xbe, 0xef};
  for (size_t len = 0; len < 41; ++len) {
    std::string data(len, '\0');
    for (size_t i = 0; i < len; ++i) data[i] = static_cast<char>(i * 37 + 11);
    for (size_t offset = 0; offset < 9; ++offset) {
      std::string a = data;
      ws::apply_mask(a.data(), a.size(), mask, offset);
      EXPECT_EQ(a, mask_bytewise(data, mask, offset)) << "len " << len << " offset " << offset;
      ws::apply_mask(a.data(), a.size(), mask, offset);
      EXPECT_EQ(a, data) << "masking twice must restore, len " << len << " offset " << offset;
    }
  }
}

TEST(WsMask, UnalignedBufferUsesTheSameKeyStream) {
  const uint8_t mask[4] = {1, 2, 4, 8};
  std::string storage(70, 'q');
  for (size_t start = 1; start < 4; ++start) {
    std::string a = storage;
    ws::apply_mask(a.data() + start, 64, mask, 0);
    EXPECT_EQ(a.substr(start, 64), mask_bytewise(storage.substr(start, 64), mask, 0)) << start;
    EXPECT_EQ(a.substr(0, start), storage.substr(0, start));  // bytes outside the range untouched
    EXPECT_EQ(a.substr(start + 64), storage.substr(start + 64));
  }
}

TEST(WsMask, ChunkedAtOddOffsetsEqualsWhole) {
  // A payload arriving in pieces is unmasked piece by piece with the running offset.
  const uint8_t mask[4] = {0x5a, 0xc3, 0x0f, 0x99};
  std::string payload(1000, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i ^ (i >> 3));
  auto whole = ws::make_frame(Opcode::binary, payload, mask);
  FrameHeader h;
  ASSERT_EQ(ws::parse_header(whole, h), ParseResult::ok);
  std::string body = whole.substr(h.header_length);
  size_t pos = 0;
  for (size_t chunk : {1u, 3u, 7u, 8u, 13u, 64u, 5u, 9u, 17u}) {
    chunk = std::min(chunk, body.size() - pos);
    ws::apply_mask(body.data() + pos, chunk, h.mask, pos);
    pos += chunk;
  }
  ws::apply_mask(body.data() + pos, body.size() - pos, h.mask, pos);
  EXPECT_EQ(body, payload);
}

// --- handshake, close payload ----------------------------------------------------------------

TEST(WsHandshake, AcceptKeyOfTheRfc6455Sample) {
  // RFC 6455 section 1.3 (the value is SHA-1 + base64 of key + GUID).
  EXPECT_EQ(ws::accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(ws::accept_key("dGhlIHNhbXBsZSBub25jZQ==").size(), 28u);
  EXPECT_NE(ws::accept_key("AQIDBAUGBwgJCgsMDQ4PEA=="), ws::accept_key("dGhlIHNhbXBsZSBub25jZQ=="));
}

TEST(WsClosePayload, CodeIsBigEndianThenReason) {
  EXPECT_EQ(ws::close_payload(1000, ""), bytes({0x03, 0xe8}));
  EXPECT_EQ(ws::close_payload(4003, "flood"), bytes({0x0f, 0xa3}) + "flood");
}

TEST(WsClosePayload, ReasonIsCutToFitAControlFrameWithoutSplittingACharacter) {
  auto p = ws::close_payload(1001, std::string(300, 'r'));
  EXPECT_EQ(p.size(), 125u);
  std::string reason = std::string(122, 'a') + "\xe2\x82\xac";  // a 3-byte euro sign across byte 123
  p = ws::close_payload(1001, reason);
  EXPECT_EQ(p.substr(2), std::string(122, 'a'));
  EXPECT_TRUE(ws::is_valid_utf8(p.substr(2)));
  reason = std::string(120, 'a') + "\xe2\x82\xac";  // ends exactly at 123: kept whole
  EXPECT_EQ(ws::close_payload(1001, reason).substr(2), reason);
}

// --- UTF-8 -------------------------------------------------------------------------------------

TEST(WsUtf8, AcceptsValidText) {
  const std::vector<std::string> valid = {
      "",
      std::string("nul\0inside", 10),
      "plain ascii that is longer than eight bytes",
      "\xc2\x80",                  // U+0080, smallest 2-byte
      "\xc3\xa9",                  // é
      "\xdf\xbf",                  // U+07FF
      "\xe0\xa0\x80",              // U+0800, smallest 3-byte
      "\xe2\x82\xac",              // €
      "\xed\x9f\xbf",              // U+D7FF, just below the surrogates
      "\xee\x80\x80",              // U+E000, just above them
      "\xef\xbf\xbf",              // U+FFFF
      "\xf0\x90\x80\x80",          // U+10000, smallest 4-byte
      "\xf0\x9f\x8e\xae",          // 🎮
      "\xf4\x8f\xbf\xbf",          // U+10FFFF, the last code point
      "12345678\xc3\xa9" "12345678\xf0\x9f\x8e\xae",  // multibyte right after the 8-byte fast path
      "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",  // κόσμε
  };
  for (const auto& s : valid) EXPECT_TRUE(ws::is_valid_utf8(s)) << testing::PrintToString(s);
}

TEST(WsUtf8, RejectsOverlongForms) {
  for (const char* s : {"\xc0\x80", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x80\xaf", "\xe0\x9f\xbf",
                        "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf"}) {
    EXPECT_FALSE(ws::is_valid_utf8(s)) << testing::PrintToString(std::string(s));
  }
}

TEST(WsUtf8, RejectsSurrogates) {
  for (const char* s : {"\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xbf\xbf", "ok\xed\xa0\x80\xed\xb0\x80"}) {
    EXPECT_FALSE(ws::is_valid_utf8(s)) << testing::PrintToString(std::string(s));
  }
}

TEST(WsUtf8, RejectsTruncatedSequences) {
  for (const char* s : {"\xc3", "\xe2\x82", "\xe2", "\xf0\x9f\x8e", "\xf0\x9f", "\xf0", "abcdefgh\xe2\x82",
                        "abc\xf0\x9f\x8e"}) {
    EXPECT_FALSE(ws::is_valid_utf8(s)) << testing::PrintToString(std::string(s));
  }
}

TEST(WsUtf8, RejectsAboveU10FFFFAndInvalidBytes) {
  for (const char* s : {"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf7\xbf\xbf\xbf", "\xf8\x88\x80\x80\x80",
                        "\xfc\x84\x80\x80\x80\x80", "\xfe", "\xff", "\x80", "\xbf", "\xc3\x28", "\xe2\x28\xa1",
                        "\xf0\x9f\x28\xae", "abcdefgh\x80"}) {
    EXPECT_FALSE(ws::is_valid_utf8(s)) << testing::PrintToString(std::string(s));
  }
}
