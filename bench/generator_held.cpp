// The held scenario: what a resumable session costs the server while its connection is gone.
//
// Clients are resumable sessions in relay rooms of --room-size. They connect and join in
// batches of --batch; each batch is then cut without a goodbye (TCP reset, or a plain close
// with --cut fin), so the server holds every session and its seat (protocol.md §3.2). The
// batches keep the server's connected high-water mark at one batch while the held sessions
// pile up: memory freed by a batch's connections is reused by the next batch's, and the
// growth from one "held-K" sample to the next is what the held sessions keep. The server's
// RSS is read (from /proc) after every step, once things settle (--settle).
//
// A room's members are cut one member index at a time, 200 ms apart: each first acks what
// it has received (the drop notices of the members cut before it included), then 100 ms
// later is cut, so a held session starts with an empty replay buffer.
//
// With --replay-kb K, one plain "feeder" client then joins every room and sends K KiB of
// room_data (--payload bytes each, --rate per feeder) in --replay-steps parts: every message
// goes to all the held members of its room, unacked, into their replay buffers. The growth
// of RSS per part, divided by (held sessions x KiB each received), is the memory per KiB of
// replay buffer; divided by (feeders x KiB sent) it is the memory per KiB of distinct
// traffic. The two differ by the room size when the server shares one frame between the
// receivers of a broadcast.
#include "generator_impl.hpp"

#include "proc.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace craft::bench::detail {

namespace {
constexpr int64_t cut_half_round_ns = 100'000'000;
constexpr int64_t settle_check_ns = 50'000'000;
}  // namespace

void Generator::held_init() {
  const uint32_t r = std::max(1u, o_.room_size);
  batch_groups_ = o_.batch ? std::max(1u, o_.batch / r) : static_cast<uint32_t>(groups_.size());
  if (o_.replay_kb) {
    feeders_ = static_cast<uint32_t>(groups_.size());
    conns_.resize(plan_.count + feeders_);
    for (uint32_t g = 0; g < feeders_; ++g) conns_[plan_.count + g].group = g;
    feed_per_feeder_ = std::max<uint64_t>(1, uint64_t(o_.replay_kb) * 1024 / o_.payload);
  }
  held_sample("start");
  held_start_batch(mono_ns());
}

void Generator::held_start_batch(int64_t now) {
  batch_g0_ = batch_g1_;
  batch_g1_ = std::min<uint32_t>(static_cast<uint32_t>(groups_.size()), batch_g0_ + batch_groups_);
  const Group& last = groups_[batch_g1_ - 1];
  launch_limit_ = last.first + last.size;
  launch_origin_ = now;
  launch_base_ = launched_;
  held_phase_ = HeldPhase::connect;
}

bool Generator::held_range_settled(uint32_t lo, uint32_t hi) const {
  if (launched_ < hi) return false;
  for (uint32_t i = lo; i < hi; ++i) {
    if (conns_[i].outcome == Outcome::pending) return false;
  }
  return true;
}

void Generator::held_sample(const std::string& label) {
  HeldSample x;
  x.label = label;
  x.held = held_total_;
  for (const Conn& c : conns_) x.live += c.fd >= 0 ? 1 : 0;
  ProcSample p = sample_process(o_.server_pid);
  x.vm_rss = p.vm_rss;
  x.rss_anon = p.rss_anon;
  std::string metrics = fetch_metrics(o_.host, o_.port);
  x.gauge = metric_value(metrics, "craft_sessions_held");
  x.expired = metric_value(metrics, "craft_sessions_expired_total");
  x.replay_kib = feeders_ ? double(feed_seq_ / feeders_) * o_.payload / 1024.0 : 0;
  samples_.push_back(x);
}

