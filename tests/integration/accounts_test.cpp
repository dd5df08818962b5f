// Accounts reach the socket and room code: with auth.require on, hello needs a valid session
// token (else close 4005); a room's on_join sees the account; room code saves data and
// scores asynchronously. An in-process Server with its own room type, a real SQLite store.
#include "craftd_process.hpp"

#include <craft/client.hpp>
#include <craft/close_codes.hpp>
#include <craft/server.hpp>
#include <gtest/gtest.h>

#include <regex>

namespace craft::testing {
namespace {

using namespace std::chrono_literals;

// Answers joins with who it saw; saves the room id in the player's storage and reads it back;
// op 1 submits the message as a score to leaderboard "best" and answers op 2 with the rank.
class ProbeRoom : public Room {
 public:
  JoinResult on_join(const Client& c, std::string_view) override {
    if (c.account_id.empty()) return JoinResult::reject("accounts only");
    return JoinResult::accept();
  }
  std::string join_state(const Client& c) override {
    auto who = c.id;
    storage_write("progress", "last_room", c.account_id, R"({"room":")" + id() + "\"}", [this, who, c](bool ok) {
      if (!ok) return send(who, 7, "write failed");
      storage_read("progress", "last_room", c.account_id, [this, who](std::optional<std::string> json) {
        send(who, 7, json.value_or("missing"));
      });
    });
    return c.account_id + " " + c.username;
  }
  void on_message(const Client& from, const Message& m) override {
    if (m.op != 1) return;
    auto who = from.id;
    leaderboard_write("best", from, std::stoll(std::string(m.data)),
                      [this, who](int64_t rank) { send(who, 2, std::to_string(rank)); });
  }
};

struct Fixture {
  Server server{[] {
    ServerConfig c;
    c.http_port = 0;
    c.tcp_port = 0;
    c.shards = 2;
    c.store.sqlite_path = ":memory:";
    c.auth.require = true;
    c.auth.password_cost = "minimum";
    c.auth.admin_key = "admin";
    return c;
  }()};
  Fixture() {
    server.define_room<ProbeRoom>("probe");
    server.start();
  }
  ~Fixture() {
    server.stop();
    server.wait();
  }
  std::string post(const std::string& path, const std::string& body, const std::string& bearer = "") {
    return http_request(server.http_port(), "POST", path, body,
                        bearer.empty() ? "" : "Authorization: Bearer " + bearer + "\r\n");
  }
  std::unique_ptr<client::Client> connect() {
    client::Options o;
    o.port = server.http_port();
    auto c = std::make_unique<client::Client>(o);
    c->connect();
    return c;
  }
};

std::string field(const std::string& json, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"" + name + "\":\"([^\"]*)\""))) return {};
  return m[1];
}

v1::ErrorCode refused_hello(client::Client& c, const std::string& token) {
  try {
    c.hello("", token);
  } catch (const client::Error& e) {
    EXPECT_EQ(c.wait_closed(3s), close_code::auth_failed);
    return e.code;
  }
  return v1::ERROR_UNSPECIFIED;
}

