// The in-process room directory's join_or_create search (presence/room_directory.*): rooms
// with a free seat only, oldest first, one of the preferred node's first.
#include "null_handler.hpp"
#include "net/shard.hpp"
#include "presence/room_directory.hpp"

#include <craft/clock.hpp>

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace {
using namespace craft;
using presence::RoomEntry;
using presence::RoomQuery;

using craft::testing::NullHandler;

RoomEntry room(std::string id, uint64_t created, uint32_t clients, std::string node = "") {
  RoomEntry e;
  e.id = std::move(id);
  e.type = "relay";
  e.clients = clients;
  e.max_clients = 4;
  e.created = created;
  e.node = std::move(node);
  return e;
}

// The shard is never started: its queue is run here, on the test's thread.
struct Directory : ::testing::Test {
  SteadyClock clock;
  TransportLimits limits{};
  NullHandler handler;
  Shard shard{0, clock, limits, handler};
  std::unique_ptr<presence::RoomDirectory> dir = presence::make_local_room_directory();

  std::optional<std::string> find(RoomQuery q, std::vector<std::string> skip = {}) {
    std::optional<std::string> got;
    bool answered = false;
    dir->find_joinable(std::move(q), std::move(skip), shard, [&](std::optional<std::string> id) {
      got = std::move(id);
      answered = true;
    });
    shard.context().restart();
    shard.context().poll();
    EXPECT_TRUE(answered);
    return got;
  }
  static RoomQuery relay() {
    RoomQuery q;
    q.type = "relay";
    return q;
  }
};

TEST_F(Directory, JoinOrCreateTakesTheOldestRoomWithAFreeSeatAsSeatsFillAndFree) {
  dir->publish(room("full", 1, 4));
  dir->publish(room("second", 2, 3));
  dir->publish(room("third", 3, 0));
  EXPECT_EQ(find(relay()), "second");
  dir->publish(room("second", 2, 4));  // filled
  EXPECT_EQ(find(relay()), "third");
  dir->publish(room("full", 1, 3));  // a seat freed in the oldest
  EXPECT_EQ(find(relay()), "full");
  EXPECT_EQ(find(relay(), {"full"}), "third");  // the session's own rooms are skipped

  auto locked = room("full", 1, 3);
  locked.locked = true;
  dir->publish(locked);
  auto hidden = room("third", 3, 0);
  hidden.is_private = true;
  dir->publish(hidden);
  EXPECT_EQ(find(relay()), std::nullopt);
  dir->publish(room("third", 3, 1));
  EXPECT_EQ(find(relay()), "third");

  dir->remove("third");  // an open room that goes leaves the search too
  EXPECT_EQ(find(relay()), std::nullopt);
  dir->remove("full");
  dir->remove("second");
  EXPECT_EQ(find(relay()), std::nullopt);
  dir->publish(room("new", 9, 0));
  EXPECT_EQ(find(relay()), "new");
}

TEST_F(Directory, ConditionsAndSortsStillDecideAmongOpenRooms) {
  auto a = room("a", 1, 1);
  a.metadata["map"] = std::string("dust");
  auto b = room("b", 2, 3);
  b.metadata["map"] = std::string("ice");
  auto c = room("c", 3, 2);
  c.metadata["map"] = std::string("ice");
  dir->publish(a);
  dir->publish(b);
  dir->publish(c);
  auto q = relay();
  presence::Condition ice;
  ice.key = "map";
  ice.equals = Value{std::string("ice")};
  q.conditions.push_back(ice);
  EXPECT_EQ(find(q), "b");
  q.sort.push_back({.key = "clients", .descending = false});
  EXPECT_EQ(find(q), "c");  // the emptiest ice room
  q.conditions.clear();
  EXPECT_EQ(find(q), "a");
}

TEST_F(Directory, APreferredNodesOpenRoomWinsOverAnOlderOneElsewhere) {
  dir->publish(room("on-a", 1, 0, "a"));
  dir->publish(room("on-c-old", 2, 0, "c"));
  dir->publish(room("on-c-new", 3, 0, "c"));
  auto q = relay();
  EXPECT_EQ(find(q), "on-a");
  q.prefer_node = "c";
  EXPECT_EQ(find(q), "on-c-old");
  dir->publish(room("on-c-old", 2, 4, "c"));  // full: the next of c's
  EXPECT_EQ(find(q), "on-c-new");
  dir->publish(room("on-c-new", 3, 4, "c"));  // c has none open: any node's
  EXPECT_EQ(find(q), "on-a");
  q.prefer_node = "b";
  EXPECT_EQ(find(q), "on-a");
}

}  // namespace
