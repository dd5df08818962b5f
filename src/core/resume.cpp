#include "core/resume.hpp"

#include <sodium.h>

#include <cstring>
#include <stdexcept>

namespace craft::detail {

namespace {
constexpr char hex_digits[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

void put_u64(unsigned char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<unsigned char>(v);
}
void put_u32(unsigned char* p, uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<unsigned char>(v);
}
uint64_t get_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
uint32_t get_u32(const unsigned char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | p[i];
  return v;
}
}  // namespace

static_assert(crypto_auth_BYTES == 32 && crypto_auth_KEYBYTES == 32);

ResumeTokens::ResumeTokens() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to start");
  randombytes_buf(key_.data(), key_.size());
}

std::string ResumeTokens::issue(const ResumeTicket& t) const {
  unsigned char raw[16 + 32];
  put_u64(raw, t.session);
  put_u32(raw + 8, t.shard);
  put_u32(raw + 12, t.generation);
  crypto_auth(raw + 16, raw, 16, key_.data());
  std::string text(token_length, '0');
  for (size_t i = 0; i < sizeof raw; ++i) {
    text[2 * i] = hex_digits[raw[i] >> 4];
    text[2 * i + 1] = hex_digits[raw[i] & 15];
  }
  return text;
}

bool ResumeTokens::read(std::string_view text, ResumeTicket& out) const {
  if (text.size() != token_length) return false;
  unsigned char raw[16 + 32];
  for (size_t i = 0; i < sizeof raw; ++i) {
    int hi = hex_value(text[2 * i]);
    int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    raw[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  if (crypto_auth_verify(raw + 16, raw, 16, key_.data()) != 0) return false;
  out.session = get_u64(raw);
  out.shard = get_u32(raw + 8);
  out.generation = get_u32(raw + 12);
  return true;
}

size_t ReplayBuffer::push(Frame frame, uint64_t limit) {
  bytes_ += frame->size();
  frames_.push_back(std::move(frame));
  ++last_seq_;
  size_t dropped = 0;
  while (bytes_ > limit && head_ < frames_.size()) {
    pop_front();
    ++dropped;
  }
  return dropped;
}

void ReplayBuffer::ack(uint64_t seq) {
  if (seq > last_seq_) return;
  while (head_ < frames_.size() && first_kept() <= seq) pop_front();
}

void ReplayBuffer::pop_front() {
  bytes_ -= frames_[head_]->size();
  frames_[head_].reset();
  ++head_;
  if (head_ == frames_.size()) {
    frames_.clear();
    head_ = 0;
    // A connected client acks all the time: give back what a burst grew.
    if (frames_.capacity() > 64) std::vector<Frame>().swap(frames_);
  } else if (head_ >= 64 && head_ * 2 >= frames_.size()) {
    frames_.erase(frames_.begin(), frames_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

}  // namespace craft::detail
