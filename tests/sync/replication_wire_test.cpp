// Replicated state on the wire (docs/protocol.md §4.20.2-3): the bit primitives, quantization
// per field type, and the two worked examples of §4.20.3 byte for byte.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <craft/replication.hpp>

#include "sync/bits.hpp"
#include "sync/decoder.hpp"
#include "sync/quantize.hpp"

namespace {
using namespace craft::sync;

// An independent packer for expected streams: bits least significant first, as §4.20.2 says.
struct Bits {
  std::vector<bool> bits;
  Bits& u(uint32_t n, uint64_t v) {
    for (uint32_t i = 0; i < n; ++i) bits.push_back((v >> i) & 1);
    return *this;
  }
  std::string bytes() const {
    std::string out((bits.size() + 7) / 8, '\0');
    for (size_t i = 0; i < bits.size(); ++i)
      if (bits[i]) out[i / 8] = char(uint8_t(out[i / 8]) | (1u << (i % 8)));
    return out;
  }
};

TEST(ReplicationBits, UnsignedRoundTripsAtEveryWidth) {
  std::mt19937 rng(7);
  std::string buf;
  BitWriter w(&buf);
  std::vector<std::pair<uint32_t, uint32_t>> written;
  for (uint32_t n = 0; n <= 32; ++n) {
    for (int k = 0; k < 5; ++k) {
      uint32_t v = n == 32 ? uint32_t(rng()) : uint32_t(rng()) & ((1u << n) - 1);
      if (k == 0) v = n == 32 ? 0xffffffffu : (1u << n) - 1;  // all ones
      w.u(n, v);
      written.emplace_back(n, v);
    }
  }
  w.flush();
  EXPECT_EQ(buf.size(), (w.bits() + 7) / 8);
  BitReader r(buf.data(), buf.size());
  for (auto [n, v] : written) EXPECT_EQ(r.u(n), v) << n;
  EXPECT_FALSE(r.error());
  EXPECT_TRUE(r.at_clean_end());
}

TEST(ReplicationBits, AppendCopiesBitsAtAnyOffset) {
  std::mt19937 rng(13);
  for (uint32_t lead = 0; lead < 9; ++lead) {
    for (uint32_t len : {0u, 1u, 7u, 8u, 31u, 32u, 33u, 70u}) {
      Bits piece;
      for (uint32_t i = 0; i < len; ++i) piece.u(1, rng() & 1);
      std::string src = piece.bytes();
      std::string buf;
      BitWriter w(&buf);
      w.u(lead, 0x1ff);
      w.append(src, len);
      w.u(3, 5);
      Bits expect;
      expect.u(lead, 0x1ff);
      expect.bits.insert(expect.bits.end(), piece.bits.begin(), piece.bits.end());
      expect.u(3, 5);
      w.flush();
      EXPECT_EQ(buf, expect.bytes()) << lead << " " << len;
      EXPECT_EQ(w.bits(), lead + len + 3);
    }
  }
}

// The writer keeps up to 63 bits to itself until flush(): a flush pads the last byte, and
// bits written after it take that padding's place (the encoder flushes once, at the end).
TEST(ReplicationBits, WritingGoesOnAfterAFlush) {
  std::mt19937 rng(29);
  for (int round = 0; round < 200; ++round) {
    std::string buf;
    BitWriter w(&buf);
    Bits expect;
    for (int step = 0; step < 12; ++step) {
      const uint32_t n = uint32_t(rng() % 33);
      const uint32_t v = n == 32 ? uint32_t(rng()) : uint32_t(rng()) & ((1u << n) - 1);
      w.u(n, v);
      expect.u(n, v);
      if (rng() % 3 == 0) {
        w.flush();
        ASSERT_EQ(buf, expect.bytes()) << round << " " << step;
      }
    }
    w.flush();
    EXPECT_EQ(buf, expect.bytes()) << round;
    EXPECT_EQ(w.bits(), expect.bits.size());
  }
  // With nothing written after its last flush, the writer's end leaves the string alone: the
  // caller may already have added to it (review: the padding was cut off twice).
  std::string out;
  {
    BitWriter w(&out);
    w.u(3, 5);
    w.flush();
    out += "XY";
  }
  EXPECT_EQ(out, std::string("\x05XY", 3));
}

TEST(ReplicationBits, LeastSignificantBitFirst) {
  std::string buf;
  BitWriter w(&buf);
  w.u(3, 5);   // 101
  w.u(6, 33);  // 100001
  Bits expect;
  expect.u(3, 5).u(6, 33);
  w.flush();
  EXPECT_EQ(buf, expect.bytes());
  EXPECT_EQ(buf, std::string("\x0d\x01", 2));  // 101 | 100001 -> bits 1,0,1,1,0,0,0,0 | 1
}

TEST(ReplicationBits, VarintGroupsAndCap) {
  for (uint32_t k : {3u, 7u}) {
    for (uint32_t v : {0u, 1u, 7u, 8u, 127u, 128u, 1000u, 0xffffffu, 0xffffffffu}) {
      std::string buf;
      BitWriter w(&buf);
      w.v(k, v);
      w.flush();
      EXPECT_EQ(w.bits(), varint_bits(v, k)) << k << " " << v;
      BitReader r(buf.data(), buf.size());
      EXPECT_EQ(r.v(k), v);
      EXPECT_FALSE(r.error());
    }
  }
  // v(7) of 0 is one group: 8 bits. v(3) of 0: 4 bits.
  EXPECT_EQ(varint_bits(0, 7), 8u);
  EXPECT_EQ(varint_bits(0, 3), 4u);
  // Eleven v(3) groups, all "more": over the cap of ceil(32/3) = 11 groups -> error.
  Bits too_long;
  for (int g = 0; g < 12; ++g) too_long.u(3, 0).u(1, 1);
  std::string b = too_long.bytes();
  BitReader r(b.data(), b.size());
  EXPECT_EQ(r.v(3), 0u);
  EXPECT_TRUE(r.error());
  // Five v(7) groups reaching past 2^32 - 1 -> error.
  Bits past;
  for (int g = 0; g < 4; ++g) past.u(7, 127).u(1, 1);
  past.u(7, 16).u(1, 0);  // 16 << 28 = 2^32
  b = past.bytes();
  BitReader r2(b.data(), b.size());
  r2.v(7);
  EXPECT_TRUE(r2.error());
}

TEST(ReplicationBits, ReaderNeverReadsPastTheEnd) {
  std::string one("\xff", 1);
  BitReader r(one.data(), one.size());
  EXPECT_EQ(r.u(5), 31u);
  EXPECT_EQ(r.u(4), 0u);  // only 3 left
  EXPECT_TRUE(r.error());
  EXPECT_EQ(r.u(1), 0u);  // stays in error
  BitReader empty(nullptr, 0);
  EXPECT_EQ(empty.u(0), 0u);
  EXPECT_FALSE(empty.error());
  EXPECT_EQ(empty.v(7), 0u);
  EXPECT_TRUE(empty.error());
  // Padding: non-zero padding bits are not a clean end.
  std::string padded("\x81", 1);
  BitReader p(padded.data(), padded.size());
  p.u(1);
  EXPECT_FALSE(p.at_clean_end());
}

FieldSpec number(double min, double max, double precision) { return {"n", FieldType::number, min, max, precision, 0}; }

TEST(ReplicationQuantize, BitsPerType) {
  EXPECT_EQ(bitwidth(0), 0u);
  EXPECT_EQ(bitwidth(1), 1u);
  EXPECT_EQ(bitwidth(3), 2u);
  EXPECT_EQ(bitwidth(4), 3u);
  EXPECT_EQ(value_bits(number(0, 800, 0.1)), 13u);  // 8000 steps
  EXPECT_EQ(value_bits({"i", FieldType::integer, -5, 5, 1, 0}), 4u);
  EXPECT_EQ(value_bits({"i", FieldType::integer, 3, 3, 1, 0}), 0u);  // a constant takes no bits
  EXPECT_EQ(value_bits({"b", FieldType::boolean, 0, 1, 1, 0}), 1u);
  EXPECT_EQ(value_bits({"e", FieldType::enumeration, 0, 4, 1, 5}), 3u);
  EXPECT_EQ(value_bits({"e", FieldType::enumeration, 0, 0, 1, 1}), 0u);
  EXPECT_EQ(value_bits({"t", FieldType::text, 0, 0, 1, 16}), 8u);
  EXPECT_EQ(value_bits({"v", FieldType::vec2, -1, 1, 0.01, 0}), 8u);  // 200 steps
}

TEST(ReplicationQuantize, SpecsThatCannotBeSentThrow) {
  EXPECT_THROW(value_bits(number(1, 0, 0.1)), std::invalid_argument);
  EXPECT_THROW(value_bits(number(0, 1, 0)), std::invalid_argument);
  EXPECT_THROW(value_bits(number(0, 1, -1)), std::invalid_argument);
  EXPECT_THROW(value_bits(number(0, 1, std::nan(""))), std::invalid_argument);
  EXPECT_THROW(value_bits(number(0, 1e10, 1)), std::invalid_argument);  // > 2^32 steps
  EXPECT_THROW(value_bits({"e", FieldType::enumeration, 0, 0, 1, 0}), std::invalid_argument);
  EXPECT_THROW(value_bits({"i", FieldType::integer, 0, 5e9, 1, 0}), std::invalid_argument);
  uint32_t m = 0;
  EXPECT_FALSE(try_max_wire_value(number(0, 1, 0), m));
  EXPECT_TRUE(try_max_wire_value(number(0, 1, 0.5), m));
  EXPECT_EQ(m, 2u);
}

TEST(ReplicationQuantize, ClampRoundAndNaN) {
  FieldSpec x = number(0, 800, 0.1);
  EXPECT_EQ(quantize(x, 12.3), 123u);
  EXPECT_EQ(quantize(x, double(12.3f)), 123u);
  EXPECT_EQ(quantize(x, 45.6), 456u);
  EXPECT_EQ(quantize(x, -5), 0u);
  EXPECT_EQ(quantize(x, 1e30), 8000u);
  EXPECT_EQ(quantize(x, std::numeric_limits<double>::infinity()), 8000u);
  EXPECT_EQ(quantize(x, -std::numeric_limits<double>::infinity()), 0u);
  EXPECT_EQ(quantize(x, std::nan("")), 0u);  // NaN -> min
  EXPECT_DOUBLE_EQ(dequantize(x, 123), 12.3);
  // A range that is not a whole number of steps: the top value decodes at most max.
  FieldSpec odd = number(0, 1, 0.3);  // steps round(3.33) = 3
  EXPECT_EQ(quantize(odd, 1), 3u);
  EXPECT_LE(dequantize(odd, 3), 1.0);
  // Round trip error is at most half a step inside the range.
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> d(-100, 900);
  for (int i = 0; i < 1000; ++i) {
    double v = d(rng);
    double back = dequantize(x, quantize(x, v));
    double clamped = std::clamp(v, 0.0, 800.0);
    EXPECT_LE(std::abs(back - clamped), 0.05 + 1e-9) << v;
  }
  FieldSpec i{"i", FieldType::integer, -10, 10, 1, 0};
  EXPECT_EQ(quantize(i, -10), 0u);
  EXPECT_EQ(quantize(i, 10), 20u);
  EXPECT_EQ(quantize(i, 99), 20u);
  EXPECT_EQ(quantize(i, -99), 0u);
  EXPECT_DOUBLE_EQ(dequantize(i, 13), 3);
  FieldSpec e{"e", FieldType::enumeration, 0, 2, 1, 3};
  EXPECT_EQ(quantize(e, 7), 2u);
  EXPECT_EQ(quantize(e, -1), 0u);
  FieldSpec b{"b", FieldType::boolean, 0, 1, 1, 0};
  EXPECT_EQ(quantize(b, 0), 0u);
  EXPECT_EQ(quantize(b, 1), 1u);
}

TEST(ReplicationQuantize, TextIsCutAtACharacterBoundary) {
  FieldSpec t{"t", FieldType::text, 0, 0, 1, 4};
  EXPECT_EQ(cut_text(t, "abc"), "abc");
  EXPECT_EQ(cut_text(t, "abcdef"), "abcd");
  EXPECT_EQ(cut_text(t, "ab\xc3\xa9z"), "ab\xc3\xa9");           // é fits exactly
  EXPECT_EQ(cut_text(t, "abc\xc3\xa9"), "abc");                  // é would straddle the cut
  EXPECT_EQ(cut_text(t, "a\xe2\x82\xac\xe2\x82\xac"), "a\xe2\x82\xac");  // €
  EXPECT_EQ(cut_text(t, "\xf0\x9f\x98\x80\x21"), "\xf0\x9f\x98\x80");     // 😀 is 4 bytes
  FieldSpec t3{"t", FieldType::text, 0, 0, 1, 3};
  EXPECT_EQ(cut_text(t3, "\xf0\x9f\x98\x80"), "");
}

struct Pos {
  float x = 0, y = 0;
};

// §4.20.3 "Example": one component pos {x, y: number 0..800 / 0..600, precision 0.1}.
TEST(ReplicationWire, WorkedExamplesByteForByte) {
  craft::ecs::Registry world;
  Replicator sync(world);
  sync.replicate<Pos>("pos", Fields<Pos>{}.number("x", &Pos::x, 0, 800, 0.1).number("y", &Pos::y, 0, 600, 0.1));
  sync.configure(20, 8, 0);
  auto e = world.create();
  world.add<Pos>(e, 12.3f, 45.6f);
  sync.add_client(1);
  sync.capture(40);
  EXPECT_EQ(sync.net_id(e), 1u);
  std::string full;
  sync.encode(1, full);
  Bits expect;
  expect.u(32, 40).u(7, 0).u(1, 0);               // tick, baseline_ago 0
  expect.u(7, 0).u(1, 0);                          // 0 removed
  expect.u(7, 1).u(1, 0);                          // 1 created
  expect.u(3, 0).u(1, 0).u(1, 1).u(13, 123).u(13, 456);  // gap 0, mask 1, x, y
  expect.u(7, 0).u(1, 0);                          // 0 updated
  EXPECT_EQ(expect.bits.size(), 95u);
  EXPECT_EQ(full.size(), 12u);
  EXPECT_EQ(full, expect.bytes());

  sync.ack(1, 40);
  world.get<Pos>(e)->x = 13.0f;
  sync.capture(41);
  std::string delta;
  sync.encode(1, delta);
  Bits d;
  d.u(32, 41).u(7, 1).u(1, 0);  // baseline 40
  d.u(1, 1).u(5, 4).u(5, 0);    // delta widths: x 4 bits, y none
  d.u(7, 0).u(1, 0).u(7, 0).u(1, 0).u(7, 1).u(1, 0);  // 0 removed, 0 created, 1 updated
  d.u(3, 0).u(1, 0);            // gap 0
  d.u(1, 0);                    // mask_changed 0
  d.u(1, 1).u(1, 1);            // changed, x changed
  d.u(1, 1).u(4, 14);           // x as a difference: +7, zigzag 14
  d.u(1, 0);                    // y unchanged
  EXPECT_EQ(d.bits.size(), 88u);
  EXPECT_EQ(delta.size(), 11u);
  EXPECT_EQ(delta, d.bytes());

  // And the decoder reads both back.
  auto dec = SnapshotDecoder::create(schema_of(sync), 8);
  ASSERT_TRUE(dec);
  ASSERT_EQ(dec->decode(full), DecodeResult::ok);
  ASSERT_EQ(dec->decode(delta), DecodeResult::ok);
  EXPECT_EQ(dec->newest_tick(), 41u);
  const DecodedFrame* view = dec->newest();
  ASSERT_TRUE(view && view->count(1));
  EXPECT_EQ(view->at(1).components[0][0].wire[0], 130u);
  EXPECT_EQ(view->at(1).components[0][1].wire[0], 456u);
  EXPECT_EQ(sync.stats().bytes, 23u);
  EXPECT_EQ(sync.stats().full_snapshots, 1u);
  EXPECT_EQ(sync.stats().snapshots, 2u);
}

}  // namespace
