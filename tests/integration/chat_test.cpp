#include "helpers.hpp"

#include <regex>

using namespace craft;
using namespace craft::testing;

TEST(Chat, LateJoinerGetsHistoryWithNames) {
  CraftdProcess server({"--rooms.chat-history", "3"});
  auto ann = hello(server, "ann");
  auto room = ann->join_or_create("chat").room_id();
  for (auto text : {"one", "two", "three", "four"}) {
    ann->send(room, 1, text);
    auto echo = next_room_data(*ann);  // chat echoes to the sender too
    ASSERT_TRUE(echo);
    EXPECT_NE(echo->data().find(std::string("\"text\":\"") + text + "\""), std::string::npos) << echo->data();
  }
  auto bob = hello(server, "bob", Transport::websocket, Format::json);
  auto joined = bob->join_or_create("chat");
  ASSERT_EQ(joined.room_id(), room);
  const auto& state = joined.state();
  // Only the last 3 are kept, oldest first, each with the sender's name.
  std::regex entry(R"re(\{"seq":(\d+),"sender":"(\d+)","name":"ann","text":"(\w+)","time_us":\d+\})re");
  std::vector<std::string> texts;
  for (std::sregex_iterator it(state.begin(), state.end(), entry), end; it != end; ++it) {
    texts.push_back((*it)[3]);
    EXPECT_EQ(std::stoull((*it)[2]), ann->session_id());
  }
  EXPECT_EQ(texts, (std::vector<std::string>{"two", "three", "four"})) << state;

  bob->send(room, 1, "hi ann");
  auto got = next_room_data(*ann);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->sender(), bob->session_id());
  EXPECT_NE(got->data().find("\"name\":\"bob\",\"text\":\"hi ann\""), std::string::npos) << got->data();
}

TEST(Chat, TooLongAndInvalidTextAreRejectedWithTheCid) {
  CraftdProcess server({"--rooms.chat-max-length", "10"});
  auto ann = hello(server, "ann");
  auto room = ann->join_or_create("chat").room_id();
  auto bob = hello(server, "bob");
  bob->join(room);

  v1::Envelope e;
  e.set_cid(41);
  e.mutable_room_data()->set_room_id(room);
  e.mutable_room_data()->set_op(1);
  e.mutable_room_data()->set_data("01234567890");  // 11 bytes
  ann->send_envelope(e);
  auto err = ann->wait_for([](const v1::Envelope& x) { return x.has_error(); }, 3000ms);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->cid(), 41u);
  EXPECT_EQ(err->error().code(), v1::MESSAGE_TOO_LARGE);

  e.set_cid(42);
  e.mutable_room_data()->set_data("\xff\xfe");
  ann->send_envelope(e);
  err = ann->wait_for([](const v1::Envelope& x) { return x.has_error(); }, 3000ms);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->cid(), 42u);
  EXPECT_EQ(err->error().code(), v1::BAD_REQUEST);

  ann->send(room, 1, "fine");
  auto got = next_room_data(*bob);
  ASSERT_TRUE(got);
  EXPECT_NE(got->data().find("\"text\":\"fine\""), std::string::npos);
}
