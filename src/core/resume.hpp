// The parts of a resumable session (docs/protocol.md §3.2) that need no socket: the resume
// token and the replay buffer. Session (core/session_resume.cpp) puts them together.
#pragma once
#include "net/frame.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace craft::detail {

// What a resume token names: a session, the shard that owns it, and which of the session's
// welcomes issued it (each resume issues a new token and voids the old one).
struct ResumeTicket {
  uint64_t session = 0;
  uint32_t shard = 0;
  uint32_t generation = 0;
};

// Signs tickets with a key made at start (HMAC-SHA-512/256, libsodium's crypto_auth): a
// token outlives neither the process nor its session, so the key never needs to persist.
class ResumeTokens {
 public:
  ResumeTokens();
  std::string issue(const ResumeTicket& t) const;
  // False for anything that is not exactly a token this key signed; never throws, reads at
  // most `text.size()` bytes, which it first checks against the one valid length.
  bool read(std::string_view text, ResumeTicket& out) const;
  static constexpr size_t token_length = 2 * (16 + 32);  // hex of ticket + tag

 private:
  std::array<unsigned char, 32> key_{};
};

// Sequenced messages the client has not acked, oldest first. Frames are shared with every
// other receiver of a broadcast, so a held frame costs its bytes once across sessions;
// `bytes()` still counts each in full, so one session's bound does not depend on others.
class ReplayBuffer {
 public:
  // Appends the message numbered last_seq() + 1; past `limit` bytes drops the oldest and
  // returns how many it dropped.
  size_t push(Frame frame, uint64_t limit);
  // The client has 1..seq: forget them. Above last_seq() is ignored.
  void ack(uint64_t seq);
  uint64_t last_seq() const { return last_seq_; }
  // The oldest message still kept (last_seq() + 1 when none is).
  uint64_t first_kept() const { return last_seq_ - (frames_.size() - head_) + 1; }
  uint64_t bytes() const { return bytes_; }
  // Calls f(frame) for each kept message numbered above `seq`, in order.
  template <class F>
  void for_each_after(uint64_t seq, F&& f) const {
    uint64_t n = first_kept();
    for (size_t i = head_; i < frames_.size(); ++i, ++n) {
      if (n > seq) f(frames_[i]);
    }
  }

 private:
  void pop_front();
  std::vector<Frame> frames_;  // [head_, size) are kept
  size_t head_ = 0;
  uint64_t last_seq_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace craft::detail
