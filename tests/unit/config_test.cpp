#include <craft/config_loader.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using craft::load_config;
using craft::LoadResult;
using craft::to_toml;

namespace {

namespace fs = std::filesystem;

// One directory per test process, made by each file and removed with the last one.
fs::path temp_dir() { return fs::temp_directory_path() / ("craft-config-test-" + std::to_string(::getpid())); }

struct TempToml {
  fs::path path;
  explicit TempToml(const std::string& text) {
    static int counter = 0;
    fs::create_directories(temp_dir());
    path = temp_dir() / (std::string("c").append(std::to_string(counter++)).append(".toml"));
    std::ofstream(path) << text;
  }
  ~TempToml() {
    std::error_code ec;
    fs::remove(path, ec);
    if (fs::is_empty(temp_dir(), ec)) fs::remove(temp_dir(), ec);
  }
  TempToml(const TempToml&) = delete;
  TempToml& operator=(const TempToml&) = delete;
};

LoadResult load(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), "craftd");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  return load_config(static_cast<int>(argv.size()), argv.data(), env);
}

LoadResult load_file(const std::string& toml) {
  TempToml file(toml);
  return load({"--config", file.path.string()});
}

// The error is exit 2 and its message names `what`.
void expect_error(const LoadResult& r, const std::string& what) {
  EXPECT_TRUE(r.exit_now);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find(what), std::string::npos) << "expected '" << what << "' in: " << r.output;
}

}  // namespace

TEST(Config, DefaultsWithoutAnything) {
  auto r = load({});
  ASSERT_FALSE(r.exit_now) << r.output;
  EXPECT_EQ(r.config.http_port, 7777);
  EXPECT_EQ(r.config.tcp_port, 7778);
  EXPECT_EQ(r.config.limits.max_message_size, 64u * 1024);
  EXPECT_EQ(r.config.rooms.tick_rate_hz, 20u);
  EXPECT_EQ(r.config.listen_address, "127.0.0.1");
  EXPECT_EQ(to_toml(r.config), to_toml(craft::ServerConfig{}));
}

TEST(Config, EachLayerOverridesTheOneBefore) {
  TempToml file("[server]\nhttp_port = 1000\n");
  std::map<std::string, std::string> env{{"CRAFT_SERVER_HTTP_PORT", "2000"}};
  EXPECT_EQ(load({"--config", file.path.string()}).config.http_port, 1000);
  EXPECT_EQ(load({"--config", file.path.string()}, env).config.http_port, 2000);
  EXPECT_EQ(load({"--config", file.path.string(), "--server.http-port", "3000"}, env).config.http_port, 3000);
  EXPECT_EQ(load({"--http-port", "3001"}, env).config.http_port, 3001);
  EXPECT_EQ(load({}, env).config.http_port, 2000);
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
  EXPECT_EQ(r.config.tcp_port, 7778);                   // default
}

TEST(Config, ShortAliases) {
  auto r = load({"--http-port", "0", "--tcp-port", "0", "--shards", "2", "--listen", "0.0.0.0", "--static-dir", "web",
                 "--log-level", "debug"});
  ASSERT_FALSE(r.exit_now) << r.output;
  EXPECT_EQ(r.config.http_port, 0);
  EXPECT_EQ(r.config.tcp_port, 0);
  EXPECT_EQ(r.config.shards, 2u);
  EXPECT_EQ(r.config.listen_address, "0.0.0.0");
  EXPECT_EQ(r.config.static_dir, "web");
  EXPECT_EQ(r.config.log_level, "debug");
}

TEST(Config, RepeatedFlagTakesTheLast) {
  auto r = load({"--http-port", "1", "--server.http-port", "2"});
  ASSERT_FALSE(r.exit_now) << r.output;
  EXPECT_EQ(r.config.http_port, 2);
}

