// Room ids (docs/protocol.md: 12 characters of [A-Za-z0-9]). A private room's id is all it
// takes to join it, so ids are drawn from libsodium's CSPRNG, uniformly: this checks the
// shape, that ids do not repeat, and that every character is used about equally often in
// every position (a biased pick, e.g. a modulo over a byte, would show here).
#include "core/room_host.hpp"
#include "core/server_core.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <set>

TEST(RoomIds, TwelveUniformCharactersThatDoNotRepeat) {
  craft::ManualClock clock;
  craft::ServerConfig config;
  config.shards = 1;
  craft::detail::ServerCore core(config, clock);
  core.world().define("plain", [] { return std::make_unique<craft::Room>(); });
  static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  constexpr int n = 6200;
  std::vector<std::shared_ptr<craft::detail::RoomHost>> rooms;
  std::set<std::string> ids;
  std::array<std::array<int, 62>, 12> counts{};
  for (int i = 0; i < n; ++i) {
    int error = 0;
    std::string message;
    auto room = core.world().create("plain", true, "", error, message);
    ASSERT_TRUE(room) << message;
    const auto& id = room->id();
    ASSERT_EQ(id.size(), 12u) << id;
    for (size_t p = 0; p < id.size(); ++p) {
      auto at = alphabet.find(id[p]);
      ASSERT_NE(at, std::string_view::npos) << id;
      ++counts[p][at];
    }
    ids.insert(id);
    rooms.push_back(std::move(room));
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(n));
  // 100 expected per cell; chi-square with 61 degrees of freedom per position: mean 61,
  // standard deviation 11. 140 is over 7 deviations out: a fair source never gets there.
  for (size_t p = 0; p < 12; ++p) {
    double chi2 = 0;
    for (int c : counts[p]) chi2 += (c - 100.0) * (c - 100.0) / 100.0;
    EXPECT_LT(chi2, 140) << "position " << p;
  }
}
