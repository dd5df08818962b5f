// Review finding (issue 13): the C++ decoder copies its baseline frame for every snapshot and
// keeps baseline_window frames, so a hostile (or compromised, or unencrypted and tampered)
// server could make a client hold window x entities copies from a few KiB of data: one full
// snapshot of many entities, then a stream of 7-byte "nothing changed" deltas against it.
// With the largest window (1024) and a 64 KiB full snapshot (~87,000 entities) that is about
// 89 million entity copies, gigabytes. The decoder must bound what it holds whatever it is sent.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sync/bits.hpp"
#include "sync/decoder.hpp"

namespace {
using namespace craft::sync;

std::vector<SchemaComponent> flag_schema() {
  FieldSpec flag;
  flag.name = "on";
  flag.type = FieldType::boolean;
  flag.min = 0, flag.max = 1;
  return {SchemaComponent{"flag", {flag}}};
}

// A full snapshot at `tick` creating ids 1..n, each with the one component and its flag set.
std::string full_snapshot(uint32_t tick, uint32_t n) {
  std::string out;
  BitWriter w(&out);
  w.u(32, tick);
  w.v(7, 0);  // full
  w.v(7, 0);  // removed
  w.v(7, n);  // created
  for (uint32_t i = 0; i < n; ++i) w.v(3, 0), w.u(1, 1), w.u(1, 1);
  w.v(7, 0);  // updated
  w.flush();
  return out;
}

// A delta at `tick` against `baseline` that changes nothing.
std::string empty_delta(uint32_t tick, uint32_t baseline) {
  std::string out;
  BitWriter w(&out);
  w.u(32, tick);
  w.v(7, tick - baseline);
  w.u(1, 0);  // no delta widths
  w.v(7, 0), w.v(7, 0), w.v(7, 0);
  w.flush();
  return out;
}

size_t entity_copies_held(const SnapshotDecoder& d, uint32_t first, uint32_t last) {
  size_t n = 0;
  for (uint32_t t = first; t <= last; ++t)
    if (const DecodedFrame* f = d.frame(t)) n += f->size();
  return n;
}

TEST(ReviewDecoderMemory, EmptyDeltasAgainstOneBigFrameDoNotMultiplyIt) {
  constexpr uint32_t entities = 8000;  // a 6 KB full snapshot
  constexpr uint32_t deltas = 100;     // 100 x 7 bytes
  auto d = SnapshotDecoder::create(flag_schema(), 1024);
  ASSERT_TRUE(d);
  std::string full = full_snapshot(1, entities);
  ASSERT_LT(full.size(), 6100u);
  ASSERT_EQ(d->decode(full), DecodeResult::ok);
  // Each against the previous one, as a server that sees every ack would send them.
  for (uint32_t t = 2; t <= deltas + 1; ++t) ASSERT_EQ(d->decode(empty_delta(t, t - 1)), DecodeResult::ok) << t;
  // The client still has its current view...
  ASSERT_NE(d->newest(), nullptr);
  EXPECT_EQ(d->newest_tick(), deltas + 1);
  EXPECT_EQ(d->newest()->size(), entities);
  // ...but not 101 copies of it (808,000 entities, ~100 MB here, gigabytes with bigger input):
  // held state stays under the decoder's memory bound (SnapshotDecoder::default_max_bytes).
  EXPECT_LE(entity_copies_held(*d, 1, deltas + 1), size_t(400000));
  EXPECT_LE(d->memory_bytes(), SnapshotDecoder::default_max_bytes);
}

// Deltas against a frame dropped for memory are undecodable (the server then falls back to a
// newer ack or a full snapshot), never wrong; the newest frame is always kept.
TEST(ReviewDecoderMemory, DeltaAgainstAFrameDroppedForMemoryIsUndecodable) {
  auto d = SnapshotDecoder::create(flag_schema(), 1024, nullptr, /*max_bytes=*/3 * 150000);
  ASSERT_TRUE(d);
  ASSERT_EQ(d->decode(full_snapshot(1, 1000)), DecodeResult::ok);
  for (uint32_t t = 2; t <= 10; ++t) ASSERT_EQ(d->decode(empty_delta(t, t - 1)), DecodeResult::ok) << t;
  EXPECT_LT(d->frames(), 10u);
  EXPECT_EQ(d->frame(1), nullptr);
  EXPECT_EQ(d->decode(empty_delta(11, 1)), DecodeResult::undecodable);
  EXPECT_EQ(d->decode(empty_delta(11, 10)), DecodeResult::ok);
  EXPECT_EQ(d->newest()->size(), 1000u);
  EXPECT_LE(d->memory_bytes(), size_t(3 * 150000));
}

// A single snapshot bigger than the bound is refused (corrupt), changing nothing.
TEST(ReviewDecoderMemory, OneFrameOverTheBoundIsRefused) {
  auto d = SnapshotDecoder::create(flag_schema(), 8, nullptr, /*max_bytes=*/100000);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->decode(full_snapshot(1, 100)), DecodeResult::ok);
  EXPECT_EQ(d->decode(full_snapshot(2, 8000)), DecodeResult::corrupt);
  EXPECT_EQ(d->newest_tick(), 1u);
  EXPECT_EQ(d->frames(), 1u);
}

}  // namespace
