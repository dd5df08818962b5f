// JSON values as exact text: the JSON <-> protobuf shapes of storage values and metadata
// (protocol/json_values.hpp) and their round trip through the envelope codec.
#include "protocol/envelope_codec.hpp"
#include "protocol/json_values.hpp"

#include <gtest/gtest.h>

using namespace craft;
using protocol::Encoding;

namespace {

// The raw value text nested `depth` deep, with numbers JSON parsers like to change.
std::string awkward_value(size_t depth) {
  return "{\"n\":12345678901234567890,\"big\":1e400,\"neg\":-0,\"f\":1.50,\"s\":\"\\u00e9\\ud83d\\ude00 \xc3\xa9\","
         "\"deep\":" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + " }";
}

}  // namespace

TEST(JsonValues, QuoteTurnsValueMembersIntoTheirExactText) {
  std::string value = awkward_value(5);
  std::string in = "{\"objects\":[{\"collection\":\"c\",\"value\": " + value + ",\"key\":\"k\"}]}";
  std::string quoted = protocol::quote_json_values(in);
  ASSERT_TRUE(protocol::check_json(quoted, 8)) << quoted;
  // The value is now a string; a "value" inside it was left alone.
  EXPECT_EQ(quoted.find("\"value\": \"{"), 30u) << quoted;
  // Strings (JSON text already) and null stay; escaped spellings of the name count.
  EXPECT_EQ(protocol::quote_json_values(R"({"value":"{\"a\":1}","metadata":null})"), R"({"value":"{\"a\":1}","metadata":null})");
  EXPECT_EQ(protocol::quote_json_values(R"({"v\u0061lue":{"a":"x\"y"}})"), R"({"v\u0061lue":"{\"a\":\"x\\\"y\"}"})");
  EXPECT_EQ(protocol::quote_json_values(R"({"metadata":[1, 2],"x":"value","value":7})"),
            R"({"metadata":"[1, 2]","x":"value","value":"7"})");
  EXPECT_EQ(protocol::quote_json_values("{\"value\":{\"a\":\"\\n\"}\n}"), "{\"value\":\"{\\\"a\\\":\\\"\\\\n\\\"}\"\n}");
}

TEST(JsonValues, SpliceIsTheExactInverseForValidText) {
  for (size_t depth : {2, 3, 32, 40}) {
    std::string value = awkward_value(depth);
    std::string in = "{\"account\":{\"id\":\"x\",\"metadata\":" + value + "}}";
    std::string quoted = protocol::quote_json_values(in);
    EXPECT_EQ(protocol::splice_json_values(quoted), in) << depth;
  }
  // "" (never written) reads as {}; a string that is not JSON text stays a string.
  EXPECT_EQ(protocol::splice_json_values(R"({"value":"","metadata":"not json"})"), R"({"value":{},"metadata":"not json"})");
  EXPECT_EQ(protocol::splice_json_values(R"({"value":"","metadata":"{}"})", protocol::EmptyJsonValue::string),
            R"({"value":"","metadata":{}})");
}

TEST(JsonValues, EnvelopeRoundTripKeepsValuesByteExactInBothEncodings) {
  const std::string value = awkward_value(32);
  std::string json = R"({"cid":7,"apiRequest":{"storageWrite":{"objects":[{"collection":"c","key":"k","value":)" + value +
                     "}]}}}";
  v1::Envelope e;
  std::string why;
  ASSERT_TRUE(protocol::decode(json, Encoding::json, e, 32, &why)) << why;
  EXPECT_EQ(e.api_request().storage_write().objects(0).value(), value);  // the text, byte for byte
  v1::Envelope back;
  ASSERT_TRUE(protocol::decode(protocol::encode(e, Encoding::binary), Encoding::binary, back));
  EXPECT_EQ(back.api_request().storage_write().objects(0).value(), value);

  v1::Envelope reply;
  reply.set_cid(7);
  auto* o = reply.mutable_api_response()->mutable_storage_objects()->add_objects();
  o->set_collection("c");
  o->set_value(value);
  std::string printed = protocol::encode(reply, Encoding::json);
  EXPECT_NE(printed.find("\"value\":" + value), std::string::npos) << printed;
  v1::Envelope reread;
  ASSERT_TRUE(protocol::decode(printed, Encoding::json, reread, 32, &why)) << why;
  EXPECT_EQ(reread.api_response().storage_objects().objects(0).value(), value);
}

TEST(JsonValues, DocumentDepthIsTheValueLimitPlusTheProtocolWrapping) {
  v1::Envelope e;
  std::string why;
  std::string at_limit = "{\"ping\":{}," + std::string("\"x\":") + std::string(39, '[') + std::string(39, ']') + "}";
  EXPECT_TRUE(protocol::decode(at_limit, Encoding::json, e, 32, &why)) << why;  // 40 = 32 + 8
  std::string deeper = "{\"ping\":{}," + std::string("\"x\":") + std::string(40, '[') + std::string(40, ']') + "}";
  EXPECT_FALSE(protocol::decode(deeper, Encoding::json, e, 32, &why));
  EXPECT_EQ(why, "nested deeper than the depth limit at byte 54");
  // Issue 9 kind 2: 64 KB of '[' is refused at the limit, before protobuf sees it.
  std::string hostile = "{\"a\":" + std::string(64 * 1024 - 5, '[');
  EXPECT_FALSE(protocol::decode(hostile, Encoding::json, e, 32, &why));
  EXPECT_EQ(why, "nested deeper than the depth limit at byte 44");
  // Raw NUL inside a string (issue 9 kind 8).
  EXPECT_FALSE(protocol::decode(std::string("{\"hello\":{\"name\":\"a\0b\"}}", 25), Encoding::json, e, 32, &why));
  EXPECT_EQ(why, "raw control character in a string (escape it) at byte 19");
}
