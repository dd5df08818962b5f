#include "generator_impl.hpp"

#include "proc.hpp"

#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace craft::bench {
namespace detail {

void Generator::note(const std::string& text) {
  if (notes_++ < 5) up_.line("note p" + std::to_string(plan_.index) + ": " + text);
}

int Generator::run() {
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) return 1;
  up_.fd = plan_.up_fd;
  server_.sin_family = AF_INET;
  server_.sin_port = htons(o_.transport == Transport::ws ? o_.port : o_.tcp_port);
  if (inet_pton(AF_INET, o_.host.c_str(), &server_.sin_addr) != 1) {
    up_.line("note --host must be an IPv4 address");
    return 1;
  }
  join_server_ = server_;
  if (o_.cross_node) {
    join_server_.sin_port = htons(o_.join_target.port);
    if (inet_pton(AF_INET, o_.join_target.host.c_str(), &join_server_.sin_addr) != 1) {
      up_.line("note --targets must be IPv4 addresses");
      return 1;
    }
  }
  if (!plan_.source.empty()) {
    source_.sin_family = AF_INET;
    if (inet_pton(AF_INET, plan_.source.c_str(), &source_.sin_addr) != 1) {
      up_.line("note bad source address " + plan_.source);
      return 1;
    }
    bind_source_ = true;
  }
  rng_.state ^= static_cast<uint32_t>(mono_ns()) * 2654435761u + plan_.index;
  if (rng_.state == 0) rng_.state = 1;
  payload_.assign(o_.payload, '\0');

  // Rooms: consecutive clients, R to a room (the last one may be smaller).
  const uint32_t r = o_.scenario == Scenario::idle ? 1 : std::max(1u, o_.room_size);
  for (uint32_t first = 0; first < plan_.count; first += r) {
    Group g;
    g.first = first;
    g.size = std::min(r, plan_.count - first);
    for (uint32_t i = first; i < first + g.size; ++i) conns_[i].group = static_cast<uint32_t>(groups_.size());
    groups_.push_back(std::move(g));
    if (o_.scenario == Scenario::relay || o_.scenario == Scenario::tick) {
      for (uint32_t i = first; i < first + groups_.back().size; ++i) senders_.push_back(i);
    } else if (o_.scenario == Scenario::echo) {
      senders_.push_back(first);
    }
  }

  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = pipe_tag;
  epoll_ctl(epoll_, EPOLL_CTL_ADD, plan_.down_fd, &ev);