void Generator::cut(uint32_t i) {
  Conn& c = conns_[i];
  if (c.fd < 0) return;
  if (o_.cut == Cut::rst) {
    linger l{1, 0};  // close() then sends RST and drops anything unsent
    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  close_conn(c);  // outcome stays "ready": this is the test, not a failure
  ++held_total_;
}

void Generator::held_cut_round(int64_t now) {
  if (now < phase_at_) return;
  if (cut_round_ >= std::max(1u, o_.room_size)) {
    held_phase_ = HeldPhase::settle_held;
    phase_at_ = now + int64_t(o_.settle * 1e9);
    return;
  }
  for (uint32_t g = batch_g0_; g < batch_g1_; ++g) {
    if (cut_round_ >= groups_[g].size) continue;
    uint32_t m = groups_[g].first + cut_round_;
    if (conns_[m].state != State::ready) continue;
    if (cut_acked_) cut(m);
    else send_ack(m);
  }
  if (cut_acked_) ++cut_round_;
  cut_acked_ = !cut_acked_;
  phase_at_ = now + cut_half_round_ns;
}

void Generator::held_feed(int64_t now) {
  const double interval = 1e9 / (o_.rate * double(feeders_));
  uint64_t due = feed_base_ + uint64_t(double(now - feed_start_) / interval);
  due = std::min(due, feed_step_end_);
  for (; feed_seq_ < due; ++feed_seq_) {
    uint32_t i = plan_.count + static_cast<uint32_t>(feed_seq_ % feeders_);
    if (conns_[i].state != State::ready) continue;
    int64_t ts = mono_ns();
    std::memcpy(payload_.data(), &ts, 8);
    send_data(i, op_data, payload_);
    ++sent_total_;
  }
  if (feed_seq_ < feed_step_end_) return;
  for (uint32_t f = 0; f < feeders_; ++f) {
    if (!conns_[plan_.count + f].out.empty()) return;  // not all of it is with the server yet
  }
  held_phase_ = HeldPhase::settle_fed;
  phase_at_ = now + int64_t(o_.settle * 1e9);
}

// The check that the figures above are real: every held session is resumed (protocol.md
// §3.2) and must get back, replayed, every room_data its feeder sent while it was away.
void Generator::held_after_feed(int64_t now) {
  if (unresumable_ || !held_total_) {
    held_phase_ = HeldPhase::done;
    return;
  }
  replay_expected_ = feeders_ ? held_total_ * (feed_seq_ / feeders_) : 0;
  resume_next_ = 0;
  resume_origin_ = now;
  resume_deadline_ = 0;
  held_phase_ = HeldPhase::resume;
}

void Generator::held_resume(int64_t now) {
  const double rate = o_.connect_rate / double(o_.processes);
  auto due = std::min<uint64_t>(plan_.count, uint64_t(double(now - resume_origin_) * rate / 1e9) + 1);
  for (; resume_next_ < due; ++resume_next_) {
    Conn& c = conns_[resume_next_];
    if (c.fd >= 0 || c.outcome != Outcome::ready || c.resume_token.empty()) continue;
    c.resuming = true;
    c.server_seq_acked = c.server_seq;  // hello.last_seq acks them
    c.unacked_since_ns = 0;
    c.in.clear();
    c.out.clear();
    start_connect(resume_next_);
  }
  if (resume_next_ < plan_.count) return;
  if (!resume_deadline_) resume_deadline_ = now + int64_t(o_.setup_timeout * 1e9);
  if (now < next_settle_check_) return;
  next_settle_check_ = now + settle_check_ns;
  bool answered = resumed_ + resume_fresh_ + resume_failed_ >= held_total_;
  if ((answered && replayed_ >= replay_expected_) || now >= resume_deadline_) {
    held_phase_ = HeldPhase::settle_resumed;
    phase_at_ = now + int64_t(o_.settle * 1e9);
  }
}

void Generator::held_step(int64_t now) {
  const auto settle = int64_t(o_.settle * 1e9);
  const uint32_t batch = static_cast<uint32_t>(batch_g0_ / batch_groups_);
  auto step_end = [&](uint32_t step) {
    return uint64_t(feeders_) * (feed_per_feeder_ * (step + 1) / o_.replay_steps);
  };
  switch (held_phase_) {
    case HeldPhase::connect:
      if (now < next_settle_check_) return;
      next_settle_check_ = now + settle_check_ns;
      if (!held_range_settled(groups_[batch_g0_].first, launch_limit_)) return;
      if (batch == 0) setup_ns_ = now - connect_start_;
      held_phase_ = HeldPhase::settle_connected;
      phase_at_ = now + settle;
      return;
    case HeldPhase::settle_connected:
      if (now < phase_at_) return;
      held_sample("connected-" + std::to_string(batch + 1));
      held_phase_ = HeldPhase::cut;
      cut_round_ = 0;
      cut_acked_ = false;
      phase_at_ = now;
      return;
    case HeldPhase::cut: return held_cut_round(now);
    case HeldPhase::settle_held:
      if (now < phase_at_) return;
      held_sample("held-" + std::to_string(batch + 1));
      if (batch_g1_ < groups_.size()) return held_start_batch(now);
      if (!feeders_) return held_after_feed(now);
      launch_limit_ = plan_.count + feeders_;
      launch_origin_ = now;
      launch_base_ = launched_;
      held_phase_ = HeldPhase::feeders;
      return;
    case HeldPhase::feeders:
      if (now < next_settle_check_) return;
      next_settle_check_ = now + settle_check_ns;
      if (!held_range_settled(plan_.count, plan_.count + feeders_)) return;
      held_phase_ = HeldPhase::settle_feeders;
      phase_at_ = now + settle;
      return;
    case HeldPhase::settle_feeders:
      if (now < phase_at_) return;
      held_sample("replay-0");
      feed_step_ = 0;
      feed_step_end_ = step_end(0);
      feed_start_ = now;
      feed_base_ = feed_seq_;
      held_phase_ = HeldPhase::feed;
      return;
    case HeldPhase::feed: return held_feed(now);
    case HeldPhase::settle_fed:
      if (now < phase_at_) return;
      held_sample("replay-" + std::to_string(feed_step_ + 1));
      if (++feed_step_ >= o_.replay_steps) return held_after_feed(now);
      feed_step_end_ = step_end(feed_step_);
      feed_start_ = now;
      feed_base_ = feed_seq_;
      held_phase_ = HeldPhase::feed;
      return;
    case HeldPhase::resume: return held_resume(now);
    case HeldPhase::settle_resumed:
      if (now < phase_at_) return;
      held_sample("resumed");
      held_phase_ = HeldPhase::done;
      return;
    case HeldPhase::done:
      if (setup_reported_) return;
      setup_reported_ = true;
      up_.line("ready " + std::to_string(ready_) + ' ' + std::to_string(failed_) + ' ' + std::to_string(setup_ns_));
      return;
  }
}

}  // namespace craft::bench::detail
