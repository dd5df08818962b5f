// Review finding (issue 13): a room's ReplicatorOptions could ask for any baseline_window, but
// the C++ decoder (the C++ SDK) refuses a schema whose window is over 1024, so every C++
// client of such a room could decode nothing. The Replicator now refuses the window up front
// (std::invalid_argument: room-code misuse, which the room guard turns into the end of the room).
#include <gtest/gtest.h>

#include <stdexcept>

#include <craft/replication.hpp>

#include "sync/decoder.hpp"

namespace {
using namespace craft::sync;

struct Pos {
  float x = 0;
};

TEST(ReviewReplicatorOptions, AWindowTheDecodersCannotHoldIsRefused) {
  craft::ecs::Registry world;
  EXPECT_THROW(Replicator(world, {.baseline_window = 1025}), std::invalid_argument);
  // Nor through the server's default.
  Replicator sync(world);
  EXPECT_THROW(sync.configure(20, 5000, 0), std::invalid_argument);
}

TEST(ReviewReplicatorOptions, TheLargestAcceptedWindowIsDecodable) {
  craft::ecs::Registry world;
  Replicator sync(world, {.baseline_window = 1024});
  sync.replicate<Pos>("pos", Fields<Pos>{}.number("x", &Pos::x, 0, 10, 1));
  sync.configure(20, 32, 0);
  ASSERT_EQ(sync.options().baseline_window, 1024u);
  auto decoder = SnapshotDecoder::create(schema_of(sync), sync.options().baseline_window);
  EXPECT_TRUE(decoder);
}

}  // namespace

namespace {
using namespace craft::sync;

struct Hp {
  int32_t hp = 0;
};

// Review finding: the header promises that a second replicate<T> throws, but only a repeated
// name was refused: replicate<Hp>("a"), replicate<Hp>("b") sent every Hp twice, in two
// components the client could not tell apart.
TEST(ReviewReplicatorOptions, ASecondReplicateOfTheSameTypeThrows) {
  craft::ecs::Registry world;
  Replicator sync(world);
  sync.replicate<Hp>("a", Fields<Hp>{}.integer("hp", &Hp::hp, 0, 100));
  EXPECT_THROW(sync.replicate<Hp>("b", Fields<Hp>{}.integer("hp", &Hp::hp, 0, 100)), std::invalid_argument);
  EXPECT_EQ(sync.components().size(), 1u);
}

}  // namespace
