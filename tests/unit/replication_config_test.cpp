// The [replication] options (docs/protocol.md §5.3, docs/security.md): defaults, ranges, and
// every way of setting them (TOML, environment, flags) reaches ServerConfig::replication.
#include <craft/config.hpp>
#include <craft/config_loader.hpp>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace {

craft::LoadResult load(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), "craftd");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  return craft::load_config(static_cast<int>(argv.size()), argv.data(), env);
}

}  // namespace

TEST(ReplicationConfig, DefaultsAreTheDocumentedOnes) {
  craft::ServerConfig c;
  EXPECT_EQ(c.replication.baseline_window, 32u);
  EXPECT_EQ(c.replication.client_bytes_per_second, 65536u);
  EXPECT_EQ(c.replication.max_queued_bytes, 65536u);
  EXPECT_LT(c.replication.max_queued_bytes, c.limits.send_queue_bytes)
      << "a slow reader must lose snapshots before it is closed with 4002";
}

TEST(ReplicationConfig, FlagsAndEnvironmentSetThemWithinTheirRanges) {
  auto r = load({"--replication.baseline-window", "256", "--replication.max-queued-bytes", "4096"},
                {{"CRAFT_REPLICATION_CLIENT_BYTES_PER_SECOND", "8000"}});
  ASSERT_FALSE(r.exit_now) << r.output;
  EXPECT_EQ(r.config.replication.baseline_window, 256u);
  EXPECT_EQ(r.config.replication.max_queued_bytes, 4096u);
  EXPECT_EQ(r.config.replication.client_bytes_per_second, 8000u);
  for (auto bad : std::vector<std::vector<std::string>>{{"--replication.baseline-window", "1"},
                                                        {"--replication.baseline-window", "257"},
                                                        {"--replication.max-queued-bytes", "100"},
                                                        {"--replication.client-bytes-per-second", "10"},
                                                        {"--replication.baseline-window", "2.5"}}) {
    auto refused = load(bad);
    EXPECT_TRUE(refused.exit_now) << bad[0] << " " << bad[1];
    EXPECT_EQ(refused.exit_code, 2);
    EXPECT_NE(refused.output.find(bad[0]), std::string::npos) << refused.output;
  }
}
