// server.metrics_allow is parsed when the server is built: a bad entry stops it there.
#include <craft/server.hpp>

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace {

TEST(MetricsAllow, ABadEntryStopsTheServerNamingTheOption) {
  craft::ServerConfig config;
  config.http_port = 0;
  config.tcp_port = 0;
  config.metrics_allow = "127.0.0.1, bogus";
  try {
    craft::Server server(config);
    FAIL() << "a bad server.metrics_allow entry was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("server.metrics_allow"), std::string::npos) << e.what();
  }
}

}  // namespace
