// The bit primitives of docs/protocol.md §4.20.2: u(n) and v(k), least significant bit first,
// bit i of the stream is bit (i mod 8) of byte (i div 8).
// The reader never reads past its buffer: a read past the end, or a v(k) longer than the
// group cap or past 2^32-1, puts it in an error state (every later read returns 0) instead of
// throwing, because its input is a client's or a server's bytes (hostile either way).
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>

namespace craft::sync {

// Bits of n: 0 -> 0, 1 -> 1, 2-3 -> 2, 4-7 -> 3, ...
constexpr uint32_t bitwidth(uint64_t n) { return uint32_t(std::bit_width(n)); }

// Bits a v(k) of this value takes: (k + 1) per group, at least one group.
constexpr uint32_t varint_bits(uint32_t value, uint32_t k) {
  uint32_t groups = 1;
  while (k < 32 && (uint64_t(value) >> (k * groups)) != 0) ++groups;
  return groups * (k + 1);
}

// Appends bits to a string, starting at its end (byte-aligned). With a null target it only
// counts, which the budget uses to price an entity without writing it.
// Bits gather in a 64-bit accumulator and go to the string 32 at a time, so most writes touch
// no memory but the accumulator. The string holds every bit written only after flush() (or
// the writer's end): the last byte padded with zeros. Writing may go on after a flush, as long
// as the string was left alone since (the padding is taken back); with nothing written since
// the last flush, the writer's end leaves the string as it is.
class BitWriter {
 public:
  explicit BitWriter(std::string* out) : out_(out) {}
  ~BitWriter() { flush(); }
  BitWriter(const BitWriter&) = delete;
  BitWriter& operator=(const BitWriter&) = delete;
  // n 0-32; bits of value above n are ignored. Inline: the encoder calls it for every field.
  void u(uint32_t n, uint32_t value) {
    if (n < 32) value &= (uint32_t(1) << n) - 1;  // n = 0 writes nothing
    acc_ |= uint64_t(value) << pending_;  // pending_ < 32: the value fits
    pending_ += n;
    bits_ += n;
    if (pending_ >= 32) spill();
  }
  void v(uint32_t k, uint32_t value);  // k 1-32
  // Appends the first `bits` bits of another writer's (flushed) output.
  void append(const std::string& bytes, uint64_t bits);
  // Puts every bit written so far into the target, the last byte padded with zeros.
  void flush();
  uint64_t bits() const { return bits_; }

 private:
  void spill();       // 32 bits from the accumulator to the target
  void drop_flushed();  // takes back the padded bytes of the last flush before writing on
  std::string* out_;
  uint64_t acc_ = 0;      // bits not yet in the target, least significant first
  uint32_t pending_ = 0;  // how many
  uint32_t flushed_ = 0;  // padded bytes the last flush put past the whole ones
  uint64_t flushed_bits_ = 0;  // bits_ at the last flush
  uint64_t bits_ = 0;
};

class BitReader {
 public:
  BitReader(const void* data, size_t size) : data_(static_cast<const uint8_t*>(data)), size_(size) {}
  uint32_t u(uint32_t n);
  uint32_t v(uint32_t k);
  bool error() const { return error_; }
  void fail() { error_ = true; }
  uint64_t remaining_bits() const { return error_ ? 0 : uint64_t(size_) * 8 - pos_; }
  // True when what is left is under a byte and all zero (the stream's padding).
  bool at_clean_end();

 private:
  const uint8_t* data_;
  size_t size_;
  uint64_t pos_ = 0;
  bool error_ = false;
};

}  // namespace craft::sync