  connect_start_ = launch_origin_ = mono_ns();
  launch_limit_ = plan_.count;
  const double per_process_rate = o_.connect_rate / double(o_.processes);
  const bool held = o_.scenario == Scenario::held;
  if (held) held_init();
  int64_t next_progress = connect_start_ + second, next_scan = connect_start_ + 200'000'000;
  std::vector<epoll_event> events(1024);
  while (!done_) {
    int64_t now = mono_ns();
    launch(now);
    join_delayed(now);
    if (held) held_step(now);
    if (go_) drive_sends(now);
    if (now >= next_scan) {
      check_timeouts(now);
      keepalive(now);
      next_scan = now + 200'000'000;
    }
    if (o_.resumable && now >= next_ack_scan_) {
      ack_scan(now);
      next_ack_scan_ = now + ack_scan_ns;
    }
    if (!held && !setup_reported_ && launched_ == plan_.count && ready_ + failed_ + dropped_ >= plan_.count) {
      setup_reported_ = true;
      setup_ns_ = now - connect_start_;
      up_.line("ready " + std::to_string(ready_) + ' ' + std::to_string(failed_) + ' ' + std::to_string(setup_ns_));
    }
    if (go_) {
      if (cpu0_ < 0 && now >= t0_) cpu0_ = self_cpu_us();
      if (cpu1_ < 0 && now >= t1_) cpu1_ = self_cpu_us();
      bool drained = delivered_of_window_ >= expected_ || now >= t1_ + drain_timeout_ns;
      if (now >= t1_ && (o_.scenario == Scenario::idle || held || drained)) break;
    }
    if (now >= next_progress) {
      progress(now);
      next_progress += second;
      if (next_progress < now) next_progress = now + second;
    }
    int64_t wake = now + 100'000'000;
    if (go_ && now < t1_ && !senders_.empty()) {
      const double interval = 1e9 / (o_.rate * double(senders_.size()));
      wake = std::min(wake, send_start_ + int64_t(double(send_seq_ + 1) * interval));
    }
    if (launched_ < launch_limit_) {
      wake = std::min(wake, launch_origin_ + int64_t(double(launched_ - launch_base_) * 1e9 / per_process_rate));
    }
    if (o_.resumable) wake = std::min(wake, next_ack_scan_);
    if (held && held_phase_ != HeldPhase::done) wake = std::min(wake, now + 10'000'000);
    if (go_) wake = std::min(wake, now < t1_ ? t1_ : t1_ + drain_timeout_ns);
    int timeout_ms = int(std::clamp<int64_t>((wake - now + 999'999) / 1'000'000, 0, 100));
    int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), timeout_ms);
    for (int k = 0; k < n; ++k) {
      if (events[size_t(k)].data.u64 == pipe_tag) {
        char buf[512];
        ssize_t got = ::read(plan_.down_fd, buf, sizeof buf);
        if (got <= 0) return 1;  // the parent went away
        parent_in_.append(buf, size_t(got));
        size_t nl;
        while ((nl = parent_in_.find('\n')) != std::string::npos) {
          on_parent_line(parent_in_.substr(0, nl));
          parent_in_.erase(0, nl + 1);
        }
      } else {
        on_event(static_cast<uint32_t>(events[size_t(k)].data.u64), events[size_t(k)].events);
      }
    }
  }
  if (cpu1_ < 0) cpu1_ = self_cpu_us();
  finish();
  return 0;
}

void Generator::launch(int64_t now) {
  const double rate = o_.connect_rate / double(o_.processes);
  while (launched_ < launch_limit_ &&
         now >= launch_origin_ + int64_t(double(launched_ - launch_base_) * 1e9 / rate)) {
    start_connect(launched_++);
  }
}

void Generator::on_parent_line(const std::string& line) {
  long long a = 0, b = 0;
  if (std::sscanf(line.c_str(), "go %lld %lld", &a, &b) == 2) {
    go_ = true;
    t0_ = a;
    t1_ = b;
    send_start_ = mono_ns();
  }
}

void Generator::check_timeouts(int64_t now) {
  const auto limit = int64_t(o_.setup_timeout * 1e9);
  for (uint32_t i = 0; i < launched_; ++i) {
    Conn& c = conns_[i];
    if (c.outcome == Outcome::pending && c.state != State::closed && now - c.started_ns > limit) {
      fail(i, std::string("setup timeout in state ") + state_name(c.state));
    }
  }
}

void Generator::keepalive(int64_t now) {
  const auto limit = int64_t(o_.keepalive * 1e9);
  for (uint32_t i = 0; i < launched_; ++i) {
    Conn& c = conns_[i];
    if (c.state != State::ready && c.state != State::wait_room) continue;
    if (now - c.last_send_ns < limit) continue;
    v1::Envelope e;
    e.mutable_ping()->set_client_time_us(now / 1000);
    send_envelope(i, e);
    ++pings_;
  }
}

void Generator::drive_sends(int64_t now) {
  if (senders_.empty() || now >= t1_) return;
  const auto count = uint64_t(senders_.size());
  const double interval = 1e9 / (o_.rate * double(count));
  auto due = uint64_t(double(now - send_start_) / interval);
  if (due > send_seq_ + count) {
    // We fell more than a whole round behind (CPU starved): skip rather than burst.
    skipped_ += due - count - send_seq_;
    send_seq_ = due - count;
  }
  for (; send_seq_ < due; ++send_seq_) {
    uint32_t i = senders_[send_seq_ % count];
    Conn& c = conns_[i];
    if (c.state != State::ready) continue;
    if (c.out.size() > max_backlog) {
      ++backlogged_;
      continue;
    }
    int64_t ts = mono_ns();
    if (o_.scenario == Scenario::tick) {
      send_input(i, ts);
      continue;
    }
    std::memcpy(payload_.data(), &ts, 8);
    send_data(i, op_data, payload_);
    ++sent_total_;
    if (in_window(ts)) {
      ++sent_window_;
      uint32_t alive = groups_[c.group].alive;
      expected_ += o_.scenario == Scenario::echo ? 1 : (alive > 0 ? alive - 1 : 0);
    }
  }
}

void Generator::progress(int64_t now) {
  const char* phase = !setup_reported_ ? "setup" : !go_ ? "wait" : now < t0_ ? "warmup"
                      : now < t1_ ? (o_.scenario == Scenario::idle ? "hold" : "measure")
                                  : "drain";
  const Histogram& h = o_.scenario == Scenario::echo ? rtt_ : latency_;
  up_.line("progress " + std::to_string(ready_) + ' ' + std::to_string(failed_) + ' ' + std::to_string(dropped_) +
           ' ' + std::to_string(sent_total_) + ' ' + std::to_string(delivered_total_) + ' ' +
           std::to_string(h.quantile(0.99)) + ' ' + phase + ' ' + std::to_string(connected_));
}

void Generator::finish() {
  GeneratorResult r;
  r.ready = ready_;
  r.failed = failed_;
  r.dropped = dropped_;
  r.setup_ns = setup_ns_;
  r.sent = sent_window_;
  r.expected = expected_;
  r.delivered_window = delivered_window_;
  r.delivered_of_window = delivered_of_window_;
  r.errors = errors_;
  r.rate_limited = rate_limited_;
  r.skipped = skipped_;
  r.backlogged = backlogged_;
  r.pings = pings_;
  r.acks_sent = acks_sent_;
  r.acks_piggybacked = acks_piggybacked_;
  r.unresumable = unresumable_;
  r.held = held_total_;
  r.feeders = feeders_;
  r.samples = samples_;
  r.resumed = resumed_;
  r.resume_fresh = resume_fresh_;
  r.resume_failed = resume_failed_;
  r.replayed = replayed_;
  r.replay_expected = replay_expected_;
  r.gen_cpu_us = (cpu0_ >= 0 && cpu1_ >= cpu0_) ? cpu1_ - cpu0_ : 0;
  r.reasons = reasons_;
  r.latency = latency_;
  r.rtt = rtt_;
  r.join = join_;
  r.redirects = redirects_;
  write_result(up_, r);
}

}  // namespace detail

int run_generator(const Options& options, const GeneratorPlan& plan) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  auto generator = std::make_unique<detail::Generator>(options, plan);
  return generator->run();
}

}  // namespace craft::bench
