// Server::set_match_filter (include/craft/matchmaking.hpp): game code sees every group the
// matcher is about to make and may refuse it; a throwing filter refuses, is counted in
// craft_room_errors_total, and the server carries on.
#include "metric_value.hpp"
#include "helpers.hpp"
#include "rooms/builtin.hpp"

#include <craft/client.hpp>
#include <craft/server.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <stdexcept>
#include <thread>

using namespace craft;
using namespace std::chrono_literals;

namespace {

ServerConfig config() {
  ServerConfig c;
  c.http_port = 0;
  c.tcp_port = 0;
  c.shards = 2;
  c.store.backend = "none";
  c.matchmaker.interval_ms = 50;
  return c;
}

std::unique_ptr<client::Client> player(Server& server, const std::string& name) {
  client::Options o;
  o.port = server.http_port();
  auto c = std::make_unique<client::Client>(o);
  c->connect();
  c->hello(name);
  return c;
}

void queue(client::Client& c, double skill) {
  v1::Envelope e = craft::testing::duel_ticket();
  (*e.mutable_matchmaker_add()->mutable_numeric_properties())["skill"] = skill;
  EXPECT_TRUE(c.request(std::move(e)).has_matchmaker_ticket());
}

bool matched(client::Client& c, std::chrono::milliseconds timeout) {
  return c.wait_for([](const v1::Envelope& x) { return x.has_match_found(); }, timeout).has_value();
}

long metric(const Server& server, const std::string& name) {
  return craft::testing::metric_value(server.metrics_text(), name);
}

}  // namespace

TEST(MatchFilter, RefusesGroupsTheGameDoesNotWantAndSeesTheTickets) {
  Server server(config());
  define_builtin_rooms(server);
  std::atomic<int> calls{0};
  std::atomic<bool> saw_both_players{false};
  server.set_match_filter([&](std::span<const MatchTicket> group) {
    ++calls;
    if (group.size() != 2) return false;
    if (group[0].players().size() == 1 && group[1].players().size() == 1 && group[0].text("mode") == "duel" &&
        !group[0].number("missing"))
      saw_both_players = true;
    const double a = group[0].number("skill").value_or(0), b = group[1].number("skill").value_or(0);
    return std::fabs(a - b) <= 100;  // the game's own skill rule, not the query's
  });
  server.start();
  auto low = player(server, "low");
  auto high = player(server, "high");
  queue(*low, 1000);
  queue(*high, 1500);
  EXPECT_FALSE(matched(*low, 500ms)) << "the filter refuses a spread of 500";
  EXPECT_GT(calls.load(), 0) << "the filter saw the group the query allowed";
  auto near = player(server, "near");
  queue(*near, 1050);
  EXPECT_TRUE(matched(*near, 3000ms));
  EXPECT_TRUE(matched(*low, 3000ms)) << "1000 and 1050 pass the filter";
  EXPECT_FALSE(matched(*high, 300ms)) << "1500 is still queued";
  EXPECT_TRUE(saw_both_players.load());
  server.stop();
  server.wait();
}

TEST(MatchFilter, AThrowingFilterRefusesIsCountedAndTheServerCarriesOn) {
  Server server(config());
  define_builtin_rooms(server);
  std::atomic<bool> fixed{false};
  server.set_match_filter([&](std::span<const MatchTicket>) -> bool {
    if (!fixed) throw std::runtime_error("game bug");
    return true;
  });
  server.start();
  const long before = metric(server, "craft_room_errors_total");
  auto a = player(server, "a");
  auto b = player(server, "b");
  queue(*a, 1500);
  queue(*b, 1500);
  EXPECT_FALSE(matched(*a, 400ms)) << "a throw refuses the group";
  EXPECT_GT(metric(server, "craft_room_errors_total"), before);
  fixed = true;
  EXPECT_TRUE(matched(*a, 3000ms)) << "the tickets stayed queued and match once the filter accepts";
  EXPECT_TRUE(matched(*b, 3000ms));
  server.stop();
  server.wait();
}
