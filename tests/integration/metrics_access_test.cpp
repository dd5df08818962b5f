// /metrics shares its port with /ws and the API, so only server.metrics_allow may read it.
#include "helpers.hpp"

namespace craft::testing {
namespace {

TEST(MetricsAccess, OnlyClientsInMetricsAllowReadMetrics) {
  CraftdProcess server({"--server.metrics-allow", "127.0.0.2", "--server.trusted-proxies", "127.0.0.5"});
  const auto port = server.http_port();
  EXPECT_TRUE(http_request(port, "GET", "/metrics", "", "", "127.0.0.2").starts_with("HTTP/1.1 200"));
  EXPECT_TRUE(http_request(port, "GET", "/metrics", "", "", "127.0.0.3").starts_with("HTTP/1.1 404"));
  EXPECT_TRUE(http_request(port, "HEAD", "/metrics?x", "", "", "127.0.0.3").starts_with("HTTP/1.1 404"));
  // Behind a trusted proxy the player's address decides, not the proxy's.
  EXPECT_TRUE(http_request(port, "GET", "/metrics", "", "X-Forwarded-For: 127.0.0.2\r\n", "127.0.0.5")
                  .starts_with("HTTP/1.1 200"));
  EXPECT_TRUE(http_request(port, "GET", "/metrics", "", "X-Forwarded-For: 203.0.113.7\r\n", "127.0.0.5")
                  .starts_with("HTTP/1.1 404"));
  // Only /metrics: health checks and pages are for everyone.
  EXPECT_TRUE(http_request(port, "GET", "/healthz", "", "", "127.0.0.3").starts_with("HTTP/1.1 200"));
  EXPECT_EQ(server.metric("craft_metrics_refused_total"), 3);
}

TEST(MetricsAccess, DefaultIsLoopback) {
  CraftdProcess server;
  EXPECT_TRUE(http_request(server.http_port(), "GET", "/metrics", "", "", "127.0.0.9").starts_with("HTTP/1.1 200"));
}

}  // namespace
}  // namespace craft::testing
