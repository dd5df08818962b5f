// auth.session_policy (docs/protocol.md §3 item 8) as the C++ SDK lives it: the newer
// one winning (replace: the older socket is closed with 4006) or the older one (refuse:
// SESSION_EXISTS), against a real craftd with accounts in memory.
#include "helpers.hpp"

#include <regex>

using namespace craft;
using namespace craft::testing;

namespace {

constexpr uint16_t session_replaced = 4006;  // docs/protocol.md §5.2

std::string device_token(const CraftdProcess& server, const std::string& device) {
  auto response = http_request(server.http_port(), "POST", "/v1/auth/device",
                               R"({"deviceId":")" + device + R"(","create":true})");
  std::smatch m;
  if (!std::regex_search(response, m, std::regex(R"("token":"([^"]*)\")"))) return {};
  return m[1];
}

std::vector<std::string> policy(const std::string& p) {
  return {"--auth.session-policy", p, "--store.sqlite-path", ":memory:"};
}

std::unique_ptr<Client> resumable(const CraftdProcess& server, Transport t) {
  client::Options o;
  o.port = t == Transport::tcp ? server.tcp_port() : server.http_port();
  o.transport = t;
  o.resumable = true;
  auto c = std::make_unique<Client>(o);
  c->connect();
  return c;
}

}  // namespace

TEST(SdkSessionPolicy, ReplaceClosesTheOlderSocketWith4006AndItDoesNotResume) {
  CraftdProcess server(policy("replace"));
  auto watcher = hello(server, "watcher");
  auto room = watcher->create("relay").room_id();
  int n = 0;
  for (auto t : {Transport::websocket, Transport::tcp}) {
    SCOPED_TRACE(t == Transport::tcp ? "tcp" : "websocket");
    auto token = device_token(server, "replace-device-" + std::to_string(n++));
    ASSERT_FALSE(token.empty());
    // The first is resumable: being replaced is not a lost connection, it must not come back.
    auto first = resumable(server, t);
    std::vector<client::ConnectionEvent> events;
    first->on_connection = [&](const client::ConnectionEvent& e) { events.push_back(e); };
    auto first_welcome = first->hello("", token);
    first->join(room);
    auto second = connect(server, t);
    auto second_welcome = second->hello("", token);
    EXPECT_NE(second_welcome.session_id(), first_welcome.session_id());
    EXPECT_EQ(second_welcome.account_id(), first_welcome.account_id());

    EXPECT_EQ(first->wait_closed(3s), session_replaced);
    auto bye = first->wait_for([](const v1::Envelope& e) { return e.has_disconnect(); }, 0ms);
    ASSERT_TRUE(bye) << "no disconnect envelope before the close";
    EXPECT_EQ(bye->disconnect().code(), session_replaced);
    EXPECT_TRUE(events.empty()) << "the SDK tried to resume a replaced session";
    // Its room saw it leave (not dropped: it will not come back).
    auto left = watcher->wait_for(
        [&](const v1::Envelope& e) {
          return e.has_presence() && e.presence().leaves_size() > 0 &&
                 e.presence().leaves(0).session_id() == first_welcome.session_id();
        },
        3s);
    EXPECT_TRUE(left);
    second->ping();
  }
  EXPECT_EQ(server.metric("craft_sessions_replaced_total"), 2);
}

TEST(SdkSessionPolicy, RefuseAnswersSessionExistsAndLeavesBothConnectionsUsable) {
  CraftdProcess server(policy("refuse"));
  for (auto t : {Transport::websocket, Transport::tcp}) {
    SCOPED_TRACE(t == Transport::tcp ? "tcp" : "websocket");
    auto token = device_token(server, std::string("refuse-device-") + (t == Transport::tcp ? "tcp" : "ws"));
    ASSERT_FALSE(token.empty());
    auto first = connect(server, t);
    first->hello("", token);
    auto second = connect(server, t);
    try {
      second->hello("", token);
      ADD_FAILURE() << "a second session of the account was let in";
    } catch (const client::Error& e) {
      EXPECT_EQ(e.code, v1::SESSION_EXISTS);
    }
    auto anonymous = second->hello("anonymous-instead");  // still un-helloed, so it may try again
    EXPECT_TRUE(anonymous.account_id().empty());
    first->ping();
    second->ping();
    // Once the first says goodbye the account may come back.
    first->close();
    auto third = connect(server, t);
    EXPECT_NO_THROW(third->hello("", token));
  }
  EXPECT_EQ(server.metric("craft_sessions_refused_total"), 2);
}
