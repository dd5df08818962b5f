// One event loop on one thread. A connection and a room belong to exactly one shard for
// life; other threads reach them only by posting work here.
#pragma once
#include "metrics/metrics.hpp"
#include "net/handler.hpp"

#include <craft/clock.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/buffer.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace craft {

class Connection;

class Shard {
 public:
  // `clock`, `limits` and `handler` outlive the shard (the server owns all of them).
  Shard(uint32_t index, const Clock& clock, const TransportLimits& limits, ShardHandler& handler);
  ~Shard();

  uint32_t index() const { return index_; }
  asio::io_context& context() { return context_; }
  // The layer above (the server's core): HTTP routing, sweep and shutdown hooks.
  ShardHandler& handler() { return handler_; }
  const TransportLimits& limits() const { return limits_; }
  ShardMetrics& metrics() { return metrics_; }
  TimePoint now() const { return clock_.now(); }
  bool on_own_thread() const { return std::this_thread::get_id() == thread_id_.load(std::memory_order_relaxed); }

  // Runs fn on this shard's thread, later. Safe from any thread. From another shard's thread
  // it is relayed: what that shard posts here during one loop turn travels as one batch at
  // the turn's end, in the order posted (one wake-up of this shard instead of one per item:
  // a room's snapshots to members on other shards, their inputs to the room).
  template <class F>
  void post(F&& fn) {
    if (Shard* from = running(); from && from != this) {
      from->relay(*this, std::make_unique<Relayed<std::decay_t<F>>>(std::forward<F>(fn)));
      return;
    }
    asio::post(context_, std::forward<F>(fn));
    if (!on_own_thread()) wake();
  }
  // The tick periods of this shard's ticking rooms (RoomHost, on this thread): with
  // server.coalesce_us, a busy shard's windows are never longer than the shortest, so a room
  // faster than one tick per window still gets every tick.
  void tick_period_added(Duration p) { ++tick_periods_[p.count()]; }
  void tick_period_removed(Duration p) {
    auto it = tick_periods_.find(p.count());
    if (it != tick_periods_.end() && --it->second == 0) tick_periods_.erase(it);
  }
  // Runs fn now if called on this shard, else posts it.
  template <class F>
  void dispatch(F&& fn) {
    if (on_own_thread()) fn();
    else post(std::forward<F>(fn));
  }

  void start();
  void join();
  // The shard whose thread is calling, or null off the shard threads.
  static Shard* running();

  // Writes are corked: a connection with new output registers here once, and all registered
  // connections are flushed together at the end of the current loop turn.
  void schedule_flush(std::shared_ptr<Connection> connection);

  // One receive buffer per shard, not per connection: a read lands here and only a partial
  // frame is copied into the connection.
  char* read_buffer() { return read_buffer_.data(); }
  size_t read_buffer_size() const { return read_buffer_.size(); }
  // Reused by every gathered write on this shard.
  std::vector<asio::const_buffer>& scratch_buffers() { return scratch_buffers_; }

  // Every connection of this shard, on this shard's thread (a rare walk: bans, sweeps).
  void for_each_connection(const std::function<void(Connection&)>& fn);
  void add_connection(Connection* c);
  void remove_connection(Connection* c);

  // Graceful shutdown on this shard: close every connection with `code`, then the
  // handler's on_shutdown (which disposes the rooms).
  void begin_shutdown(uint16_t code);
  size_t connection_count() const { return connection_count_.load(std::memory_order_relaxed); }
  // Stops the loop once it has nothing left to do (after shutdown).
  void release();

 private:
  // A posted function waiting in another shard's outbox (move-only, unlike std::function).
  struct Task {
    virtual ~Task() = default;
    virtual void run() = 0;
  };
  template <class F>
  struct Relayed final : Task {
    explicit Relayed(F f) : fn(std::move(f)) {}
    void run() override { fn(); }
    F fn;
  };
  using Batch = std::vector<std::unique_ptr<Task>>;
  // On this shard's thread: queues `task` for `target`; flush_relays() posts each target's
  // batch at the end of this loop turn.
  void relay(Shard& target, std::unique_ptr<Task> task);
  void flush_relays();
  void flush_dirty();
  void sweep();
  void run_loop();
  // server.coalesce_us: a busy shard rests until `until` or until another thread hands it
  // work (wake()), then takes what is ready; again until `until`. Returns handlers run.
  size_t rest_until(std::chrono::steady_clock::time_point until);
  void wake();

  uint32_t index_;
  const Clock& clock_;
  const TransportLimits& limits_;
  ShardHandler& handler_;
  asio::io_context context_{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  ShardMetrics metrics_;
  std::vector<char> read_buffer_;
  std::vector<asio::const_buffer> scratch_buffers_;
  std::vector<std::shared_ptr<Connection>> dirty_;
  bool flush_posted_ = false;
  std::vector<std::pair<Shard*, Batch>> outbox_;  // per target shard, see post()
  bool relay_posted_ = false;
  std::mutex rest_mutex_;
  std::condition_variable rest_cv_;
  bool woken_ = false;  // under rest_mutex_
  std::map<int64_t, uint32_t> tick_periods_;  // ns -> rooms ticking at it
  asio::steady_timer sweep_timer_;
  asio::steady_timer flush_timer_;
  Connection* connections_ = nullptr;  // intrusive list, see Connection::next_
  std::atomic<size_t> connection_count_{0};
  bool shutting_down_ = false;
};

}  // namespace craft