TEST(Accounts, SocketsNeedAValidTokenAndRoomsSeeTheAccount) {
  Fixture f;
  auto session = f.post("/v1/auth/device", R"({"deviceId":"probe-device-1","create":true,"username":"ann"})");
  auto token = field(session, "token"), account = field(session, "accountId");
  ASSERT_FALSE(token.empty()) << session;

  EXPECT_EQ(refused_hello(*f.connect(), ""), v1::UNAUTHORIZED);
  EXPECT_EQ(refused_hello(*f.connect(), "not-a-token"), v1::UNAUTHORIZED);
  std::string forged = token;
  forged[forged.size() / 2] = forged[forged.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ(refused_hello(*f.connect(), forged), v1::UNAUTHORIZED);

  auto c = f.connect();
  auto welcome = c->hello("", token);
  EXPECT_EQ(welcome.account_id(), account);
  EXPECT_EQ(welcome.username(), "ann");
  auto joined = c->join_or_create("probe");
  EXPECT_EQ(joined.state(), account + " ann");
  EXPECT_EQ(joined.you().account_id(), account);
  EXPECT_EQ(joined.you().name(), "ann");

  auto saved = c->wait_for([](const v1::Envelope& e) { return e.has_room_data() && e.room_data().op() == 7; }, 3s);
  ASSERT_TRUE(saved);
  EXPECT_EQ(saved->room_data().data(), R"({"room":")" + joined.room_id() + "\"}");

  v1::Envelope get;
  get.mutable_api_request()->mutable_account_get();
  auto reply = c->request(get);
  ASSERT_TRUE(reply.has_api_response()) << reply.DebugString();
  EXPECT_EQ(reply.api_response().account().id(), account);
  EXPECT_EQ(reply.api_response().account().device_ids(0), "probe-device-1");

  // Room code writes scores; the board must exist first.
  c->send(joined.room_id(), 1, "50");
  auto no_board = c->wait_for([](const v1::Envelope& e) { return e.has_room_data() && e.room_data().op() == 2; }, 3s);
  ASSERT_TRUE(no_board);
  EXPECT_EQ(no_board->room_data().data(), "0");
  // Authoritative: players cannot post to it; room code (the server) can.
  auto created = f.post("/v1/leaderboard/create", R"({"id":"best","authoritative":true})", "admin");
  ASSERT_NE(created.find("200 OK"), std::string::npos) << created;
  c->send(joined.room_id(), 1, "50");
  auto ranked = c->wait_for([](const v1::Envelope& e) { return e.has_room_data() && e.room_data().op() == 2; }, 3s);
  ASSERT_TRUE(ranked);
  EXPECT_EQ(ranked->room_data().data(), "1");
  v1::Envelope cheat;
  cheat.mutable_api_request()->mutable_leaderboard_write()->set_leaderboard_id("best");
  cheat.mutable_api_request()->mutable_leaderboard_write()->set_score(999);
  try {
    c->request(cheat);
    ADD_FAILURE() << "a player wrote to an authoritative leaderboard";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code, v1::PERMISSION_DENIED);
  }

  // After logout the token opens no socket.
  auto out = f.post("/v1/auth/logout", "{}", token);
  ASSERT_NE(out.find("200 OK"), std::string::npos) << out;
  EXPECT_EQ(refused_hello(*f.connect(), token), v1::TOKEN_REVOKED);
}

TEST(Accounts, ABanClosesTheAccountsOpenSockets) {
  Fixture f;
  auto ann = f.post("/v1/auth/device", R"({"deviceId":"ban-device-ann","create":true})");
  auto bob = f.post("/v1/auth/device", R"({"deviceId":"ban-device-bob","create":true})");
  auto a = f.connect(), b = f.connect();
  a->hello("", field(ann, "token"));
  b->hello("", field(bob, "token"));
  auto room = a->join_or_create("probe");
  b->join(room.room_id());
  auto banned = f.post("/v1/admin/ban", R"({"accountId":")" + field(ann, "accountId") + R"(","banned":true})", "admin");
  ASSERT_NE(banned.find("200 OK"), std::string::npos) << banned;
  auto error = a->wait_for([](const v1::Envelope& e) { return e.has_error(); }, 3s);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->error().code(), v1::ACCOUNT_BANNED);
  EXPECT_EQ(a->wait_closed(3s), close_code::auth_failed);
  // The other player stays and sees the banned one leave.
  auto left = b->wait_for([](const v1::Envelope& e) { return e.has_presence() && e.presence().leaves_size() > 0; }, 3s);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->presence().leaves(0).account_id(), field(ann, "accountId"));
  b->ping();
}

TEST(Accounts, AnonymousSocketsCannotMakeAccountCalls) {
  ServerConfig config;
  config.http_port = 0;
  config.tcp_port = 0;
  config.store.sqlite_path = ":memory:";
  Server server(config);
  server.start();
  client::Options o;
  o.port = server.http_port();
  client::Client c(o);
  c.connect();
  c.hello("anon");
  v1::Envelope get;
  get.mutable_api_request()->mutable_account_get();
  try {
    c.request(get);
    ADD_FAILURE() << "account_get without an account succeeded";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code, v1::UNAUTHORIZED);
  }
  c.ping();  // still connected
  c.close();
  server.stop();
  server.wait();
}

}  // namespace
}  // namespace craft::testing
