// Room placement: on the creator's shard while the shards stay balanced.
#include "core/room_host.hpp"
#include "core/server_core.hpp"

#include <gtest/gtest.h>

namespace {
struct Placement {
  craft::ManualClock clock;
  craft::ServerConfig config;
  std::unique_ptr<craft::detail::ServerCore> core;
  std::vector<std::shared_ptr<craft::detail::RoomHost>> rooms;
  Placement() {
    config.shards = 2;
    core = std::make_unique<craft::detail::ServerCore>(config, clock);
    core->world().define("plain", [] { return std::make_unique<craft::Room>(); });
  }
  uint32_t create_from(uint32_t shard) {
    int error = 0;
    std::string message;
    rooms.push_back(core->world().create("plain", false, "", error, message, shard));
    return rooms.back()->shard().index();
  }
};
}  // namespace

TEST(World, RoomsGoToTheCreatorsShard) {
  Placement p;
  EXPECT_EQ(p.create_from(1), 1u);
  EXPECT_EQ(p.create_from(0), 0u);
  EXPECT_EQ(p.create_from(1), 1u);
  EXPECT_EQ(p.create_from(1), 1u);  // 3 vs 1: within the slack of 1 + 4/16
}

TEST(World, ButNotWhenThatUnbalancesTheShards) {
  Placement p;
  int on_zero = 0;
  for (int i = 0; i < 160; ++i) on_zero += p.create_from(0) == 0;  // every creator on shard 0
  // Shard 0 may run ahead by the slack (1 + rooms / 16), no more.
  EXPECT_LE(on_zero, 80 + 1 + 160 / 16);
  EXPECT_GE(on_zero, 80);
}
