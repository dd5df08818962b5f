// auth.session_policy (docs/protocol.md §3 item 8): one live session per account, or not.
#include "helpers.hpp"

#include <craft/builtin_rooms.hpp>
#include <craft/close_codes.hpp>

using namespace craft;
using namespace craft::testing;

namespace {

std::string token_of(uint16_t http_port, const std::string& device) {
  auto response = http_request(http_port, "POST", "/v1/auth/device",
                               R"({"deviceId":")" + device + R"(","create":true})", "");
  auto at = response.find("\"token\":\"");
  if (at == std::string::npos) return {};
  at += 9;
  return response.substr(at, response.find('"', at) - at);
}

std::vector<std::string> policy_flags(const std::string& policy) {
  return {"--auth.session-policy", policy, "--store.sqlite-path", ":memory:", "--auth.password-cost", "minimum"};
}

v1::Envelope hello_with(const std::string& token, bool resumable = false) {
  v1::Envelope e;
  e.mutable_hello()->set_token(token);
  e.mutable_hello()->set_resumable(resumable);
  return e;
}

}  // namespace

TEST(SessionPolicy, ReplaceClosesTheOlderSocketWith4006AndItsRoomsSeeItLeave) {
  CraftdProcess server(policy_flags("replace"));
  auto token = token_of(server.http_port(), "policy-device-1");
  ASSERT_FALSE(token.empty());
  auto first = connect(server, Transport::tcp);
  first->hello("", token);
  auto room = first->create("relay").room_id();
  auto other = hello(server, "other");
  other->join(room);

  auto second = connect(server);
  auto welcome = second->hello("", token);
  EXPECT_NE(welcome.session_id(), first->session_id());
  EXPECT_EQ(first->wait_closed(3s), close_code::session_replaced) << "disconnect envelope with 4006";
  auto left = other->wait_for([](auto& e) { return e.has_presence() && e.presence().leaves_size() == 1; }, 3s);
  ASSERT_TRUE(left) << "the replaced session left its room";
  EXPECT_EQ(server.metric("craft_sessions_replaced_total"), 1);
  EXPECT_EQ(server.metric("craft_closes_total{code=\"4006\"}"), 1);
  // The newer session works.
  second->join(room);
}

TEST(SessionPolicy, ReplaceOverWebSocketCarries4006InTheCloseFrameToo) {
  CraftdProcess server(policy_flags("replace"));
  auto token = token_of(server.http_port(), "policy-device-ws");
  auto first = connect(server);
  first->hello("", token);
  auto second = connect(server);
  second->hello("", token);
  EXPECT_EQ(first->wait_closed(3s), close_code::session_replaced);
}

TEST(SessionPolicy, ReplaceEndsAHeldSessionWithoutWaitingForItsWindow) {
  CraftdProcess server(policy_flags("replace"));
  auto token = token_of(server.http_port(), "policy-device-held");
  auto first = connect(server);
  auto w = first->request(hello_with(token, true)).welcome();
  v1::Envelope create;
  create.mutable_room_create()->set_type("relay");
  auto room = first->request(create).room_joined().room_id();
  auto other = hello(server, "other");
  other->join(room);
  first.reset();  // lost: held for 15 s
  ASSERT_TRUE(other->wait_for([](auto& e) { return e.has_presence() && e.presence().dropped_size() == 1; }, 3s));
  auto second = connect(server);
  second->hello("", token);
  ASSERT_TRUE(other->wait_for([](auto& e) { return e.has_presence() && e.presence().leaves_size() == 1; }, 3s))
      << "replaced at once, not after the window";
  // Its resume token died with it.
  auto third = connect(server);
  v1::Envelope resume;
  resume.mutable_hello()->set_resume_token(w.resume_token());
  try {
    third->request(resume);
    FAIL() << "expected RESUME_FAILED";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code, v1::RESUME_FAILED);
  }
}

TEST(SessionPolicy, RefuseAnswersSessionExistsAndTheFirstSessionStays) {
  CraftdProcess server(policy_flags("refuse"));
  auto token = token_of(server.http_port(), "policy-device-2");
  auto first = connect(server);
  first->hello("", token);
  auto second = connect(server);
  try {
    second->hello("", token);
    FAIL() << "expected SESSION_EXISTS";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code, v1::SESSION_EXISTS);
  }
  EXPECT_FALSE(second->is_closed()) << "refused, not closed: it may say hello again";
  // The first is untouched and still answers.
  first->ping();
  EXPECT_EQ(server.metric("craft_sessions_refused_total"), 1);
  // Once the first says goodbye the account is free again.
  first->close();
  auto deadline = std::chrono::steady_clock::now() + 3s;
  bool welcomed = false;
  while (!welcomed && std::chrono::steady_clock::now() < deadline) {
    try {
      second->hello("", token);
      welcomed = true;
    } catch (const client::Error& e) {
      ASSERT_EQ(e.code, v1::SESSION_EXISTS);
      std::this_thread::sleep_for(20ms);
    }
  }
  EXPECT_TRUE(welcomed);
}

TEST(SessionPolicy, AllowManyIsTheDefault) {
  CraftdProcess server({"--store.sqlite-path", ":memory:"});
  auto token = token_of(server.http_port(), "policy-device-3");
  auto first = connect(server);
  first->hello("", token);
  auto second = connect(server);
  second->hello("", token);
  first->ping();
  second->ping();
  EXPECT_EQ(server.metric("craft_sessions_replaced_total"), 0);
}

// Review finding (issue 11): a logout while the session is held for resume ends it; the
// resume is refused and its rooms see it leave.
TEST(SessionPolicy, ALogoutWhileHeldEndsTheSessionAndItsResume) {
  CraftdProcess server({"--store.sqlite-path", ":memory:", "--auth.password-cost", "minimum"});
  auto token = token_of(server.http_port(), "policy-device-logout");
  auto first = connect(server);
  auto w = first->request(hello_with(token, true)).welcome();
  v1::Envelope create;
  create.mutable_room_create()->set_type("relay");
  auto room = first->request(create).room_joined().room_id();
  auto other = hello(server, "other");
  other->join(room);
  first.reset();
  ASSERT_TRUE(other->wait_for([](auto& e) { return e.has_presence() && e.presence().dropped_size() == 1; }, 3s));
  auto out = http_request(server.http_port(), "POST", "/v1/auth/logout", "{}", "Authorization: Bearer " + token + "\r\n");
  ASSERT_NE(out.find(" 200 "), std::string::npos) << out;
  ASSERT_TRUE(other->wait_for([](auto& e) { return e.has_presence() && e.presence().leaves_size() == 1; }, 3s))
      << "logged out: the held seat goes";
  auto again = connect(server);
  v1::Envelope resume;
  resume.mutable_hello()->set_resume_token(w.resume_token());
  try {
    again->request(resume);
    FAIL() << "expected RESUME_FAILED";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code, v1::RESUME_FAILED);
  }
}
