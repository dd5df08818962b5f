#include "config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using craft::craftd::load_config;

namespace {

struct TempToml {
  std::filesystem::path path;
  explicit TempToml(const std::string& text) {
    path = std::filesystem::temp_directory_path() / ("craft-config-test-" + std::to_string(::getpid()) + "-" +
                                                     std::to_string(counter()++) + ".toml");
    std::ofstream(path) << text;
  }
  ~TempToml() { std::filesystem::remove(path); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

craft::craftd::LoadResult load(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), "craftd");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  return load_config(static_cast<int>(argv.size()), argv.data(), env);
}

}  // namespace

TEST(Config, DefaultsWithoutAnything) {
  auto r = load({});
  ASSERT_FALSE(r.exit_now) << r.output;
  EXPECT_EQ(r.config.http_port, 7777);
  EXPECT_EQ(r.config.limits.max_message_size, 64u * 1024);
  EXPECT_EQ(r.config.listen_address, "127.0.0.1");
}

TEST(Config, FileThenEnvironmentThenFlags) {
  TempToml file("[server]\nhttp_port = 9001\nshards = 3\n[limits]\nmax_message_size = 2048\nidle_timeout_ms = 1000\n"
                "[rooms]\nchat_history = 7\n");
  auto r = load({"--config", file.path.string(), "--limits.idle-timeout-ms", "3000"},
                {{"CRAFT_LIMITS_MAX_MESSAGE_SIZE", "4096"}, {"CRAFT_LIMITS_IDLE_TIMEOUT_MS", "2000"}});
  ASSERT_FALSE(r.exit_now) << r.output;
  EXPECT_EQ(r.config.http_port, 9001);                  // file
  EXPECT_EQ(r.config.shards, 3u);                       // file
  EXPECT_EQ(r.config.rooms.chat_history, 7u);           // file
  EXPECT_EQ(r.config.limits.max_message_size, 4096u);   // env over file
  EXPECT_EQ(r.config.limits.idle_timeout_ms, 3000u);    // flag over env
}

TEST(Config, ShortAliases) {
  auto r = load({"--http-port", "0", "--tcp-port", "0", "--shards", "2", "--listen", "0.0.0.0"});
  ASSERT_FALSE(r.exit_now) << r.output;
  EXPECT_EQ(r.config.http_port, 0);
  EXPECT_EQ(r.config.shards, 2u);
  EXPECT_EQ(r.config.listen_address, "0.0.0.0");
}

TEST(Config, UnknownKeyIsAnErrorNamingIt) {
  TempToml file("[limits]\nmax_mesage_size = 10\n");
  auto r = load({"--config", file.path.string()});
  EXPECT_TRUE(r.exit_now);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("limits.max_mesage_size: unknown key"), std::string::npos) << r.output;
}

TEST(Config, WrongTypeAndRangeAreErrors) {
  TempToml wrong_type("[server]\nhttp_port = \"eighty\"\n");
  auto r = load({"--config", wrong_type.path.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("server.http_port"), std::string::npos) << r.output;

  r = load({"--rooms.tick-rate-hz", "241"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("between 1 and 240"), std::string::npos) << r.output;

  r = load({}, {{"CRAFT_LIMITS_MAX_MESSAGE_SIZE", "0"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("CRAFT_LIMITS_MAX_MESSAGE_SIZE"), std::string::npos) << r.output;

  r = load({"--shards", "1.5"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("whole number"), std::string::npos) << r.output;
}

TEST(Config, BadTomlSyntaxIsAnError) {
  TempToml file("[limits\n");
  auto r = load({"--config", file.path.string()});
  EXPECT_EQ(r.exit_code, 2);
}

TEST(Config, HelpListsEveryLimitWithItsDefault) {
  auto r = load({"--help"});
  EXPECT_TRUE(r.exit_now);
  EXPECT_EQ(r.exit_code, 0);
  for (auto flag : {"--limits.max-message-size", "--limits.max-rooms-per-session", "--limits.messages-per-second",
                    "--limits.handshake-timeout-ms", "--limits.idle-timeout-ms", "--limits.max-connections",
                    "--limits.max-connections-per-ip", "--limits.send-queue-bytes", "--rooms.tick-rate-hz"}) {
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag;
  }
  EXPECT_NE(r.output.find("default 65536"), std::string::npos);
}

TEST(Config, PrintConfigReadsBackToTheSameValues) {
  auto first = load({"--print-config", "--shards", "5", "--limits.messages-per-second", "12.5",
                     "--static-dir", "/tmp/x y", "--server.tcp-enabled", "false"});
  ASSERT_TRUE(first.exit_now);
  TempToml file(first.output);
  auto second = load({"--config", file.path.string()});
  ASSERT_FALSE(second.exit_now) << second.output;
  EXPECT_EQ(second.config.shards, 5u);
  EXPECT_DOUBLE_EQ(second.config.limits.messages_per_second, 12.5);
  EXPECT_EQ(second.config.static_dir, "/tmp/x y");
  EXPECT_FALSE(second.config.tcp_enabled);
}