TEST(Config, BooleansFromEveryLayer) {
  EXPECT_FALSE(load_file("[server]\ntcp_enabled = false\n").config.tcp_enabled);
  EXPECT_FALSE(load({}, {{"CRAFT_SERVER_TCP_ENABLED", "0"}}).config.tcp_enabled);
  EXPECT_TRUE(load({"--server.tcp-enabled", "true"}, {{"CRAFT_SERVER_TCP_ENABLED", "false"}}).config.tcp_enabled);
  expect_error(load({}, {{"CRAFT_SERVER_TCP_ENABLED", "yes"}}), "CRAFT_SERVER_TCP_ENABLED: expected true or false");
}

TEST(Config, FloatsAndWholeNumbers) {
  auto r = load_file("[limits]\nmessages_per_second = 12.25\nmessage_burst = 30.0\n");
  ASSERT_FALSE(r.exit_now) << r.output;
  EXPECT_DOUBLE_EQ(r.config.limits.messages_per_second, 12.25);
  EXPECT_EQ(r.config.limits.message_burst, 30u);
  EXPECT_DOUBLE_EQ(load_file("[limits]\nmessages_per_second = 5\n").config.limits.messages_per_second, 5.0);
  expect_error(load_file("[limits]\nmessage_burst = 2.5\n"), "limits.message_burst: expected a whole number");
  expect_error(load({"--shards", "1.5"}), "--server.shards: expected a whole number, got '1.5'");
}

TEST(Config, UnknownKeyIsAnErrorNamingIt) {
  expect_error(load_file("[limits]\nmax_mesage_size = 10\n"), "limits.max_mesage_size: unknown key");
  expect_error(load_file("[server]\nmax_message_size = 10\n"), "server.max_message_size: unknown key");
}

TEST(Config, UnknownSectionAndKeysOutsideSectionsAreErrors) {
  expect_error(load_file("[limit]\n"), "[limit]: unknown section");
  expect_error(load_file("http_port = 80\n"), "'http_port' is outside a section");
}

TEST(Config, WrongTypesInTheFileAreErrorsNamingTheKey) {
  expect_error(load_file("[server]\nhttp_port = \"eighty\"\n"), "server.http_port: expected a whole number, got string");
  expect_error(load_file("[server]\nlisten_address = 127\n"), "server.listen_address: expected a string, got integer");
  expect_error(load_file("[server]\ntcp_enabled = 1\n"), "server.tcp_enabled: expected true or false, got integer");
  expect_error(load_file("[server]\nshards = [1]\n"), "server.shards: expected a whole number, got array");
  expect_error(load_file("[limits]\nmessages_per_second = true\n"),
               "limits.messages_per_second: expected a number, got boolean");
}

TEST(Config, OutOfRangeValuesAreErrorsInEveryLayer) {
  expect_error(load({"--rooms.tick-rate-hz", "241"}), "--rooms.tick-rate-hz: must be between 1 and 240, got 241");
  expect_error(load({"--rooms.tick-rate-hz", "0"}), "--rooms.tick-rate-hz: must be between 1 and 240, got 0");
  expect_error(load_file("[rooms]\ntick_rate_hz = 0\n"), "rooms.tick_rate_hz: must be between 1 and 240, got 0");
  expect_error(load({}, {{"CRAFT_ROOMS_TICK_RATE_HZ", "500"}}), "CRAFT_ROOMS_TICK_RATE_HZ: must be between 1 and 240");
  expect_error(load({"--shards", "257"}), "--server.shards: must be between 0 and 256, got 257");
  expect_error(load({"--auth.session-policy", "one"}), "expected allow_many, replace or refuse, got 'one'");
  EXPECT_EQ(load({"--auth.session-policy", "replace"}).config.auth.session_policy, "replace");
  expect_error(load({"--session.replay-buffer-bytes", "1023"}), "--session.replay-buffer-bytes: must be between 1024");
  expect_error(load_file("[session]\nresume_window_ms = 86400001\n"), "session.resume_window_ms: must be between 0");
  expect_error(load({"--limits.server-ping-timeout-ms", "0"}), "--limits.server-ping-timeout-ms: must be between 1");
  EXPECT_EQ(load({"--shards", "256"}).config.shards, 256u);
  expect_error(load({}, {{"CRAFT_LIMITS_MAX_MESSAGE_SIZE", "0"}}), "CRAFT_LIMITS_MAX_MESSAGE_SIZE: must be between");
  expect_error(load_file("[limits]\nmax_message_size = 0\n"), "limits.max_message_size: must be between 16");
  expect_error(load({"--http-port", "65536"}), "--server.http-port: must be between 0 and 65535, got 65536");
  expect_error(load({"--http-port", "-1"}), "--server.http-port: must be between 0 and 65535, got -1");
  expect_error(load_file("[server]\ntcp_port = -5\n"), "server.tcp_port: must be between 0 and 65535, got -5");
  expect_error(load({"--limits.max-connections", "1e30"}), "--limits.max-connections: must be between");
  expect_error(load({"--limits.messages-per-second", "0"}), "--limits.messages-per-second: must be between 0.001");
}

