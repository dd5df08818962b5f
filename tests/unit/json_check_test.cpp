// protocol::check_json: the strict RFC 8259 check run before any parser sees client JSON and
// on every stored JSON value (docs/security.md, limits.max_json_depth).
#include "protocol/json_check.hpp"

#include <gtest/gtest.h>

#include <string>

using craft::protocol::check_json;

namespace {

std::string nested(size_t depth, std::string_view inner = "") {
  return "{\"a\":" + std::string(depth - 1, '[') + std::string(inner) + std::string(depth - 1, ']') + "}";
}

bool ok(std::string_view text, uint32_t depth = 32) { return check_json(text, depth).ok; }

}  // namespace

TEST(JsonCheck, AcceptsRfc8259Documents) {
  for (std::string_view doc :
       {"{}", "[]", "0", "-0", "1.5e-3", "12345678901234567890", "1e400", "-0.0E+0", "true", "false", "null",
        "\"\"", " {\"a\" : [1, 2.5, {\"b\": null}], \"c\": \"x\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"}\r\n",
        "\"\\ud83d\\ude00\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "\"\x7f\"", "[[],{}]"})
    EXPECT_TRUE(ok(doc)) << doc;
}

TEST(JsonCheck, RefusesEverythingElseWithAnOffset) {
  struct Case {
    std::string doc;
    size_t offset;
  };
  const Case cases[] = {
      {"", 0}, {"   ", 3}, {"{", 1}, {"[1,]", 3}, {"{\"a\":1,}", 7}, {"{\"a\" 1}", 5}, {"{a:1}", 1},
      {"[1 2]", 3}, {"{} {}", 3}, {"{}x", 2}, {"01", 1}, {"-", 1}, {"1.", 2}, {"1e", 2}, {".5", 0}, {"+1", 0},
      {"NaN", 0}, {"Infinity", 0}, {"tru", 0}, {"nul", 0}, {"'a'", 0},
      {std::string("\"a\0b\"", 5), 2},                        // raw NUL
      {"\"a\x01\"", 2}, {"\"tab\there\"", 4}, {"\"line\n\"", 5},  // raw control characters
      {"\"\\x\"", 1}, {"\"\\u12\"", 1}, {"\"\\ud83d\"", 1}, {"\"\\ude00\"", 1}, {"\"\\ud83d\\u0041\"", 1},
      {"\"\xff\"", 1}, {"\"\xc0\xaf\"", 1}, {"\"\xed\xa0\x80\"", 1}, {"\"\xf4\x90\x80\x80\"", 1},
      {"\"\xe2\x82\"", 1}, {"\"abc", 4}, {"[\"a\"\xc3\xa9]", 4},
  };
  for (const auto& c : cases) {
    auto r = check_json(c.doc, 32);
    EXPECT_FALSE(r.ok) << c.doc;
    EXPECT_EQ(r.offset, c.offset) << c.doc << ": " << r.error;
    EXPECT_NE(std::string(r.error), "") << c.doc;
  }
}

TEST(JsonCheck, DepthLimitIsExact) {
  EXPECT_TRUE(ok(nested(32)));
  auto deeper = check_json(nested(33), 32);
  EXPECT_FALSE(deeper.ok);
  EXPECT_EQ(deeper.offset, 5u + 31u);  // the 33rd opening bracket
  EXPECT_STREQ(deeper.error, "nested deeper than the depth limit");
  EXPECT_TRUE(ok("[]", 1));
  EXPECT_FALSE(ok("[[]]", 1));
  EXPECT_TRUE(ok("1", 0));  // a scalar has no nesting
  EXPECT_FALSE(ok("[]", 0));
  // Siblings do not add up: depth is nesting, not count.
  std::string wide = "[";
  for (int i = 0; i < 1000; ++i) wide += "[[]],";
  wide += "[]]";
  EXPECT_TRUE(ok(wide, 3));
  // Deep but closed documents at the supported maximum.
  EXPECT_TRUE(ok(std::string(1024, '[') + std::string(1024, ']'), 5000));
  EXPECT_FALSE(ok(std::string(1025, '[') + std::string(1025, ']'), 5000));
}

TEST(JsonCheck, ReportsTheTopLevelKind) {
  EXPECT_EQ(check_json(" {\"a\":1}", 32).top, '{');
  EXPECT_EQ(check_json("[1]", 32).top, '[');
  EXPECT_EQ(check_json("\"s\"", 32).top, '"');
  EXPECT_EQ(check_json("-1", 32).top, '-');
}

TEST(JsonCheck, HostileNestingIsRefusedAtTheLimitNotAfterTheWholeInput) {
  // 64 KB of '[' (issue 9 kind 2): refused at the 33rd bracket.
  std::string body = "{\"a\":" + std::string(64 * 1024 - 5, '[');
  auto r = check_json(body, 32);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.offset, 5u + 31u);
  // Unclosed nesting within the limit is "unterminated", at the end.
  auto open = check_json(std::string(20, '['), 32);
  EXPECT_FALSE(open.ok);
  EXPECT_EQ(open.offset, 20u);
}

#include <craft/config_loader.hpp>

#include <map>
#include <vector>

// limits.max_json_depth: a named option with a default of 32 and a range the checker follows.
TEST(JsonCheck, MaxJsonDepthIsAConfigOption) {
  auto load = [](std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), "craftd");
    std::vector<const char*> argv;
    for (auto& a : args) argv.push_back(a.c_str());
    return craft::load_config(static_cast<int>(argv.size()), argv.data(), env);
  };
  auto defaults = load({});
  ASSERT_FALSE(defaults.exit_now) << defaults.output;
  EXPECT_EQ(defaults.config.limits.max_json_depth, 32u);
  EXPECT_EQ(defaults.config.limits.max_json_depth, craft::protocol::default_max_json_depth);
  // + json_wrapping_depth for whole documents must stay within what the checker follows.
  EXPECT_EQ(load({"--limits.max-json-depth", "1016"}).config.limits.max_json_depth, 1016u);
  EXPECT_EQ(1016u + craft::protocol::json_wrapping_depth, craft::protocol::max_supported_json_depth);
  EXPECT_EQ(load({}, {{"CRAFT_LIMITS_MAX_JSON_DEPTH", "7"}}).config.limits.max_json_depth, 7u);
  auto too_deep = load({"--limits.max-json-depth", "1017"});
  EXPECT_TRUE(too_deep.exit_now);
  EXPECT_EQ(too_deep.exit_code, 2);
  auto zero = load({"--limits.max-json-depth", "0"});
  EXPECT_EQ(zero.exit_code, 2);
}
