// /metrics is valid Prometheus text exposition, as Prometheus itself reads it: promtool
// (Debian's prometheus package) checks what a craftd with traffic serves, histograms filled.
// Without promtool the test skips on a developer's machine and fails under CI=true.
#include "helpers.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace craft::testing {
namespace {

std::string find_promtool() {
  if (const char* p = std::getenv("PROMTOOL"); p && *p) return p;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    auto end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    auto candidate = std::filesystem::path(dirs.substr(start, end - start)) / "promtool";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

// Runs `promtool check metrics` on `text`; returns its exit status and its output.
std::pair<int, std::string> promtool_check(const std::string& promtool, const std::string& text) {
  auto dir = std::filesystem::temp_directory_path() / ("craft-promtool-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto input = dir / "metrics.txt";
  std::ofstream(input, std::ios::binary) << text;
  std::string command = "'" + promtool + "' check metrics < '" + input.string() + "' 2>&1";
  std::string output;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return {-1, "popen failed"};
  char buf[4096];
  while (auto n = std::fread(buf, 1, sizeof buf, p)) output.append(buf, n);
  int status = ::pclose(p);
  std::filesystem::remove_all(dir);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace

TEST(MetricsExposition, PromtoolCheckMetricsAcceptsMetricsAfterTraffic) {
  auto promtool = find_promtool();
  if (promtool.empty()) {
    if (in_ci()) FAIL() << "promtool not found (Debian package prometheus; scripts/setup installs it)";
    GTEST_SKIP() << "promtool not found: apt-get install prometheus (this fails under CI=true)";
  }
  CraftdProcess server;
  // Traffic: sessions, a ticking room (the tick-lateness histogram), relayed data, an error,
  // HTTP requests good and bad.
  auto ann = hello(server, "ann");
  auto bob = hello(server, "bob");
  auto room = ann->create("movement2d").room_id();
  bob->join(room);
  auto relay = ann->create("relay").room_id();
  bob->join(relay);
  ann->send(relay, 1, "hi");
  ASSERT_TRUE(next_room_data(*bob).has_value());
  EXPECT_THROW(bob->join("no-such-room"), client::Error);
  EXPECT_NE(http_request(server.http_port(), "GET", "/no-such-page").find(" 404 "), std::string::npos);
  http_request(server.http_port(), "BREW", "nope");
  // Wait (on the condition, bounded only against a hang) until ticks were measured.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (server.metric("craft_tick_lateness_seconds_count") == 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no tick was ever measured";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  auto response = server.http_get("/metrics");
  ASSERT_TRUE(response.starts_with("HTTP/1.1 200 ")) << response.substr(0, 200);
  auto body_at = response.find("\r\n\r\n");
  ASSERT_NE(body_at, std::string::npos);
  auto text = response.substr(body_at + 4);
  ASSERT_NE(text.find("craft_tick_lateness_seconds_bucket{le=\"+Inf\"}"), std::string::npos);

  auto [status, output] = promtool_check(promtool, text);
  EXPECT_EQ(status, 0) << "promtool check metrics:\n" << output << "\n/metrics was:\n" << text;
  // promtool 2.42 does not notice a series given twice (a histogram bound printed twice);
  // Prometheus's scrape refuses it, so check it here: each name{labels} appears once.
  std::set<std::string> seen;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.front() == '#') continue;
    auto series = line.substr(0, line.rfind(' '));
    EXPECT_TRUE(seen.insert(series).second) << "series given twice: " << series;
  }
}

}  // namespace craft::testing