TEST(Config, TextThatIsNotANumberIsAnError) {
  for (auto bad : {"nan", "inf", "12abc", "", " 5", "0x10", "ten"}) {
    expect_error(load({}, {{"CRAFT_LIMITS_MESSAGES_PER_SECOND", bad}}),
                 "CRAFT_LIMITS_MESSAGES_PER_SECOND: expected a number, got '" + std::string(bad) + "'");
  }
}

TEST(Config, StringValuesAreChecked) {
  expect_error(load({"--log-level", "verbose"}), "--server.log-level: expected trace, debug, info");
  expect_error(load_file("[server]\nlog_level = \"loud\"\n"), "server.log_level: expected trace");
  expect_error(load({"--listen", ""}), "--server.listen-address: must not be empty");
  for (auto level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    EXPECT_EQ(load({"--log-level", level}).config.log_level, level);
  }
}

TEST(Config, UnknownCraftEnvironmentVariablesAreErrorsOthersIgnored) {
  expect_error(load({}, {{"CRAFT_LIMITS_MAX_MESAGE_SIZE", "10"}}), "CRAFT_LIMITS_MAX_MESAGE_SIZE: unknown environment");
  auto r = load({}, {{"CRAFT_PG_BIN", "/x"}, {"HOME", "/root"}, {"craft_limits_max_message_size", "1"}});
  ASSERT_FALSE(r.exit_now) << r.output;
  EXPECT_EQ(r.config.limits.max_message_size, 64u * 1024);
}

TEST(Config, FileProblemsAreErrors) {
  expect_error(load({"--config", (temp_dir() / "missing.toml").string()}), "missing.toml: cannot open the config file");
  expect_error(load_file("[server]\nhttp_port = 1\n[limits\n"), ":3:");  // line of the syntax error
  expect_error(load({"--config"}), "--config");
}

TEST(Config, UnknownFlagsAndArgumentsAreErrors) {
  expect_error(load({"--limits.max-mesage-size", "5"}), "--limits.max-mesage-size");
  expect_error(load({"serve"}), "serve");
}

