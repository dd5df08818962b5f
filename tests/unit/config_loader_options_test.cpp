// craft::load_config as a game's own binary uses it (LoadOptions), and the defaults of an
// embedded server.
#include <craft/config_loader.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace {

craft::LoadResult load(std::vector<std::string> args, const craft::LoadOptions& options,
                       std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), options.program);
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  return craft::load_config(static_cast<int>(argv.size()), argv.data(), env, options);
}

TEST(ConfigLoaderOptions, EmbeddedDefaultsWriteNothingToDisk) {
  EXPECT_EQ(craft::ServerConfig{}.store.backend, "sqlite");
  EXPECT_EQ(craft::ServerConfig{}.store.sqlite_path, ":memory:");
  auto r = load({}, craft::LoadOptions{});
  ASSERT_FALSE(r.exit_now) << r.output;
  EXPECT_EQ(r.config.store.sqlite_path, ":memory:");
}

TEST(ConfigLoaderOptions, DefaultsComeFirstAndShowInHelp) {
  craft::LoadOptions options;
  options.program = "tally-server";
  options.defaults.store.sqlite_path = "tally.db";
  options.defaults.http_port = 9000;
  auto r = load({}, options);
  ASSERT_FALSE(r.exit_now) << r.output;
  EXPECT_EQ(r.config.store.sqlite_path, "tally.db");
  EXPECT_EQ(r.config.http_port, 9000);
  // Environment and flags still win over the defaults.
  r = load({"--http-port", "9001"}, options, {{"CRAFT_STORE_SQLITE_PATH", "other.db"}});
  ASSERT_FALSE(r.exit_now) << r.output;
  EXPECT_EQ(r.config.store.sqlite_path, "other.db");
  EXPECT_EQ(r.config.http_port, 9001);

  auto help = load({"--help"}, options);
  EXPECT_TRUE(help.exit_now);
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_EQ(help.output.rfind("tally-server: a game server built on craft.", 0), 0u) << help.output;
  EXPECT_NE(help.output.find("(default tally.db;"), std::string::npos) << help.output;
  EXPECT_NE(help.output.find("(default 9000;"), std::string::npos) << help.output;
  EXPECT_EQ(help.output.find("craftd"), std::string::npos) << "another program's name in: " << help.output;
}

TEST(ConfigLoaderOptions, ErrorsNameTheProgram) {
  craft::LoadOptions options;
  options.program = "tally-server";
  auto r = load({"--no-such-flag"}, options);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output.rfind("tally-server: ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("see tally-server --help"), std::string::npos) << r.output;
  r = load({"--shards", "1000"}, options);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output.rfind("tally-server: --server.shards", 0), 0u) << r.output;
}

TEST(ConfigLoaderOptions, ProcessEnvironmentIsRead) {
  ::setenv("CRAFT_ROOMS_MAX_CLIENTS", "17", 1);
  ::setenv("NOT_CRAFT_ROOMS_MAX_CLIENTS", "18", 1);
  auto env = craft::craft_environment();
  EXPECT_EQ(env.at("CRAFT_ROOMS_MAX_CLIENTS"), "17");
  EXPECT_FALSE(env.contains("NOT_CRAFT_ROOMS_MAX_CLIENTS"));
  const char* argv[] = {"game"};
  auto r = craft::load_config(1, argv);
  ::unsetenv("CRAFT_ROOMS_MAX_CLIENTS");
  ::unsetenv("NOT_CRAFT_ROOMS_MAX_CLIENTS");
  ASSERT_FALSE(r.exit_now) << r.output;
  EXPECT_EQ(r.config.rooms.max_clients, 17u);
}

}  // namespace
