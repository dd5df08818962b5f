// server.coalesce_us with rooms that tick (docs/performance.md §6-7): window edges and ticks
// on one grid, and members whose connections live on another shard than their room.
#include "helpers.hpp"

#include <chrono>
#include <string>
#include <thread>

using namespace craft;
using namespace craft::testing;

namespace {

// movement2d's input: uint32 LE seq, int8 dx, int8 dy.
std::string input(uint32_t seq) {
  std::string s(6, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>((seq >> (8 * i)) & 0xff);
  s[4] = 1;
  return s;
}

// The number after `key` in a movement2d JSON snapshot, from `from` on (-1: absent).
long applied_field(const std::string& snapshot, const std::string& key, size_t from = 0) {
  auto at = snapshot.find(key, from);
  if (at == std::string::npos) return -1;
  return std::strtol(snapshot.c_str() + at + key.size(), nullptr, 10);
}

// The "seq" (last input applied) of the player with this session id (-1: absent).
long applied_seq(const std::string& snapshot, uint64_t session) {
  auto at = snapshot.find("\"id\":\"" + std::to_string(session) + "\"");
  return at == std::string::npos ? -1 : applied_field(snapshot, "\"seq\":", at);
}

}  // namespace

// A window that divides the tick period wakes a busy shard at its rooms' ticks: window edges
// and ticks are both multiples of their length on the steady clock (Shard::run_loop,
// TickScheduler). Unaligned, a busy shard that sleeps 25 ms at a time would run a 20 Hz tick
// anywhere up to 25 ms late; aligned, it runs on the wake-up that reads the inputs before it.
TEST(Coalescing, WindowsThatDivideTheTickPeriodWakeTheShardAtItsTicks) {
  CraftdProcess server({"--server.coalesce-us", "25000", "--server.shards", "1"});
  auto a = hello(server, "a");
  auto room = a->create("movement2d", R"({"tickRate":20})").room_id();
  const long before = server.metric("craft_tick_lateness_seconds_count");
  const long on_time_before = server.metric("craft_tick_lateness_seconds_bucket{le=\"0.008192\"}");
  for (int i = 0; i < 300; ++i) {  // 1.5 s of messages 5 ms apart keep the shard busy
    a->send(room, 1, "x");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const long ticks = server.metric("craft_tick_lateness_seconds_count") - before;
  const long on_time = server.metric("craft_tick_lateness_seconds_bucket{le=\"0.008192\"}") - on_time_before;
  EXPECT_GE(ticks, 20);
  // Unaligned, about 8 / 25 of the ticks would start within 8 ms; allow a loaded machine a few.
  EXPECT_GE(on_time * 10, ticks * 7) << on_time << " of " << ticks << " ticks started within 8 ms";
  EXPECT_GT(server.metric("craft_coalesced_batches_total"), 20);
}

// Two shards, 50 ms windows, a 20 Hz room. Of bob and carl, accepted right after the room's
// creator, at least one lives on the other shard (accepts alternate between the two), so his
// inputs and snapshots cross shards. Each sends an input as soon as his snapshot arrives; the
// next snapshot must show both: a shard reads a lead before the edge and relays what it read,
// and the room's shard, woken by the relay, queues it before the tick; snapshots for members
// on other shards wake those shards too. Without the lead and the wake, an input was read at
// the edge and reached the room after its tick, and snapshots reached the other shard's
// members a window late.
TEST(Coalescing, InputsFromAnotherShardReachTheNextTick) {
  CraftdProcess server({"--server.coalesce-us", "50000", "--server.shards", "2"});
  auto ann = hello(server, "ann");
  auto bob = hello(server, "bob");
  auto carl = hello(server, "carl");
  auto room = ann->create("movement2d", R"({"tickRate":20,"state":"json"})").room_id();
  bob->join(room);
  carl->join(room);
  auto next_snapshot = [](Client& c) {
    for (;;) {
      auto data = next_room_data(c);
      if (!data || data->op() == 0) return data;
    }
  };
  // Both read up to the same tick (one joined earlier and has one more snapshot queued).
  auto tick_of = [](const std::optional<v1::RoomData>& d) { return applied_field(d->data(), "\"tick\":"); };
  uint32_t sent = 0;
  int on_time = 0, rounds = 0;
  while (rounds < 30) {
    auto seen_by_bob = next_snapshot(*bob);
    auto seen_by_carl = next_snapshot(*carl);
    ASSERT_TRUE(seen_by_bob && seen_by_carl);
    while (tick_of(seen_by_bob) < tick_of(seen_by_carl)) {
      seen_by_bob = next_snapshot(*bob);
      ASSERT_TRUE(seen_by_bob);
    }
    while (tick_of(seen_by_carl) < tick_of(seen_by_bob)) {
      seen_by_carl = next_snapshot(*carl);
      ASSERT_TRUE(seen_by_carl);
    }
    if (sent > 0) {
      ++rounds;
      if (applied_seq(seen_by_bob->data(), bob->session_id()) == long(sent) &&
          applied_seq(seen_by_bob->data(), carl->session_id()) == long(sent))
        ++on_time;
    }
    ++sent;
    bob->send(room, 1, input(sent));
    carl->send(room, 1, input(sent));
  }
  // A loaded machine may delay a few; before the fix it was almost none.
  EXPECT_GE(on_time * 10, rounds * 7) << on_time << " of " << rounds << " rounds had both inputs in the next snapshot";
}

// A room faster than the window (240 Hz under 50 ms windows) shortens the shard's windows to
// its period: it still gets its ticks on time, none skipped. Before, a busy shard slept to
// the window edge and ran at most 5 ticks there (TickScheduler::max_catch_up): about 100 a
// second, the rest skipped (the review measured 488 and 522 of 1,200 in 5 s).
TEST(Coalescing, ARoomFasterThanTheWindowKeepsItsRate) {
  CraftdProcess server({"--server.coalesce-us", "50000", "--server.shards", "1"});
  auto a = hello(server, "a");
  a->create("movement2d", R"({"tickRate":240,"state":"json"})");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const long ticks_before = server.metric("craft_room_ticks_total");
  const long skipped_before = server.metric("craft_room_ticks_skipped_total");
  const auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  const long ticks = server.metric("craft_room_ticks_total") - ticks_before;
  const long skipped = server.metric("craft_room_ticks_skipped_total") - skipped_before;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // 240 a second; a loaded machine may lose some, never down to the 100 of bursts of 5.
  EXPECT_GE(ticks, long(150 * seconds)) << ticks << " ticks in " << seconds << " s, " << skipped << " skipped";
  EXPECT_LE(skipped, ticks / 10) << ticks << " run, " << skipped << " skipped";
}
