#include "net/shard.hpp"

#include "net/connection.hpp"

#include <algorithm>
#include <chrono>

namespace craft {

namespace {
constexpr auto sweep_interval = std::chrono::milliseconds(250);
constexpr size_t read_buffer_bytes = 64 * 1024;
}  // namespace

Shard::Shard(uint32_t index, const Clock& clock, const TransportLimits& limits, ShardHandler& handler)
    : index_(index),
      clock_(clock),
      limits_(limits),
      handler_(handler),
      read_buffer_(read_buffer_bytes),
      sweep_timer_(context_),
      flush_timer_(context_) {
  work_.emplace(context_.get_executor());
}

Shard::~Shard() { join(); }

namespace {
thread_local Shard* running_shard = nullptr;
}  // namespace

Shard* Shard::running() { return running_shard; }

void Shard::start() {
  sweep();
  thread_ = std::thread([this] {
    thread_id_.store(std::this_thread::get_id(), std::memory_order_relaxed);
    running_shard = this;
    run_loop();
    running_shard = nullptr;
  });
}

void Shard::run_loop() {
  const auto window = std::chrono::microseconds(limits_.coalesce_us);
  if (window.count() == 0) {
    context_.run();
    return;
  }
  // Interrupt coalescing (as NICs and Linux NAPI do): an idle shard sleeps in epoll until an
  // event; once busy, it rests to the next window edge and then takes everything that
  // gathered in one turn, so 20 inputs a second from each of hundreds of clients cost a
  // wake-up per window, not one each. A window that gathered nothing ends the busy phase.
  // Edges are multiples of the window on the steady clock, the grid room ticks are aligned
  // to (TickScheduler), so a window that divides the tick period wakes the shard exactly at
  // its rooms' ticks, with the inputs read in the same turn just before them (asio runs
  // socket events before the timers that expired in one epoll_wait).
  // With several shards a member's connection may live on another shard than its room:
  // every shard also reads a lead before the edge, and work another shard hands over ends
  // a rest at once (wake()), so relayed inputs reach the tick and snapshots leave with it.
  // A room ticking faster than the window shortens it to its period: ticks are due on that
  // finer grid, and a window that slept through them would run them late, 5 at most, and
  // skip the rest (TickScheduler::max_catch_up).
  // The lead: window / 8, at most 5 ms, for windows of 10 ms or more (shorter ones cost an
  // input little when it misses a tick by one).
  using Steady = std::chrono::steady_clock;
  using std::chrono::nanoseconds;
  const bool lead_before_edges = limits_.shards > 1;
  while (context_.run_one() > 0) {
    context_.poll();
    for (;;) {
      nanoseconds w = window;
      if (!tick_periods_.empty()) w = std::min(w, nanoseconds(tick_periods_.begin()->first));
      const nanoseconds lead = lead_before_edges && w >= std::chrono::milliseconds(10)
                                   ? std::min<nanoseconds>(std::chrono::milliseconds(5), w / 8)
                                   : nanoseconds(0);
      const auto now = Steady::now();
      const auto edge = Steady::time_point((now.time_since_epoch() / w + 1) * w);
      size_t handled = 0;
      if (lead.count() > 0 && edge - lead > now) handled += rest_until(edge - lead);
      if (!context_.stopped()) handled += rest_until(edge);
      if (context_.stopped() || handled == 0) break;
      metrics_.batches.add();
    }
    if (context_.stopped()) return;
  }
}

size_t Shard::rest_until(std::chrono::steady_clock::time_point until) {
  size_t handled = 0;
  for (;;) {
    bool woken = false;
    {
      std::unique_lock lock(rest_mutex_);
      woken = rest_cv_.wait_until(lock, until, [this] { return woken_; });
      woken_ = false;
    }
    handled += context_.poll();
    if (!woken || context_.stopped()) return handled;
  }
}

void Shard::wake() {
  if (limits_.coalesce_us == 0) return;  // the loop sleeps in epoll, which asio's post wakes
  {
    std::lock_guard lock(rest_mutex_);
    woken_ = true;
  }
  rest_cv_.notify_one();
}

void Shard::relay(Shard& target, std::unique_ptr<Task> task) {
  auto it = std::find_if(outbox_.begin(), outbox_.end(), [&](const auto& box) { return box.first == &target; });
  if (it == outbox_.end()) it = outbox_.insert(outbox_.end(), {&target, Batch{}});
  it->second.push_back(std::move(task));
  if (relay_posted_) return;
  relay_posted_ = true;
  asio::post(context_, [this] { flush_relays(); });  // a local post: no wake-up syscall
}

void Shard::flush_relays() {
  relay_posted_ = false;
  for (auto& [target, batch] : outbox_) {
    if (batch.empty()) continue;
    asio::post(target->context_, [batch = std::move(batch)] {
      for (auto& task : batch) task->run();
    });
    target->wake();
    batch = Batch{};
  }
}

void Shard::join() {
  if (thread_.joinable()) thread_.join();
}

void Shard::release() {
  post([this] {
    flush_relays();  // what is still queued for other shards goes there (run or destroyed with them)
    sweep_timer_.cancel();
    flush_timer_.cancel();
    work_.reset();
    context_.stop();
  });
}

void Shard::schedule_flush(std::shared_ptr<Connection> connection) {
  dirty_.push_back(std::move(connection));
  if (flush_posted_) return;
  flush_posted_ = true;
  auto interval = limits_.flush_interval_us;
  if (interval == 0) {
    post([this] { flush_dirty(); });
    return;
  }
  flush_timer_.expires_after(std::chrono::microseconds(interval));
  flush_timer_.async_wait([this](const std::error_code& ec) {
    if (!ec) flush_dirty();
  });
}

void Shard::flush_dirty() {
  flush_posted_ = false;
  // Swap first: a flush may make other connections dirty (a close reply, say).
  auto batch = std::move(dirty_);
  dirty_.clear();
  for (auto& c : batch) c->flush();
  batch.clear();
  if (dirty_.empty()) dirty_ = std::move(batch);  // keep the capacity
}

void Shard::add_connection(Connection* c) {
  c->next_ = connections_;
  c->prev_ = nullptr;
  if (connections_) connections_->prev_ = c;
  connections_ = c;
  connection_count_.fetch_add(1, std::memory_order_relaxed);
  metrics_.connections_current.add();
  metrics_.connections_accepted.add();
}

void Shard::remove_connection(Connection* c) {
  if (c->prev_) c->prev_->next_ = c->next_;
  else if (connections_ == c) connections_ = c->next_;
  else return;  // not linked
  if (c->next_) c->next_->prev_ = c->prev_;
  c->prev_ = c->next_ = nullptr;
  connection_count_.fetch_sub(1, std::memory_order_relaxed);
  metrics_.connections_current.sub();
}

void Shard::for_each_connection(const std::function<void(Connection&)>& fn) {
  // Hold references: closing one connection can close others (a full send queue).
  std::vector<std::shared_ptr<Connection>> all;
  all.reserve(connection_count());
  for (auto* c = connections_; c; c = c->next_) all.push_back(c->shared_from_this());
  for (auto& c : all) fn(*c);
}

void Shard::sweep() {
  auto now = this->now();
  for_each_connection([now](Connection& c) { c.sweep(now); });
  handler_.on_sweep(*this, now);
  sweep_timer_.expires_after(sweep_interval);
  sweep_timer_.async_wait([this](const std::error_code& ec) {
    if (!ec) sweep();
  });
}

void Shard::begin_shutdown(uint16_t code) {
  shutting_down_ = true;
  std::vector<std::shared_ptr<Connection>> all;
  for (auto* c = connections_; c; c = c->next_) all.push_back(c->shared_from_this());
  for (auto& c : all) c->close(code, "server shutting down");
  handler_.on_shutdown(*this);
}

}  // namespace craft
