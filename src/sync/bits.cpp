#include "sync/bits.hpp"

namespace craft::sync {

void BitWriter::v(uint32_t k, uint32_t value) {
  uint64_t rest = value;
  do {
    u(k, uint32_t(rest & ((uint64_t(1) << k) - 1)));
    rest = k >= 32 ? 0 : rest >> k;
    u(1, rest ? 1 : 0);
  } while (rest);
}

void BitWriter::drop_flushed() {
  if (flushed_ == 0) return;
  out_->resize(out_->size() - flushed_);
  flushed_ = 0;
}

void BitWriter::spill() {
  if (out_) {
    drop_flushed();
    const char b[4] = {char(acc_), char(acc_ >> 8), char(acc_ >> 16), char(acc_ >> 24)};
    out_->append(b, 4);
  }
  acc_ >>= 32;
  pending_ -= 32;
}

void BitWriter::flush() {
  if (!out_ || (flushed_ > 0 && flushed_bits_ == bits_)) return;  // nothing new since the last one
  drop_flushed();
  flushed_bits_ = bits_;
  uint64_t a = acc_;
  for (uint32_t left = pending_; left > 0; left = left > 8 ? left - 8 : 0, a >>= 8) {
    out_->push_back(char(a));
    ++flushed_;
  }
}

void BitWriter::append(const std::string& bytes, uint64_t bits) {
  if (out_ && (pending_ & 7) == 0) {
    // Byte-aligned (most entity encodings land so): the accumulator's whole bytes go first,
    // then whole bytes copy, and the tail goes through the accumulator.
    drop_flushed();
    for (; pending_ > 0; pending_ -= 8, acc_ >>= 8) out_->push_back(char(acc_));
    const size_t whole = size_t(bits >> 3);
    out_->append(bytes, 0, whole);
    bits_ += uint64_t(whole) * 8;
    if (uint32_t rest = uint32_t(bits & 7)) u(rest, uint8_t(bytes[whole]));
    return;
  }
  size_t i = 0;
  while (bits >= 32) {
    u(32, uint32_t(uint8_t(bytes[i])) | uint32_t(uint8_t(bytes[i + 1])) << 8 | uint32_t(uint8_t(bytes[i + 2])) << 16 |
              uint32_t(uint8_t(bytes[i + 3])) << 24);
    i += 4, bits -= 32;
  }
  while (bits > 0) {
    uint32_t n = bits < 8 ? uint32_t(bits) : 8;
    u(n, uint8_t(bytes[i++]));
    bits -= n;
  }
}

uint32_t BitReader::u(uint32_t n) {
  if (n == 0 || error_) return 0;
  if (n > 32 || uint64_t(size_) * 8 - pos_ < n) {
    error_ = true;
    return 0;
  }
  uint64_t value = 0;
  uint32_t got = 0;
  while (got < n) {
    uint8_t byte = data_[pos_ >> 3];
    uint32_t shift = uint32_t(pos_ & 7);
    uint32_t take = 8 - shift < n - got ? 8 - shift : n - got;
    value |= uint64_t((byte >> shift) & ((1u << take) - 1)) << got;
    got += take;
    pos_ += take;
  }
  return uint32_t(value);
}

uint32_t BitReader::v(uint32_t k) {
  if (k == 0 || k > 32) {
    error_ = true;
    return 0;
  }
  const uint32_t max_groups = (32 + k - 1) / k;
  uint64_t value = 0;
  for (uint32_t group = 0; !error_; ++group) {
    if (group == max_groups) {
      error_ = true;  // longer than any 32-bit value needs
      break;
    }
    uint64_t g = u(k);
    uint32_t more = u(1);
    value |= g << (k * group);
    if (value > 0xffffffffull) {
      error_ = true;
      break;
    }
    if (!more) return uint32_t(value);
  }
  return 0;
}

bool BitReader::at_clean_end() {
  if (error_) return false;
  uint64_t left = uint64_t(size_) * 8 - pos_;
  if (left >= 8) return false;
  return u(uint32_t(left)) == 0 && !error_;
}

}  // namespace craft::sync
