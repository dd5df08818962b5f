// A socket's identity dies with its session token (issue 9, kind 5), on a real server in this
// process driven by a ManualClock, so expiry is exact and needs no waiting for real time:
// the socket is closed with TOKEN_EXPIRED + 4005 at its token's expiresAt (not a second
// before), leaving its rooms; logout over the socket closes every socket of that token.
#include "rooms/builtin.hpp"

#include <craft/client.hpp>
#include <craft/server.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

namespace craft::testing {
namespace {

using namespace std::chrono_literals;
using client::Client;

constexpr int64_t kNoon = 1'795'694'400;  // Thursday 2026-11-26 12:00:00 UTC

struct InProcessServer {
  ManualClock clock{TimePoint{std::chrono::seconds(kNoon)}};
  std::unique_ptr<Server> server;

  explicit InProcessServer(uint32_t session_ttl_s) {
    ServerConfig config;
    config.http_port = 0;
    config.tcp_enabled = false;
    config.shards = 2;
    config.store.sqlite_path = ":memory:";
    config.auth.password_cost = "minimum";
    config.auth.session_ttl_s = session_ttl_s;
    // The clock jumps by the token's lifetime: no other timeout may fire meanwhile.
    config.limits.idle_timeout_ms = 24u * 3600 * 1000;
    config.limits.handshake_timeout_ms = 24u * 3600 * 1000;
    config.limits.server_ping_interval_ms = 0;  // no server pings: a quiet socket would be taken for gone
    server = std::make_unique<Server>(config, &clock);
    define_builtin_rooms(*server);
    server->start();
  }
  ~InProcessServer() {
    server->stop();
    server->wait();
  }
  std::unique_ptr<Client> connect() {
    client::Options o;
    o.port = server->http_port();
    auto c = std::make_unique<Client>(o);
    c->connect();
    return c;
  }
  // A new device account's session, made over an anonymous socket.
  v1::SessionTokens new_session(const std::string& device_id) {
    auto anon = connect();
    anon->hello("anon");
    v1::Envelope e;
    e.mutable_api_request()->mutable_auth_device()->set_device_id(device_id);
    e.mutable_api_request()->mutable_auth_device()->set_create(true);
    return anon->request(e).api_response().session();
  }
};

v1::Envelope account_get() {
  v1::Envelope e;
  e.mutable_api_request()->mutable_account_get();
  return e;
}

// The error (cid 0) the server sent before closing, among the queued events.
std::optional<v1::Error> error_before_close(Client& c) {
  auto e = c.wait_for([](const v1::Envelope& x) { return x.has_error(); }, 0ms);
  if (!e) return std::nullopt;
  EXPECT_EQ(e->cid(), 0u);
  return e->error();
}

TEST(HostileAuth, SocketIsClosedWith4005ExactlyWhenItsSessionTokenExpires) {
  InProcessServer s(/*session_ttl_s=*/30);
  auto session = s.new_session("device-expiry-0001");
  ASSERT_EQ(session.expires_at(), kNoon + 30);
  auto player = s.connect();
  ASSERT_EQ(player->hello("player", session.token()).account_id(), session.account_id());
  const std::string room = player->create("relay", "", true).room_id();
  auto watcher = s.connect();
  watcher->hello("watcher");
  watcher->join(room);

  s.clock.advance(29s);  // one second before expiresAt: still this account's socket
  EXPECT_NO_THROW(player->ping());
  EXPECT_EQ(player->request(account_get()).api_response().account().id(), session.account_id());
  EXPECT_FALSE(player->is_closed());

  s.clock.advance(1s);  // expiresAt: the shard's sweep closes it without the client sending anything
  EXPECT_EQ(player->wait_closed(5s), std::optional<uint16_t>(4005));
  auto why = error_before_close(*player);
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(why->code(), v1::TOKEN_EXPIRED);
  auto left = watcher->wait_for([](const v1::Envelope& x) { return x.has_presence() && x.presence().leaves_size() > 0; }, 5s);
  ASSERT_TRUE(left.has_value()) << "the expired socket's room membership ends";
  EXPECT_EQ(left->presence().leaves(0).session_id(), player->session_id());
  EXPECT_NE(s.server->metrics_text().find("craft_errors_total{code=\"TOKEN_EXPIRED\"} 1\n"), std::string::npos);
  EXPECT_NE(s.server->metrics_text().find("craft_closes_total{code=\"4005\"} 1\n"), std::string::npos);
}

TEST(HostileAuth, LogoutOverTheSocketAnswersThenClosesEverySocketOfThatToken) {
  InProcessServer s(/*session_ttl_s=*/3600);
  auto session = s.new_session("device-logout-0001");
  auto other_session = s.new_session("device-logout-0002");
  auto first = s.connect();
  first->hello("first", session.token());
  auto second = s.connect();
  second->hello("second", session.token());
  auto bystander = s.connect();
  bystander->hello("bystander", other_session.token());

  v1::Envelope logout;
  logout.mutable_api_request()->mutable_auth_logout();
  EXPECT_TRUE(first->request(logout).api_response().has_empty()) << "the logout is answered first";
  for (auto* c : {first.get(), second.get()}) {
    EXPECT_EQ(c->wait_closed(5s), std::optional<uint16_t>(4005));
    auto why = error_before_close(*c);
    ASSERT_TRUE(why.has_value());
    EXPECT_EQ(why->code(), v1::TOKEN_REVOKED);
  }
  EXPECT_EQ(bystander->request(account_get()).api_response().account().id(), other_session.account_id());
  EXPECT_FALSE(bystander->is_closed());
}

}  // namespace
}  // namespace craft::testing