TEST(Config, HelpListsEveryOptionWithDefaultDescriptionAndEnv) {
  auto r = load({"--help"});
  EXPECT_TRUE(r.exit_now);
  EXPECT_EQ(r.exit_code, 0);
  // Every key printed by --print-config has a flag and an environment variable in --help.
  std::istringstream keys(to_toml(craft::ServerConfig{}));
  std::string line, section;
  int options = 0;
  while (std::getline(keys, line)) {
    if (line.starts_with("[")) section = line.substr(1, line.size() - 2);
    if (line.empty() || line[0] == '#' || line[0] == '[') continue;
    std::string name = line.substr(0, line.find(' '));
    std::string flag = "--" + section + "." + name, env = "CRAFT_" + section + "_" + name;
    std::replace(flag.begin(), flag.end(), '_', '-');
    std::transform(env.begin(), env.end(), env.begin(), [](unsigned char c) { return char(std::toupper(c)); });
    bool listed = r.output.find("  " + flag + " ") != std::string::npos ||
                  r.output.find("  " + flag + ",") != std::string::npos;
    EXPECT_TRUE(listed) << flag;
    EXPECT_NE(r.output.find("env " + env + ")"), std::string::npos) << env;
    ++options;
  }
  EXPECT_EQ(options, 98);  // 46 + server.trusted_proxies, limits.max_forwarded_hops, tls.cert_file, tls.key_file,
                          // limits.max_refusals_per_ip, server.metrics_allow, ..., rooms.max_filter_conditions, matchmaker.late_joins,
                          // replication.baseline_window, client_bytes_per_second, max_queued_bytes,
                          // cluster.redis_url, node_id, advertise, heartbeat_ms, node_ttl_ms, max_pending_commands,
                          // max_message_bytes, max_pending_requests, server.drain_on_sigterm, drain_timeout_ms,
                          // cluster.directory_flush_ms, max_room_entry_bytes,
                          // seat_request_timeout_ms, max_pending_seat_requests, matcher_lease_ms, max_ticket_record_bytes,
                          // server.coalesce_us, limits.max_hello_bytes, server.memory_trim_interval_ms,
                          // server.memory_trim_free_bytes
  for (auto alias : {"--listen", "--http-port", "--tcp-port", "--shards", "--static-dir", "--log-level", "--config",
                     "--print-config"}) {
    EXPECT_NE(r.output.find(alias), std::string::npos) << alias;
  }
  EXPECT_NE(r.output.find("bytes in one message (frame or reassembled) (default 65536; range 16-67108864; "
                          "env CRAFT_LIMITS_MAX_MESSAGE_SIZE)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("default room tick rate (default 20; range 1-240"), std::string::npos);
}

TEST(Config, PrintConfigReadsBackToTheSameValues) {
  auto first = load({"--print-config", "--shards", "5", "--limits.messages-per-second", "12.3456789", "--static-dir",
                     "/tmp/it's \"quoted\" \\ here", "--server.tcp-enabled", "false", "--listen", "::1",
                     "--rooms.tick-rate-hz", "240", "--limits.max-message-size", "16", "--log-level", "warn"});
  ASSERT_TRUE(first.exit_now);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  TempToml file(first.output);
  auto second = load({"--config", file.path.string()});
  ASSERT_FALSE(second.exit_now) << second.output;
  EXPECT_EQ(second.config.shards, 5u);
  EXPECT_EQ(second.config.limits.messages_per_second, 12.3456789);  // exact: no digits lost
  EXPECT_EQ(second.config.static_dir, "/tmp/it's \"quoted\" \\ here");
  EXPECT_FALSE(second.config.tcp_enabled);
  EXPECT_EQ(second.config.listen_address, "::1");
  EXPECT_EQ(second.config.rooms.tick_rate_hz, 240u);
  EXPECT_EQ(second.config.limits.max_message_size, 16u);
  EXPECT_EQ(to_toml(second.config), first.output);
}

TEST(Config, PrintConfigReportsErrorsInstead) {
  expect_error(load({"--print-config", "--shards", "1000"}), "--server.shards");
}

TEST(Config, ExampleFileHoldsTheDefaults) {
  // CRAFT_SOURCE_DIR comes from CMake: __FILE__ is relative under ccache's base_dir, which
  // made this test skip itself whenever it was not run from the build directory.
  auto example = fs::path(CRAFT_SOURCE_DIR) / "apps/craftd/craftd.example.toml";
  ASSERT_TRUE(fs::exists(example)) << example;
  auto r = load({"--config", example.string()});
  ASSERT_FALSE(r.exit_now) << r.output;
  craft::ServerConfig craftd_defaults;  // craftd's: apps/craftd/main.cpp keeps accounts in craft.db
  craftd_defaults.store.sqlite_path = "craft.db";
  EXPECT_EQ(to_toml(r.config), to_toml(craftd_defaults));
}

TEST(Config, MemoryTrimDefaultsAndItsIntervalFloor) {
  craft::ServerConfig defaults;
  EXPECT_EQ(defaults.memory_trim_interval_ms, 10'000u);
  EXPECT_EQ(defaults.memory_trim_free_bytes, 16u * 1024 * 1024);
  auto off = load({"--server.memory-trim-interval-ms", "0"});
  ASSERT_FALSE(off.exit_now) << off.output;
  EXPECT_EQ(off.config.memory_trim_interval_ms, 0u);
  auto floor = load({"--server.memory-trim-interval-ms", "100"});
  ASSERT_FALSE(floor.exit_now) << floor.output;
  EXPECT_EQ(floor.config.memory_trim_interval_ms, 100u);
  // A check can cost milliseconds of shard 0: a tighter loop is refused, from any source.
  expect_error(load({"--server.memory-trim-interval-ms", "1"}), "must be 0 (off) or at least 100");
  expect_error(load({}, {{"CRAFT_SERVER_MEMORY_TRIM_INTERVAL_MS", "99"}}), "must be 0 (off) or at least 100");
}

TEST(Config, StoreAndAuthSectionsAreCheckedLikeTheRest) {
  auto r = load({"--store.backend", "postgres", "--store.postgres-url", "postgresql://u@127.0.0.1:5/db",
                 "--auth.require", "true", "--auth.token-key", std::string(64, 'a')},
                {{"CRAFT_STORE_SQLITE_PATH", ":memory:"}, {"CRAFT_AUTH_IP_ATTEMPTS_PER_MINUTE", "5"}});
  ASSERT_FALSE(r.exit_now) << r.output;
  EXPECT_EQ(r.config.store.backend, "postgres");
  EXPECT_EQ(r.config.store.postgres_url, "postgresql://u@127.0.0.1:5/db");
  EXPECT_EQ(r.config.store.sqlite_path, ":memory:");
  EXPECT_TRUE(r.config.auth.require);
  EXPECT_EQ(r.config.auth.ip_attempts_per_minute, 5);
  expect_error(load({"--store.backend", "mysql"}), "expected sqlite, postgres or none");
  expect_error(load({"--auth.token-key", "abc"}), "expected 64 hex characters");
  expect_error(load({"--auth.password-cost", "cheap"}), "expected interactive, moderate or minimum");
  expect_error(load({"--store.workers", "0"}), "--store.workers");
  expect_error(load({"--limits.max-http-body-bytes", "10"}), "--limits.max-http-body-bytes");
}

TEST(Config, PendingQueueBytesHasADefaultAndARange) {
  EXPECT_EQ(craft::ServerConfig{}.limits.pending_queue_bytes, 256u * 1024);
  auto r = load({"--limits.pending-queue-bytes", "4096"});
  ASSERT_FALSE(r.exit_now) << r.output;
  EXPECT_EQ(r.config.limits.pending_queue_bytes, 4096u);
  expect_error(load({"--limits.pending-queue-bytes", "100"}), "--limits.pending-queue-bytes");
}

TEST(Config, TlsFilesFromEveryLayerAndPrintConfigRoundTrip) {
  auto r = load({"--tls.cert-file", "/etc/craft/cert.pem"}, {{"CRAFT_TLS_KEY_FILE", "/etc/craft/key.pem"}});
  ASSERT_FALSE(r.exit_now) << r.output;
  EXPECT_EQ(r.config.tls.cert_file, "/etc/craft/cert.pem");
  EXPECT_EQ(r.config.tls.key_file, "/etc/craft/key.pem");
  EXPECT_TRUE(r.config.tls.enabled());
  EXPECT_FALSE(craft::ServerConfig{}.tls.enabled());
  auto printed = load({"--print-config", "--tls.cert-file", "/a b/c.pem", "--tls.key-file", "k.pem"});
  ASSERT_EQ(printed.exit_code, 0) << printed.output;
  EXPECT_NE(printed.output.find("[tls]\n"), std::string::npos);
  TempToml file(printed.output);
  auto back = load({"--config", file.path.string()});
  ASSERT_FALSE(back.exit_now) << back.output;
  EXPECT_EQ(back.config.tls.cert_file, "/a b/c.pem");
  EXPECT_EQ(back.config.tls.key_file, "k.pem");
  expect_error(load({}, {{"CRAFT_TLS_CERT", "x"}}), "CRAFT_TLS_CERT");
}
